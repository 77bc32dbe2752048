package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/server"
)

const deployV1 = `{"version":1,"schema":{"tables":[{"name":"todos","columns":[{"name":"title","type":"string"}]}]},
 "policies":{"todos":{"read":true}}}`

// deployV2 adds a required column without a default.
const deployV2 = `{"version":1,"schema":{"tables":[{"name":"todos","columns":[{"name":"title","type":"string"},{"name":"rank","type":"int"}]}]},
 "policies":{"todos":{"read":true}}}`

// A deploy the server refuses as unsafe prints each break with its code
// and fix and exits 1; --force (never $JAZZ_FORCE) publishes it and says
// what was forced.
func TestRun_DeployUnsafeChangeNeedsForce(t *testing.T) {
	b, err := bundle.Decode([]byte(deployV1))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{AppID: "app", InMemory: true, AdminSecret: "s3cret", Bundle: b, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); hs.Close() })
	db, err := srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Insert(context.Background(), engine.Actor{Backend: true}, "todos", map[string]any{"title": "x"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(file, []byte(deployV2), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"deploy", "app", "--server", hs.URL, "--admin-secret", "s3cret", "--bundle", file}

	var stdout, stderr bytes.Buffer
	code := run(args, envOf(map[string]string{"JAZZ_FORCE": "true"}), &stdout, &stderr)
	if code != exitError || !strings.Contains(stdout.String(), `"unsafe_schema_change"`) {
		t.Fatalf("unforced: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"refused todos.rank [required_column_added]", "fix: Give it a default", "--force"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	stdout.Reset()
	stderr.Reset()
	if code := run(append(args, "--force"), envOf(nil), &stdout, &stderr); code != exitOK || !strings.Contains(stderr.String(), "forced todos.rank [required_column_added]") {
		t.Fatalf("forced: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
}
