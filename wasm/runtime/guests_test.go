package runtime_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"sync"
	"testing"
	"time"
)

// The test guests, built from testdata with GOOS=wasip1 once per change of their sources (or of
// the ABI, the SDK or the toolchain) and cached under os.TempDir.
var guestNames = []string{"leastalloc", "hostile", "controller", "badversion", "noexports", "foreignimport"}

var guests = map[string][]byte{}

func TestMain(m *testing.M) {
	flag.Parse()
	start := time.Now()
	dir, built, err := buildGuests()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build wasm test guests:", err)
		os.Exit(1)
	}
	compiledCache = filepath.Join(dir, "compiled")
	for _, name := range guestNames {
		b, err := os.ReadFile(filepath.Join(dir, name+".wasm"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		guests[name] = b
	}
	if built && testing.Verbose() {
		fmt.Fprintf(os.Stderr, "built %d wasm test guests into %s in %v\n", len(guestNames), dir, time.Since(start).Round(time.Millisecond))
	}
	os.Exit(m.Run())
}

// sourceHash covers everything a guest is built from.
func sourceHash() (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, goruntime.Version())
	for _, root := range []string{"../abi", "../sdk", "testdata"} {
		var files []string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && filepath.Ext(p) == ".go" {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return "", err
		}
		sort.Strings(files)
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return "", err
			}
			fmt.Fprintln(h, f)
			_, err = io.Copy(h, fh)
			fh.Close()
			if err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func buildGuests() (dir string, built bool, err error) {
	key, err := sourceHash()
	if err != nil {
		return "", false, err
	}
	dir = filepath.Join(os.TempDir(), "skiff-wasm-guests", key)
	missing := false
	for _, name := range guestNames {
		if _, err := os.Stat(filepath.Join(dir, name+".wasm")); err != nil {
			missing = true
		}
	}
	if !missing {
		return dir, false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(goruntime.GOROOT(), "bin", "go")
	}
	var wg sync.WaitGroup
	errs := make([]error, len(guestNames))
	for i, name := range guestNames {
		wg.Go(func() {
			tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.wasm", name, os.Getpid()))
			cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", tmp, "./testdata/"+name)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build ./testdata/%s: %v\n%s", name, err, out)
				return
			}
			errs[i] = os.Rename(tmp, filepath.Join(dir, name+".wasm"))
		})
	}
	wg.Wait()
	return dir, true, errors.Join(errs...)
}
