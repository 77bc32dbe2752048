package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

type unclosable struct{ storage.Store }

func (unclosable) Close() error { return nil }

func openOver(t *testing.T, store storage.Store, s *schema.Schema) *DB {
	t.Helper()
	db, err := Open(context.Background(), Options{Bundle: &bundle.Bundle{Version: 1, Schema: s}, Store: unclosable{store}, Node: "n1", Sequenced: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A replica that loads its rows from the store (at Open, or when the table
// arrives through Extend as in the browser) has exactly the rows, cell
// types, sequence numbers and indexes of the one that wrote them.
func TestLoad_RestoresRowsTypesAndIndexesExactly(t *testing.T) {
	ctx := context.Background()
	def := codecTable(t)
	s := schemaOf(t, def)
	store := storage.NewMemory()
	w := openOver(t, store, s)
	sys := Actor{Backend: true}
	var ids []string
	for i := 0; i < 50; i++ {
		r, err := w.Insert(ctx, sys, "things", map[string]any{
			"s": fmt.Sprint("row ", i%7), "b": i%2 == 0, "i": i % 5, "f": float64(i) / 4, "ts": int64(1e12) + int64(i),
			"j": map[string]any{"k": i, "l": []any{"x", 1.5}}, "r": nil,
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
	}
	if _, err := w.Update(ctx, sys, "things", ids[3], map[string]any{"i": nil, "f": 1e300, "s": ""}); err != nil {
		t.Fatal(err)
	}
	if err := w.Delete(ctx, sys, "things", ids[4]); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "Open", openOver(t, store, s).tables["things"], w.tables["things"])
	late := openOver(t, store, &schema.Schema{})
	if err := late.Extend(ctx, s); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "Extend", late.tables["things"], w.tables["things"])
}

// sameRows fails unless got holds exactly want's rows (cells, types,
// sequence numbers) and, when built, the same indexes.
func sameRows(t *testing.T, name string, got, want *table) {
	t.Helper()
	if len(got.rows) != len(want.rows) {
		t.Fatalf("%s: %d rows, want %d", name, len(got.rows), len(want.rows))
	}
	for id, wr := range want.rows {
		gr := got.rows[id]
		// Compared by contents: a loaded row may still be encoded (lazyrow.go).
		if gr == nil || !reflect.DeepEqual(got.baseCopy(gr), want.baseCopy(wr)) || gr.seq != wr.seq || gr.visible() != wr.visible() {
			t.Fatalf("%s: row %s:\n got %#v\nwant %#v", name, id, gr, wr)
		}
	}
	if g, w := indexContents(got), indexContents(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: indexes differ:\n got %v\nwant %v", name, g, w)
	}
}

// indexContents lists a table's equality indexes as column -> key -> ids.
func indexContents(t *table) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	for col, ci := range t.index {
		out[col] = map[string][]string{}
		for k, set := range ci.built(t, col) {
			var ids []string
			for r := range set.all {
				if t.rows[r.id] != r {
					ids = append(ids, "stale:"+r.id)
				}
				ids = append(ids, r.id)
			}
			slices.Sort(ids)
			out[col][k] = ids
		}
	}
	return out
}

func TestRowSet_BehavesLikeASet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 200; trial++ {
		var s rowSet
		rows := []*row{{id: "a"}, {id: "b"}, {id: "c"}, {id: "d"}}
		ref := map[*row]bool{}
		for op := 0; op < 20; op++ {
			r := rows[rng.IntN(len(rows))]
			if rng.IntN(2) == 0 {
				s = s.with(r)
				ref[r] = true
			} else {
				empty := s.without(r)
				delete(ref, r)
				if empty != (len(ref) == 0) {
					t.Fatalf("without(%s) = %v with %d left", r.id, empty, len(ref))
				}
			}
			got := map[*row]bool{}
			for r := range s.all {
				got[r] = true
			}
			if s.len() != len(ref) || !reflect.DeepEqual(got, ref) {
				t.Fatalf("set = %v (len %d), want %v", got, s.len(), ref)
			}
		}
	}
}

// Rows a database holds in the JSON form (written before the binary form)
// load as they always did, and the next write of a row stores it binary.
func TestLoad_ReadsLegacyJSONRows(t *testing.T) {
	ctx := context.Background()
	def := codecTable(t)
	s := schemaOf(t, def)
	store := storage.NewMemory()
	const id = "0190b2a0-0000-7000-8000-00000000000a"
	legacy := `{"cells":{"s":{"v":"x","t":"` + tsA.String() + `"},"b":{"v":true,"t":"` + tsA.String() + `"},` +
		`"i":{"v":3,"t":"` + tsA.String() + `"},"ts":{"v":1000,"t":"` + tsA.String() + `"},"j":{"v":{"a":[1]},"t":"` + tsA.String() + `"},` +
		`"old":{"v":2,"t":"` + tsA.String() + `"},"$createdAt":{"v":` + fmt.Sprint(tsA.Wall) + `,"t":"` + tsA.String() + `"},` +
		`"$createdBy":{"v":"alice","t":"` + tsA.String() + `"}},"seq":5}`
	if err := store.Apply(ctx, []storage.Op{storage.Put(bucketRows, rowKey("things", id), []byte(legacy))}); err != nil {
		t.Fatal(err)
	}
	db := openOver(t, store, s)
	r := db.tables["things"].rows[id]
	if r == nil {
		t.Fatal("legacy row not loaded")
	}
	want := map[string]any{"s": "x", "b": true, "i": int64(3), "ts": int64(1000), "j": map[string]any{"a": []any{json.Number("1")}}, "old": 2.0, "$createdAt": tsA.Wall, "$createdBy": "alice"}
	for col, v := range want {
		if got := r.base[col]; !reflect.DeepEqual(got.V, v) || got.T != tsA {
			t.Errorf("%s = %#v, want %#v at %v", col, got, v, tsA)
		}
	}
	if r.seq != 5 {
		t.Errorf("seq = %d", r.seq)
	}
	if _, err := db.Update(ctx, Actor{Backend: true}, "things", id, map[string]any{"b": false}); err != nil {
		t.Fatal(err)
	}
	v, _, _ := store.Get(ctx, bucketRows, rowKey("things", id))
	if len(v) == 0 || v[0] != rowFormatV1 {
		t.Fatalf("rewritten row starts with %q", v[:1])
	}
	again := openOver(t, store, s).tables["things"].rows[id]
	if !reflect.DeepEqual(openOver(t, store, s).tables["things"].baseCopy(again), db.tables["things"].baseCopy(db.tables["things"].rows[id])) {
		t.Fatalf("after rewrite:\n got %#v\nwant %#v", again.base, db.tables["things"].rows[id].base)
	}
}

// The rows the engine persists can be forwarded as RowState JSON (what
// browser tabs do) and merged into another replica with the same result.
func TestDecodeRowState_ForwardedRowsMergeIntoAnotherReplica(t *testing.T) {
	ctx := context.Background()
	def := codecTable(t)
	s := schemaOf(t, def)
	store := storage.NewMemory()
	w := openOver(t, store, s)
	r, err := w.Insert(ctx, Actor{Backend: true}, "things", map[string]any{"s": "a", "b": true, "i": 1 << 40, "f": 0.5, "ts": 7, "j": []any{1, "two"}})
	if err != nil {
		t.Fatal(err)
	}
	v, _, _ := store.Get(ctx, bucketRows, rowKey("things", r.ID()))
	st, err := DecodeRowState("things", r.ID(), v)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back RowState
	if err := json.Unmarshal(wire, &back); err != nil {
		t.Fatal(err)
	}
	other := openOver(t, storage.NewMemory(), s)
	if err := other.Merge(ctx, []RowState{back}, nil); err != nil {
		t.Fatal(err)
	}
	got, want := other.tables["things"].rows[r.ID()], w.tables["things"].rows[r.ID()]
	if !reflect.DeepEqual(got.base, want.base) {
		t.Fatalf("merged:\n got %#v\nwant %#v", got.base, want.base)
	}
}

// BenchmarkLoadRows is a browser cold start without the browser: Extend
// loading 10k todos-like rows from the store, in the binary form (one row
// per value, and packed: pack.go) and in the legacy JSON form it replaced.
// benchRows are n rows of def's table as inserts write them (ref in column
// r, unless ""), with their ids: the loading benchmarks' data.
func benchRows(b *testing.B, def *schema.Table, n int, ref string) ([]string, []map[string]cell) {
	b.Helper()
	ids := make([]string, n)
	rows := make([]map[string]cell, n)
	for i := range n {
		v := map[string]any{"s": fmt.Sprint("todo number ", i), "b": i%3 == 0, "i": i, "ts": int64(1e12) + int64(i)}
		if ref != "" {
			v["r"] = ref
		}
		vals, err := def.ValidateInsert(v)
		if err != nil {
			b.Fatal(err)
		}
		ts := tsA
		ts.Logical = uint32(i)
		ids[i] = fmt.Sprintf("0190b2a0-0000-7000-8000-%012d", i)
		rows[i] = (&Change{Kind: KindInsert, TS: ts, By: "alice", Values: vals}).cells()
	}
	return ids, rows
}

func BenchmarkLoadRows(b *testing.B) {
	ctx := context.Background()
	def := codecTable(b)
	s := schemaOf(b, def)
	const n = 10_000
	for _, form := range []string{"binary", "packed", "json"} {
		b.Run(form, func(b *testing.B) {
			store := storage.NewMemory()
			ops := make([]storage.Op, 0, n)
			var entries [][2][]byte
			ids, rows := benchRows(b, def, n, "0190b2a0-0000-7000-8000-000000000001")
			for i, cells := range rows {
				var v []byte
				var err error
				if form != "json" {
					v, err = encodeStored(cells, uint64(i+1))
				} else {
					v, err = json.Marshal(struct {
						Cells map[string]cell `json:"cells"`
						Seq   uint64          `json:"seq,omitempty"`
					}{cells, uint64(i + 1)})
				}
				if err != nil {
					b.Fatal(err)
				}
				id := ids[i]
				if form == "packed" {
					entries = append(entries, [2][]byte{[]byte(id), v})
					continue
				}
				ops = append(ops, storage.Put(bucketRows, rowKey("things", id), v))
			}
			if form == "packed" {
				ops = append(ops, storage.Put(bucketPacks, packKey("things", 0), packOf(entries...)))
			}
			if err := store.Apply(ctx, ops); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				db, err := Open(ctx, Options{Bundle: &bundle.Bundle{Version: 1, Schema: &schema.Schema{}}, Store: unclosable{store}, Node: "n1"})
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Extend(ctx, s); err != nil {
					b.Fatal(err)
				}
				if len(db.tables["things"].rows) != n {
					b.Fatalf("%d rows", len(db.tables["things"].rows))
				}
				db.Close()
			}
		})
	}
}

// Apply stays idempotent across a reopen: the ids of applied changes are
// read back at Open, so a change delivered again is not applied again.
func TestLoad_AppliedChangesStayAppliedAfterReopen(t *testing.T) {
	ctx := context.Background()
	def := codecTable(t)
	s := schemaOf(t, def)
	store := storage.NewMemory()
	w := openOver(t, store, s)
	var changes []*Change
	for i := 0; i < 20; i++ {
		changes = append(changes, &Change{ID: w.NewID(), Row: w.NewID(), Table: "things", Kind: KindInsert, TS: w.Timestamp(), By: "x",
			Values: map[string]any{"s": fmt.Sprint(i), "b": true, "ts": int64(i)}})
	}
	if fresh, err := w.Apply(ctx, changes); err != nil || len(fresh) != len(changes) {
		t.Fatalf("first apply: %d fresh, %v", len(fresh), err)
	}
	again := openOver(t, store, s)
	seq := again.Seq()
	if len(again.applied) != len(changes) {
		t.Fatalf("%d applied ids after reopen, want %d", len(again.applied), len(changes))
	}
	later := &Change{ID: w.NewID(), Row: w.NewID(), Table: "things", Kind: KindInsert, TS: w.Timestamp(), By: "x", Values: map[string]any{"s": "new", "b": false, "ts": int64(1)}}
	fresh, err := again.Apply(ctx, append(changes, later))
	if err != nil || len(fresh) != 1 || fresh[0] != later {
		t.Fatalf("apply after reopen: %v fresh, %v", fresh, err)
	}
	if again.Seq() != seq+1 {
		t.Fatalf("seq %d -> %d: old changes were applied again", seq, again.Seq())
	}
}

// setContents lists one built index as key -> sorted ids.
func setContents(keys map[string]rowSet) map[string][]string {
	out := map[string][]string{}
	for k, set := range keys {
		var ids []string
		for r := range set.all {
			ids = append(ids, r.id)
		}
		slices.Sort(ids)
		out[k] = ids
	}
	return out
}

// An index built on first use and then kept up by writes always equals one
// built from scratch, whichever columns were built before the writes.
func TestColIndex_BuiltOnSecondUseThenMaintained(t *testing.T) {
	ctx := context.Background()
	def := codecTable(t)
	s := schemaOf(t, def)
	db := openOver(t, storage.NewMemory(), s)
	sys := Actor{Backend: true}
	rng := rand.New(rand.NewPCG(5, 6))
	var ids []string
	tb := db.tables["things"]
	for step := 0; step < 600; step++ {
		switch {
		case step == 100:
			tb.index["s"].built(tb, "s")
			tb.index["b"].built(tb, "b")
		case step == 300:
			tb.index["i"].built(tb, "i")
		}
		switch op := rng.IntN(10); {
		case op < 5 || len(ids) == 0:
			r, err := db.Insert(ctx, sys, "things", map[string]any{"s": fmt.Sprint("v", rng.IntN(30)), "b": rng.IntN(2) == 0, "i": rng.IntN(4), "ts": int64(step)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID())
		case op < 8:
			if _, err := db.Update(ctx, sys, "things", ids[rng.IntN(len(ids))], map[string]any{"s": fmt.Sprint("v", rng.IntN(30)), "i": nil}); err != nil {
				t.Fatal(err)
			}
		default:
			i := rng.IntN(len(ids))
			if err := db.Delete(ctx, sys, "things", ids[i]); err != nil {
				t.Fatal(err)
			}
			ids = slices.Delete(ids, i, i+1)
		}
	}
	built := 0
	for col, ci := range tb.index {
		if ci.keys == nil {
			continue
		}
		built++
		if got, want := setContents(ci.keys), setContents((&colIndex{}).built(tb, col)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: maintained index differs from a fresh build:\n got %v\nwant %v", col, got, want)
		}
	}
	if built != 3 {
		t.Fatalf("%d indexes built, want the 3 the test built", built)
	}
	// The first query on a column scans, the second builds the column's
	// index (colIndex.wanted), and both find the rows a scan does.
	want := 0
	for _, r := range tb.rows {
		if v, _ := r.Get("s"); v == "v7" && r.visible() {
			want++
		}
	}
	onS := mustQuery(t, `{"table":"things","where":{"eq":[{"col":"s"},{"value":"v7"}]}}`)
	for i := range 2 {
		rows, err := db.All(sys, onS)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != want {
			t.Fatalf("query %d found %d rows, a scan %d", i+1, len(rows), want)
		}
	}
	if tb.index["r"].keys != nil {
		t.Fatal("an index no query used was built")
	}
	onR := mustQuery(t, `{"table":"things","where":{"eq":[{"col":"r"},{"value":null}]}}`)
	if _, err := db.All(sys, onR); err != nil || tb.index["r"].keys != nil {
		t.Fatalf("the first query on r built its index (%v)", err)
	}
	if _, err := db.All(sys, onR); err != nil || tb.index["r"].keys == nil {
		t.Fatalf("the second query on r did not build its index (%v)", err)
	}
}

// Queries may build an index concurrently (they hold only the read lock)
// while writers wait; run with -race.
func TestColIndex_ConcurrentFirstUse(t *testing.T) {
	ctx := context.Background()
	def := codecTable(t)
	s := schemaOf(t, def)
	db := openOver(t, storage.NewMemory(), s)
	sys := Actor{Backend: true}
	for i := 0; i < 300; i++ {
		if _, err := db.Insert(ctx, sys, "things", map[string]any{"s": fmt.Sprint("v", i%10), "b": i%2 == 0, "ts": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	q := mustQuery(t, `{"table":"things","where":{"eq":[{"col":"s"},{"value":"v3"}]}}`)
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		go func() {
			rows, err := db.All(sys, q)
			if err == nil && len(rows) < 30 {
				err = fmt.Errorf("%d rows", len(rows))
			}
			errs <- err
		}()
		go func() {
			_, err := db.Insert(ctx, sys, "things", map[string]any{"s": "v3", "b": true, "ts": int64(1)})
			errs <- err
		}()
	}
	for i := 0; i < 16; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.All(sys, q)
	if err != nil || len(rows) != 38 {
		t.Fatalf("after the inserts: %d rows, %v", len(rows), err)
	}
}

func mustQuery(t *testing.T, js string) *query.Query {
	t.Helper()
	q, err := query.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// schemaOf is a ready schema holding just def.
func schemaOf(t testing.TB, def *schema.Table) *schema.Schema {
	t.Helper()
	s := &schema.Schema{Tables: []*schema.Table{def}}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	return s
}
