package engine_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// opLog keeps the batches applied to a store, as a shared database
// hands another server what one server committed.
type opLog struct {
	storage.Store
	mu  sync.Mutex
	ops []storage.Op
}

func (r *opLog) Apply(ctx context.Context, ops []storage.Op) error {
	if err := r.Store.Apply(ctx, ops); err != nil {
		return err
	}
	r.mu.Lock()
	r.ops = append(r.ops, ops...)
	r.mu.Unlock()
	return nil
}

func (r *opLog) take() []storage.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

// Two servers over one store: what one commits, the other installs with
// the same sequence numbers, shows to its subscribers, and counts as
// applied, so a resend reaching it is acknowledged and not applied twice.
func TestReplicate_InstallsAnotherWritersCommits(t *testing.T) {
	shared := &opLog{Store: storage.NewMemory()}
	a := open(t, func(o *engine.Options) { o.Sequenced = true; o.Store = shared; o.Node = "a" })
	b := open(t, func(o *engine.Options) { o.Sequenced = true; o.Store = shared; o.Node = "b" })
	var mu sync.Mutex
	var seen []string
	_, err := b.db.Subscribe(as(alice), q(t, `{"table":"todos"}`), func(u engine.Update) {
		mu.Lock()
		for _, r := range u.Added {
			seen = append(seen, r.ID())
		}
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	ins := &engine.Change{ID: a.db.NewID(), Table: "todos", Row: a.db.NewID(), Kind: engine.KindInsert, TS: a.db.Timestamp(),
		Values: todo("alice", "from a")}
	if res, err := a.db.Submit(ctx, as(alice), []*engine.Change{ins}); err != nil || res[0].Err != nil {
		t.Fatalf("submit on a: %v %v", res, err)
	}
	if err := b.db.Replicate(ctx, shared.take()); err != nil {
		t.Fatal(err)
	}
	if b.db.Seq() != a.db.Seq() || a.db.Seq() == 0 {
		t.Fatalf("seq: a %d, b %d", a.db.Seq(), b.db.Seq())
	}
	sa, _ := a.db.State("todos", ins.Row)
	sb, ok := b.db.State("todos", ins.Row)
	if !ok || sb.Seq != sa.Seq {
		t.Fatalf("b's row %+v, a's %+v", sb, sa)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != ins.Row {
		t.Fatalf("b's subscriber saw %v", seen)
	}
	mu.Unlock()
	seq := b.db.Seq()
	res, err := b.db.Submit(ctx, as(alice), []*engine.Change{ins})
	if err != nil || res[0].Err != nil || !res[0].Stamp.IsZero() || b.db.Seq() != seq {
		t.Fatalf("resend on b: %+v %v, seq %d -> %d", res, err, seq, b.db.Seq())
	}
	// b's next write numbers after a's, and a installs it in turn.
	upd := &engine.Change{ID: b.db.NewID(), Table: "todos", Row: ins.Row, Kind: engine.KindUpdate, TS: b.db.Timestamp(),
		Values: map[string]any{"done": true}}
	if res, err := b.db.Submit(ctx, as(alice), []*engine.Change{upd}); err != nil || res[0].Err != nil {
		t.Fatalf("submit on b: %v %v", res, err)
	}
	fromB := shared.take()
	if err := a.db.Replicate(ctx, fromB); err != nil {
		t.Fatal(err)
	}
	got, err := a.db.Get(as(alice), "todos", ins.Row)
	if err != nil || got["done"] != true || a.db.Seq() != seq+1 {
		t.Fatalf("a after b's update: %v %v, seq %d (want %d)", got, err, a.db.Seq(), seq+1)
	}
	// Replicating ops again changes nothing; an unreadable row is refused.
	seq = a.db.Seq()
	if err := a.db.Replicate(ctx, fromB); err != nil || a.db.Seq() != seq {
		t.Fatalf("replicating nothing new: %v, seq %d -> %d", err, seq, a.db.Seq())
	}
	if err := a.db.Replicate(ctx, []storage.Op{storage.Put("rows", []byte("todos\x00"+ins.Row), nil)}); err == nil {
		t.Fatal("an unreadable row was installed")
	}
}
