package core_test

import (
	"bufio"
	"bytes"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/jazzgo/jazz-tools"

// violation is one import that breaks core's rules.
type violation struct {
	File   string // slash-separated, relative to the checked root
	Import string
}

func (v violation) String() string { return v.File + " imports " + v.Import }

// browserOnly may not be imported by any file under core, tests included:
// core has to build for the server.
func browserOnly(path string) bool { return path == "syscall/js" }

// serverOnly may not be imported by core's non-test files, which the wasm
// client compiles.
func serverOnly(path string) bool {
	for _, p := range []string{"net/http", "os/exec", "go.etcd.io/bbolt", module + "/server"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func mayUseHTTP(pkg string) bool {
	for _, p := range []string{module + "/core/sync", module + "/core/client"} {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// checkImports parses the imports of every Go file under root, whatever its
// build constraints, skipping what the go tool skips (testdata, directories
// starting with . or _), and returns the imports that break the rules.
func checkImports(root string) ([]violation, error) {
	var out []violation
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		isTest := strings.HasSuffix(name, "_test.go")
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, "`\"")
			if browserOnly(p) || (!isTest && serverOnly(p)) {
				out = append(out, violation{File: filepath.ToSlash(rel), Import: p})
			}
		}
		return nil
	})
	return out, err
}

func TestCore_ImportsNoBrowserOrServerOnlyPackages(t *testing.T) {
	vs, err := checkImports(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("%s: core must stay pure Go and server-independent (see core/doc.go)", v)
	}
}

func TestCheckImports_ReportsViolations(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"ok/ok.go":              "package ok\n\nimport (\n\t\"fmt\"\n\t\"net\"\n)\n\nvar _ = fmt.Sprint\nvar _ net.Addr\n",
		"ok/ok_test.go":         "package ok\n\nimport (\n\t\"net/http\"\n\t\"os/exec\"\n)\n",
		"wasm/js.go":            "//go:build js && wasm\n\npackage wasm\n\nimport \"syscall/js\"\n\nvar _ js.Value\n",
		"wasm/js_test.go":       "package wasm\n\nimport js \"syscall/js\"\n",
		"srv/srv.go":            "package srv\n\nimport (\n\t_ \"net/http/httptest\"\n\t\"os/exec\"\n\tbolt \"go.etcd.io/bbolt\"\n\t\"" + module + "/server/hub\"\n)\n",
		"srv/near_miss.go":      "package srv\n\nimport (\n\t\"net/httpx\"\n\t\"" + module + "/serverless\"\n\t\"os/execx\"\n)\n",
		"testdata/ignored.go":   "package ignored\n\nimport \"syscall/js\"\n",
		"_skip/ignored.go":      "package ignored\n\nimport \"syscall/js\"\n",
		"ok/README.md":          "import \"syscall/js\"\n",
		"deep/er/still/js2.go":  "package still\n\nimport \"syscall/js\"\n",
		"deep/er/still/http.go": "package still\n\nimport \"net/http\"\n",
	}
	for name, src := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := checkImports(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.String())
	}
	slices.Sort(got)
	want := []string{
		"deep/er/still/http.go imports net/http",
		"deep/er/still/js2.go imports syscall/js",
		"srv/srv.go imports " + module + "/server/hub",
		"srv/srv.go imports go.etcd.io/bbolt",
		"srv/srv.go imports net/http/httptest",
		"srv/srv.go imports os/exec",
		"wasm/js.go imports syscall/js",
		"wasm/js_test.go imports syscall/js",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	t.Run("a syntax error is reported, not skipped", func(t *testing.T) {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, "bad.go"), []byte("package bad\nimport (\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := checkImports(bad); err == nil {
			t.Error("checkImports accepted an unparsable file")
		}
	})
}

// TestCore_TransitiveDependencies asks the go tool for the full dependency
// graph of core, for the browser and for the host, so a server-only package
// pulled in through a third-party import is caught too. (syscall/js is not
// checked here: the standard library itself uses it on js/wasm.)
func TestCore_TransitiveDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	for _, target := range [][]string{{"GOOS=js", "GOARCH=wasm"}, nil} {
		name := "host"
		if target != nil {
			name = "js/wasm"
		}
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(goTool, "list", "-e", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...")
			cmd.Env = append(os.Environ(), target...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, stderr.String())
			}
			n := 0
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				fields := strings.Fields(sc.Text())
				if len(fields) == 0 {
					continue
				}
				n++
				pkg, deps := fields[0], fields[1:]
				if !strings.HasPrefix(pkg, module+"/core") {
					t.Errorf("go list ./... from core listed %s", pkg)
				}
				for _, d := range deps {
					// The WebSocket library reaches net/http (its browser
					// build too); only the sync client, and the client Db
					// that embeds it, may carry it.
					if strings.HasPrefix(d, "net/http") && mayUseHTTP(pkg) && !strings.HasPrefix(d, "net/http/pprof") {
						continue
					}
					if serverOnly(d) {
						t.Errorf("%s depends on %s", pkg, d)
					}
				}
			}
			if n < 2 {
				t.Fatalf("go list printed %d packages: %s", n, stderr.String())
			}
		})
	}
}
