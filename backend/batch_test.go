package backend_test

import (
	"errors"
	"testing"

	"github.com/jazzgo/jazz-tools/backend"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/session"
)

func noteOps(owners ...string) []engine.Op {
	ops := make([]engine.Op, len(owners))
	for i, o := range owners {
		ops[i] = engine.Op{Kind: engine.KindInsert, Table: "notes", Values: note("batched", o, false)}
	}
	return ops
}

// A user handle's batch is checked row by row by the server and applied
// all or nothing; a backend handle's goes through with backend
// permissions.
func TestBatch_AllOrNothingWithTheHandlesPermissions(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.ctx.ForSession(&session.Session{UserID: "alice", AuthMode: session.External})
	res, err := alice.BatchAndWait(ctxT(t), noteOps("alice", "alice"))
	if err != nil || len(res.Rows) != 2 || res.Rows[0]["$createdBy"] != "alice" {
		t.Fatalf("alice's batch: %v %v", res, err)
	}
	_, err = alice.BatchAndWait(ctxT(t), noteOps("alice", "bob", "alice"))
	var rerr *backend.RemoteError
	var denied *policy.DeniedError
	if !errors.As(err, &rerr) || !errors.As(err, &denied) {
		t.Fatalf("a batch with bob's row = %v, want a PermissionDenied rejection", err)
	}
	rows, err := f.ctx.AsBackend().All(ctxT(t), mustQuery(t, allNotes))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("the server holds %d notes, want alice's first batch only", len(rows))
	}
	if _, err := f.ctx.AsBackend().BatchAndWait(ctxT(t), append(noteOps("bob", "carol"),
		engine.Op{Kind: engine.KindDelete, Table: "notes", Row: rows[0].ID()})); err != nil {
		t.Fatalf("backend batch: %v", err)
	}
	if rows, _ := f.ctx.AsBackend().All(ctxT(t), mustQuery(t, allNotes)); len(rows) != 3 {
		t.Fatalf("after the backend's batch %d notes, want 3", len(rows))
	}
}
