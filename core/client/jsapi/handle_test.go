package jsapi

import (
	"context"
	gosync "sync"
	"testing"
	"time"
)

// events records a handle's trace.
type events struct {
	mu  gosync.Mutex
	all []string
}

func (e *events) add(s string) { e.mu.Lock(); e.all = append(e.all, s); e.mu.Unlock() }

func (e *events) count(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.all {
		if s == name {
			n++
		}
	}
	return n
}

// A busy subscription's result is saved once its changes pause for
// saveDelay, not at each change; the next page over the same store shows
// it before reading the table, and the computed result confirms it.
func TestSubscribe_SavesTheResultAfterAPauseAndTheNextPageShowsIt(t *testing.T) {
	b := newBrowser()
	cfg := secretConfig(t)
	var ev events
	a := open(t, b, cfg, ev.add)
	if err := a.UseSchema(todosJSON); err != nil {
		t.Fatal(err)
	}
	var live results
	stop, err := a.Subscribe(todosQuery, live.cb, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, title := range []string{"a", "b", "c"} {
		if _, err := insert(context.Background(), a, title); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "three rows", func() bool { return live.count() == 3 })
	time.Sleep(20 * time.Millisecond)
	if n := ev.count("subscribe: result saved"); n != 0 {
		t.Fatalf("saved %d times before the delay", n)
	}
	b.clock.Advance(saveDelay - time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if n := ev.count("subscribe: result saved"); n != 0 {
		t.Fatalf("saved %d times before the delay", n)
	}
	b.clock.Advance(time.Millisecond)
	eventually(t, "the result to be saved", func() bool { return ev.count("subscribe: result saved") == 1 })
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	var ev2 events
	next := open(t, b, cfg, ev2.add)
	if err := next.UseSchema(todosJSON); err != nil {
		t.Fatal(err)
	}
	var again results
	stop2, err := next.Subscribe(todosQuery, again.cb, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	eventually(t, "the saved result", func() bool { return again.count() == 3 })
	eventually(t, "the computed result to confirm it", func() bool { return ev2.count("subscribe: cache confirmed") == 1 })
	if ev2.count("subscribe: from cache") != 1 {
		t.Fatal("the first result did not come from the saved one")
	}
}

// A follower does not save results: the leader writes the store.
func TestSubscribe_FollowerDoesNotSaveResults(t *testing.T) {
	b := newBrowser()
	var ev events
	hs := openTabs(t, b, 1)
	a := hs[0]
	f := open(t, b, secretOf(a), ev.add)
	if err := f.UseSchema(todosJSON); err != nil {
		t.Fatal(err)
	}
	live := watch(t, f)
	if _, err := insert(context.Background(), a, "x"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the row", func() bool { return live.has("x") })
	b.clock.Advance(time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := ev.count("subscribe: result saved"); n != 0 {
		t.Fatalf("the follower saved %d results", n)
	}
}

func TestHandle_BadCallsFailTypedAndCloseEndsEverything(t *testing.T) {
	b := newBrowser()
	before := LiveHandles()
	h, err := Open(context.Background(), secretConfig(t), b.env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if LiveHandles() != before+1 {
		t.Fatalf("live handles %d, want %d", LiveHandles(), before+1)
	}
	if err := h.UseSchema(todosJSON); err != nil {
		t.Fatal(err)
	}
	other := `{"tables":[{"name":"todos","columns":[{"name":"title","type":"int"}]}]}`
	wantCode(t, h.UseSchema(other), Validation, "invalid_schema")
	_, err = h.Subscribe(`{"table":"nope"}`, func(string) {}, nil)
	wantCode(t, err, Validation, "invalid_query")
	_, err = h.Write(context.Background(), "insert", "todos", "", `[1]`, "")
	wantCode(t, err, Validation, "bad_argument")
	_, err = h.Write(context.Background(), "smash", "todos", "", `{}`, "")
	wantCode(t, err, Validation, "bad_argument")
	_, err = h.NewIDs(0)
	wantCode(t, err, Validation, "bad_argument")
	_, err = h.Batch(context.Background(), "b1", `{"not":"a list"}`)
	wantCode(t, err, Validation, "bad_argument")

	ended := make(chan string, 2)
	if _, err := h.Subscribe(todosQuery, func(string) {}, func() { ended <- "sub" }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.OnSyncStateChanged(func(string) {}, func() { ended <- "listener" }); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end every subscription and listener")
		}
	}
	if LiveHandles() != before {
		t.Fatalf("live handles after close %d, want %d", LiveHandles(), before)
	}
	_, err = h.All(context.Background(), todosQuery)
	wantCode(t, err, Closed, "closed")
	_, err = h.Subscribe(todosQuery, func(string) {}, nil)
	wantCode(t, err, Closed, "closed")
	if err := h.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestHandle_MemoryStorageSyncsAlone(t *testing.T) {
	b := newBrowser()
	h := open(t, b, `{"appId":"app","storage":"memory"}`, nil)
	if h.Role() != "single" || h.StorageMode() != Memory || h.StorageName() != "" {
		t.Fatalf("role %s, mode %s, name %q", h.Role(), h.StorageMode(), h.StorageName())
	}
	p := open(t, b, secretConfig(t), nil)
	if p.StorageMode() != Persistent || p.StorageName() == "" {
		t.Fatalf("persistent mode %s, name %q", p.StorageMode(), p.StorageName())
	}
}
