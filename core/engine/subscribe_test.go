package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// recorder collects subscription updates.
type recorder struct {
	mu      sync.Mutex
	updates []engine.Update
}

func (r *recorder) cb(u engine.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, u)
}

func (r *recorder) last(t *testing.T) engine.Update {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) == 0 {
		t.Fatal("no update delivered")
	}
	return r.updates[len(r.updates)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.updates)
}

func TestSubscribe_DeltasForAddUpdateRemove(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.EnforcePolicies = false })
	sys := engine.Actor{Backend: true}
	f.db.Insert(ctx, sys, "todos", todo("alice", "first"))
	var rec recorder
	sub, err := f.db.Subscribe(as(alice), q(t, `{"table":"todos","where":{"eq":[{"col":"owner_id"},{"value":"alice"}]}}`), rec.cb)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	if u := rec.last(t); len(u.Added) != 1 || u.Added[0]["title"] != "first" {
		t.Fatalf("initial = %+v", u)
	}
	r, _ := f.db.Insert(ctx, sys, "todos", todo("alice", "second"))
	if u := rec.last(t); len(u.Added) != 1 || u.Added[0].ID() != r.ID() || len(u.Rows()) != 2 {
		t.Fatalf("after insert = %+v", u)
	}
	f.db.Update(ctx, sys, "todos", r.ID(), map[string]any{"done": true})
	if u := rec.last(t); len(u.Updated) != 1 || u.Updated[0]["done"] != true {
		t.Fatalf("after update = %+v", u)
	}
	// Moving the row out of the query's equality term removes it.
	f.db.Update(ctx, sys, "todos", r.ID(), map[string]any{"owner_id": "bob"})
	if u := rec.last(t); len(u.Removed) != 1 || u.Removed[0] != r.ID() {
		t.Fatalf("after move out = %+v", u)
	}
	// And back in adds it again.
	f.db.Update(ctx, sys, "todos", r.ID(), map[string]any{"owner_id": "alice"})
	if u := rec.last(t); len(u.Added) != 1 {
		t.Fatalf("after move in = %+v", u)
	}
	f.db.Delete(ctx, sys, "todos", r.ID())
	if u := rec.last(t); len(u.Removed) != 1 || len(u.Rows()) != 1 {
		t.Fatalf("after delete = %+v", u)
	}
	n := rec.count()
	f.db.Insert(ctx, sys, "todos", todo("bob", "not mine"))
	if rec.count() != n {
		t.Fatal("a write outside the query notified it")
	}
}

func TestSubscribe_WindowShiftsWithOrder(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.EnforcePolicies = false })
	sys := engine.Actor{Backend: true}
	for _, s := range []string{"b", "d", "f"} {
		f.db.Insert(ctx, sys, "todos", todo("alice", s))
	}
	var rec recorder
	sub, _ := f.db.Subscribe(sys, q(t, `{"table":"todos","orderBy":[{"col":"title"}],"limit":2}`), rec.cb)
	defer sub.Cancel()
	a, _ := f.db.Insert(ctx, sys, "todos", todo("alice", "a"))
	u := rec.last(t)
	if len(u.Added) != 1 || u.Added[0].ID() != a.ID() || len(u.Removed) != 1 {
		t.Fatalf("insert at head: %+v", u)
	}
	titles := func() (out []string) {
		for _, r := range u.Rows() {
			out = append(out, r["title"].(string))
		}
		return
	}
	if got := titles(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("window = %v", got)
	}
	n := rec.count()
	f.db.Insert(ctx, sys, "todos", todo("alice", "z"))
	if rec.count() != n {
		t.Fatal("insert below the window produced an update")
	}
}

func TestSubscribe_ReadPolicyAppliesToLiveResults(t *testing.T) {
	f := open(t, nil)
	var rec recorder
	sub, _ := f.db.Subscribe(as(bob), q(t, `{"table":"todos"}`), rec.cb)
	defer sub.Cancel()
	f.db.Insert(ctx, as(alice), "todos", todo("alice", "secret"))
	if rec.count() != 1 {
		t.Fatal("bob was notified of alice's private row")
	}
	f.db.Insert(ctx, as(alice), "todos", todo("alice", "public"))
	if u := rec.last(t); len(u.Added) != 1 || u.Added[0]["title"] != "public" {
		t.Fatalf("public row not delivered: %+v", u)
	}
}

