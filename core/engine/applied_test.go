package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// scanLog records which buckets are scanned (Open scans some at once).
type scanLog struct {
	storage.Store
	mu      sync.Mutex
	scanned map[string]int
}

func (s *scanLog) Scan(ctx context.Context, bucket string, prefix []byte, fn func(k, v []byte) error) error {
	s.mu.Lock()
	s.scanned[bucket]++
	s.mu.Unlock()
	return s.Store.Scan(ctx, bucket, prefix, fn)
}

func countApplied(t *testing.T, s storage.Store) int {
	t.Helper()
	n := 0
	if err := s.Scan(ctx, "applied", nil, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// openOn is open over the store s.
func openOn(t *testing.T, s storage.Store, mod func(*engine.Options)) *engine.DB {
	t.Helper()
	return open(t, func(o *engine.Options) {
		o.Store = s
		if mod != nil {
			mod(o)
		}
	}).db
}

// insertAndUpdate makes two changes to one new row, as another replica would.
func insertAndUpdate(t *testing.T) (ins, upd *engine.Change) {
	other := open(t, func(o *engine.Options) { o.Node = "other" })
	row := other.db.NewID()
	ins = &engine.Change{ID: other.db.NewID(), Table: "todos", Row: row, Kind: engine.KindInsert, TS: other.db.Timestamp(),
		Values: map[string]any{"title": "a", "done": false, "owner_id": "alice"}}
	upd = &engine.Change{ID: other.db.NewID(), Table: "todos", Row: row, Kind: engine.KindUpdate, TS: other.db.Timestamp(),
		Values: map[string]any{"done": true}}
	return ins, upd
}

// A client's DB forgets applied change ids between opens: Open does not read
// them, a change applied again (a follower tab replaying one the store has
// already folded) changes nothing, and SweepApplied deletes the ids, also
// those still queued behind a write-behind store.
func TestForgetApplied_OpenSkipsTheLogAndSweepDeletesIt(t *testing.T) {
	for _, behind := range []bool{false, true} {
		mem := storage.NewMemory()
		var wb *storage.WriteBehind
		var s storage.Store = keepOpen{mem}
		if behind {
			wb = storage.NewWriteBehind(mem, nil)
			s = keepOpen{wb}
		}
		forget := func(o *engine.Options) { o.ForgetApplied = true }
		ins, upd := insertAndUpdate(t)
		a := openOn(t, s, forget)
		if _, err := a.Apply(ctx, []*engine.Change{ins, upd}); err != nil {
			t.Fatal(err)
		}
		before, _ := a.Get(engine.Actor{Backend: true}, "todos", ins.Row)
		a.Close()
		if n := countApplied(t, s); n != 2 {
			t.Fatalf("behind=%v: %d applied ids logged, want 2 (the acks of a commit are read from its ops)", behind, n)
		}

		log := &scanLog{Store: s, scanned: map[string]int{}}
		b := openOn(t, log, forget)
		defer b.Close()
		log.mu.Lock()
		scans := log.scanned["applied"]
		log.mu.Unlock()
		if scans != 0 {
			t.Fatalf("behind=%v: Open read the applied log", behind)
		}
		if _, err := b.Apply(ctx, []*engine.Change{ins, upd}); err != nil {
			t.Fatalf("behind=%v: applying again: %v", behind, err)
		}
		after, err := b.Get(engine.Actor{Backend: true}, "todos", ins.Row)
		if err != nil || after["done"] != true || after["title"] != "a" || after["$updatedAt"] != before["$updatedAt"] {
			t.Fatalf("behind=%v: row applied twice = %v (%v), was %v", behind, after, err, before)
		}
		// The second Apply logged the two ids again; one sweep takes all.
		n, err := b.SweepApplied(ctx)
		if err != nil || n != 2 {
			t.Fatalf("behind=%v: sweep = %d, %v", behind, n, err)
		}
		if n, err := b.SweepApplied(ctx); err != nil || n != 0 {
			t.Fatalf("behind=%v: second sweep = %d, %v", behind, n, err)
		}
		if behind {
			if err := wb.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := countApplied(t, mem); n != 0 {
			t.Fatalf("behind=%v: %d applied ids left on disk", behind, n)
		}
	}
}

// A server's DB keeps the log across opens, so a resend after a lost ack is
// still accepted once, and refuses to sweep it.
func TestApplied_ServerKeepsTheLogAcrossOpens(t *testing.T) {
	s := keepOpen{storage.NewMemory()}
	ins, upd := insertAndUpdate(t)
	server := func(o *engine.Options) { o.Sequenced, o.EnforcePolicies = true, true }
	a := openOn(t, s, server)
	if res, err := a.Submit(ctx, as(alice), []*engine.Change{ins, upd}); err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("submit: %v %v", res, err)
	}
	a.Close()
	b := openOn(t, s, server)
	defer b.Close()
	seq := b.Seq()
	res, err := b.Submit(ctx, as(alice), []*engine.Change{ins, upd})
	if err != nil || res[0].Err != nil || res[1].Err != nil || b.Seq() != seq {
		t.Fatalf("resend after reopen: %v %v, seq %d -> %d (an insert applied twice is refused as existing)", res, err, seq, b.Seq())
	}
	if _, err := b.SweepApplied(ctx); err == nil {
		t.Fatal("a DB that relies on its applied log swept it")
	}
	if n := countApplied(t, s); n != 2 {
		t.Fatalf("%d applied ids, want 2", n)
	}
}

// With AppliedFor, a resend within that time is still accepted once, and
// the ids that expire are deleted as later commits go by and at Open; a
// resend after that is judged as a new change. Ids stored without a time
// (by earlier versions) are given the time of the Open that reads them.
func TestAppliedFor_ExpiredIdsAreDeleted(t *testing.T) {
	s := keepOpen{storage.NewMemory()}
	clk := clock.NewFake(t0)
	server := func(o *engine.Options) {
		o.Sequenced, o.EnforcePolicies, o.AppliedFor, o.Clock = true, true, 24*time.Hour, clk
	}
	ins, upd := insertAndUpdate(t)
	db := openOn(t, s, server)
	if res, err := db.Submit(ctx, as(alice), []*engine.Change{ins}); err != nil || res[0].Err != nil {
		t.Fatalf("submit: %v %v", res, err)
	}
	clk.Advance(23 * time.Hour)
	seq := db.Seq()
	if res, err := db.Submit(ctx, as(alice), []*engine.Change{ins}); err != nil || res[0].Err != nil || db.Seq() != seq {
		t.Fatalf("resend within AppliedFor: %v %v, seq %d -> %d", res, err, seq, db.Seq())
	}
	clk.Advance(2 * time.Hour)
	if res, err := db.Submit(ctx, as(alice), []*engine.Change{upd}); err != nil || res[0].Err != nil {
		t.Fatalf("submit: %v %v", res, err)
	}
	if n := countApplied(t, s); n != 1 {
		t.Fatalf("%d ids logged after the insert's expired, want 1 (the update's)", n)
	}
	if res, err := db.Submit(ctx, as(alice), []*engine.Change{ins}); err != nil || !errors.Is(res[0].Err, engine.ErrExists) {
		t.Fatalf("resend after AppliedFor: %v %v, want ErrExists (judged as a new insert)", res, err)
	}
	db.Close()

	// An id stored without a time, as before times were stored.
	if err := s.Apply(ctx, []storage.Op{storage.Put("applied", []byte("legacy"), nil)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(25 * time.Hour) // the update's id expires too
	db = openOn(t, s, server)
	defer db.Close()
	var left []string
	_ = s.Scan(ctx, "applied", nil, func(k, v []byte) error {
		if len(v) != 8 {
			t.Errorf("id %q stored with %d bytes of time, want 8", k, len(v))
		}
		left = append(left, string(k))
		return nil
	})
	if len(left) != 1 || left[0] != "legacy" {
		t.Fatalf("ids after reopening = %q, want only the legacy one (timed now)", left)
	}
}
