package engine_test

import (
	"errors"
	"testing"

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
	if res[0] != nil || res[1] != nil || res[3] != nil {
		t.Fatalf("results = %v", res)
	}
	var de *policy.DeniedError
	if !errors.As(res[2], &de) {
		t.Fatalf("forged owner accepted: %v", res[2])
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
	if err != nil || res[0] != nil || res[1] != nil || f.db.Seq() != seq {
		t.Fatalf("resend: %v %v, seq %d -> %d", res, err, seq, f.db.Seq())
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
