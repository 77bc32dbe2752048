package engine_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
)

// A resumed subscription whose whole result the server resent (protocol
// Rows.Reset) makes the client forget the rows that result left out, but
// not a row refreshed after the cursor it resumed from (another
// subscription brought it, so it is current) nor a row with a write of its
// own pending (the server settles that).
func TestForgetStale_KeepsRowsRefreshedSinceTheCursorAndPendingOnes(t *testing.T) {
	srv := open(t, func(o *engine.Options) { o.Sequenced = true })
	ids := map[string]string{}
	for _, title := range []string{"kept", "refreshed", "pending", "stale"} {
		r, err := srv.db.Insert(ctx, as(alice), "todos", todo("alice", title))
		if err != nil {
			t.Fatal(err)
		}
		ids[title] = r.ID()
	}
	all := q(t, `{"table":"todos"}`)
	page, err := srv.db.ChangedPage(as(alice), all, 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	cursor := srv.db.Seq()
	cli := open(t, func(o *engine.Options) { o.Optimistic = true; o.Node = "n2" })
	if err := cli.db.Merge(ctx, page.States, nil); err != nil {
		t.Fatal(err)
	}
	// After the cursor: the server changes one row, which reaches the
	// client through another subscription; the client edits another.
	if _, err := srv.db.Update(ctx, as(alice), "todos", ids["refreshed"], map[string]any{"done": true}); err != nil {
		t.Fatal(err)
	}
	later, err := srv.db.ChangedPage(as(alice), all, cursor, 0, 100)
	if err != nil || len(later.States) != 1 {
		t.Fatalf("changed since the cursor: %v, %v", later.States, err)
	}
	if err := cli.db.Merge(ctx, later.States, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.db.Update(ctx, as(alice), "todos", ids["pending"], map[string]any{"done": true}); err != nil {
		t.Fatal(err)
	}

	// The resent result holds only "kept".
	if err := cli.db.ForgetStale(ctx, all, map[string]bool{ids["kept"]: true}, cursor); err != nil {
		t.Fatal(err)
	}
	rows, err := cli.db.All(as(alice), all)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r["title"].(string))
	}
	sort.Strings(got)
	if want := "[kept pending refreshed]"; fmt.Sprint(got) != want {
		t.Fatalf("after ForgetStale the client has %v, want %s", got, want)
	}
}
