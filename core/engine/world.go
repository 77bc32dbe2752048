package engine

import (
	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/policy"
)

// world is the engine's policy.World: the live rows a policy's allowedTo
// and exists consult, seen through ov, the rows a batch or a push has
// staged before the write being checked (nil outside one). The caller
// holds db.mu.
type world struct {
	db *DB
	ov overlay
}

var _ policy.World = world{}

// overlay is the rows staged but not committed, which a later write of the
// same batch or push must see as they will be.
type overlay interface {
	// staged returns the staged state of row id of t, if it has one.
	staged(t *table, id string) (*row, bool)
	// eachStaged calls fn with every staged row of t until fn returns false.
	eachStaged(t *table, fn func(*row) bool) bool
}

func (db *DB) world(ov overlay) world { return world{db: db, ov: ov} }

func (w world) Row(table, id string) expr.Row {
	t := w.db.tables[table]
	if t == nil {
		return nil
	}
	r := t.rows[id]
	if w.ov != nil {
		if s, ok := w.ov.staged(t, id); ok {
			r = s
		}
	}
	if r == nil || !r.visible() {
		return nil
	}
	return r
}

func (w world) Each(table, col string, v any, fn func(expr.Row) bool) {
	t := w.db.tables[table]
	if t == nil {
		return
	}
	more := true
	visit := func(r *row) bool {
		if w.ov != nil {
			if _, ok := w.ov.staged(t, r.id); ok {
				return true // its staged state comes below
			}
		}
		if r.visible() {
			more = fn(r)
		}
		return more
	}
	if col == "" {
		for _, r := range t.rows {
			if !visit(r) {
				break
			}
		}
	} else {
		for r := range w.db.rowsWhere(t, col, v) {
			if !visit(r) {
				break
			}
		}
	}
	if more && w.ov != nil {
		w.ov.eachStaged(t, func(r *row) bool {
			if r.visible() {
				return fn(r)
			}
			return true
		})
	}
}

// rowsWhere yields the rows of t whose column col holds v: through col's
// equality index when it has one (built on first use), else by a scan.
func (db *DB) rowsWhere(t *table, col string, v any) func(yield func(*row) bool) {
	if ci, ok := t.index[col]; ok {
		if k, ok := indexKey(v); ok {
			return ci.built(t, col)[k].all
		}
	}
	return func(yield func(*row) bool) {
		for _, r := range t.rows {
			if got, _ := r.Get(col); expr.Equal(got, v) && !yield(r) {
				return
			}
		}
	}
}

func (s *stagedRows) staged(t *table, id string) (*row, bool) {
	r, ok := s.rows[t][id]
	return r, ok
}

func (s *stagedRows) eachStaged(t *table, fn func(*row) bool) bool {
	for _, r := range s.rows[t] {
		if !fn(r) {
			return false
		}
	}
	return true
}

func (s *stage) staged(t *table, id string) (*row, bool) {
	r := t.rows[id]
	if u := s.ups[r]; r != nil && u != nil {
		return &row{id: id, base: u.base, view: u.base}, true
	}
	return nil, false
}

func (s *stage) eachStaged(t *table, fn func(*row) bool) bool {
	for _, u := range s.list {
		if u.t == t && !fn(&row{id: u.r.id, base: u.base, view: u.base}) {
			return false
		}
	}
	return true
}
