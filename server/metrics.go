package server

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jazzgo/jazz-tools/core/storage"
)

// metrics are the server's counters, written out by MetricsHandler in the
// Prometheus text exposition format (version 0.0.4). The format is a few
// lines of text per metric, so it is written here rather than pulling in a
// client library and its dependency tree.
type metrics struct {
	connectionsOpened atomic.Uint64
	pushFrames        atomic.Uint64
	changesPushed     atomic.Uint64
	changesAcked      atomic.Uint64

	rejectedMu sync.Mutex
	rejected   map[string]uint64 // by protocol error code: a small fixed set

	// fanout is the time from a change being noted for a subscription
	// (inside the writer's Submit) to its rows being queued for that
	// subscriber's socket; commit is the time of one durable store commit.
	fanout histogram
	commit histogram
}

func newMetrics() *metrics {
	return &metrics{
		rejected: map[string]uint64{},
		fanout:   newHistogram(latencyBuckets),
		commit:   newHistogram(latencyBuckets),
	}
}

// latencyBuckets (seconds) span a memory store's microseconds to a slow
// disk's fsync or a backed-up subscriber.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func (m *metrics) reject(reason string, n int) {
	m.rejectedMu.Lock()
	m.rejected[reason] += uint64(n)
	m.rejectedMu.Unlock()
}

// histogram is a Prometheus histogram: counts per upper bound, a sum and a
// count.
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []uint64 // counts[i]: observations <= bounds[i] and > bounds[i-1]; the last is +Inf
	sum    float64
	n      uint64
}

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(d time.Duration) {
	v := d.Seconds()
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.n++
	h.mu.Unlock()
}

// timedStore measures every durable commit (Apply) of the store under it.
// With bbolt each commit writes its pages and fsyncs the file before it
// returns, so this is the time writers wait for the disk.
type timedStore struct {
	storage.Store
	h *histogram
}

func (t timedStore) Apply(ctx context.Context, ops []storage.Op) error {
	start := time.Now()
	err := t.Store.Apply(ctx, ops)
	t.h.observe(time.Since(start))
	return err
}

// MetricsHandler serves GET /metrics in the Prometheus text format. It is
// not part of Handler: it is meant for a listener that only the monitoring
// system reaches (jazz-tools server --metrics-addr), so that neither the
// public port exposes the server's load nor a scraper needs the admin
// secret, which can also publish bundles.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = s.writeMetrics(w)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "only GET /metrics is served here")
	})
	return s.withRequestLog(mux)
}

// writeMetrics writes every metric. Gauges are read at scrape time from
// the connections themselves, so they cannot drift from the truth.
func (s *Server) writeMetrics(w io.Writer) error {
	m := s.metrics
	conns, subs := 0, 0
	s.hub.each(func(c *conn) {
		conns++
		c.mu.Lock()
		subs += len(c.subs)
		c.mu.Unlock()
	})
	var b strings.Builder
	b.Grow(4096)
	head := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	head("jazz_build_info", "gauge", "The server's version and app; always 1.")
	fmt.Fprintf(&b, "jazz_build_info{version=%s,app_id=%s} 1\n", quoteLabel(s.cfg.Version), quoteLabel(s.cfg.AppID))
	head("jazz_connections", "gauge", "Open WebSocket connections.")
	fmt.Fprintf(&b, "jazz_connections %d\n", conns)
	head("jazz_connections_opened_total", "counter", "WebSocket connections opened since start.")
	fmt.Fprintf(&b, "jazz_connections_opened_total %d\n", m.connectionsOpened.Load())
	head("jazz_subscriptions", "gauge", "Live queries held by open connections.")
	fmt.Fprintf(&b, "jazz_subscriptions %d\n", subs)
	head("jazz_push_frames_total", "counter", "Push frames received (a batch is one frame).")
	fmt.Fprintf(&b, "jazz_push_frames_total %d\n", m.pushFrames.Load())
	head("jazz_changes_pushed_total", "counter", "Changes received in push frames.")
	fmt.Fprintf(&b, "jazz_changes_pushed_total %d\n", m.changesPushed.Load())
	head("jazz_changes_acked_total", "counter", "Changes acknowledged (applied now or before, for a resend).")
	fmt.Fprintf(&b, "jazz_changes_acked_total %d\n", m.changesAcked.Load())
	head("jazz_changes_rejected_total", "counter", "Changes rejected, by the error code sent to the client.")
	m.rejectedMu.Lock()
	reasons := make([]string, 0, len(m.rejected))
	for r := range m.rejected {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(&b, "jazz_changes_rejected_total{reason=%s} %d\n", quoteLabel(r), m.rejected[r])
	}
	m.rejectedMu.Unlock()
	head("jazz_fanout_seconds", "histogram", "Time from a change being applied to its rows being queued for a subscriber's socket.")
	m.fanout.write(&b, "jazz_fanout_seconds")
	head("jazz_store_commit_seconds", "histogram", "Time of one durable store commit, the fsync included.")
	m.commit.write(&b, "jazz_store_commit_seconds")
	_, err := io.WriteString(w, b.String())
	return err
}

func (h *histogram) write(b *strings.Builder, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var cum uint64
	for i, le := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(b, "%s_bucket{le=\"%s\"} %d\n", name, formatFloat(le), cum)
	}
	cum += h.counts[len(h.bounds)]
	fmt.Fprintf(b, "%s_bucket{le=\"+Inf\"} %d\n", name, cum)
	fmt.Fprintf(b, "%s_sum %s\n", name, formatFloat(h.sum))
	fmt.Fprintf(b, "%s_count %d\n", name, h.n)
}

func formatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// quoteLabel quotes a label value as the text format requires: backslash,
// double quote and newline escaped.
func quoteLabel(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v) + `"`
}

// observeFanoutLocked records, as a page of s's live rows is queued, how
// long the oldest change it may carry has waited; callers hold c.mu and
// have just taken the page's rows from s.pending.
func (c *conn) observeFanoutLocked(s *sub) {
	if s.pendingSince.IsZero() {
		return
	}
	c.srv.metrics.fanout.observe(time.Since(s.pendingSince))
	if len(s.pending) == 0 {
		s.pendingSince = time.Time{}
	}
}
