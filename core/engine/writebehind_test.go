package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// slowDisk is a Memory whose commits wait while it is blocked, standing in
// for an IndexedDB transaction that takes a while.
type slowDisk struct {
	*storage.Memory
	mu   sync.Mutex
	gate chan struct{} // nil: commits go through
}

func newSlowDisk() *slowDisk {
	return &slowDisk{Memory: storage.NewMemory(), gate: make(chan struct{})}
}

func (d *slowDisk) Apply(ctx context.Context, ops []storage.Op) error {
	d.mu.Lock()
	gate := d.gate
	d.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return d.Memory.Apply(ctx, ops)
}

func (d *slowDisk) block() {
	d.mu.Lock()
	d.gate = make(chan struct{})
	d.mu.Unlock()
}

func (d *slowDisk) letThrough() {
	d.mu.Lock()
	if d.gate != nil {
		close(d.gate)
		d.gate = nil
	}
	d.mu.Unlock()
}

func (d *slowDisk) Close() error { return nil }

// On a write-behind store the subscriber sees a write before the disk has
// it, the writer hears back only once the disk has it, and a reopen from
// the disk finds it.
func TestWriteBehind_SubscribersFirstWriterAfterTheDisk(t *testing.T) {
	for _, optimistic := range []bool{false, true} {
		disk := newSlowDisk()
		wb := storage.NewWriteBehind(disk, nil)
		f := open(t, func(o *engine.Options) { o.Store = wb; o.Optimistic = optimistic })
		seen := make(chan string, 10)
		sub, err := f.db.Subscribe(as(alice), q(t, `{"table":"todos"}`), func(u engine.Update) {
			for _, r := range u.Added {
				seen <- r["title"].(string)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		wrote := make(chan error, 1)
		go func() {
			_, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "milk"))
			wrote <- err
		}()
		select {
		case title := <-seen:
			if title != "milk" {
				t.Fatalf("subscriber saw %q", title)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("optimistic=%v: the subscriber did not see the write while the disk was busy", optimistic)
		}
		select {
		case err := <-wrote:
			t.Fatalf("optimistic=%v: Insert returned (%v) before the disk had the write", optimistic, err)
		case <-time.After(20 * time.Millisecond):
		}
		disk.letThrough()
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		sub.Cancel()
		if err := f.db.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Store: disk.Memory, Clock: f.clock, Node: "n1", Optimistic: optimistic})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := again.All(as(alice), q(t, `{"table":"todos"}`))
		if err != nil || len(rows) != 1 || rows[0]["title"] != "milk" {
			t.Fatalf("optimistic=%v: reopened from the disk: %v %v", optimistic, rows, err)
		}
		if optimistic && len(again.Pending()) != 1 {
			t.Fatalf("the queued write was not in the outbox on disk: %v", again.Pending())
		}
		again.Close()
	}
}

// A merge from the server does not hold the engine while the disk works:
// a local write made meanwhile reaches subscribers at once.
func TestWriteBehind_MergeDoesNotBlockLocalWrites(t *testing.T) {
	disk := newSlowDisk()
	disk.letThrough()
	f := open(t, func(o *engine.Options) { o.Store = storage.NewWriteBehind(disk, nil); o.Optimistic = true })
	if _, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "first")); err != nil {
		t.Fatal(err)
	}
	first := f.db.Pending()[0].ID
	seen := make(chan string, 10)
	sub, err := f.db.Subscribe(as(alice), q(t, `{"table":"todos"}`), func(u engine.Update) {
		for _, r := range u.Added {
			seen <- r["title"].(string)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	<-seen // the initial result
	disk.block()
	merged := make(chan error, 1)
	go func() { merged <- f.db.Merge(ctx, nil, ackedByServer(f.db, first)) }()
	select {
	case err := <-merged:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Merge waited for the disk")
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "second"))
		wrote <- err
	}()
	select {
	case title := <-seen:
		if title != "second" {
			t.Fatalf("subscriber saw %q", title)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a local write waited behind the merge's commit")
	}
	disk.letThrough()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if p := f.db.Pending(); len(p) != 1 {
		t.Fatalf("pending after the ack = %d, want only the second write", len(p))
	}
}

// Write returns the id of its change even when the change is acknowledged
// (by a sync client that pushed it at once) while Write still waits for
// the disk: a caller that looked the change up in Pending afterwards found
// nothing and could not wait for the server (backend.Handle.Insert did).
func TestWrite_ReturnsTheChangeIDAcknowledgedBeforeTheDisk(t *testing.T) {
	disk := newSlowDisk()
	wb := storage.NewWriteBehind(disk, nil)
	f := open(t, func(o *engine.Options) { o.Store = wb; o.Optimistic = true })
	type result struct {
		id  string
		err error
	}
	wrote := make(chan result, 1)
	go func() {
		_, id, err := f.db.Write(ctx, as(alice), engine.KindInsert, "todos", "", todo("alice", "milk"))
		wrote <- result{id, err}
	}()
	var pending []*engine.Change
	deadline := time.Now().Add(5 * time.Second)
	for len(pending) == 0 && time.Now().Before(deadline) {
		pending = f.db.Pending()
		time.Sleep(time.Millisecond)
	}
	if len(pending) != 1 {
		t.Fatalf("pending = %v", pending)
	}
	acked := make(chan error, 1)
	go func() { acked <- f.db.Merge(ctx, nil, ackedByServer(f.db, pending[0].ID)) }()
	deadline = time.Now().Add(5 * time.Second)
	for len(f.db.Pending()) != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := len(f.db.Pending()); n != 0 {
		t.Fatalf("the acknowledgement did not settle the change: %d pending", n)
	}
	select {
	case r := <-wrote:
		t.Fatalf("Write returned (%+v) before the disk had the write", r)
	default:
	}
	disk.letThrough()
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	r := <-wrote
	if r.err != nil || r.id != pending[0].ID {
		t.Fatalf("Write = %q, %v; want the acknowledged change %q", r.id, r.err, pending[0].ID)
	}
}
