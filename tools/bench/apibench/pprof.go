package apibench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// profileServers takes a CPU profile of every server that serves pprof, for
// seconds, into dir/<name>.cpu.pprof, and returns a function that waits
// for them. Failures are logged: profiles are a diagnosis, not a result.
func profileServers(ctx context.Context, c *cluster, dir string, seconds int, log *slog.Logger) (wait func()) {
	var wg sync.WaitGroup
	for _, s := range c.servers {
		if s.debugAddr == "" {
			continue
		}
		wg.Go(func() {
			path := filepath.Join(dir, s.Name+".cpu.pprof")
			if err := saveProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.debugAddr, seconds), path); err != nil {
				log.Error("cpu profile", "server", s.Name, "err", err)
				return
			}
			log.Info("cpu profile saved", "server", s.Name, "path", path)
		})
	}
	return wg.Wait
}

func saveProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("apibench: profile request %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("apibench: GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("apibench: GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("apibench: save profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("apibench: save profile %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("apibench: save profile %s: %w", path, err)
	}
	return nil
}
