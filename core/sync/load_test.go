package sync

import (
	"fmt"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// A result sent in pages reaches the DB's subscriptions page by page: each
// rows frame is merged in one commit and gives one update, the first
// before the next page is even sent; Loaded closes with the page marked
// complete, not before.
func TestRows_EachPageIsOneUpdateAndLoadedClosesWithTheLast(t *testing.T) {
	e := newEnv(t, nil)
	updates := make(chan engine.Update, 16)
	sub, err := e.db.Subscribe(alice, mustQuery(t, `{"table":"todos"}`), func(u engine.Update) { updates <- u })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	<-updates // the (empty) first result
	if e.c.Loaded("mine") != nil {
		t.Fatal("Loaded of an unregistered id is not nil")
	}
	if err := e.c.Subscribe("mine", mustQuery(t, `{"table":"todos"}`)); err != nil {
		t.Fatal(err)
	}
	loaded := e.c.Loaded("mine")
	if loaded == nil {
		t.Fatal("no Loaded channel for a registered id")
	}
	var pages [3][]engine.RowState
	for i := range 30 {
		r, _ := e.srv.Insert(bg, alice, "todos", map[string]any{"title": fmt.Sprint(i), "done": false, "owner_id": "alice"})
		st, _ := e.srv.State("todos", r.ID())
		pages[i/10] = append(pages[i/10], st)
	}
	e.c.Start()
	s := e.connect()
	s.expect(protocol.TSub)
	seen := map[string]int{}
	for i, page := range pages {
		last := i == len(pages)-1
		s.send(protocol.TRows, &protocol.Rows{Sub: "mine", Rows: page, Cursor: uint64(10 * (i + 1)), Complete: last})
		u := <-updates
		if len(u.Added) != len(page) || len(u.Updated)+len(u.Removed) != 0 {
			t.Fatalf("page %d: update of %d added, %d updated, %d removed; want the page's %d rows added",
				i, len(u.Added), len(u.Updated), len(u.Removed), len(page))
		}
		for _, r := range u.Added {
			seen[r.ID()]++
		}
		e.barrier() // the frame's handler has finished
		select {
		case <-loaded:
			if !last {
				t.Fatalf("Loaded closed after page %d of %d", i+1, len(pages))
			}
		default:
			if last {
				t.Fatal("Loaded still open after the page marked complete")
			}
		}
	}
	if len(seen) != 30 {
		t.Fatalf("%d distinct rows reported, want 30", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("row %s reported %d times", id, n)
		}
	}
	select {
	case u := <-updates:
		t.Fatalf("an update more than the pages: %+v", u)
	default:
	}
	// Another query under the id is another result, not loaded yet.
	if err := e.c.Subscribe("mine", mustQuery(t, `{"table":"todos","where":{"eq":[{"col":"done"},{"value":true}]}}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.c.Loaded("mine"):
		t.Fatal("a new registration is loaded before any of its rows came")
	default:
	}
}
