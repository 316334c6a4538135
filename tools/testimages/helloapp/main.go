// Command hello-app is the lab's test application, a stand-in for
// gcr.io/google-samples/hello-app: it answers every HTTP request on :8080
// (PORT overrides) with its version and hostname.
//
// The version is set at build time with -ldflags "-X main.version=2.0.0", so
// one source makes the 1.0 and 2.0 images. This file uses only the standard
// library: package testimages embeds it and builds it on its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is replaced at build time (-X main.version=...).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Getenv("PORT")); err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, port string) error {
	if port == "" {
		port = "8080"
	}
	hostname, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("hello-app: reading hostname: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", port))
	if err != nil {
		return fmt.Errorf("hello-app: listening on port %s: %w", port, err)
	}
	srv := &http.Server{Handler: handler(version, hostname), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("hello-app %s: serving on %s", version, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("hello-app: serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("hello-app: shutting down: %w", err)
	}
	return nil
}

// handler answers every request, whatever its method and path, like
// gcr.io/google-samples/hello-app.
func handler(version, hostname string) http.Handler {
	body := "Hello, world!\nVersion: " + version + "\nHostname: " + hostname + "\n"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("serving request: %s %s", r.Method, r.URL.Path)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, body)
	})
}
