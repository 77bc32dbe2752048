package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// Row is a row as callers see it: column name to value, with "id" and the
// edit metadata columns included.
type Row map[string]any

// ID returns the row's id.
func (r Row) ID() string { s, _ := r[schema.ColID].(string); return s }

// cell is one column's value and the timestamp of the change that wrote it.
type cell struct {
	V any           `json:"v"`
	T hlc.Timestamp `json:"t"`
}

// row is the engine's record of one row.
type row struct {
	id      string
	base    map[string]cell
	pending []*Change
	// view is base with pending folded in; it aliases base when there is
	// nothing pending.
	view map[string]cell
	// seq is the server-side sequence number of the last change to base.
	seq uint64
	// stored is base and seq in their stored form (rowcodec.go), as last
	// read or written, or nil. A row loaded from storage may be kept in it
	// alone, base and view nil, until a writer materializes it (encoded,
	// lazyrow.go); otherwise it is kept with PackRows only, so that packing
	// a table (pack.go) is a copy and not a re-encoding of every row.
	// Whatever changes base or seq replaces or clears it.
	stored []byte
	// encVisible is whether an encoded row is visible (noted at load).
	encVisible bool
}

// encoded reports whether r is kept in its stored form (lazyrow.go): it
// then has no base, view or pending changes.
func (r *row) encoded() bool { return r.base == nil && r.stored != nil }

// merge writes the newer of each cell into dst; it reports whether anything
// changed.
func merge(dst map[string]cell, src map[string]cell) bool {
	changed := false
	for k, c := range src {
		if old, ok := dst[k]; !ok || c.T.Compare(old.T) > 0 {
			dst[k] = c
			changed = true
		}
	}
	return changed
}

func (r *row) recompute() {
	if len(r.pending) == 0 {
		r.view = r.base
		return
	}
	v := maps.Clone(r.base)
	for _, c := range r.pending {
		merge(v, c.cells())
	}
	r.view = v
}

func (r *row) visible() bool {
	if r.encoded() {
		return r.encVisible
	}
	_, created := r.view[schema.ColCreatedAt]
	d, deleted := r.view[deletedCell]
	return created && !tombstoned(d, deleted)
}

// Get implements expr.Row over the visible state.
func (r *row) Get(col string) (any, bool) {
	if col == schema.ColID {
		return r.id, true
	}
	if r.encoded() {
		return encodedGet(r.stored, col)
	}
	c, ok := r.view[col]
	return c.V, ok
}

// public copies the visible state out for callers.
func (r *row) public() Row { return r.publicWith(0) }

// publicWith is public with room for extra more entries (the relations a
// query includes), so adding them does not grow the map.
func (r *row) publicWith(extra int) Row {
	if r.encoded() {
		return encodedPublic(r.id, r.stored)
	}
	out := make(Row, len(r.view)+1+extra)
	for k, c := range r.view {
		if k != deletedCell {
			out[k] = c.V
		}
	}
	out[schema.ColID] = r.id
	return out
}

func rowKey(table, id string) []byte { return []byte(table + "\x00" + id) }

func encodeRow(r *row) ([]byte, error) { return encodeStored(r.base, r.seq) }

// decodeCells restores typed values from JSON using the table's columns, so a
// stored int comes back as int64 rather than float64.
func decodeCells(t *schema.Table, raw map[string]cell) (map[string]cell, error) {
	out := make(map[string]cell, len(raw))
	for k, c := range raw {
		if k == deletedCell {
			out[k] = cell{V: c.V != false, T: c.T}
			continue
		}
		col, ok := t.Column(k)
		if !ok {
			// A column dropped from the schema: keep it so nothing is lost
			// if it comes back, but as the raw JSON value.
			out[k] = c
			continue
		}
		if c.V == nil {
			out[k] = c
			continue
		}
		col.Optional = true
		v, err := schema.Normalize(col, c.V)
		if err != nil {
			return nil, fmt.Errorf("%w: %s.%s: %v", ErrCorrupt, t.Name, k, err)
		}
		out[k] = cell{V: v, T: c.T}
	}
	return out, nil
}

// indexKey is the canonical string of a value for the equality indexes: equal
// values (1 and 1.0 included) share a key.
func indexKey(v any) (string, bool) {
	var buf [64]byte
	k, ok := appendIndexKey(buf[:0], v)
	return string(k), ok
}

