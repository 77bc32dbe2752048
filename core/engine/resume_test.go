package engine_test

import (
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
)

// A row that left a query's result while a client was away must reach that
// client on resume, or its stale copy would match the query forever.
func TestChangedSince_ResumeIncludesRowsThatStoppedMatching(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	open_ := q(t, `{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]}}`)
	a, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "a"))
	f.db.Insert(ctx, as(alice), "todos", todo("alice", "b"))
	cursor := f.db.Seq()
	f.db.Update(ctx, as(alice), "todos", a.ID(), map[string]any{"done": true})
	states, _, err := f.db.ChangedSince(as(alice), open_, cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0].ID != a.ID() {
		t.Fatalf("resume returned %d states, want a's new state", len(states))
	}
	// From scratch only matching rows are sent.
	states, _, _ = f.db.ChangedSince(as(alice), open_, 0)
	if len(states) != 1 || states[0].ID == a.ID() {
		t.Fatalf("initial result has %d states, want only b", len(states))
	}
}
