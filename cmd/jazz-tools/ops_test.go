package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseServer_LogLevel(t *testing.T) {
	base := []string{"app", "--in-memory"}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want slog.Level
	}{
		{base, nil, slog.LevelInfo},
		{append(base, "--log-level", "debug"), nil, slog.LevelDebug},
		{append(base, "--log-level=ERROR"), nil, slog.LevelError},
		{base, map[string]string{"JAZZ_LOG_LEVEL": "warn"}, slog.LevelWarn},
		{append(base, "--log-level", "info"), map[string]string{"JAZZ_LOG_LEVEL": "error"}, slog.LevelInfo},
	} {
		o, err := parseServer(c.args, envOf(c.env))
		if err != nil || o.logLevel.Level != c.want {
			t.Errorf("%v %v: level %v, err %v; want %v", c.args, c.env, o.logLevel.Level, err, c.want)
		}
	}
	_, err := parseServer(append(base, "--log-level", "loud"), envOf(nil))
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "debug, info, warn or error") {
		t.Fatalf("--log-level loud: %v, want a usage error naming the levels", err)
	}
}

// lineWriter collects what the server writes to stderr, line by line, and
// hands every line to watch as well.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
	watch chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		line = strings.TrimSuffix(line, "\n")
		w.lines = append(w.lines, line)
		select {
		case w.watch <- line:
		default:
		}
	}
}

func (w *lineWriter) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

type logLine struct {
	Time  string `json:"time"`
	Level string `json:"level"`
	Msg   string `json:"msg"`
	URL   string `json:"url"`
	Path  string `json:"path"`
}

func parseLog(t *testing.T, lines []string) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range lines {
		var ll logLine
		if err := json.Unmarshal([]byte(l), &ll); err != nil || ll.Time == "" || ll.Level == "" || ll.Msg == "" {
			t.Fatalf("log line is not a JSON record with time, level and msg: %q", l)
		}
		out = append(out, ll)
	}
	return out
}

// A running server writes nothing but JSON lines, the "listening on" line
// included, and serves Prometheus metrics on --metrics-addr only.
func TestRun_ServerLogsOnlyJSONAndServesMetricsApart(t *testing.T) {
	w := &lineWriter{watch: make(chan string, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runServer(ctx, []string{"app", "--in-memory", "--port", "0", "--metrics-addr", "127.0.0.1:0",
			"--log-level", "debug", "--admin-secret", "s"}, envOf(nil), io.Discard, w)
	}()
	var appURL, metricsURL string
	for appURL == "" {
		select {
		case line := <-w.watch:
			var ll logLine
			if json.Unmarshal([]byte(line), &ll) == nil {
				switch {
				case strings.HasPrefix(ll.Msg, "listening on "):
					appURL = ll.URL
				case strings.HasPrefix(ll.Msg, "metrics on "):
					metricsURL = ll.URL
				}
			}
		case code := <-done:
			t.Fatalf("server exited with %d: %s", code, strings.Join(w.all(), "\n"))
		case <-time.After(30 * time.Second):
			t.Fatalf("no JSON \"listening on\" line: %s", strings.Join(w.all(), "\n"))
		}
	}
	if metricsURL == "" {
		t.Fatalf("no metrics line before the listening line: %s", strings.Join(w.all(), "\n"))
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(appURL + "/health"); code != 200 {
		t.Fatalf("health: %d", code)
	}
	if code, body := get(metricsURL); code != 200 || !strings.Contains(body, "\njazz_connections 0\n") {
		t.Fatalf("metrics: %d %q", code, body)
	}
	if code, _ := get(appURL + "/metrics"); code != 404 {
		t.Fatalf("/metrics on the public port: %d, want 404", code)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var sawHealth, sawListening bool
	for _, ll := range parseLog(t, w.all()) {
		sawHealth = sawHealth || (ll.Path == "/health" && ll.Level == "DEBUG")
		sawListening = sawListening || (ll.Msg == "listening on "+appURL && ll.Level == "INFO")
	}
	if !sawHealth || !sawListening {
		t.Fatalf("health logged at DEBUG %v, listening line %v: %s", sawHealth, sawListening, strings.Join(w.all(), "\n"))
	}
}

// --log-level warn leaves out everything below WARN.
func TestRun_LogLevelWarnDropsInfo(t *testing.T) {
	w := &lineWriter{watch: make(chan string, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // start, then shut down at once
	if code := runServer(ctx, []string{"app", "--in-memory", "--port", "0", "--log-level", "warn"}, envOf(nil), io.Discard, w); code != exitOK {
		t.Fatalf("exit %d: %s", code, strings.Join(w.all(), "\n"))
	}
	lines := parseLog(t, w.all())
	if len(lines) == 0 {
		t.Fatal("no lines: the no-admin-secret warning should be there")
	}
	for _, ll := range lines {
		if ll.Level != "WARN" && ll.Level != "ERROR" {
			t.Fatalf("%s line at --log-level warn: %+v", ll.Level, ll)
		}
	}
}

// A failure once the log has started (here: the port is taken) is a JSON
// line too, and exits 1.
func TestRun_RuntimeFailureIsAJSONLine(t *testing.T) {
	w := &lineWriter{watch: make(chan string, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runServer(ctx, []string{"app", "--in-memory", "--port", "0", "--metrics-addr", "256.0.0.1:1"}, envOf(nil), io.Discard, w)
	}()
	select {
	case code := <-done:
		if code != exitError {
			t.Fatalf("exit %d, want %d", code, exitError)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not fail")
	}
	lines := parseLog(t, w.all())
	last := lines[len(lines)-1]
	if last.Level != "ERROR" || !strings.Contains(last.Msg, "metrics") {
		t.Fatalf("last line %+v, want the metrics listener's error", last)
	}
}

func TestVersionFrom(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, c := range []struct {
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{"0.1.0+g1234abc", &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}}, "0.1.0+g1234abc"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", "0123456789abcdef0123", "vcs.modified", "true")}, "devel-0123456789ab-dirty"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", "abc", "vcs.modified", "false")}, "devel-abc"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "(devel)"},
		{"", nil, "(devel)"},
	} {
		if got := versionFrom(c.stamped, c.bi); got != c.want {
			t.Errorf("versionFrom(%q, %+v) = %q, want %q", c.stamped, c.bi, got, c.want)
		}
	}
}

// build.sh stamps the version with -ldflags -X main.version=...: the
// variable must keep that name, or the stamp silently does nothing.
func TestBinary_VersionStampedWithLdflags(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "jazz-tools")
	build := exec.Command(goTool, "build", "-buildvcs=false", "-ldflags", "-X main.version=7.7.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "jazz-tools 7.7.7-test (go") {
		t.Fatalf("version: %q %v", out, err)
	}
}
