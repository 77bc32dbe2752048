package engine_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
)

// RowState.AppendJSON writes what limits.Marshal writes, byte for byte, so
// rows are measured (rowsize.go) at the size they go out at.
func TestRowStateAppendJSON_IsLimitsMarshal(t *testing.T) {
	ts := `"0019ca9450a0000000000fcfdacad5301"`
	for _, v := range []string{`null`, `true`, `false`, `0`, `-12`, `1.5`, `1e-7`, `1e21`, `123456789012`, `0.000001`,
		`"plain"`, `"a \"q\" \\ <b>&amp;</b>\n\t\r\b\f\u0001"`, `"\u2028\u2029 é 😀"`, `{"b":[1,"x",null],"a":{"z":1.25}}`} {
		var st engine.RowState
		in := `{"table":"todos","id":"r\"1","cells":{"title":{"v":` + v + `,"t":` + ts + `},"$createdAt":{"v":5,"t":` + ts + `}},"seq":7}`
		if err := json.Unmarshal([]byte(in), &st); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		want, err := limits.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.AppendJSON([]byte("prefix"))
		if err != nil || string(got) != "prefix"+string(want) {
			t.Fatalf("value %s:\n got %s (%v)\nwant prefix%s", v, got, err, want)
		}
	}
}

// ChangedPageJSON holds the rows ChangedPage does, encoded, in pages
// bounded by rows and by bytes; rows kept in their stored form (a reopened
// DB) are encoded from it to the same values.
func TestChangedPageJSON_SameRowsAsChangedPageWithinBounds(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	for i := range 40 {
		title := fmt.Sprintf("row %d %s \"é\"\n", i, strings.Repeat("x", i*10))
		if _, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", title)); err != nil {
			t.Fatal(err)
		}
	}
	f.db.Insert(ctx, as(bob), "todos", todo("bob", "not alice's"))
	all := q(t, `{"table":"todos"}`)
	check := func(t *testing.T, db *engine.DB, sameBytes bool) {
		whole, err := db.ChangedPage(as(alice), all, 0, 0, 0)
		if err != nil || len(whole.States) != 40 {
			t.Fatalf("ChangedPage: %d states, %v", len(whole.States), err)
		}
		const maxRows, maxBytes = 7, 1500
		var rows []json.RawMessage
		var after uint64
		pages := 0
		for {
			p, err := db.ChangedPageJSON(as(alice), all, 0, after, maxRows, maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			size := 0
			for i, r := range p.Rows {
				if i > 0 && size >= maxBytes {
					t.Fatalf("page %d goes on past %d bytes", pages, maxBytes)
				}
				size += len(r)
			}
			if len(p.Rows) > maxRows {
				t.Fatalf("page %d: %d rows, over %d", pages, len(p.Rows), maxRows)
			}
			rows, after, pages = append(rows, p.Rows...), p.After, pages+1
			if p.Done {
				break
			}
		}
		if len(rows) != len(whole.States) || pages < 40/maxRows {
			t.Fatalf("%d rows in %d pages, want %d in pages of at most %d", len(rows), pages, len(whole.States), maxRows)
		}
		for i, st := range whole.States {
			want, _ := limits.Marshal(st)
			if sameBytes && string(rows[i]) != string(want) {
				t.Fatalf("row %d:\n got %s\nwant %s", i, rows[i], want)
			}
			var got, exp any
			if json.Unmarshal(rows[i], &got) != nil || json.Unmarshal(want, &exp) != nil || !reflect.DeepEqual(got, exp) {
				t.Fatalf("row %d:\n got %s\nwant %s", i, rows[i], want)
			}
		}
	}
	t.Run("in memory", func(t *testing.T) { check(t, f.db, true) })
	t.Run("stored form", func(t *testing.T) {
		// A second engine on the same store: its rows are kept encoded.
		db, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Store: f.store, Clock: f.clock, Node: "n1", EnforcePolicies: true, Sequenced: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		check(t, db, false)
	})
}

// Pages read while rows keep changing, enough for the sequence index to
// be compacted several times, still end with every row's latest state.
func TestChangedPage_IndexSurvivesManyChangesBetweenPages(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	var ids []string
	for i := range 200 {
		r, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", fmt.Sprint(i)))
		ids = append(ids, r.ID())
	}
	all := q(t, `{"table":"todos"}`)
	if _, err := f.db.ChangedPage(as(alice), all, 0, 0, 1); err != nil { // builds the index
		t.Fatal(err)
	}
	for round := range 3 {
		latest := map[string]uint64{}
		var after uint64
		for pages := 0; ; pages++ {
			p, err := f.db.ChangedPage(as(alice), all, 0, after, 7)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range p.States {
				if st.Seq <= after {
					t.Fatalf("round %d: row %s at seq %d in a page after %d", round, st.ID, st.Seq, after)
				}
				latest[st.ID] = st.Seq
			}
			after = p.After
			if p.Done {
				break
			}
			if pages >= 60 {
				continue // stop changing rows so the pass can finish
			}
			for k := range 30 { // 1800 renumberings per pass
				id := ids[(pages*41+k*7)%len(ids)]
				if _, err := f.db.Update(ctx, as(alice), "todos", id, map[string]any{"title": fmt.Sprint(round, pages, k)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, id := range ids {
			st, _ := f.db.State("todos", id)
			if latest[id] != st.Seq {
				t.Fatalf("round %d: row %s sent at seq %d, its latest is %d", round, id, latest[id], st.Seq)
			}
		}
	}
}

// Compacting the sequence index keeps the rows that did not change: after
// many changes to a few rows, a full read still has every row once, at
// its latest number.
func TestChangedPage_CompactingKeepsUnchangedRows(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	var ids []string
	for i := range 100 {
		r, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", fmt.Sprint(i)))
		ids = append(ids, r.ID())
	}
	all := q(t, `{"table":"todos"}`)
	if _, err := f.db.ChangedPage(as(alice), all, 0, 0, 1); err != nil { // builds the index
		t.Fatal(err)
	}
	for k := range 3000 {
		if _, err := f.db.Update(ctx, as(alice), "todos", ids[k%5], map[string]any{"title": fmt.Sprint(k)}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := f.db.ChangedPage(as(alice), all, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, st := range p.States {
		if _, twice := got[st.ID]; twice {
			t.Fatalf("row %s read twice", st.ID)
		}
		got[st.ID] = st.Seq
	}
	for _, id := range ids {
		if st, _ := f.db.State("todos", id); got[id] != st.Seq {
			t.Fatalf("row %s read at seq %d, its latest is %d", id, got[id], st.Seq)
		}
	}
}
