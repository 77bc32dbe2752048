package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/storage"
)

func insertOps(owner string, n int) []engine.Op {
	ops := make([]engine.Op, n)
	for i := range ops {
		ops[i] = engine.Op{Kind: engine.KindInsert, Table: "todos", Values: todo(owner, "t")}
	}
	return ops
}

func optimistic(o *engine.Options) { o.Optimistic = true; o.EnforcePolicies = false }

// outboxEntries counts the stored outbox entries.
func outboxEntries(t *testing.T, s storage.Store) int {
	t.Helper()
	n := 0
	if err := s.Scan(ctx, "outbox", nil, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWriteBatch_OneCommitOneUpdateOneOutboxEntry(t *testing.T) {
	f := open(t, optimistic)
	updates := 0
	if _, err := f.db.Subscribe(as(alice), q(t, `{"table":"todos"}`), func(engine.Update) { updates++ }); err != nil {
		t.Fatal(err)
	}
	updates = 0
	existing, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "old"))
	if err != nil {
		t.Fatal(err)
	}
	updates = 0
	ops := append(insertOps("alice", 3),
		engine.Op{Kind: engine.KindUpdate, Table: "todos", Row: existing.ID(), Values: map[string]any{"done": true}},
		engine.Op{Kind: engine.KindDelete, Table: "todos", Row: existing.ID()})
	res, err := f.db.WriteBatch(ctx, as(alice), "", ops)
	if err != nil {
		t.Fatal(err)
	}
	if updates != 1 {
		t.Errorf("the batch reached the subscription in %d updates, want 1", updates)
	}
	if len(res.Changes) != 5 || len(res.Rows) != 5 || res.Rows[0]["title"] != "t" || res.Rows[4] != nil {
		t.Errorf("result = %+v", res)
	}
	if n := outboxEntries(t, f.store); n != 2 { // the single insert's, and the batch's
		t.Errorf("outbox holds %d entries, want 2", n)
	}
	cs, complete := f.db.PendingBatch(res.ID)
	if len(cs) != 5 || !complete {
		t.Fatalf("PendingBatch = %d changes, complete %v", len(cs), complete)
	}
	// A reload restores the batch as one.
	re, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Store: f.store, Clock: f.clock, Node: "n1", Optimistic: true})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if cs, complete := re.PendingBatch(res.ID); len(cs) != 5 || !complete || cs[0].ID != res.Changes[0] {
		t.Fatalf("after reopening: %d changes of the batch, complete %v", len(cs), complete)
	}
	rows, _ := re.All(as(alice), q(t, `{"table":"todos"}`))
	if len(rows) != 3 {
		t.Fatalf("after reopening %d rows show, want the batch's 3", len(rows))
	}
	// Settling the batch by its id settles every change and its entry.
	if err := re.Reject(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(re.Pending()); n != 1 {
		t.Fatalf("%d pending after rejecting the batch, want the single insert", n)
	}
	if n := outboxEntries(t, f.store); n != 1 {
		t.Fatalf("outbox holds %d entries after the rejection, want 1", n)
	}
}

func TestWriteBatch_AFailingWriteAppliesNothing(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Optimistic = true })
	ops := append(insertOps("alice", 2), engine.Op{Kind: engine.KindUpdate, Table: "todos", Row: f.db.NewID(), Values: map[string]any{"done": true}})
	if _, err := f.db.WriteBatch(ctx, as(alice), "", ops); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("err = %v, want not found", err)
	}
	ops = append(insertOps("alice", 2), insertOps("bob", 1)...)
	var de *policy.DeniedError
	if _, err := f.db.WriteBatch(ctx, as(alice), "", ops); !errors.As(err, &de) {
		t.Fatalf("err = %v, want a denial", err)
	}
	var ae *policy.AnonymousWriteDeniedError
	if _, err := f.db.WriteBatch(ctx, as(anon), "", insertOps("x", 1)); !errors.As(err, &ae) {
		t.Fatalf("anonymous: err = %v", err)
	}
	rows, _ := f.db.All(as(alice), q(t, `{"table":"todos"}`))
	if len(rows) != 0 || len(f.db.Pending()) != 0 || outboxEntries(t, f.store) != 0 {
		t.Fatalf("a refused batch left %d rows, %d pending", len(rows), len(f.db.Pending()))
	}
	// Later writes of a batch see the earlier ones: insert then update.
	id := f.db.NewID()
	res, err := f.db.WriteBatch(ctx, as(alice), "", []engine.Op{
		{Kind: engine.KindInsert, Table: "todos", Row: id, Values: todo("alice", "a")},
		{Kind: engine.KindUpdate, Table: "todos", Row: id, Values: map[string]any{"title": "b"}},
	})
	if err != nil || res.Rows[0]["title"] != "b" {
		t.Fatalf("insert then update: %v %v", res, err)
	}
}

