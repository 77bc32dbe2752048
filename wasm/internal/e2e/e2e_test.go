//go:build !(js && wasm)

// Package e2e runs the wasm bridge tests (wasm/bridge, TestServer_*)
// against a real sync server: this native test starts server.New on
// loopback, then runs `GOOS=js GOARCH=wasm go test` in Node and, when
// wasmbrowsertest and Chromium are installed, in headless Chromium, with
// the server's address in JAZZ_TEST_SERVER_URL (the pattern of
// coder/websocket's browser tests).
//
// It is slow (it compiles and runs the wasm tests), so it only runs when
// JAZZ_WASM_E2E=1; ./build.sh test sets it.
package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/server"
	"github.com/jazzgo/jazz-tools/server/auth"
)

const appID = "e2e" // wasm/bridge/server_test.go

const bundleJSON = `{"version":1,
 "schema":{"tables":[
  {"name":"todos","columns":[{"name":"title","type":"string"},{"name":"done","type":"boolean","optional":true},{"name":"owner_id","type":"string","optional":true}]},
  {"name":"locked","columns":[{"name":"title","type":"string"}]}]},
 "policies":{
  "todos":{"read":true,"insert":true,"updateOld":true,"updateNew":true,"delete":true},
  "locked":{"read":true}}}`

// sessionCounter is a slog.Handler counting "session started" per user.
type sessionCounter struct {
	mu *gosync.Mutex
	n  map[string]int
}

func (h sessionCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h sessionCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h sessionCounter) WithGroup(string) slog.Handler            { return h }
func (h sessionCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "session started" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "user_id" {
			h.mu.Lock()
			h.n[a.Value.String()]++
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func startServer(t *testing.T) string {
	b, err := bundle.Decode([]byte(bundleJSON))
	if err != nil {
		t.Fatal(err)
	}
	counter := sessionCounter{mu: new(gosync.Mutex), n: map[string]int{}}
	srv, err := server.New(server.Config{
		AppID:          appID,
		InMemory:       true,
		Bundle:         b,
		Resolver:       &auth.Resolver{AllowLocalFirst: true},
		AllowedOrigins: []string{"*"},
		Logger:         slog.New(counter),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.HandleFunc("GET /test/sessions", func(w http.ResponseWriter, r *http.Request) {
		counter.mu.Lock()
		n := counter.n[r.URL.Query().Get("user_id")]
		counter.mu.Unlock()
		w.Header().Set("Access-Control-Allow-Origin", "*")
		json.NewEncoder(w).Encode(map[string]int{"count": n})
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return hs.URL
}

func repoRoot(t *testing.T) string {
	dir, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s", dir)
	}
	return dir
}

// runners are the -exec programs the wasm tests run under.
func runners(t *testing.T, root string) map[string]string {
	out := map[string]string{"node": filepath.Join(root, "scripts/wasm/go_js_wasm_exec")}
	if p, err := exec.LookPath("wasmbrowsertest"); err == nil {
		out["chromium"] = p
	} else if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gp)), "bin", "wasmbrowsertest")
		if _, err := os.Stat(p); err == nil {
			out["chromium"] = p
		}
	}
	return out
}

func TestWasmBridgeAgainstServer(t *testing.T) {
	if os.Getenv("JAZZ_WASM_E2E") != "1" {
		t.Skip("set JAZZ_WASM_E2E=1 to run the wasm tests against a real server (./build.sh test does)")
	}
	root := repoRoot(t)
	rs := runners(t, root)
	if _, ok := rs["chromium"]; !ok {
		t.Log("wasmbrowsertest not installed: running in Node only")
	}
	for name, execPath := range rs {
		t.Run(name, func(t *testing.T) {
			url := startServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-exec", execPath, "-run", "TestServer_", "-v", "./wasm/bridge/")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "JAZZ_TEST_SERVER_URL="+url)
			out, err := cmd.CombinedOutput()
			text := string(out)
			if err != nil {
				t.Fatalf("wasm tests against the server failed: %v\n%s", err, text)
			}
			if !strings.Contains(text, "--- PASS: TestServer_") {
				t.Fatalf("no server test ran:\n%s", text)
			}
			for _, line := range strings.Split(text, "\n") {
				if strings.HasPrefix(line, "--- ") {
					t.Log(line)
				}
			}
		})
	}
}
