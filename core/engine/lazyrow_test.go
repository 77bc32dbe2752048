package engine

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// lazyFixture writes rows of every kind an encoded row must read like a
// decoded one: plain values of each type, nulls, a deleted row, a row with
// a JSON value and one whose stored value no longer has its column's type
// (both of which are decoded at load instead), and columns the schema no
// longer declares (holding a string, and a JSON value: decoded at load). It returns the store and the ids by kind.
func lazyFixture(t *testing.T) (storage.Store, *schema.Schema, map[string]string) {
	t.Helper()
	ctx := context.Background()
	s := schemaOf(t, codecTable(t))
	store := storage.NewMemory()
	w := openOver(t, store, s)
	a := Actor{Backend: true}
	ids := map[string]string{}
	for kind, vals := range map[string]map[string]any{
		"plain":   {"s": "héllo", "b": true, "i": 1 << 40, "f": 0.25, "ts": 7, "r": "0190b2a0-0000-7000-8000-000000000001"},
		"nulls":   {"s": "", "b": false, "ts": 0},
		"json":    {"s": "j", "b": true, "ts": 1, "j": map[string]any{"a": 1}},
		"deleted": {"s": "gone", "b": true, "ts": 2},
		"updated": {"s": "old", "b": false, "ts": 3, "i": 5},
	} {
		r, err := w.Insert(ctx, a, "things", vals)
		if err != nil {
			t.Fatal(err)
		}
		ids[kind] = r.ID()
	}
	if err := w.Delete(ctx, a, "things", ids["deleted"]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Update(ctx, a, "things", ids["updated"], map[string]any{"s": "new"}); err != nil {
		t.Fatal(err)
	}
	// A row stored with a float where the column now says int, and a cell
	// the schema does not declare: written as another replica would have.
	typeChanged := map[string]cell{
		schema.ColCreatedAt: {V: tsA.Wall, T: tsA}, "s": {V: "t", T: tsA}, "b": {V: true, T: tsA}, "ts": {V: int64(4), T: tsA}, "i": {V: 2.0, T: tsA},
	}
	dropped := map[string]cell{
		schema.ColCreatedAt: {V: tsA.Wall, T: tsA}, "s": {V: "d", T: tsA}, "b": {V: true, T: tsA}, "ts": {V: int64(5), T: tsA}, "zz_dropped": {V: "kept", T: tsB},
	}
	droppedJSON := map[string]cell{
		schema.ColCreatedAt: {V: tsA.Wall, T: tsA}, "s": {V: "dj", T: tsA}, "b": {V: true, T: tsA}, "ts": {V: int64(6), T: tsA}, "zz_json": {V: map[string]any{"a": json.Number("1")}, T: tsB},
	}
	ids["typeChanged"], ids["dropped"], ids["droppedJSON"] = "row-type-changed", "row-dropped", "row-dropped-json"
	if err := store.Apply(ctx, []storage.Op{
		storage.Put(bucketRows, rowKey("things", ids["typeChanged"]), storedRow(t, 90, typeChanged)),
		storage.Put(bucketRows, rowKey("things", ids["dropped"]), storedRow(t, 91, dropped)),
		storage.Put(bucketRows, rowKey("things", ids["droppedJSON"]), storedRow(t, 92, droppedJSON)),
	}); err != nil {
		t.Fatal(err)
	}
	return store, s, ids
}

// decodedTable is the fixture's table with every row decoded at load, the
// way rows were read before encoded rows: the reference to compare with.
func decodedTable(t *testing.T, store storage.Store, s *schema.Schema) *table {
	t.Helper()
	tb := newTable(s.Tables[0])
	d := newRowDecoder(tb.def)
	if err := store.Scan(context.Background(), bucketRows, []byte("things\x00"), func(k, v []byte) error {
		r, err := d.decodeRow(string(k[len("things\x00"):]), v)
		if err == nil {
			tb.rows[r.id] = r
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return tb
}

// An encoded row answers every read exactly as its decoded form: each
// cell (declared, metadata, undeclared, absent), visibility, the public
// row, the confirmed state, and queries with filters, order and indexes.
func TestEncodedRows_ReadLikeDecodedRows(t *testing.T) {
	store, s, ids := lazyFixture(t)
	db := openOver(t, store, s)
	tb := db.tables["things"]
	ref := decodedTable(t, store, s)
	encoded := map[string]bool{}
	for id, r := range tb.rows {
		encoded[id] = r.encoded()
	}
	for kind, want := range map[string]bool{"plain": true, "nulls": true, "deleted": true, "updated": true, "dropped": true, "json": false, "typeChanged": false, "droppedJSON": false} {
		if encoded[ids[kind]] != want {
			t.Errorf("%s row kept encoded = %v, want %v", kind, encoded[ids[kind]], want)
		}
	}
	cols := []string{"id", "s", "b", "i", "f", "ts", "j", "r", "zz_dropped", "zz_json", "nope", "", "~", deletedCell,
		schema.ColCreatedAt, schema.ColCreatedBy, schema.ColUpdatedAt, schema.ColUpdatedBy}
	for id, want := range ref.rows {
		got := tb.rows[id]
		if got == nil {
			t.Fatalf("row %s not loaded", id)
		}
		for _, col := range cols {
			gv, gok := got.Get(col)
			wv, wok := want.Get(col)
			if gok != wok || !reflect.DeepEqual(gv, wv) {
				t.Errorf("row %s: Get(%q) = %#v, %v; decoded: %#v, %v", id, col, gv, gok, wv, wok)
			}
		}
		if got.visible() != want.visible() {
			t.Errorf("row %s: visible = %v, decoded %v", id, got.visible(), want.visible())
		}
		if !reflect.DeepEqual(got.public(), want.public()) {
			t.Errorf("row %s: public\n got %#v\nwant %#v", id, got.public(), want.public())
		}
		if !reflect.DeepEqual(tb.baseCopy(got), want.base) || !reflect.DeepEqual(tb.cellsOf(got), want.view) {
			t.Errorf("row %s: cells\n got %#v\nwant %#v", id, tb.baseCopy(got), want.base)
		}
		st, ok := db.State("things", id)
		if !ok || !reflect.DeepEqual(st.Cells, want.base) || st.Seq != want.seq {
			t.Errorf("row %s: State = %#v, %v", id, st, ok)
		}
	}
	if _, ok := tb.rows[ids["deleted"]].Get(deletedCell); !ok || tb.rows[ids["deleted"]].visible() {
		t.Error("the deleted row reads as not deleted")
	}
	// Queries: an indexed equality, a range, ordering by each kind of value.
	for _, q := range []*query.Query{
		{Table: "things", Where: expr.Eq("b", true)},
		{Table: "things", Where: expr.Eq("s", "new")},
		{Table: "things", Where: expr.Cmp(expr.OpGt, expr.Col("ts"), expr.Val(1)), OrderBy: []query.Order{{Col: "s", Desc: true}}},
		{Table: "things", OrderBy: []query.Order{{Col: "i"}, {Col: "f", Desc: true}}, Limit: 3},
	} {
		got, err := db.All(Actor{Backend: true}, q)
		if err != nil {
			t.Fatal(err)
		}
		want := decodedAll(t, s, store, q)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("query %v:\n got %v\nwant %v", q, got, want)
		}
	}
	changed, _, err := db.ChangedSince(Actor{Backend: true}, &query.Query{Table: "things"}, 0)
	if err != nil || len(changed) != len(ref.rows) { // the deleted row too, as a tombstone
		t.Fatalf("ChangedSince: %d rows, %v", len(changed), err)
	}
	for _, st := range changed {
		if !reflect.DeepEqual(st.Cells, ref.rows[st.ID].base) || st.Seq != ref.rows[st.ID].seq {
			t.Errorf("ChangedSince row %s = %#v", st.ID, st)
		}
	}
}

// decodedAll runs q on a replica whose rows were all decoded at load.
func decodedAll(t *testing.T, s *schema.Schema, store storage.Store, q *query.Query) []Row {
	t.Helper()
	db := openOver(t, storage.NewMemory(), s)
	ref := decodedTable(t, store, s)
	db.tables["things"].rows = ref.rows
	rows, err := db.All(Actor{Backend: true}, q)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// Writes to encoded rows: an update keeps every cell it does not change,
// an insert over an existing row is refused, a delete deletes, and all of
// it survives a reload, also through a compaction into packs.
func TestEncodedRows_WritesKeepEveryCell(t *testing.T) {
	ctx := context.Background()
	for _, packed := range []bool{false, true} {
		store, s, ids := lazyFixture(t)
		open := func() *DB {
			if packed {
				return openPacked(t, store, s, nil)
			}
			return openOver(t, store, s)
		}
		db := open()
		a := Actor{Backend: true}
		before := db.tables["things"].public()
		if !db.tables["things"].rows[ids["plain"]].encoded() {
			t.Fatal("the plain row was not kept encoded: this test tests nothing")
		}
		if _, err := db.Update(ctx, a, "things", ids["plain"], map[string]any{"s": "changed"}); err != nil {
			t.Fatal(err)
		}
		c := &Change{ID: db.NewID(), Table: "things", Row: ids["nulls"], Kind: KindInsert, TS: db.Timestamp(), Values: map[string]any{"s": "x", "b": true, "ts": 1}}
		if err := db.Authorize(a, c); !errors.Is(err, ErrExists) {
			t.Fatalf("insert over an encoded row: %v", err)
		}
		if err := db.Delete(ctx, a, "things", ids["dropped"]); err != nil {
			t.Fatal(err)
		}
		want := before
		want[ids["plain"]]["s"] = "changed"
		delete(want, ids["dropped"])
		if packed {
			db.mu.Lock()
			err := db.compactLocked(ctx, db.tables["things"])
			db.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []*DB{db, open()} {
			got := d.tables["things"].public()
			for id, w := range want {
				g := got[id]
				delete(g, schema.ColUpdatedAt)
				delete(w, schema.ColUpdatedAt)
				delete(g, schema.ColUpdatedBy)
				delete(w, schema.ColUpdatedBy)
				if !reflect.DeepEqual(g, w) {
					t.Errorf("packed=%v: row %s\n got %#v\nwant %#v", packed, id, g, w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("packed=%v: %d visible rows, want %d", packed, len(got), len(want))
			}
		}
	}
}

// public lists the visible rows of t by id.
func (t *table) public() map[string]Row {
	out := map[string]Row{}
	for id, r := range t.rows {
		if r.visible() {
			out[id] = r.public()
		}
	}
	return out
}

// BenchmarkScanLoadedRows is the price of keeping loaded rows encoded: a
// query that reads every row of a 10k-row table (a range filter, an order,
// a limit) over rows as loaded (encoded) and over the same rows decoded.
// A load saves decoding every row once; each full scan of encoded rows
// then costs more than over decoded ones.
func BenchmarkScanLoadedRows(b *testing.B) {
	ctx := context.Background()
	s, store := packedThings(b)
	q := &query.Query{Table: "things", Where: expr.Cmp(expr.OpGt, expr.Col("i"), expr.Val(5000)), OrderBy: []query.Order{{Col: "ts", Desc: true}}, Limit: 50}
	for _, form := range []string{"encoded", "decoded"} {
		b.Run(form, func(b *testing.B) {
			db, err := Open(ctx, Options{Bundle: &bundle.Bundle{Version: 1, Schema: s}, Store: unclosable{store}, Node: "n1"})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			t := db.tables["things"]
			for _, r := range t.rows {
				if !r.encoded() {
					b.Fatal("a row was not kept encoded")
				}
				if form == "decoded" {
					t.materialize(r)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if rows, err := db.All(Actor{Backend: true}, q); err != nil || len(rows) != 50 {
					b.Fatal(len(rows), err)
				}
			}
		})
	}
}

// packedThings is a store holding 10k rows of "things" in one pack, and
// its schema.
func packedThings(b *testing.B) (*schema.Schema, storage.Store) {
	def := codecTable(b)
	ids, rows := benchRows(b, def, 10_000, "")
	entries := make([][2][]byte, len(rows))
	for i, cells := range rows {
		entries[i] = [2][]byte{[]byte(ids[i]), storedRow(b, uint64(i+1), cells)}
	}
	store := storage.NewMemory()
	if err := store.Apply(context.Background(), []storage.Op{storage.Put(bucketPacks, packKey("things", 0), packOf(entries...))}); err != nil {
		b.Fatal(err)
	}
	return schemaOf(b, def), store
}

// BenchmarkFirstEqualityQuery is a page's first query of a column after its
// table loaded (an equality on b, a third of 10k rows, ordered, limit 50):
// by a scan, as it runs now (colIndex.wanted), and by building the
// column's index first, as it ran before.
func BenchmarkFirstEqualityQuery(b *testing.B) {
	ctx := context.Background()
	s, store := packedThings(b)
	q := &query.Query{Table: "things", Where: expr.Cmp(expr.OpEq, expr.Col("b"), expr.Val(true)), OrderBy: []query.Order{{Col: "ts", Desc: true}}, Limit: 50}
	db, err := Open(ctx, Options{Bundle: &bundle.Bundle{Version: 1, Schema: s}, Store: unclosable{store}, Node: "n1"})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	t := db.tables["things"]
	for _, way := range []string{"scan", "index"} {
		b.Run(way, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ci := &colIndex{}
				if way == "index" {
					ci.uses.Store(1) // this query is the second use: it builds
				}
				t.index["b"] = ci
				b.StartTimer()
				if rows, err := db.All(Actor{Backend: true}, q); err != nil || len(rows) != 50 {
					b.Fatal(len(rows), err)
				}
				if (ci.keys != nil) != (way == "index") {
					b.Fatal("the query did not take the way measured")
				}
			}
		})
	}
}