func TestSubscribe_CallbackMayWriteAndCancelStops(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.EnforcePolicies = false })
	sys := engine.Actor{Backend: true}
	var rec recorder
	var sub *engine.Subscription
	sub, _ = f.db.Subscribe(sys, q(t, `{"table":"lists"}`), func(u engine.Update) {
		rec.cb(u)
		if len(u.Added) == 1 && u.Added[0]["name"] == "one" {
			// Re-entrant write from inside a callback must not deadlock.
			if _, err := f.db.Insert(ctx, sys, "lists", map[string]any{"name": "two"}); err != nil {
				t.Error(err)
			}
		}
	})
	f.db.Insert(ctx, sys, "lists", map[string]any{"name": "one"})
	if rec.count() != 3 {
		t.Fatalf("updates = %d, want initial + one + two", rec.count())
	}
	sub.Cancel()
	f.db.Insert(ctx, sys, "lists", map[string]any{"name": "three"})
	if rec.count() != 3 {
		t.Fatal("update after Cancel")
	}
}

func TestSubscribe_PanickingCallbackIsReportedNotFatal(t *testing.T) {
	var reported []error
	f := open(t, func(o *engine.Options) {
		o.EnforcePolicies = false
		o.OnError = func(err error) { reported = append(reported, err) }
	})
	sys := engine.Actor{Backend: true}
	bad, _ := f.db.Subscribe(sys, q(t, `{"table":"lists"}`), func(u engine.Update) {
		if len(u.Added) > 0 {
			panic("boom")
		}
	})
	defer bad.Cancel()
	var rec recorder
	good, _ := f.db.Subscribe(sys, q(t, `{"table":"lists"}`), rec.cb)
	defer good.Cancel()
	f.db.Insert(ctx, sys, "lists", map[string]any{"name": "x"})
	if len(reported) != 1 || rec.count() != 2 {
		t.Fatalf("reported %v, good sub saw %d updates", reported, rec.count())
	}
}

func TestOptimistic_PendingAckAndReject(t *testing.T) {
	store := storage.NewMemory()
	f := open(t, func(o *engine.Options) { o.Optimistic = true; o.EnforcePolicies = false; o.Store = store })
	var rec recorder
	sub, _ := f.db.Subscribe(as(alice), q(t, `{"table":"todos"}`), rec.cb)
	defer sub.Cancel()
	kept, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "kept"))
	refused, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "refused"))
	pend := f.db.Pending()
	if len(pend) != 2 || pend[0].Row != kept.ID() {
		t.Fatalf("pending = %+v", pend)
	}
	// The outbox survives a reopen.
	db2, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Store: store, Clock: f.clock, Optimistic: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(db2.Pending()) != 2 {
		t.Fatalf("reopened outbox has %d changes", len(db2.Pending()))
	}
	if rows, _ := db2.All(as(alice), q(t, `{"table":"todos"}`)); len(rows) != 2 {
		t.Fatalf("reopened db shows %d rows", len(rows))
	}
	if err := f.db.Merge(ctx, nil, ackedByServer(f.db, pend[0].ID)); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Reject(ctx, pend[1].ID); err != nil {
		t.Fatal(err)
	}
	if u := rec.last(t); len(u.Removed) != 1 || u.Removed[0] != refused.ID() {
		t.Fatalf("rollback update = %+v", u)
	}
	if len(f.db.Pending()) != 0 {
		t.Fatal("outbox not emptied")
	}
	if _, err := f.db.Get(as(alice), "todos", kept.ID()); err != nil {
		t.Fatalf("acked row: %v", err)
	}
	if _, err := f.db.Get(as(alice), "todos", refused.ID()); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("rejected row still visible: %v", err)
	}
	// After the ack the change lives in the base: reopening shows it, with
	// an empty outbox.
	db3, _ := engine.Open(context.Background(), engine.Options{Bundle: mustBundle(t), Store: store, Clock: f.clock, Optimistic: true})
	if len(db3.Pending()) != 0 {
		t.Fatal("acked change still in the stored outbox")
	}
	if _, err := db3.Get(as(alice), "todos", kept.ID()); err != nil {
		t.Fatalf("acked row after reopen: %v", err)
	}
}

func TestOptimistic_RejectedUpdateRollsBackToConfirmedValue(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Optimistic = true; o.EnforcePolicies = false })
	r, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "v1"))
	f.db.Merge(ctx, nil, ackedByServer(f.db, f.db.Pending()[0].ID))
	f.db.Update(ctx, as(alice), "todos", r.ID(), map[string]any{"title": "v2"})
	if got, _ := f.db.Get(as(alice), "todos", r.ID()); got["title"] != "v2" {
		t.Fatalf("optimistic value not shown: %v", got["title"])
	}
	f.db.Reject(ctx, f.db.Pending()[0].ID)
	if got, _ := f.db.Get(as(alice), "todos", r.ID()); got["title"] != "v1" {
		t.Fatalf("after reject title = %v, want v1", got["title"])
	}
}

