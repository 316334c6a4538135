package run

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/report"
	"github.com/skiff-sh/skiff/tools/lab"
)

// serviceLoop is the deployment workload's request loop: GETs of its
// Service's cluster IP from inside the server VMs, one VM after the other,
// through each VM's own service rules, recorded on the run's clock.
type serviceLoop struct {
	mu   sync.Mutex
	reqs []report.Request
}

// run sends a request every interval until ctx ends.
func (s *serviceLoop) run(ctx context.Context, l *lab.Lab, vms []string, url string, clock func() time.Duration, every time.Duration) {
	clients := map[string]*http.Client{}
	for _, vm := range vms {
		c, err := l.HTTPClient(vm)
		if err != nil {
			continue
		}
		c.Timeout = 2 * time.Second
		clients[vm] = c
	}
	for i := 0; ; i++ {
		vm := vms[i%len(vms)]
		if c := clients[vm]; c != nil {
			s.add(get(ctx, c, url, vm, clock))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func get(ctx context.Context, c *http.Client, url, vm string, clock func() time.Duration) report.Request {
	q := report.Request{At: clock(), VM: vm}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err == nil {
		var resp *http.Response
		if resp, err = c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
	}
	if ctx.Err() != nil && err != nil {
		q.At = -1 // cut short by the end of the run: not a failure of the service
	}
	q.OK = err == nil
	if err != nil {
		q.Err = err.Error()
	}
	return q
}

func (s *serviceLoop) add(q report.Request) {
	if q.At < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, q)
}

func (s *serviceLoop) requests() []report.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]report.Request(nil), s.reqs...)
}
