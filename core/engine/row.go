package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

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
}

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
	_, created := r.view[schema.ColCreatedAt]
	_, deleted := r.view[deletedCell]
	return created && !deleted
}

// Get implements expr.Row over the visible state.
func (r *row) Get(col string) (any, bool) {
	if col == schema.ColID {
		return r.id, true
	}
	c, ok := r.view[col]
	return c.V, ok
}

// public copies the visible state out for callers.
func (r *row) public() Row {
	out := make(Row, len(r.view)+1)
	for k, c := range r.view {
		if k != deletedCell {
			out[k] = c.V
		}
	}
	out[schema.ColID] = r.id
	return out
}

// storedRow is the persisted form of a row's base.
type storedRow struct {
	Cells map[string]cell `json:"cells"`
	Seq   uint64          `json:"seq,omitempty"`
}

func rowKey(table, id string) []byte { return []byte(table + "\x00" + id) }

func encodeRow(r *row) ([]byte, error) { return encodeStored(r.base, r.seq) }

// encodeStored is the persisted form of a row's base cells.
func encodeStored(cells map[string]cell, seq uint64) ([]byte, error) {
	return json.Marshal(storedRow{Cells: cells, Seq: seq})
}

// decodeCells restores typed values from JSON using the table's columns, so a
// stored int comes back as int64 rather than float64.
func decodeCells(t *schema.Table, raw map[string]cell) (map[string]cell, error) {
	out := make(map[string]cell, len(raw))
	for k, c := range raw {
		if k == deletedCell {
			out[k] = cell{V: true, T: c.T}
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
	switch x := v.(type) {
	case nil:
		return "z", true
	case string:
		return "s" + x, true
	case bool:
		if x {
			return "b1", true
		}
		return "b0", true
	case int64:
		return "n" + strconv.FormatFloat(float64(x), 'g', -1, 64), true
	case int:
		return "n" + strconv.FormatFloat(float64(x), 'g', -1, 64), true
	case float64:
		return "n" + strconv.FormatFloat(x, 'g', -1, 64), true
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return "", false
		}
		return "n" + strconv.FormatFloat(f, 'g', -1, 64), true
	}
	return "", false
}
