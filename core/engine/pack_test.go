package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

func openPacked(t *testing.T, store storage.Store, s *schema.Schema, onError func(error)) *DB {
	t.Helper()
	db, err := Open(context.Background(), Options{Bundle: &bundle.Bundle{Version: 1, Schema: s}, Store: unclosable{store}, Node: "n1", Sequenced: true, PackRows: true, OnError: onError})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// storedKeys lists the keys of a bucket.
func storedKeys(t *testing.T, store storage.Store, bucket string) []string {
	t.Helper()
	var keys []string
	if err := store.Scan(context.Background(), bucket, nil, func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

func insertThings(t *testing.T, db *DB, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		r, err := db.Insert(context.Background(), Actor{Backend: true}, "things", map[string]any{
			"s": fmt.Sprint("thing ", i), "b": i%2 == 0, "i": i, "ts": int64(1e12) + int64(i),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
	}
	return ids
}

// Writes go to the tail one row per value; once the tail is due it is
// folded into the packs, and a table reads back the same from packs plus
// tail, whether the reader packs rows itself or not.
func TestPacks_TableReadsBackFromPacksAndTail(t *testing.T) {
	ctx := context.Background()
	def := codecTable(t)
	s := schemaOf(t, def)
	store := storage.NewMemory()
	w := openPacked(t, store, s, func(err error) { t.Errorf("OnError: %v", err) })
	ids := insertThings(t, w, 1300)
	// Updates after the last compaction land in the tail over packed rows.
	if _, err := w.Update(ctx, Actor{Backend: true}, "things", ids[7], map[string]any{"s": "updated", "i": nil}); err != nil {
		t.Fatal(err)
	}
	if err := w.Delete(ctx, Actor{Backend: true}, "things", ids[8]); err != nil {
		t.Fatal(err)
	}
	wt := w.tables["things"]
	tail := storedKeys(t, store, bucketRows)
	packs := storedKeys(t, store, bucketPacks)
	if len(packs) == 0 || len(tail) == 0 || len(tail) >= compactMin {
		t.Fatalf("%d packs and a tail of %d rows after 1300 inserts: want packs and a tail shorter than %d", len(packs), len(tail), compactMin)
	}
	if len(tail) != len(wt.tail) || uint32(len(packs)) != wt.packs {
		t.Fatalf("the writer counts %d tail rows and %d packs; the store has %d and %d", len(wt.tail), wt.packs, len(tail), len(packs))
	}
	if !slices.Contains(tail, string(rowKey("things", ids[7]))) {
		t.Fatal("the updated row is not in the tail")
	}
	r := openPacked(t, store, s, nil)
	sameRows(t, "reopened", r.tables["things"], wt)
	if rt := r.tables["things"]; len(rt.tail) != len(tail) || rt.packs != wt.packs {
		t.Fatalf("reopened: %d tail rows and %d packs, want %d and %d", len(rt.tail), rt.packs, len(tail), wt.packs)
	}
	sameRows(t, "reopened without PackRows", openOver(t, store, s).tables["things"], wt)
	late := openPacked(t, store, &schema.Schema{}, nil)
	if err := late.Extend(ctx, s); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "Extend", late.tables["things"], wt)

	// The next compaction of the reopened DB empties the tail.
	insertThings(t, r, compactMin)
	if n := len(storedKeys(t, store, bucketRows)); n >= compactMin {
		t.Fatalf("tail of %d rows after the reopened DB wrote %d", n, compactMin)
	}
	sameRows(t, "after the second compaction", openPacked(t, store, s, nil).tables["things"], r.tables["things"])
}

// storedRow encodes cells as the rows bucket and packs hold them.
func storedRow(t testing.TB, seq uint64, cells map[string]cell) []byte {
	t.Helper()
	v, err := encodeStored(cells, seq)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func packOf(entries ...[2][]byte) []byte {
	p := []byte{packFormatV1}
	for _, e := range entries {
		p = binary.AppendUvarint(p, uint64(len(e[0])))
		p = append(p, e[0]...)
		p = binary.AppendUvarint(p, uint64(len(e[1])))
		p = append(p, e[1]...)
	}
	return p
}

// A reader can see a tail older than the packs (another tab compacted
// between its two reads): the versions merge cell by cell, so the newest
// of each cell wins whichever side holds it.
func TestPacks_TailAndPackVersionsMergeCellByCell(t *testing.T) {
	ctx := context.Background()
	def := codecTable(t)
	s := schemaOf(t, def)
	older, newer := tsA, tsA
	newer.Wall += 1000
	base := map[string]cell{
		schema.ColCreatedAt: {V: int64(1), T: older}, "ts": {V: int64(5), T: older},
	}
	withCells := func(extra map[string]cell) map[string]cell {
		m := map[string]cell{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tailCells := withCells(map[string]cell{"s": {V: "tail's", T: newer}, "b": {V: false, T: older}})
	packCells := withCells(map[string]cell{"s": {V: "pack's", T: older}, "b": {V: true, T: newer}, "i": {V: int64(3), T: older}})
	store := storage.NewMemory()
	if err := store.Apply(ctx, []storage.Op{
		storage.Put(bucketRows, rowKey("things", "r1"), storedRow(t, 4, tailCells)),
		storage.Put(bucketPacks, packKey("things", 0), packOf(
			[2][]byte{[]byte("r1"), storedRow(t, 9, packCells)},
			[2][]byte{[]byte("r2"), storedRow(t, 2, packCells)},
		)),
	}); err != nil {
		t.Fatal(err)
	}
	for _, packRows := range []bool{true, false} {
		db, err := Open(ctx, Options{Bundle: &bundle.Bundle{Version: 1, Schema: s}, Store: unclosable{store}, Node: "n1", PackRows: packRows})
		if err != nil {
			t.Fatal(err)
		}
		tb := db.tables["things"]
		r1 := tb.rows["r1"]
		want := withCells(map[string]cell{"s": {V: "tail's", T: newer}, "b": {V: true, T: newer}, "i": {V: int64(3), T: older}})
		if len(tb.rows) != 2 || r1 == nil || !reflect.DeepEqual(tb.baseCopy(r1), want) || r1.seq != 9 || !reflect.DeepEqual(tb.cellsOf(r1), want) {
			t.Fatalf("PackRows=%v: %d rows; r1 = %#v, want base %#v at seq 9", packRows, len(tb.rows), r1, want)
		}
		if packRows && (len(tb.tail) != 1 || tb.packs != 1) {
			t.Fatalf("tail %v, %d packs; want r1 and 1", tb.tail, tb.packs)
		}
		if packRows {
			// Packed again, the merged row is stored as merged.
			db.mu.Lock()
			err := db.compactLocked(ctx, tb)
			db.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if tail := storedKeys(t, store, bucketRows); len(tail) != 0 {
				t.Fatalf("tail after compaction: %q", tail)
			}
			again := openPacked(t, store, s, nil)
			if r := again.tables["things"].rows["r1"]; r == nil || !reflect.DeepEqual(again.tables["things"].baseCopy(r), want) || r.seq != 9 {
				t.Fatalf("r1 from the new packs = %#v, want base %#v at seq 9", r, want)
			}
		}
		db.Close()
	}
}

// A compaction packs each row as it is now: rows updated since they were
// last read or packed are not packed as they were.
func TestPacks_CompactionPacksTheNewestVersions(t *testing.T) {
	ctx := context.Background()
	s := schemaOf(t, codecTable(t))
	store := storage.NewMemory()
	w := openPacked(t, store, s, nil)
	ids := insertThings(t, w, compactMin) // packed
	for i, id := range ids {              // every row again, then packed again
		if _, err := w.Update(ctx, Actor{Backend: true}, "things", id, map[string]any{"s": fmt.Sprint("updated ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if tail := storedKeys(t, store, bucketRows); len(tail) != 0 {
		t.Fatalf("tail of %d rows: the updates were not compacted", len(tail))
	}
	sameRows(t, "reopened", openPacked(t, store, s, nil).tables["things"], w.tables["things"])
}

// A compaction writes packs 0..n-1 and deletes every other pack of the
// table, however many the store held.
func TestPacks_CompactionDeletesPacksBeyondItsOwn(t *testing.T) {
	ctx := context.Background()
	def := codecTable(t)
	s := schemaOf(t, def)
	store := storage.NewMemory()
	cells := map[string]cell{schema.ColCreatedAt: {V: int64(1), T: tsA}, "s": {V: "stray", T: tsA}, "ts": {V: int64(1), T: tsA}}
	if err := store.Apply(ctx, []storage.Op{storage.Put(bucketPacks, packKey("things", 9), packOf([2][]byte{[]byte("stray"), storedRow(t, 1, cells)}))}); err != nil {
		t.Fatal(err)
	}
	w := openPacked(t, store, s, nil)
	if w.tables["things"].packs != 10 || w.tables["things"].rows["stray"] == nil {
		t.Fatalf("%d packs; stray row %v", w.tables["things"].packs, w.tables["things"].rows["stray"])
	}
	insertThings(t, w, compactMin)
	packs := storedKeys(t, store, bucketPacks)
	if len(packs) != 1 || packs[0] != string(packKey("things", 0)) {
		t.Fatalf("packs after compaction: %q", packs)
	}
	sameRows(t, "reopened", openPacked(t, store, s, nil).tables["things"], w.tables["things"])
}

// A pack that is not one is ErrCorrupt, naming the pack.
func TestPacks_CorruptPackIsErrCorrupt(t *testing.T) {
	ctx := context.Background()
	s := schemaOf(t, codecTable(t))
	good := storedRow(t, 1, map[string]cell{schema.ColCreatedAt: {V: int64(1), T: tsA}})
	for name, op := range map[string]storage.Op{
		"unknown format":   storage.Put(bucketPacks, packKey("things", 0), append([]byte{0x01}, packOf([2][]byte{[]byte("a"), good})[1:]...)),
		"empty":            storage.Put(bucketPacks, packKey("things", 0), nil),
		"truncated id":     storage.Put(bucketPacks, packKey("things", 0), []byte{packFormatV1, 9, 'a'}),
		"truncated row":    storage.Put(bucketPacks, packKey("things", 0), packOf([2][]byte{[]byte("a"), good})[:len(good)]),
		"bad row":          storage.Put(bucketPacks, packKey("things", 0), packOf([2][]byte{[]byte("a"), {0xff, 1, 2}})),
		"short key":        storage.Put(bucketPacks, []byte("things\x00\x01"), packOf([2][]byte{[]byte("a"), good})),
		"huge entry size":  storage.Put(bucketPacks, packKey("things", 0), binary.AppendUvarint([]byte{packFormatV1}, 1<<62)),
		"last pack number": storage.Put(bucketPacks, packKey("things", math.MaxUint32), packOf([2][]byte{[]byte("a"), good})),
	} {
		t.Run(name, func(t *testing.T) {
			store := storage.NewMemory()
			if err := store.Apply(ctx, []storage.Op{op}); err != nil {
				t.Fatal(err)
			}
			_, err := Open(ctx, Options{Bundle: &bundle.Bundle{Version: 1, Schema: s}, Store: store, Node: "n1", PackRows: true})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
		})
	}
}

// A compaction that cannot be written is reported and changes nothing:
// the rows stay in the tail, and the next write compacts them.
func TestPacks_FailedCompactionLosesNothing(t *testing.T) {
	def := codecTable(t)
	s := schemaOf(t, def)
	store := storage.NewFaulty(storage.NewMemory())
	var reported []error
	w := openPacked(t, store, s, func(err error) { reported = append(reported, err) })
	insertThings(t, w, compactMin-1)
	store.FailApplyAfter(1) // the insert's batch, not the compaction's
	insertThings(t, w, 1)
	store.FailApplyAfter(-1)
	if len(reported) != 1 || !errors.Is(reported[0], storage.ErrInjected) {
		t.Fatalf("reported %v, want one injected failure", reported)
	}
	if n := len(storedKeys(t, store, bucketRows)); n != compactMin || len(storedKeys(t, store, bucketPacks)) != 0 {
		t.Fatalf("after the failed compaction: tail of %d rows, want %d and no packs", n, compactMin)
	}
	sameRows(t, "after the failed compaction", openPacked(t, store, s, nil).tables["things"], w.tables["things"])
	insertThings(t, w, 1)
	if n := len(storedKeys(t, store, bucketRows)); n != 0 {
		t.Fatalf("the next write left a tail of %d rows", n)
	}
	sameRows(t, "after the next compaction", openPacked(t, store, s, nil).tables["things"], w.tables["things"])
}

// packEntries reads back what compactLocked writes, in order.
func TestPackEntries_RoundTrip(t *testing.T) {
	p := packOf([2][]byte{[]byte("a"), []byte("one")}, [2][]byte{[]byte(""), nil}, [2][]byte{bytes.Repeat([]byte("i"), 300), bytes.Repeat([]byte("v"), 70000)})
	var got [][2]string
	if err := packEntries(p, func(id, v []byte) error {
		got = append(got, [2]string{string(id), string(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"a", "one"}, {"", ""}, {string(bytes.Repeat([]byte("i"), 300)), string(bytes.Repeat([]byte("v"), 70000))}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entries differ")
	}
}

// BenchmarkCompact is one compaction of a 10k-row table: what a write that
// makes the tail due pays, under the engine's lock.
func BenchmarkCompact(b *testing.B) {
	def := codecTable(b)
	s := schemaOf(b, def)
	db, err := Open(context.Background(), Options{Bundle: &bundle.Bundle{Version: 1, Schema: s}, Node: "n1", PackRows: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < 10_000; i++ {
		if _, err := db.Insert(context.Background(), Actor{Backend: true}, "things", map[string]any{
			"s": fmt.Sprint("thing number ", i), "b": i%2 == 0, "i": i, "ts": int64(1e12) + int64(i),
		}); err != nil {
			b.Fatal(err)
		}
	}
	t := db.tables["things"]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db.mu.Lock()
		err := db.compactLocked(context.Background(), t)
		db.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}
