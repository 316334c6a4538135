package podlogs

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/containerd/containerd/runtime/v2/logging"
)

// LoggerName is the argv[0] basename on which the skiff binary dispatches to
// LoggerMain.
const LoggerName = "skiff-container-logger"

// Defaults for rotation, as kubelet's containerLogMaxSize and
// containerLogMaxFiles.
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 5
)

// LoggerArgs returns the arguments for the logging binary, as the query of a
// containerd "binary://" log URI (cio.BinaryIO): the shim passes each key and
// value as two arguments.
func LoggerArgs(path string, maxSize int64, maxFiles int) map[string]string {
	return map[string]string{
		"-path":      path,
		"-max-size":  strconv.FormatInt(maxSize, 10),
		"-max-files": strconv.Itoa(maxFiles),
	}
}

// LoggerConfig is what the logging binary's arguments say.
type LoggerConfig struct {
	Path     string
	MaxSize  int64
	MaxFiles int
}

// ParseLoggerArgs parses the arguments LoggerArgs produced (without argv[0]).
func ParseLoggerArgs(args []string) (LoggerConfig, error) {
	fs := flag.NewFlagSet(LoggerName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := LoggerConfig{}
	fs.StringVar(&c.Path, "path", "", "log file")
	fs.Int64Var(&c.MaxSize, "max-size", DefaultMaxSize, "rotate at this many bytes (0: never)")
	fs.IntVar(&c.MaxFiles, "max-files", DefaultMaxFiles, "files kept, the current one included")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("podlogs: logger arguments %q: %w", args, err)
	}
	if c.Path == "" {
		return c, fmt.Errorf("podlogs: logger arguments %q: -path is required", args)
	}
	if c.MaxFiles < 1 {
		return c, fmt.Errorf("podlogs: logger arguments %q: -max-files must be at least 1", args)
	}
	return c, nil
}

// LoggerMain is the main function of the container logging binary: the
// containerd shim starts it with the container's stdout and stderr as file
// descriptors 3 and 4 (containerd's runtime/v2/logging protocol), and it
// writes them to the log file its arguments name until both streams end. It
// never returns.
func LoggerMain() {
	cfg, err := ParseLoggerArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logging.Run(func(ctx context.Context, lc *logging.Config, ready func() error) error {
		w, err := NewWriter(cfg.Path, cfg.MaxSize, cfg.MaxFiles)
		if err != nil {
			return err
		}
		if err := ready(); err != nil {
			w.Close()
			return fmt.Errorf("podlogs: signalling ready for %s: %w", lc.ID, err)
		}
		return Pump(ctx, w, lc.Stdout, lc.Stderr)
	})
}

// Pump copies stdout and stderr into w until both end (or ctx ends, which
// closes them if they are io.Closers), then closes w.
func Pump(ctx context.Context, w *Writer, stdout, stderr io.Reader) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []struct {
		name string
		r    io.Reader
	}{{Stdout, stdout}, {Stderr, stderr}} {
		if s.r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.CopyStream(s.name, s.r)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, r := range []io.Reader{stdout, stderr} {
			if c, ok := r.(io.Closer); ok {
				c.Close()
			}
		}
		<-done
	}
	return errors.Join(errors.Join(errs...), w.Close())
}
