package apiserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skiff-sh/skiff/raftstore"
)

// metrics holds the server's Prometheus registry: request counts by verb
// and code (named as kube-apiserver's), the store member's figures, and the
// Go runtime's.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(store *raftstore.Store) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Requests served, by HTTP method and response code.",
		}, []string{"verb", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Time to serve resource requests (watches excluded), from the request's arrival to its last byte written, by Kubernetes verb and resource.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 4, 8},
		}, []string{"verb", "group", "resource", "subresource"}),
	}
	m.registry.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{store: store})
	return m
}

// handler serves /metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// count wraps a handler to count its responses.
func (m *metrics) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		m.requests.WithLabelValues(r.Method, strconv.Itoa(rec.code)).Inc()
		if info, ok := parseRequestInfo(r); ok && info.Verb != "watch" {
			m.duration.WithLabelValues(info.Verb, info.Group, info.Resource, info.Subresource).Observe(time.Since(start).Seconds())
		}
	})
}

type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// Flush keeps streaming responses (watches) working through the wrapper.
func (c *codeRecorder) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// storeCollector reads the store member's figures at scrape time.
type storeCollector struct {
	store *raftstore.Store
}

var (
	descRevision    = prometheus.NewDesc("skiff_store_revision", "Current revision of the local replica.", nil, nil)
	descCompactRev  = prometheus.NewDesc("skiff_store_compact_revision", "Revision of the last compaction.", nil, nil)
	descSize        = prometheus.NewDesc("skiff_store_size_bytes", "Bytes charged against the storage quota.", nil, nil)
	descQuota       = prometheus.NewDesc("skiff_store_quota_bytes", "Storage quota.", nil, nil)
	descKeys        = prometheus.NewDesc("skiff_store_keys", "Keys with retained versions.", nil, nil)
	descApplied     = prometheus.NewDesc("skiff_store_applied_index", "Raft index applied to the local state.", nil, nil)
	descCommit      = prometheus.NewDesc("skiff_store_commit_index", "Raft commit index known to this member.", nil, nil)
	descTerm        = prometheus.NewDesc("skiff_store_raft_term", "Current raft term.", nil, nil)
	descIsLeader    = prometheus.NewDesc("skiff_store_is_leader", "1 if this member is the ready leader.", nil, nil)
	descHasLeader   = prometheus.NewDesc("skiff_store_has_leader", "1 if this member knows a leader.", nil, nil)
	descProposals   = prometheus.NewDesc("skiff_store_proposals_total", "Commands appended while leader.", nil, nil)
	descRaftEntries = prometheus.NewDesc("skiff_store_raft_entries_total", "Raft entries those commands went into (group commit).", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRevision, descCompactRev, descSize, descQuota, descKeys, descApplied, descCommit, descTerm, descIsLeader, descHasLeader, descProposals, descRaftEntries} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	boolean := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	gauge(descRevision, float64(st.Revision))
	gauge(descCompactRev, float64(st.CompactRevision))
	gauge(descSize, float64(st.SizeBytes))
	gauge(descQuota, float64(st.QuotaBytes))
	gauge(descKeys, float64(st.Keys))
	gauge(descApplied, float64(st.AppliedIndex))
	gauge(descCommit, float64(st.CommitIndex))
	gauge(descTerm, float64(st.Term))
	gauge(descIsLeader, boolean(st.IsLeader))
	gauge(descHasLeader, boolean(st.HasLeader))
	counter(descProposals, float64(st.Proposals))
	counter(descRaftEntries, float64(st.RaftEntries))
}
