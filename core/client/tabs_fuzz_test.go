package client

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// FuzzFollowerReplay feeds arbitrary bytes to a follower tab as if the
// leader had sent them. Replay must not panic; a refusal is ErrBadBatch or
// a typed engine error (a malformed change, a corrupt row); and a batch it
// accepted can be replayed again without error and without changing what
// the follower shows (Replay promises to be idempotent).
func FuzzFollowerReplay(f *testing.F) {
	for _, b := range leaderBatches(f) {
		f.Add(b)
	}
	for _, s := range []string{
		`{"rows":[{"t":"todos","id":"r1","r":{"cells":{"title":{"v":"x","t":"0019ca9450a0000000000c"}}}}]}`,
		`{"rows":[{"t":"todos","id":"r1","r":{"cells":{"n":{"v":"not an int","t":"0019ca9450a0000000000c"}}}}]}`,
		`{"rows":[{"t":"nope","id":"r1","r":{}}],"acked":["a"],"dropped":["b"]}`,
		`{"pending":[{"id":"c1","table":"todos","row":"r1","kind":"insert","ts":"0019ca9450a0000000000c","values":{"title":"x","n":1}}]}`,
		`{"pending":[{"id":"c1","table":"todos","row":"r1","kind":"insert","ts":"ffffffffffffffffffffff"}],"dropped":["c1"]}`,
		`{"pending":[{}],"rows":[{"r":null}]}`, `{"rows":7}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		db, fol := openFollower(t, storage.NewMemory(), true)
		if err := fol.Replay(ctx, data); err != nil {
			if !errors.Is(err, ErrBadBatch) && !errors.Is(err, engine.ErrBadChange) && !errors.Is(err, engine.ErrCorrupt) {
				t.Fatalf("untyped refusal %T: %v", err, err)
			}
			return
		}
		shown := followerView(t, db)
		if err := fol.Replay(ctx, data); err != nil {
			t.Fatalf("a batch accepted once is refused the second time: %v", err)
		}
		if again := followerView(t, db); again != shown {
			t.Fatalf("replaying a batch again changed the follower:\n%s\n%s", shown, again)
		}
	})
}

// followerView is what the follower shows and still has queued, as JSON.
func followerView(t *testing.T, db *Db) string {
	t.Helper()
	rows, err := db.All(&query.Query{Table: "todos"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(struct {
		Rows    []engine.Row
		Pending []*engine.Change
	}{rows, db.Pending()})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// leaderBatches are the batches a leader sends for an insert, an update, a
// delete, a row merged from the server, an ack and a rejection.
func leaderBatches(tb testing.TB) [][]byte {
	ctx := context.Background()
	var b batches
	leader := openLeader(tb, storage.NewMemory(), &b)
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	kept, err := leader.Insert(ctx, "todos", map[string]any{"title": "kept", "n": 1})
	must(err)
	gone, err := leader.Insert(ctx, "todos", map[string]any{"title": "gone"})
	must(err)
	_, err = leader.Update(ctx, "todos", kept.ID(), map[string]any{"n": 2})
	must(err)
	must(leader.Delete(ctx, "todos", gone.ID()))
	pending := leader.Pending()
	must(leader.Engine().Merge(ctx, nil, []engine.Acked{{ID: pending[0].ID, Stamp: pending[0].TS}, {ID: pending[1].ID, Stamp: pending[1].TS}}))
	must(leader.Engine().Reject(ctx, pending[2].ID))
	st, ok := leader.Engine().State("todos", kept.ID())
	if !ok {
		tb.Fatal("no state for the kept row")
	}
	st.ID = "from-the-server"
	must(leader.Engine().Merge(ctx, []engine.RowState{st}, nil))
	return b.take()
}
