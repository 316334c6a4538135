package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// A check is one named health check; nil error means healthy.
type check struct {
	name string
	run  func(ctx context.Context) error
}

// healthHandler serves a Kubernetes-style health endpoint: "ok" (200) when
// every check passes, else 500; with ?verbose, one "[+]name ok" or
// "[-]name failed: reason" line per check, as kube-apiserver prints.
func healthHandler(endpoint string, checks []check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var b strings.Builder
		failed := false
		for _, c := range checks {
			if err := c.run(ctx); err != nil {
				failed = true
				fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, err)
			} else {
				fmt.Fprintf(&b, "[+]%s ok\n", c.name)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, verbose := r.URL.Query()["verbose"]
		if failed {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "%s%s check failed\n", b.String(), endpoint)
			return
		}
		if verbose {
			fmt.Fprintf(w, "%s%s check passed\n", b.String(), endpoint)
			return
		}
		fmt.Fprint(w, "ok")
	}
}
