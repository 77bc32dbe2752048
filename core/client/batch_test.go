package client

import (
	"context"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/storage"
)

func threeInserts() []engine.Op {
	var ops []engine.Op
	for _, title := range []string{"a", "b", "c"} {
		ops = append(ops, engine.Op{Kind: engine.KindInsert, Table: "todos", Values: map[string]any{"title": title}})
	}
	return ops
}

// A follower tab sees a leader's batch as one batch: in one replayed
// commit, and settled whole by the batch's id when the leader's ack (or
// rejection) reaches it.
func TestTabs_FollowerSettlesALeadersBatchWhole(t *testing.T) {
	for _, acked := range []bool{true, false} {
		ctx := context.Background()
		shared := storage.NewMemory()
		var b batches
		leader := openLeader(t, shared, &b)
		follower, f := openFollower(t, shared, true)
		res, err := leader.Batch(ctx, "", threeInserts())
		if err != nil {
			t.Fatal(err)
		}
		writes := b.take()
		if len(writes) != 1 {
			t.Fatalf("a batch reaches followers as %d commits, want 1", len(writes))
		}
		replayAll(t, f, writes)
		if got := titles(t, follower); len(got) != 3 {
			t.Fatalf("follower sees %v", got)
		}
		if cs, complete := follower.Engine().PendingBatch(res.ID); len(cs) != 3 || !complete {
			t.Fatalf("follower holds %d changes of the batch (complete %v), want 3", len(cs), complete)
		}
		if acked {
			// The server's ack, as the sync client merges it.
			var a []engine.Acked
			cs, _ := leader.Engine().PendingBatch(res.ID)
			for _, c := range cs {
				a = append(a, engine.Acked{ID: c.ID, Stamp: c.TS})
			}
			err = leader.Engine().Merge(ctx, nil, a)
		} else {
			err = leader.Engine().Reject(ctx, res.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		replayAll(t, f, b.take())
		if n := len(follower.Pending()); n != 0 {
			t.Fatalf("acked=%v: follower still holds %d pending writes", acked, n)
		}
		want := 0
		if acked {
			want = 3
		}
		if got := titles(t, follower); len(got) != want {
			t.Fatalf("acked=%v: follower sees %v", acked, got)
		}
		if cs, _ := follower.Engine().PendingBatch(res.ID); cs != nil {
			t.Fatalf("acked=%v: the batch is still pending in the follower", acked)
		}
	}
}
