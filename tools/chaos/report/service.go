package report

import (
	"fmt"
	"strings"
	"time"
)

// Request is one request of the service-availability loop: an HTTP GET of
// the workload's Service from inside a VM.
type Request struct {
	At  time.Duration `json:"at"` // when it was sent, on the run's clock
	VM  string        `json:"vm"` // the VM it was sent from
	OK  bool          `json:"ok"`
	Err string        `json:"err,omitempty"`
}

// Service is the availability of the workload's Service over the run.
type Service struct {
	Requests int `json:"requests"`
	Failed   int `json:"failed"`
	// Outside is the failures outside every fault window.
	Outside int `json:"outside"`
	// Errors counts the failures by error text (at most 10 kinds).
	Errors map[string]int `json:"errors,omitempty"`
}

// AddService counts the requests into the report: totals, and per fault
// window (Window.Requests, Window.Failed).
func (r *Report) AddService(reqs []Request) {
	s := &Service{Errors: map[string]int{}}
	for _, q := range reqs {
		s.Requests++
		if q.OK {
			continue
		}
		s.Failed++
		if _, ok := s.Errors[q.Err]; ok || len(s.Errors) < 10 {
			s.Errors[q.Err]++
		}
	}
	inside := make([]bool, len(reqs))
	for i := range r.Windows {
		w := &r.Windows[i]
		var f *struct{ from, to time.Duration }
		for _, fr := range r.Faults {
			if fr.Seq == w.Seq {
				end := fr.Healed
				if end == 0 {
					end = 1<<63 - 1
				}
				f = &struct{ from, to time.Duration }{fr.Injected, end}
				break
			}
		}
		if f == nil {
			continue
		}
		w.Requests, w.Failed = 0, 0
		for j, q := range reqs {
			if q.At < f.from || q.At > f.to {
				continue
			}
			inside[j] = true
			w.Requests++
			if !q.OK {
				w.Failed++
			}
		}
	}
	for j, q := range reqs {
		if !q.OK && !inside[j] {
			s.Outside++
		}
	}
	r.Service = s
}

// serviceText is the summary's service lines ("" without a service loop).
func (r *Report) serviceText() string {
	if r.Service == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "service availability: %d requests, %d failed (%d outside fault windows)\n", r.Service.Requests, r.Service.Failed, r.Service.Outside)
	for _, w := range r.Windows {
		if w.Failed > 0 {
			fmt.Fprintf(&b, "  fault %d %-16s %d of %d requests failed\n", w.Seq, w.Kind, w.Failed, w.Requests)
		}
	}
	return b.String()
}
