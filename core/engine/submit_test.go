package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/policy"
)

func TestSubmit_BatchSeesItsOwnEarlierChangesAndStampsAuthor(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	client := open(t, func(o *engine.Options) { o.Node = "client" })
	row := client.db.NewID()
	ins := &engine.Change{ID: client.db.NewID(), Table: "todos", Row: row, Kind: engine.KindInsert, TS: client.db.Timestamp(), By: "mallory",
		Values: map[string]any{"title": "a", "done": false, "owner_id": "alice"}}
	upd := &engine.Change{ID: client.db.NewID(), Table: "todos", Row: row, Kind: engine.KindUpdate, TS: client.db.Timestamp(), By: "mallory",
		Values: map[string]any{"done": true}}
	forged := &engine.Change{ID: client.db.NewID(), Table: "todos", Row: client.db.NewID(), Kind: engine.KindInsert, TS: client.db.Timestamp(),
		Values: map[string]any{"title": "b", "done": false, "owner_id": "bob"}}
	res, err := f.db.Submit(ctx, as(alice), []*engine.Change{ins, upd, forged, ins})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil || res[3].Err != nil {
		t.Fatalf("results = %v", res)
	}
	var de *policy.DeniedError
	if !errors.As(res[2].Err, &de) {
		t.Fatalf("forged owner accepted: %v", res[2].Err)
	}
	got, err := f.db.Get(as(alice), "todos", row)
	if err != nil {
		t.Fatal(err)
	}
	if got["done"] != true || got["$createdBy"] != "alice" || got["$updatedBy"] != "alice" {
		t.Fatalf("row = %v (author must come from the session, not the change)", got)
	}
	// Resending the same batch is harmless.
	seq := f.db.Seq()
	res, err = f.db.Submit(ctx, as(alice), []*engine.Change{ins, upd})
	if err != nil || res[0].Err != nil || res[1].Err != nil || f.db.Seq() != seq {
		t.Fatalf("resend: %v %v, seq %d -> %d", res, err, seq, f.db.Seq())
	}
}

// A client chooses the time on its changes; the server takes none of it.
// Changes from a device 23 hours ahead and one ten years behind are stamped
// from the server's clock, in the order it accepts them, and the server's
// clock does not move toward the device ahead.
func TestSubmit_StampsEveryChangeWithItsOwnClock(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	ahead := open(t, func(o *engine.Options) { o.Node = "ahead" })
	ahead.clock.Advance(23 * time.Hour)
	behind := open(t, func(o *engine.Options) { o.Node = "behind" })
	behind.clock.Set(t0.AddDate(-10, 0, 0))
	row := ahead.db.NewID()
	ins := &engine.Change{ID: ahead.db.NewID(), Table: "todos", Row: row, Kind: engine.KindInsert, TS: ahead.db.Timestamp(),
		Values: map[string]any{"title": "ahead", "done": false, "owner_id": "alice"}}
	upd := &engine.Change{ID: behind.db.NewID(), Table: "todos", Row: row, Kind: engine.KindUpdate, TS: behind.db.Timestamp(),
		Values: map[string]any{"title": "behind"}}
	res, err := f.db.Submit(ctx, as(alice), []*engine.Change{ins})
	if err != nil || res[0].Err != nil {
		t.Fatalf("insert: %v %v", err, res)
	}
	f.clock.Advance(time.Second)
	res2, err := f.db.Submit(ctx, as(alice), []*engine.Change{upd, ins})
	if err != nil || res2[0].Err != nil || res2[1].Err != nil {
		t.Fatalf("update: %v %v", err, res2)
	}
	if s := res[0].Stamp; s.Wall != t0.UnixMilli() || s.Node != "n1" {
		t.Errorf("insert stamped %v, want the server's clock", s)
	}
	if s := res2[0].Stamp; s.Wall != t0.Add(time.Second).UnixMilli() || s.Compare(res[0].Stamp) <= 0 {
		t.Errorf("update stamped %v, want the server's clock, after the insert", s)
	}
	if !res2[1].Stamp.IsZero() {
		t.Errorf("a resend was stamped again: %v", res2[1].Stamp)
	}
	got, err := f.db.Get(as(alice), "todos", row)
	if err != nil {
		t.Fatal(err)
	}
	if got["title"] != "behind" || got["$createdAt"] != t0.UnixMilli() || got["$updatedAt"] != t0.Add(time.Second).UnixMilli() {
		t.Fatalf("row = %v: the later accepted write wins and edit times are the server's", got)
	}
	if wall := f.db.Timestamp().Wall; wall > t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("the server's clock moved to %d, toward the device ahead", wall)
	}
}

func TestChangedSince_IncludesDeletesAfterCursor(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	a, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "a"))
	b, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "b"))
	f.db.Insert(ctx, as(bob), "todos", todo("bob", "private"))
	cursor := f.db.Seq()
	f.db.Delete(ctx, as(alice), "todos", a.ID())
	f.db.Update(ctx, as(alice), "todos", b.ID(), map[string]any{"done": true})
	states, next, err := f.db.ChangedSince(as(alice), q(t, `{"table":"todos"}`), cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || next != f.db.Seq() {
		t.Fatalf("states = %d, next = %d", len(states), next)
	}
	all, _, _ := f.db.ChangedSince(as(alice), q(t, `{"table":"todos"}`), 0)
	if len(all) != 2 {
		t.Fatalf("from zero alice may see %d rows, want her 2 (bob's is private)", len(all))
	}
}
