package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// gated is a Memory whose Apply blocks until the test lets it through, and
// which records every batch it commits.
type gated struct {
	*Memory
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	entered chan struct{}
	batches [][]Op
}

func newGated() *gated {
	return &gated{Memory: NewMemory(), entered: make(chan struct{}, 100)}
}

func (g *gated) close() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gated) open() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

func (g *gated) Apply(ctx context.Context, ops []Op) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	g.entered <- struct{}{}
	if gate != nil {
		<-gate
	}
	if err := g.Memory.Apply(ctx, ops); err != nil {
		return err
	}
	g.mu.Lock()
	g.batches = append(g.batches, ops)
	g.mu.Unlock()
	return nil
}

func (g *gated) applies() [][]Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]Op(nil), g.batches...)
}

func put(k, v string) Op { return Put("b", []byte(k), []byte(v)) }

func scanAll(t *testing.T, s Store, prefix string) string {
	t.Helper()
	out := ""
	if err := s.Scan(context.Background(), "b", []byte(prefix), func(k, v []byte) error {
		out += string(k) + "=" + string(v) + " "
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteBehind_GroupCommitsWhatQueuesDuringACommit(t *testing.T) {
	ctx := context.Background()
	g := newGated()
	w := NewWriteBehind(g, nil)
	defer w.Close()
	g.close()
	first, err := w.Enqueue([]Op{put("a", "1")})
	if err != nil {
		t.Fatal(err)
	}
	<-g.entered // the first batch is being committed
	var later []*Commit
	for i := 2; i <= 4; i++ {
		c, err := w.Enqueue([]Op{put("k"+strconv.Itoa(i), strconv.Itoa(i)), put("a", strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		later = append(later, c)
	}
	// Reads see every queued batch before anything reached the disk.
	if v, ok, _ := w.Get(ctx, "b", []byte("a")); !ok || string(v) != "4" {
		t.Fatalf("Get(a) = %q %v before the commit, want the newest queued value 4", v, ok)
	}
	if _, ok, _ := g.Memory.Get(ctx, "b", []byte("a")); ok {
		t.Fatal("the disk has a value before the commit was let through")
	}
	select {
	case <-first.Done():
		t.Fatal("a batch settled before its commit finished")
	default:
	}
	g.open()
	for _, c := range append(later, first) {
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	b := g.applies()
	if len(b) != 2 || len(b[0]) != 1 || len(b[1]) != 6 {
		t.Fatalf("commits = %d batches %v, want the first alone then the three queued ones as one", len(b), b)
	}
	if v, _, _ := g.Memory.Get(ctx, "b", []byte("a")); string(v) != "4" {
		t.Fatalf("disk a = %q, want 4 (batches kept their order)", v)
	}
}

func TestWriteBehind_ScanLaysQueuedWritesOverTheStore(t *testing.T) {
	ctx := context.Background()
	g := newGated()
	for _, op := range []Op{put("p1", "old"), put("p3", "old"), put("p5", "old"), put("q1", "other")} {
		if err := g.Memory.Apply(ctx, []Op{op}); err != nil {
			t.Fatal(err)
		}
	}
	w := NewWriteBehind(g, nil)
	defer w.Close()
	g.close()
	if _, err := w.Enqueue([]Op{put("p0", "new"), put("p3", "new"), Del("b", []byte("p5")), put("p9", "new"), put("q2", "x")}); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	if got, want := scanAll(t, w, "p"), "p0=new p1=old p3=new p9=new "; got != want {
		t.Fatalf("scan while queued = %q, want %q", got, want)
	}
	if _, ok, _ := w.Get(ctx, "b", []byte("p5")); ok {
		t.Fatal("a queued delete is not seen by Get")
	}
	g.open()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := scanAll(t, w, "p"), "p0=new p1=old p3=new p9=new "; got != want {
		t.Fatalf("scan after the commit = %q, want %q", got, want)
	}
	w.mu.Lock()
	n := len(w.overlay)
	w.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d buckets still in memory after everything was written", n)
	}
}

func TestWriteBehind_FailureKeepsWritesReadableAndReportsOnce(t *testing.T) {
	ctx := context.Background()
	f := NewFaulty(NewMemory())
	var mu sync.Mutex
	var reports []error
	w := NewWriteBehind(f, func(err error) {
		mu.Lock()
		reports = append(reports, err)
		mu.Unlock()
	})
	w.retry = []time.Duration{0, 0}
	defer w.Close()
	if err := w.Apply(ctx, []Op{put("a", "1")}); err != nil {
		t.Fatal(err)
	}
	f.FailApplyAfter(0)
	err := w.Apply(ctx, []Op{put("a", "2")})
	if !errors.Is(err, ErrInjected) {
		t.Fatalf("Apply on a failing store = %v, want ErrInjected", err)
	}
	f.FailApplyAfter(-1) // even if the store heals, nothing more is written: order would break
	if err := w.Apply(ctx, []Op{put("b", "3")}); !errors.Is(err, ErrInjected) {
		t.Fatalf("Apply after the failure = %v, want the same failure", err)
	}
	if got, want := scanAll(t, w, ""), "a=2 b=3 "; got != want {
		t.Fatalf("reads after the failure = %q, want %q (writes kept in memory)", got, want)
	}
	if v, _, _ := f.Get(ctx, "b", []byte("a")); string(v) != "1" {
		t.Fatalf("disk a = %q, want 1: nothing after the failed batch may reach it", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 || !errors.Is(reports[0], ErrInjected) || !errors.Is(reports[0], ErrWriteFailed) || w.Failed() == nil {
		t.Fatalf("onFail got %v, want one report of the injected failure", reports)
	}
}

func TestWriteBehind_RetriesATransientFailure(t *testing.T) {
	ctx := context.Background()
	f := &flaky{Memory: NewMemory(), fails: 2}
	reported := false
	w := NewWriteBehind(f, func(error) { reported = true })
	w.retry = []time.Duration{0, 0, 0}
	defer w.Close()
	if err := w.Apply(ctx, []Op{put("a", "1")}); err != nil {
		t.Fatalf("Apply = %v, want success after two failed attempts", err)
	}
	if v, _, _ := f.Memory.Get(ctx, "b", []byte("a")); string(v) != "1" || reported {
		t.Fatalf("disk a = %q, reported = %v", v, reported)
	}
}

type flaky struct {
	*Memory
	mu    sync.Mutex
	fails int
}

func (f *flaky) Apply(ctx context.Context, ops []Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return fmt.Errorf("transient: %w", ErrInjected)
	}
	return f.Memory.Apply(ctx, ops)
}

func TestWriteBehind_CloseWritesWhatIsQueued(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	inner := &keepOpen{Memory: m}
	w := NewWriteBehind(inner, nil)
	for i := 0; i < 50; i++ {
		if _, err := w.Enqueue([]Op{put(fmt.Sprintf("k%02d", i), "v")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = m.Scan(ctx, "b", nil, func(k, v []byte) error { n++; return nil })
	if n != 50 || !inner.closed {
		t.Fatalf("after Close the store has %d of 50 keys (closed %v)", n, inner.closed)
	}
	if _, err := w.Enqueue([]Op{put("x", "y")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close = %v, want ErrClosed", err)
	}
}

type keepOpen struct {
	*Memory
	closed bool
}

func (k *keepOpen) Close() error { k.closed = true; return nil }

// Scans racing with commits never see a value older than one they saw
// before: flushed entries stay in memory until no scan needs them.
func TestWriteBehind_ScansNeverGoBackInTime(t *testing.T) {
	ctx := context.Background()
	w := NewWriteBehind(NewMemory(), nil)
	defer w.Close()
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			if _, err := w.Enqueue([]Op{put("k", fmt.Sprintf("%05d", i))}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	last := ""
	for {
		select {
		case <-done:
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got := scanAll(t, w, ""); got != fmt.Sprintf("k=%05d ", n) {
				t.Fatalf("final scan %q", got)
			}
			return
		default:
		}
		got := scanAll(t, w, "")
		if got < last {
			t.Fatalf("scan went back from %q to %q", last, got)
		}
		last = got
	}
}

func TestWriteBehind_RefusesOpsThatCanNeverBeWritten(t *testing.T) {
	w := NewWriteBehind(NewMemory(), nil)
	defer w.Close()
	if _, err := w.Enqueue([]Op{Put("", []byte("k"), nil)}); !errors.Is(err, ErrBadBucket) {
		t.Fatalf("empty bucket: %v", err)
	}
	if _, err := w.Enqueue([]Op{Put("b", nil, nil)}); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
}
