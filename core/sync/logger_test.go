package sync

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A *slog.Logger is a Logger, and With adds its attributes before each
// message's own, at every level.
func TestWith_AddsAttributesToSlog(t *testing.T) {
	var buf bytes.Buffer
	var l Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := With(l, "component", "sync")
	w.Debug("d", "k", 1)
	w.Info("i")
	w.Warn("w", "k", 2)
	w.Error("e")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"level=DEBUG msg=d component=sync k=1", "level=INFO msg=i component=sync", "level=WARN msg=w component=sync k=2", "level=ERROR msg=e component=sync"}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	for i, line := range lines {
		if _, rest, _ := strings.Cut(line, " "); rest != want[i] { // drop time=...
			t.Errorf("line %d = %q, want %q", i, rest, want[i])
		}
	}
	if With(Discard, "component", "sync") != Discard {
		t.Error("With(Discard) should stay Discard")
	}
}
