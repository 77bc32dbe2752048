package integration

import (
	"context"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// A share revoked while the member is away: the todos he read through it
// did not change, so resuming from his cursor alone would leave them on
// his device. The server sees that a table his read policy consults
// changed since his cursor, sends the whole result again marked reset, and
// his client forgets what it left out.
func TestRevokeWhileAway_ForgetsOnResume(t *testing.T) {
	e := newEnv(t, envOpts{bundle: shareBundle})
	ctx := context.Background()
	alice := e.open(client.Config{JWTToken: e.jwt("alice", time.Hour)}, nil)
	store := storage.NewMemory()
	openBob := func() *client.Db {
		return e.open(client.Config{JWTToken: e.jwt("bob", time.Hour)}, func(o *client.Options) { o.Store = keepOpen{store} })
	}
	bob := openBob()
	eventually(t, "both connected", func() bool { return connected(alice)() && connected(bob)() })
	project, err := alice.Insert(ctx, "projects", map[string]any{"name": "p", "owner_id": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := alice.Insert(ctx, "projects", map[string]any{"name": "q", "owner_id": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{project.ID(), project.ID(), other.ID()} {
		if _, err := alice.Insert(ctx, "projectTodos", map[string]any{"title": "t", "projectId": p}); err != nil {
			t.Fatal(err)
		}
	}
	share, err := alice.Insert(ctx, "projectShares", map[string]any{"projectId": project.ID(), "user_id": "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Insert(ctx, "projectShares", map[string]any{"projectId": other.ID(), "user_id": "bob"}); err != nil {
		t.Fatal(err)
	}
	todos := &query.Query{Table: "projectTodos"}
	stop, err := bob.Subscribe(todos, func(engine.Update) {})
	if err != nil {
		t.Fatal(err)
	}
	count := func(db *client.Db) int {
		rows, err := db.All(todos)
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	eventually(t, "bob has the shared todos", func() bool { return count(bob) == 3 })
	stop()
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	if err := alice.Delete(ctx, "projectShares", share.ID()); err != nil {
		t.Fatal(err)
	}
	bob = openBob()
	if n := count(bob); n != 3 {
		t.Fatalf("bob's device has %d todos before syncing, want the 3 he left with", n)
	}
	if _, err := bob.Subscribe(todos, func(engine.Update) {}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the todos of the revoked share forgotten", func() bool { return count(bob) == 1 })
}
