package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/server"
)

// A new client's initial load comes in pages of at most the server's
// RowsInFlight: the live query's callback gets each page as it merges,
// every row exactly once, and rows written on the server while the pages
// stream (one already sent, one not yet, one new) end up current.
func TestInitialLoad_ComesInPagesEveryRowOnceAndLosesNoWrite(t *testing.T) {
	const rows, page = 600, 50
	e := newEnv(t, envOpts{budgets: server.Budgets{RowsInFlight: page}})
	secret := newSecret(t)
	id, _ := identity.FromSecret(secret)
	srv, err := e.srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	var seeded []string
	for start := 0; start < rows; start += 100 {
		var batch []*engine.Change
		for i := start; i < start+100; i++ {
			c := &engine.Change{ID: srv.NewID(), Row: srv.NewID(), Table: "todos", Kind: engine.KindInsert, TS: srv.Timestamp(), By: id.UserID,
				Values: todo(id.UserID, fmt.Sprint("row ", i))}
			batch = append(batch, c)
			seeded = append(seeded, c.Row)
		}
		if _, err := srv.Apply(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	write := func(kind engine.Kind, row string, values map[string]any) {
		c := &engine.Change{ID: srv.NewID(), Row: row, Table: "todos", Kind: kind, TS: srv.Timestamp(), By: id.UserID, Values: values}
		if _, err := srv.Apply(context.Background(), []*engine.Change{c}); err != nil {
			t.Error(err)
		}
	}
	inserted := srv.NewID()

	db := e.open(client.Config{Secret: secret}, nil)
	var (
		mu      sync.Mutex
		updates []engine.Update
		wrote   bool
	)
	q := &query.Query{Table: "todos"}
	stop, err := db.Subscribe(q, func(u engine.Update) {
		mu.Lock()
		updates = append(updates, u)
		first := !wrote && len(u.Added) > 0
		wrote = wrote || first
		mu.Unlock()
		if first { // the first page is in; the rest is still coming
			write(engine.KindUpdate, seeded[0], map[string]any{"done": true})
			write(engine.KindUpdate, seeded[rows-1], map[string]any{"done": true})
			write(engine.KindInsert, inserted, todo(id.UserID, "written during the load"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	select {
	case <-db.Loaded(q):
	case <-time.After(20 * time.Second):
		t.Fatal("the load never completed")
	}
	eventually(t, "the writes made during the load", func() bool {
		all, _ := db.All(q)
		done := 0
		for _, r := range all {
			if r["done"] == true {
				done++
			}
		}
		return len(all) == rows+1 && done == 2
	})
	mu.Lock()
	defer mu.Unlock()
	added := map[string]int{}
	withRows := 0
	for _, u := range updates {
		if n := len(u.Added) + len(u.Updated); n > 0 {
			withRows++
			if n > page {
				t.Fatalf("an update of %d rows; pages are at most %d", n, page)
			}
		}
		for _, r := range u.Added {
			added[r.ID()]++
		}
	}
	if withRows < rows/page {
		t.Fatalf("%d updates for %d rows; want one per page of %d at least", withRows, rows, page)
	}
	for _, rid := range append(seeded, inserted) {
		if added[rid] != 1 {
			t.Fatalf("row %s added %d times, want once", rid, added[rid])
		}
	}
}
