package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/query"
)

// shareBundle: a project is readable by its owner and by the users it is
// shared with (exists on projectShares); its todos inherit (allowedTo).
const shareBundle = `{
  "version": 1,
  "schema": {"tables": [
    {"name": "projects", "columns": [{"name": "name", "type": "string"}, {"name": "owner_id", "type": "string"}]},
    {"name": "projectShares", "columns": [{"name": "projectId", "type": "ref", "ref": "projects"}, {"name": "user_id", "type": "string"}]},
    {"name": "projectTodos", "columns": [{"name": "title", "type": "string"}, {"name": "projectId", "type": "ref", "ref": "projects"}]}]},
  "policies": {
    "projects": {
      "read": {"or": [{"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
        {"exists": {"table": "projectShares", "where": {"and": [
          {"eq": [{"col": "projectId"}, {"outer": "id"}]}, {"eq": [{"col": "user_id"}, {"session": "user_id"}]}]}}}]},
      "insert": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
      "updateOld": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
      "delete": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]}},
    "projectShares": {
      "read": {"or": [{"eq": [{"col": "user_id"}, {"session": "user_id"}]}, {"allowedTo": {"op": "update", "via": "projectId"}}]},
      "insert": {"allowedTo": {"op": "update", "via": "projectId"}},
      "delete": {"allowedTo": {"op": "update", "via": "projectId"}}},
    "projectTodos": {
      "read": {"allowedTo": {"op": "read", "via": "projectId"}},
      "insert": {"allowedTo": {"op": "read", "via": "projectId"}}}
  }
}`

// BenchmarkRevokeShare: Bob's live query shows the 1,000 todos of a
// project Alice shared with him; Alice deletes the share. Timed: from her
// delete until Bob's result is empty (the server checks his subscription
// again and tells his client to forget the rows). Between runs the share
// is made again and Bob's result refilled, untimed.
func BenchmarkRevokeShare(b *testing.B) {
	e := newBenchEnvWith(b, shareBundle)
	alice := e.open(b)
	bobSecret, _ := identity.NewSecret(rand.Reader)
	bobID, _ := identity.FromSecret(bobSecret)
	bob, err := client.Open(context.Background(), client.Options{
		Config: client.Config{AppID: appID, ServerURL: e.url, Secret: bobSecret}, Bundle: e.bundle, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bob.Close() })
	allConnected(b, alice, bob)
	ctx := context.Background()
	project, err := alice.Insert(ctx, "projects", map[string]any{"name": "p", "owner_id": e.userID})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	for r := 0; r < n; r += 500 {
		ops := make([]engine.Op, 0, 500)
		for k := r; k < r+500; k++ {
			ops = append(ops, engine.Op{Kind: engine.KindInsert, Table: "projectTodos", Values: map[string]any{"title": fmt.Sprint("t", k), "projectId": project.ID()}})
		}
		if _, err := alice.Batch(ctx, "", ops); err != nil {
			b.Fatal(err)
		}
	}
	var rows atomic.Int64
	stop, err := bob.Subscribe(&query.Query{Table: "projectTodos"}, func(u engine.Update) { rows.Store(int64(u.Len())) })
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		share, err := alice.Insert(ctx, "projectShares", map[string]any{"projectId": project.ID(), "user_id": bobID.UserID})
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, "bob seeing the shared todos", func() bool { return rows.Load() == n })
		b.StartTimer()
		start := time.Now()
		if err := alice.Delete(ctx, "projectShares", share.ID()); err != nil {
			b.Fatal(err)
		}
		waitFor(b, "bob's todos hidden", func() bool { return rows.Load() == 0 })
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(percentile(lat, 0.5), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}
