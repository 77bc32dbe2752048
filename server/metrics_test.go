package server

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// sampleRe is one sample line of the text format: a name, optional labels
// with quoted values, and a value.
var sampleRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? ([^ ]+)$`)

// scrape fetches /metrics from the server's metrics handler and parses it
// strictly: every sample must follow a HELP and a TYPE line of its family
// and parse as a number. The result maps `name{labels}` to the value.
func scrape(t *testing.T, f *fixture) map[string]float64 {
	t.Helper()
	ms := httptest.NewServer(f.srv.MetricsHandler())
	defer ms.Close()
	resp, err := http.Get(ms.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	typed := map[string]string{}
	helped := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			helped[strings.Fields(rest)[0]] = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			fs := strings.Fields(rest)
			typed[fs[0]] = fs[1]
			continue
		}
		m := sampleRe.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a sample line: %q\n%s", line, body)
		}
		family := m[1]
		if typed[family] == "" {
			family = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(family, "_bucket"), "_sum"), "_count")
			if typed[family] != "histogram" {
				t.Fatalf("sample %q without a TYPE line", line)
			}
		}
		if !helped[family] {
			t.Fatalf("sample %q without a HELP line", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("value of %q: %v", line, err)
		}
		out[m[1]+m[2]] = v
	}
	return out
}

func wantMetric(t *testing.T, got map[string]float64, key string, want float64) {
	t.Helper()
	if v, ok := got[key]; !ok || v != want {
		t.Fatalf("%s = %v (present %v), want %v; all: %v", key, v, ok, want, got)
	}
}

// The metrics count what clients did: connections and subscriptions held
// now, pushes, acks and rejects by reason (a refused batch counts each of
// its changes), and one fan-out and store-commit observation at least.
func TestMetrics_CountConnectionsWritesAndRejects(t *testing.T) {
	f := newFixture(t, withDataDir(t.TempDir()))
	alice, bob := newUser(t), newUser(t)
	w := newWriter(f.clk, "c")

	before := scrape(t, f)
	wantMetric(t, before, "jazz_connections", 0)
	wantMetric(t, before, "jazz_fanout_seconds_count", 0)
	wantMetric(t, before, `jazz_build_info{version="unknown",app_id="`+testApp+`"}`, 1)
	commitsAtStart := before["jazz_store_commit_seconds_count"]
	if commitsAtStart < 1 {
		t.Fatalf("publishing the bundle at start made no store commit: %v", before)
	}

	ac, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	subscribe(t, ac, "mine", 0)
	note := w.insert("alice's", alice.UserID, true)
	push(t, ac, note)
	barrier(t, ac, 1) // the live row of the insert has been queued for alice

	bc, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, bob, time.Hour)})
	pushRejected(t, bc, w.update(note.Row, map[string]any{"title": "bob's now"}))
	bc.send(protocol.TPush, protocol.Push{Batch: w.ids.New(), Changes: []*engine.Change{
		w.insert("bob's", bob.UserID, false),
		w.update(note.Row, map[string]any{"title": "bob's again"}),
	}})
	if r := expectFrame(t, bc, protocol.TReject, wait).Body.(*protocol.Reject); r.Batch == "" {
		t.Fatalf("reject %s does not name the batch", mustJSON(r))
	}

	m := scrape(t, f)
	wantMetric(t, m, "jazz_connections", 2)
	wantMetric(t, m, "jazz_connections_opened_total", 2)
	wantMetric(t, m, "jazz_subscriptions", 1)
	wantMetric(t, m, "jazz_push_frames_total", 3)
	wantMetric(t, m, "jazz_changes_pushed_total", 4)
	wantMetric(t, m, "jazz_changes_acked_total", 1)
	wantMetric(t, m, `jazz_changes_rejected_total{reason="permission_denied"}`, 3)
	if m["jazz_fanout_seconds_count"] < 1 || m[`jazz_fanout_seconds_bucket{le="+Inf"}`] != m["jazz_fanout_seconds_count"] {
		t.Fatalf("fan-out histogram: %v", m)
	}
	if m["jazz_store_commit_seconds_count"] <= commitsAtStart || m["jazz_store_commit_seconds_sum"] <= 0 {
		t.Fatalf("the insert's commit was not timed: %v", m)
	}
}

// Buckets are cumulative and end with +Inf equal to the count; label values
// are escaped as the text format requires.
func TestMetrics_HistogramAndLabelEncoding(t *testing.T) {
	h := newHistogram([]float64{0.001, 0.01})
	for _, d := range []time.Duration{500 * time.Microsecond, time.Millisecond, 5 * time.Millisecond, time.Second} {
		h.observe(d)
	}
	var b strings.Builder
	h.write(&b, "x")
	want := `x_bucket{le="0.001"} 2
x_bucket{le="0.01"} 3
x_bucket{le="+Inf"} 4
x_sum 1.0065
x_count 4
`
	if b.String() != want {
		t.Fatalf("histogram:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := quoteLabel("a\"b\\c\nd"); got != `"a\"b\\c\nd"` {
		t.Fatalf("quoteLabel = %s", got)
	}
}

// Health checks are DEBUG while they pass, so a load balancer polling
// every second does not fill the log at INFO; a failing one, and every
// other request, is INFO.
func TestLogging_HealthChecksAreDebugUnlessFailing(t *testing.T) {
	f := newFixture(t)
	f.seq(t)
	f.get(t, "/apps/"+testApp+"/session", nil)
	var health, session string
	for _, line := range strings.Split(f.logs.String(), "\n") {
		switch {
		case strings.Contains(line, `"path":"/health"`):
			health = line
		case strings.Contains(line, `"path":"/apps/`+testApp+`/session"`):
			session = line
		}
	}
	if !strings.Contains(health, `"level":"DEBUG"`) || !strings.Contains(session, `"level":"INFO"`) {
		t.Fatalf("health line %q, session line %q", health, session)
	}
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{{"/health", 200, "DEBUG"}, {"/metrics", 200, "DEBUG"}, {"/health", 503, "INFO"}, {"/apps/a/ws", 101, "INFO"}} {
		if got := requestLevel(c.path, c.status).String(); got != c.want {
			t.Errorf("requestLevel(%s, %d) = %s, want %s", c.path, c.status, got, c.want)
		}
	}
}
