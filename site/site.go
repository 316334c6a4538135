package site

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/skiff-sh/skiff/site/stream"
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
}

// DefaultConfig returns the dashboard's defaults; Logger must be set.
func DefaultConfig() Config {
	return Config{Stream: stream.DefaultConfig()}
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
	mux.Handle("GET "+Path+"/", http.StripPrefix(Path+"/", http.FileServerFS(files)))
	return secure(mux), nil
}

// secure sets the headers every dashboard answer carries: the page loads
// only its own scripts and styles and talks only to its own origin, is
// never framed, and is revalidated on every load (a server upgrade shows).
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if h.Get("Cache-Control") == "" {
			h.Set("Cache-Control", "no-cache")
		}
		next.ServeHTTP(w, r)
	})
}
