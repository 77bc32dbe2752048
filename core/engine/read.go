package engine

import (
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// asExprRow avoids handing a typed nil pointer to expression evaluation.
func asExprRow(r *row) expr.Row {
	if r == nil {
		return nil
	}
	return r
}

// Get returns one visible row by id, or ErrNotFound (also when a's policies
// do not allow reading it, so existence does not leak).
func (db *DB) Get(a Actor, tableName, rowID string) (Row, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	t, err := db.table(tableName)
	if err != nil {
		return nil, err
	}
	r := t.rows[rowID]
	if r == nil || !r.visible() || !db.readable(a, t, r) {
		return nil, notFound(tableName, rowID)
	}
	return r.public(), nil
}

func (db *DB) table(name string) (*table, error) {
	t := db.tables[name]
	if t == nil {
		_, err := db.schema.Table(name)
		return nil, err
	}
	return t, nil
}

func (db *DB) readable(a Actor, t *table, r *row) bool {
	return !db.enforce(a) || db.opts.Bundle.Policies.CanRead(a.Session, t.def.Name, r)
}

// All runs q and returns the matching rows a may read, ordered and windowed.
func (db *DB) All(a Actor, q *query.Query) ([]Row, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	t, err := db.checkQuery(q)
	if err != nil {
		return nil, err
	}
	rows := db.matching(a, t, q)
	sortRows(rows, q.OrderBy)
	rows = window(rows, q.Offset, q.Limit)
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = r.public()
	}
	return out, nil
}

// One returns the first row of q, or nil when there is none.
func (db *DB) One(a Actor, q *query.Query) (Row, error) {
	q2 := *q
	q2.Limit = 1
	rows, err := db.All(a, &q2)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

func (db *DB) checkQuery(q *query.Query) (*table, error) {
	if _, err := q.Check(db.schema); err != nil {
		return nil, err
	}
	return db.tables[q.Table], nil
}

// matching returns the visible rows of t that satisfy q and that a may read,
// starting from the smallest equality index that applies.
func (db *DB) matching(a Actor, t *table, q *query.Query) []*row {
	var best map[string]struct{}
	indexed := false
	for col, v := range q.EqualityTerms() {
		idx, ok := t.index[col]
		if !ok {
			continue
		}
		k, ok := indexKey(v)
		if !ok {
			continue
		}
		set := idx[k]
		if !indexed || len(set) < len(best) {
			best, indexed = set, true
		}
	}
	var out []*row
	consider := func(r *row) {
		if r.visible() && q.Where.Eval(r, nil) && db.readable(a, t, r) {
			out = append(out, r)
		}
	}
	if indexed {
		for rid := range best {
			consider(t.rows[rid])
		}
	} else {
		for _, r := range t.rows {
			consider(r)
		}
	}
	return out
}

// sortKey is the tuple a row is ordered by: the orderBy columns, then id.
type sortKey []any

func keyOf(r *row, order []query.Order) sortKey {
	k := make(sortKey, len(order)+1)
	for i, o := range order {
		k[i], _ = r.Get(o.Col)
	}
	k[len(order)] = r.id
	return k
}

// compareKeys orders null first, then values by expr.Compare; values of
// different kinds order by kind name so the order is total.
func compareKeys(a, b sortKey, order []query.Order) int {
	for i := range a {
		c := compareValues(a[i], b[i])
		if i < len(order) && order[i].Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func compareValues(x, y any) int {
	switch {
	case x == nil && y == nil:
		return 0
	case x == nil:
		return -1
	case y == nil:
		return 1
	}
	if c, ok := expr.Compare(x, y); ok {
		return c
	}
	return strings.Compare(kindName(x), kindName(y))
}

func kindName(v any) string {
	if _, ok := expr.Number(v); ok {
		return "number"
	}
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	}
	return "other"
}

func sortRows(rows []*row, order []query.Order) {
	keys := make(map[*row]sortKey, len(rows))
	for _, r := range rows {
		keys[r] = keyOf(r, order)
	}
	sort.Slice(rows, func(i, j int) bool { return compareKeys(keys[rows[i]], keys[rows[j]], order) < 0 })
}

func window[T any](xs []T, offset, limit int) []T {
	if offset >= len(xs) {
		return nil
	}
	xs = xs[offset:]
	if limit > 0 && limit < len(xs) {
		xs = xs[:limit]
	}
	return xs
}

func sortChanges(cs []*Change) {
	slices.SortFunc(cs, func(a, b *Change) int { return a.TS.Compare(b.TS) })
}

// ColumnsOf returns the public column names of a table, magic ones included.
func ColumnsOf(t *schema.Table) []string {
	out := []string{schema.ColID}
	for _, c := range t.Columns {
		out = append(out, c.Name)
	}
	for _, c := range schema.MagicColumns[1:] {
		out = append(out, c.Name)
	}
	return out
}

// ChangedSince returns the confirmed states of rows of q's table changed
// after cursor (a Sequenced DB's sequence number) that a may read and that
// match q's condition, deleted rows included (as of their last values), so
// a client resuming a subscription learns about deletes too. When resuming
// (cursor > 0) it also returns changed rows that no longer match: the
// client's copy may predate the change and still match, and only the new
// state takes the row out of the client's result. It ignores q's
// order and window: the client applies them to its own copy. The second
// result is the cursor to resume from next time.
func (db *DB) ChangedSince(a Actor, q *query.Query, cursor uint64) ([]RowState, uint64, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, 0, ErrClosed
	}
	t, err := db.checkQuery(q)
	if err != nil {
		return nil, 0, err
	}
	var out []RowState
	for _, r := range t.rows {
		if r.seq <= cursor || len(r.base) == 0 {
			continue
		}
		if _, created := r.base[schema.ColCreatedAt]; !created {
			continue
		}
		if (cursor == 0 && !q.Where.Eval(r, nil)) || !db.readable(a, t, r) {
			continue
		}
		out = append(out, RowState{Table: t.def.Name, ID: r.id, Cells: maps.Clone(r.base), Seq: r.seq})
	}
	return out, db.seq, nil
}
