package engine_test

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
)

var benchSizes = []int{1_000, 10_000, 100_000}

// filled returns a DB whose todos table holds n rows spread over n/10
// owners, loaded in batches the way a sync would deliver them.
func filled(b *testing.B, n int) *engine.DB {
	b.Helper()
	db, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(b), Node: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	batch := make([]*engine.Change, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, &engine.Change{
			ID: db.NewID(), Row: db.NewID(), Table: "todos", Kind: engine.KindInsert, TS: db.Timestamp(), By: "seed",
			Values: map[string]any{"title": "t" + strconv.Itoa(i), "done": false, "owner_id": "owner" + strconv.Itoa(i%(n/10)), "rank": int64(i), "list": nil, "meta": nil},
		})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := db.Apply(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return db
}

// BenchmarkInsertToCallback measures one insert until the callback of a
// subscription it touches has run, with 50 other subscriptions on the table
// that it does not touch.
func BenchmarkInsertToCallback(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			db := filled(b, n)
			sys := engine.Actor{Backend: true}
			for i := 0; i < 50; i++ {
				s, _ := db.Subscribe(sys, q(b, fmt.Sprintf(`{"table":"todos","where":{"eq":[{"col":"owner_id"},{"value":"owner%d"}]}}`, i)), func(engine.Update) {})
				b.Cleanup(s.Cancel)
			}
			got := 0
			s, err := db.Subscribe(sys, q(b, `{"table":"todos","where":{"eq":[{"col":"owner_id"},{"value":"me"}]},"orderBy":[{"col":"rank"}]}`), func(u engine.Update) { got += len(u.Added) })
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(s.Cancel)
			vals := map[string]any{"title": "x", "done": false, "owner_id": "me"}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.Insert(ctx, sys, "todos", vals); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if got != b.N {
				b.Fatalf("callbacks saw %d inserts, want %d", got, b.N)
			}
		})
	}
}

// BenchmarkEqualityQuery measures an indexed equality query returning 10
// rows out of n, in the steady state: the first query, which builds the
// column's index (once per DB), and the collection of the setup's garbage
// come before the timer starts, so neither is spread over the iterations.
func BenchmarkEqualityQuery(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			db := filled(b, n)
			sys := engine.Actor{Backend: true}
			qq := q(b, `{"table":"todos","where":{"eq":[{"col":"owner_id"},{"value":"owner7"}]}}`)
			// Warm up until the index exists: the column's first query
			// scans, its second builds the index (colIndex.wanted; the
			// first query's cost is BenchmarkFirstEqualityQuery's).
			for range 2 {
				if _, err := db.All(sys, qq); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rows, err := db.All(sys, qq)
				if err != nil || len(rows) != 10 {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
		})
	}
}