func TestWriteBatch_OverTheLimitsIsRefusedWithThem(t *testing.T) {
	f := open(t, optimistic)
	_, err := f.db.WriteBatch(ctx, as(alice), "", insertOps("alice", limits.MaxChangesPerPush+1))
	if !errors.Is(err, engine.ErrBatchTooLarge) || !strings.Contains(err.Error(), "1000") {
		t.Fatalf("err = %v", err)
	}
	big := strings.Repeat("x", 300<<10)
	ops := insertOps("alice", 4)
	for _, op := range ops {
		op.Values["title"] = big
	}
	_, err = f.db.WriteBatch(ctx, as(alice), "", ops)
	if !errors.Is(err, engine.ErrBatchTooLarge) || !strings.Contains(err.Error(), "1048576") {
		t.Fatalf("err = %v", err)
	}
	if len(f.db.Pending()) != 0 {
		t.Fatal("a refused batch left pending writes")
	}
	if _, err := f.db.WriteBatch(ctx, as(alice), "", insertOps("alice", limits.MaxChangesPerPush)); err != nil {
		t.Fatalf("a batch at the limit: %v", err)
	}
}

// The server's side: all or nothing, stamped by the server, one unit in
// the applied log.
func TestSubmitBatch_AllOrNothingAndResendAppliedOnce(t *testing.T) {
	srv := open(t, func(o *engine.Options) { o.Sequenced = true })
	cl := open(t, optimistic)
	good, err := cl.db.WriteBatch(ctx, as(alice), "", insertOps("alice", 3))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := cl.db.WriteBatch(ctx, as(bob), "", append(insertOps("alice", 2), insertOps("bob", 1)...))
	if err != nil {
		t.Fatal(err)
	}
	badCs, _ := cl.db.PendingBatch(bad.ID)
	v, err := srv.db.SubmitBatch(ctx, as(bob), bad.ID, badCs)
	var de *policy.DeniedError
	if err != nil || !errors.As(v.Err, &de) || v.Index != 0 {
		t.Fatalf("bad batch: %+v %v", v, err)
	}
	if rows, _ := srv.db.All(engine.Actor{Backend: true}, q(t, `{"table":"todos"}`)); len(rows) != 0 {
		t.Fatalf("a refused batch left %d rows on the server", len(rows))
	}
	goodCs, _ := cl.db.PendingBatch(good.ID)
	v, err = srv.db.SubmitBatch(ctx, as(alice), good.ID, goodCs)
	if err != nil || v.Err != nil || len(v.Stamps) != 3 || v.Stamps[0].Node != "n1" {
		t.Fatalf("good batch: %+v %v", v, err)
	}
	seq := srv.db.Seq()
	v, err = srv.db.SubmitBatch(ctx, as(alice), good.ID, goodCs)
	if err != nil || v.Err != nil || v.Stamps != nil || srv.db.Seq() != seq {
		t.Fatalf("resend: %+v %v, seq %d -> %d", v, err, seq, srv.db.Seq())
	}
	if rows, _ := srv.db.All(engine.Actor{Backend: true}, q(t, `{"table":"todos"}`)); len(rows) != 3 {
		t.Fatalf("server holds %d rows, want 3", len(rows))
	}
}

func TestAllStaged_SeesTheStagedWritesWithoutCommittingThem(t *testing.T) {
	f := open(t, optimistic)
	kept, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "kept"))
	gone, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "gone"))
	ops := []engine.Op{
		{Kind: engine.KindInsert, Table: "todos", Row: f.db.NewID(), Values: todo("alice", "new")},
		{Kind: engine.KindDelete, Table: "todos", Row: gone.ID()},
		{Kind: engine.KindUpdate, Table: "todos", Row: kept.ID(), Values: map[string]any{"done": true}},
	}
	rows, err := f.db.AllStaged(as(alice), q(t, `{"table":"todos","orderBy":[{"col":"title"}]}`), ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["title"] != "kept" || rows[0]["done"] != true || rows[1]["title"] != "new" {
		t.Fatalf("staged read = %v", rows)
	}
	if rows, _ := f.db.All(as(alice), q(t, `{"table":"todos"}`)); len(rows) != 2 || len(f.db.Pending()) != 2 {
		t.Fatalf("staging committed something: %v", rows)
	}
}