// appendIndexKey appends indexKey(v) to b, so callers that only look a key
// up can do so without allocating it.
func appendIndexKey(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, 'z'), true
	case string:
		return append(append(b, 's'), x...), true
	case bool:
		if x {
			return append(b, "b1"...), true
		}
		return append(b, "b0"...), true
	case int64:
		return appendNumberKey(b, float64(x)), true
	case int:
		return appendNumberKey(b, float64(x)), true
	case float64:
		return appendNumberKey(b, x), true
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return b, false
		}
		return appendNumberKey(b, f), true
	}
	return b, false
}

// appendNumberKey keys a number by its float64 value, as expr.Equal compares
// numbers: whole numbers (ints, timestamps: nearly every indexed number) in
// decimal, which is much cheaper to format than the shortest float form;
// others in that form.
func appendNumberKey(b []byte, f float64) []byte {
	b = append(b, 'n')
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return strconv.AppendInt(b, int64(f), 10) // -0 and 0 share "0", as they are equal
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// colIndex is the equality index of one column: value key (indexKey) to
// the visible rows holding it.
//
// It is built the second time a query filters on the column (see wanted)
// rather than when the table loads: a browser tab loads every row of a
// table when the page first uses it, and many columns (titles, authors,
// timestamps) are never filtered on by equality, so indexing them up front
// only delays the first result and holds memory. A query may build it under the DB's read lock,
// concurrently with other queries, hence the Once; writers hold the write
// lock, so they find it either unbuilt (and leave it to be built from the
// rows) or complete, and keep it up to date (table.indexRow).
type colIndex struct {
	once sync.Once
	keys map[string]rowSet // nil until built
	uses atomic.Int32      // queries that could have used it, up to 2
}

// wanted reports whether a query on the column should use (and so build)
// the index: from the second such query on. The first scans instead. A
// page's first query of a column comes right after its table loaded, and
// building the index costs more than the scan it replaces once (a map
// insert per row, and pointer hashing is slow in WebAssembly):
// BenchmarkFirstEqualityQuery, 0.65x natively over rows as loaded. The
// price is one scan more in all for a column queried twice, since the
// second query builds the index anyway; the first result is what a page
// waits for.
func (ci *colIndex) wanted() bool {
	if ci.uses.Load() >= 2 {
		return true
	}
	return ci.uses.Add(1) >= 2
}

// built returns the index of column col of t, building it if needed. The
// caller holds the DB's lock (read or write).
func (ci *colIndex) built(t *table, col string) map[string]rowSet {
	ci.once.Do(func() {
		keys := map[string]rowSet{}
		var buf [64]byte
		for _, r := range t.rows {
			if !r.visible() {
				continue
			}
			v, _ := r.Get(col)
			k, ok := appendIndexKey(buf[:0], v)
			if !ok {
				continue
			}
			if set := keys[string(k)]; set.many != nil {
				set.many[r] = struct{}{}
			} else {
				keys[string(k)] = set.with(r)
			}
		}
		ci.keys = keys
	})
	return ci.keys
}

// rowSet is the visible rows holding one value of an indexed column, by
// pointer: a query then reaches its rows without looking each id up again,
// and pointers hash far cheaper than ids (in WebAssembly especially). A
// row's pointer is stable while it is visible, which is while it is indexed.
// Most values of many columns belong to a single row (titles, timestamps,
// ranks), so a set of one is the row itself, stored in the index's map
// without an allocation; a map is made from the second row on.
type rowSet struct {
	one  *row              // the only row, when many is nil
	many map[*row]struct{} // two or more rows (nil otherwise)
}

// with returns the set plus r; a set with many is updated in place.
func (s rowSet) with(r *row) rowSet {
	switch {
	case s.many != nil:
		s.many[r] = struct{}{}
	case s.one == nil:
		s.one = r
	case s.one != r:
		s.many = map[*row]struct{}{s.one: {}, r: {}}
		s.one = nil
	}
	return s
}

// without removes r from the set (in place for many) and reports whether
// the set is now empty; the caller stores s back otherwise.
func (s *rowSet) without(r *row) (empty bool) {
	if s.many != nil {
		delete(s.many, r)
		return len(s.many) == 0
	}
	if s.one == r {
		s.one = nil
	}
	return s.one == nil
}

func (s rowSet) len() int {
	if s.many != nil {
		return len(s.many)
	}
	if s.one != nil {
		return 1
	}
	return 0
}

// all yields every row in the set.
func (s rowSet) all(yield func(*row) bool) {
	if s.many == nil {
		if s.one != nil {
			yield(s.one)
		}
		return
	}
	for r := range s.many {
		if !yield(r) {
			return
		}
	}
}
