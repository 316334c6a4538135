package site

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/skiff-sh/skiff/site/stream"
	"github.com/skiff-sh/skiff/wasm/runtime"
)

// Path is where the dashboard is served; the API server routes it here.
const Path = "/ui"

//go:embed ui
var assets embed.FS

// Config configures the dashboard.
type Config struct {
	// Stream configures the multiplexed watch stream; its Logger defaults
	// to Logger.
	Stream stream.Config
	Logger *slog.Logger
	// ReadModule, if set, returns an uploaded module's bytes by content
	// address (resources.ReadModule over the server's store), so the
	// playground can run uploaded modules; without it only the built-in
	// scheduler and local files run.
	ReadModule func(ctx context.Context, digest string) ([]byte, error)
	// Wasm configures the runtime the playground's decide call loads a
	// module into (one per call, closed after it).
	Wasm runtime.Config
}

// DefaultConfig returns the dashboard's defaults; Logger must be set.
func DefaultConfig() Config {
	return Config{Stream: stream.DefaultConfig(), Wasm: playgroundWasm()}
}

// playgroundWasm is the decide call's runtime: the scheduler's sandbox, one
// instance, and a deadline per decision generous enough for a busy machine
// (a deadline missed would be a difference the browser does not have).
func playgroundWasm() runtime.Config {
	c := runtime.DefaultConfig()
	c.PoolSize = 1
	c.CallTimeout = 2 * time.Second
	return c
}

// Validate reports what is missing or wrong in c.
func (c Config) Validate() error {
	if c.Logger == nil {
		return errors.New("site: Logger is required")
	}
	if c.Stream.Logger == nil {
		c.Stream.Logger = c.Logger
	}
	if err := c.Stream.Validate(); err != nil {
		return fmt.Errorf("site: %w", err)
	}
	if err := c.Wasm.Validate(); err != nil {
		return fmt.Errorf("site: playground: %w", err)
	}
	return nil
}

// Handler returns what the API server mounts at Path (apiserver.Config.UI):
// given the API's own handler, the dashboard's handler. Fields of cfg left
// zero take DefaultConfig's values. An invalid cfg is logged and every UI
// request answers 500 with the reason; the API itself is unaffected.
func Handler(cfg Config) func(api http.Handler) http.Handler {
	return func(api http.Handler) http.Handler {
		h, err := New(cfg, api)
		if err != nil {
			if cfg.Logger != nil {
				cfg.Logger.Error("dashboard disabled", "err", err)
			}
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			})
		}
		return h
	}
}

// New returns the dashboard's handler over api.
func New(cfg Config, api http.Handler) (http.Handler, error) {
	def := DefaultConfig().Stream
	if cfg.Stream.Resources == nil {
		cfg.Stream.Resources = def.Resources
	}
	if cfg.Stream.Heartbeat == 0 {
		cfg.Stream.Heartbeat = def.Heartbeat
	}
	if cfg.Stream.RetryMin == 0 && cfg.Stream.RetryMax == 0 {
		cfg.Stream.RetryMin, cfg.Stream.RetryMax = def.RetryMin, def.RetryMax
	}
	if cfg.Stream.PageSize == 0 {
		cfg.Stream.PageSize = def.PageSize
	}
	if cfg.Stream.Logger == nil {
		cfg.Stream.Logger = cfg.Logger
	}
	if cfg.Wasm == (runtime.Config{}) {
		cfg.Wasm = playgroundWasm()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := stream.New(cfg.Stream, api)
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	files, err := fs.Sub(assets, "ui")
	if err != nil {
		return nil, fmt.Errorf("site: embedded assets: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Path+"/", http.StatusMovedPermanently)
	})
	mux.Handle("GET "+Path+"/stream", st)
	pg := &playgroundAPI{api: api, readModule: cfg.ReadModule, wasm: cfg.Wasm, log: cfg.Logger, now: time.Now}
	pg.routes(mux)
	mux.Handle("GET "+Path+"/", http.StripPrefix(Path+"/", http.FileServerFS(files)))
	return secure(mux), nil
}

// secure sets the headers every dashboard answer carries: the page loads
// only its own scripts and styles and talks only to its own origin, is
// never framed, and is revalidated on every load (a server upgrade shows).
// 'wasm-unsafe-eval' lets it compile WebAssembly (the playground), and
// nothing else: no eval, no inline script.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if h.Get("Cache-Control") == "" {
			h.Set("Cache-Control", "no-cache")
		}
		next.ServeHTTP(w, r)
	})
}