func TestExtend_RestoresQueuedWritesOfLateTables(t *testing.T) {
	store := storage.NewMemory()
	f := open(t, func(o *engine.Options) { o.Optimistic = true; o.EnforcePolicies = false; o.Store = store })
	f.db.Insert(ctx, as(alice), "todos", todo("alice", "queued offline"))
	empty, _ := schema.New()
	db2, err := engine.Open(ctx, engine.Options{Bundle: &bundle.Bundle{Schema: empty}, Store: store, Clock: f.clock, Optimistic: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(db2.Pending()) != 0 {
		t.Fatal("outbox of an unknown table loaded before Extend")
	}
	if err := db2.Extend(ctx, mustBundle(t).Schema); err != nil {
		t.Fatal(err)
	}
	if p := db2.Pending(); len(p) != 1 || p[0].Values["title"] != "queued offline" {
		t.Fatalf("pending after Extend = %+v", p)
	}
	if rows, _ := db2.All(as(alice), q(t, `{"table":"todos"}`)); len(rows) != 1 {
		t.Fatalf("queued row not visible after Extend: %d rows", len(rows))
	}
}

// A windowed subscription's first result is chosen without sorting every
// match (the full order is made when first needed): it is exactly the
// query's window, for windows at the start, in the middle and at the end,
// and the updates after it still follow the full order.
func TestSubscribe_FirstWindowOfManyMatchesThenUpdates(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.EnforcePolicies = false })
	sys := engine.Actor{Backend: true}
	for i := range 60 {
		r := todo("alice", string(rune('A'+i%26))+string(rune('a'+i/26)))
		r["rank"] = int64(i % 7)
		if _, err := f.db.Insert(ctx, sys, "todos", r); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(rows []engine.Row) (out []string) {
		for _, r := range rows {
			out = append(out, r.ID())
		}
		return
	}
	for _, js := range []string{
		`{"table":"todos","orderBy":[{"col":"rank","desc":true},{"col":"title"}],"limit":5}`,
		`{"table":"todos","orderBy":[{"col":"rank"}],"limit":7,"offset":20}`,
		`{"table":"todos","orderBy":[{"col":"title","desc":true}],"limit":10,"offset":49}`,
	} {
		want, err := f.db.All(sys, q(t, js))
		if err != nil {
			t.Fatal(err)
		}
		var rec recorder
		sub, err := f.db.Subscribe(sys, q(t, js), rec.cb)
		if err != nil {
			t.Fatal(err)
		}
		first := rec.last(t)
		if got := ids(first.Added); len(got) != len(want) || !equalStrings(got, ids(want)) {
			t.Fatalf("%s: first window %v, want %v", js, got, ids(want))
		}
		if got := ids(sub.Rows()); !equalStrings(got, ids(want)) {
			t.Fatalf("%s: rows before any change %v, want %v", js, got, ids(want))
		}
		// A new row (first by title, last by rank desc) moves the windows.
		top := todo("alice", "0")
		top["rank"] = int64(-1)
		row, err := f.db.Insert(ctx, sys, "todos", top)
		if err != nil {
			t.Fatal(err)
		}
		want, _ = f.db.All(sys, q(t, js))
		if got := ids(sub.Rows()); !equalStrings(got, ids(want)) {
			t.Fatalf("%s: after an insert %v, want %v", js, got, ids(want))
		}
		sub.Cancel()
		if err := f.db.Delete(ctx, sys, "todos", row.ID()); err != nil {
			t.Fatal(err)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A subscription finds its matches under the read lock and registers under
// the write lock: a commit that lands in between must not be lost. Many
// subscriptions are made while a writer commits; once it stops, every one
// holds exactly what a fresh query returns.
func TestSubscribe_CommitsWhileSubscribingAreNotLost(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.EnforcePolicies = false })
	// Windowed: a watch of an unwindowed query keeps no result to lose.
	query := q(t, `{"table":"todos","orderBy":[{"col":"title"}],"limit":100000}`)
	stop := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				wrote <- nil
				return
			default:
			}
			if _, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", fmt.Sprint(i))); err != nil {
				wrote <- err
				return
			}
		}
	}()
	var subs []*engine.Subscription
	for range 300 {
		s, err := f.db.Watch(as(alice), query, func(engine.Update) {})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	close(stop)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	want, _ := f.db.All(as(alice), query)
	for i, s := range subs {
		if got := s.Rows(); len(got) != len(want) {
			t.Fatalf("subscription %d holds %d rows, the table %d", i, len(got), len(want))
		}
	}
}
