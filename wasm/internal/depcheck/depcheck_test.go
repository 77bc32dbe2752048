//go:build !(js && wasm)

package depcheck

import (
	"encoding/json"
	"fmt"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/tools/buildinfo"
)

const module = "github.com/jazzgo/jazz-tools"

// forbidden are packages the browser build must never link, and why. A
// prefix ending in "/" forbids the package and everything under it.
var forbidden = []struct{ pkg, why string }{
	{"testing", "the test framework (flags, runner) has no place in a product binary"},
	{"testing/", "test helpers"},
	{"net/http/pprof", "a debug server"},
	{"net/http/httptest", "a test server"},
	{"expvar", "a debug endpoint"},
	{"os/exec", "browsers run no processes: server or tooling code leaked in"},
	{"go.etcd.io/bbolt", "server storage; does not build for js"},
	{"modernc.org/sqlite", "server storage; does not build for js"},
	{"database/sql", "no SQL in the browser client"},
	{module + "/server", "server code (auth secrets, admin, storage) must never ship to browsers"},
	{module + "/server/", "server code"},
	{module + "/cmd/", "command-line tools"},
	{module + "/tools/", "build tooling"},
	{"github.com/golang-jwt/jwt/v5/request", "reads tokens out of HTTP requests: server-side"},
	{"github.com/MicahParks/keyfunc", "JWKS fetching: the server verifies tokens, the client never does"},
	{"net/http", "the browser does HTTP and TLS itself; net/http links TLS, x509 and RSA (~0.4 MB brotli). The client dials through wasm/jsws"},
	{"net/url", "with net/netip and unique, about 0.18 MB raw compiled and initialised at every page load; core/sync parses its one URL by hand"},
	{"crypto/tls", "the browser's WebSocket does TLS"},
	{"crypto/x509", "certificates are the browser's business"},
	{"nhooyr.io/websocket", "the native transport; the browser build uses wasm/jsws"},
	{"github.com/golang-jwt/jwt/v5", "links every JWT algorithm; local-first tokens are signed with crypto/ed25519 directly"},
	{"html/template", "large and unused by the client"},
	{"text/template", "large and unused by the client"},
	{"log/slog", "about 0.2 MB of wasm for logs that go nowhere by default: the client takes a sync.Logger, which a *slog.Logger satisfies"},
}

func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s", root)
	}
	return root
}

func wasmDeps(t *testing.T, root string) []string {
	cmd := exec.Command("go", "list", "-deps", "./wasm")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./wasm (js/wasm): %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestWasmDeps_NothingForbidden(t *testing.T) {
	root := repoRoot(t)
	deps := wasmDeps(t, root)
	if len(deps) < 20 {
		t.Fatalf("suspiciously few dependencies: %v", deps)
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f.pkg || (strings.HasSuffix(f.pkg, "/") && strings.HasPrefix(d, f.pkg)) {
				t.Errorf("the wasm build links %s: %s (find the importer with: GOOS=js GOARCH=wasm go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./wasm | grep %s)", d, f.why, d)
			}
		}
	}
}

// Files under wasm/ are js-only, except the packages that are tested or
// run natively: internal/{depcheck,e2e}.
func TestWasmFiles_BuildTags(t *testing.T) {
	root := repoRoot(t)
	native := map[string]bool{"wasm/internal/depcheck": true, "wasm/internal/e2e": true}
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, "wasm"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		dir := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		var expr constraint.Expr
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if constraint.IsGoBuild(c.Text) {
					expr, _ = constraint.Parse(c.Text)
				}
			}
		}
		jsOnly := expr != nil && !expr.Eval(func(tag string) bool { return tag == "linux" || tag == "amd64" })
		switch {
		case native[dir] && jsOnly:
			t.Errorf("%s is js-only but %s must build natively", rel, dir)
		case !native[dir] && !jsOnly:
			t.Errorf("%s needs //go:build js && wasm (only %v build natively)", rel, keys(native))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// BudgetBrotli is the most the wasm may weigh as a browser downloads it
// (brotli -q 11): the figure DESIGN.md sets for the whole client.
const BudgetBrotli = 1_500_000

// TestWasmSize_Budget reads the sizes build_wasm measured. It runs in the
// wasm stage of ./build.sh test (JAZZ_WASM_SIZE_CHECK=1), right after the
// build, and refuses figures from a wasm built from other sources.
func TestWasmSize_Budget(t *testing.T) {
	if os.Getenv("JAZZ_WASM_SIZE_CHECK") != "1" {
		t.Skip("set JAZZ_WASM_SIZE_CHECK=1 after ./build.sh build (./build.sh test does)")
	}
	root := repoRoot(t)
	dir := filepath.Join(root, buildinfo.Dir)
	raw, err := os.ReadFile(filepath.Join(dir, "SIZES.json"))
	if err != nil {
		t.Fatalf("%v: build the wasm first (./build.sh build)", err)
	}
	var s buildinfo.Sizes
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("SIZES.json: %v", err)
	}
	id, err := buildinfo.SourceHash(root)
	if err != nil {
		t.Fatal(err)
	}
	built, _ := os.ReadFile(filepath.Join(dir, "BUILD_ID"))
	if strings.TrimSpace(string(built)) != id || s.BuildID != id {
		t.Fatalf("bindings/js/wasm is stale (built from %q / sizes for %q, sources are %q): rebuild with ./build.sh build",
			strings.TrimSpace(string(built)), s.BuildID, id)
	}
	t.Logf("jazz.wasm: %s raw, %s gzip, %s brotli (budget %s)", mb(s.Raw), mb(s.Gzip), mb(s.Brotli), mb(BudgetBrotli))
	if s.Brotli > BudgetBrotli {
		t.Errorf("jazz.wasm is %s brotli, over the %s budget. The big items are core's: github.com/golang-jwt/jwt/v5 (core/identity) links crypto/rsa, ecdsa and x509 (~0.45 MB brotli); nhooyr.io/websocket (core/sync) links net/http and crypto/tls. Check `GOOS=js GOARCH=wasm go list -deps ./wasm`.", mb(s.Brotli), mb(BudgetBrotli))
	}
}

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }
