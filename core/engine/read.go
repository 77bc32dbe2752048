package engine

import (
	"cmp"
	"math"
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
	if !db.seenBy(a, t, r) {
		return nil, notFound(tableName, rowID)
	}
	return r.public(), nil
}

// seenBy reports whether r is a live row a may read. Everything that looks a
// row up by id (Get, and updates and deletes) answers ErrNotFound when it is
// not, so a caller cannot tell a row it may not read from one that does not
// exist: no answer is an oracle for which ids exist.
func (db *DB) seenBy(a Actor, t *table, r *row) bool {
	return r != nil && r.visible() && db.readable(a, t, r)
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
	return !db.enforce(a) || db.opts.Bundle.Policies.CanRead(a.Session, t.def.Name, r, db.world(nil))
}

// reader is readable for one pass over many rows under one hold of the
// lock: the verdicts it reaches about the rows relations lead to are
// shared by the whole pass (the 100k todos of 1,000 projects judge each
// project once).
func (db *DB) reader(a Actor) func(t *table, r *row) bool {
	if !db.enforce(a) {
		return func(*table, *row) bool { return true }
	}
	chk := db.opts.Bundle.Policies.Checker(a.Session, db.world(nil))
	return func(t *table, r *row) bool { return chk.CanRead(t.def.Name, r) }
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
	return db.shapeRows(a, q, t, orderedWindow(db.matching(a, t, q), q.OrderBy, q.Offset, q.Limit)), nil
}

// shapeRows is each row as q's reader sees it (see shape). A row that
// several rows include is shaped once and shared by them.
func (db *DB) shapeRows(a Actor, q *query.Query, t *table, rows []*row) []Row {
	if !q.Shaped() {
		return publicRows(rows)
	}
	out := make([]Row, len(rows))
	var memo shapeMemo
	if q.HasIncludes() {
		memo = shapeMemo{}
	}
	for i, r := range rows {
		out[i] = db.shape(a, q, t, r, memo)
	}
	return out
}

// publicRows is each row's public copy.
func publicRows(rows []*row) []Row {
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = r.public()
	}
	return out
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
// starting from the smallest equality index that applies (building the
// indexes of the columns q filters on, the first time).
func (db *DB) matching(a Actor, t *table, q *query.Query) []*row {
	can := db.reader(a)
	return db.scan(t, q, func(r *row) bool { return can(t, r) && db.joined(a, q, t, r) })
}

// scan returns the live rows of t that satisfy q's condition and keep
// (nil: every one), through the smallest equality index q's terms allow.
func (db *DB) scan(t *table, q *query.Query, keep func(*row) bool) []*row {
	var best rowSet
	indexed := false
	for col, v := range q.EqualityTerms() {
		ci, ok := t.index[col]
		if !ok {
			continue
		}
		k, ok := indexKey(v)
		if !ok || !ci.wanted() {
			continue
		}
		set := ci.built(t, col)[k]
		if !indexed || set.len() < best.len() {
			best, indexed = set, true
		}
	}
	var out []*row
	consider := func(r *row) {
		if r.visible() && q.Where.Eval(r, nil) && (keep == nil || keep(r)) {
			out = append(out, r)
		}
	}
	if indexed {
		for r := range best.all {
			consider(r)
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
	return fillKey(make(sortKey, len(order)+1), r, order)
}

// fillKey writes r's sort key into k (len(order)+1 long) and returns it.
func fillKey(k sortKey, r *row, order []query.Order) sortKey {
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

// compareValues is called O(n log n) times per sort, so the kinds columns
// hold (values of one column share a kind) are compared directly; the
// result is the same as compareGeneral's.
func compareValues(x, y any) int {
	switch a := x.(type) {
	case string:
		if b, ok := y.(string); ok {
			return strings.Compare(a, b)
		}
	case int64:
		if b, ok := y.(int64); ok {
			return cmp.Compare(a, b)
		}
	case bool:
		if b, ok := y.(bool); ok {
			switch {
			case a == b:
				return 0
			case !a:
				return -1
			}
			return 1
		}
	case float64:
		if b, ok := y.(float64); ok && !math.IsNaN(a) && !math.IsNaN(b) {
			return cmp.Compare(a, b)
		}
	}
	return compareGeneral(x, y)
}

// compareGeneral is the ordering rule itself: nulls first, then values
// that expr.Compare orders, then by kind name across kinds.
func compareGeneral(x, y any) int {
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

// keyedRow is a row with its sort key computed once.
type keyedRow struct {
	r *row
	k sortKey
}

// keyRows computes every row's key, all in one backing array.
func keyRows(rows []*row, order []query.Order) []keyedRow {
	w := len(order) + 1
	backing := make([]any, len(rows)*w)
	out := make([]keyedRow, len(rows))
	for i, r := range rows {
		out[i] = keyedRow{r: r, k: fillKey(backing[i*w:(i+1)*w:(i+1)*w], r, order)}
	}
	return out
}

func sortRows(rows []*row, order []query.Order) {
	keyed := keyRows(rows, order)
	sortKeyed(keyed, order)
	for i, x := range keyed {
		rows[i] = x.r
	}
}

// orderedWindow returns rows ordered by order (then id), from offset, at most
// limit of them (0: no limit). With a limit it keeps only the first
// offset+limit in a bounded heap instead of sorting every match: a page of
// 50 out of 10k rows costs about one comparison per row. Keys are unique
// (the id is last), so the result is exactly that of a full sort.
func orderedWindow(rows []*row, order []query.Order, offset, limit int) []*row {
	k := offset + limit
	if limit <= 0 || k >= len(rows) {
		sortRows(rows, order)
		return window(rows, offset, limit)
	}
	less := func(a, b sortKey) bool { return compareKeys(a, b, order) < 0 }
	// heap is a max-heap (the worst kept row at heap[0]) of the best k so
	// far; its keys share one backing array, and a row that does not get
	// in is only written to scratch.
	w := len(order) + 1
	backing := make([]any, (k+1)*w)
	scratch := sortKey(backing[k*w:])
	heap := make([]keyedRow, 0, k)
	for _, r := range rows {
		if len(heap) < k {
			i := len(heap)
			heap = append(heap, keyedRow{r: r, k: fillKey(backing[i*w:(i+1)*w:(i+1)*w], r, order)})
			siftUp(heap, i, less)
			continue
		}
		fillKey(scratch, r, order)
		if !less(scratch, heap[0].k) {
			continue
		}
		copy(heap[0].k, scratch)
		heap[0].r = r
		siftDown(heap, 0, less)
	}
	sortKeyed(heap, order)
	out := rows[:0]
	for _, x := range heap[offset:] {
		out = append(out, x.r)
	}
	return out
}

// keyedWindow is orderedWindow over rows whose keys are computed already:
// the rows from offset, at most limit (> 0) of them, chosen with a bounded
// heap. keyed is not reordered.
func keyedWindow(keyed []keyedRow, order []query.Order, offset, limit int) []*row {
	k := offset + limit
	less := func(a, b sortKey) bool { return compareKeys(a, b, order) < 0 }
	heap := make([]keyedRow, 0, k)
	for _, x := range keyed {
		if len(heap) < k {
			heap = append(heap, x)
			siftUp(heap, len(heap)-1, less)
		} else if less(x.k, heap[0].k) {
			heap[0] = x
			siftDown(heap, 0, less)
		}
	}
	sortKeyed(heap, order)
	out := make([]*row, 0, max(0, len(heap)-offset))
	for _, x := range heap[min(offset, len(heap)):] {
		out = append(out, x.r)
	}
	return out
}

// siftUp and siftDown keep heap ordered with the greatest key (by less) first.
func siftUp(heap []keyedRow, i int, less func(a, b sortKey) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(heap[p].k, heap[i].k) {
			return
		}
		heap[p], heap[i] = heap[i], heap[p]
		i = p
	}
}

func siftDown(heap []keyedRow, i int, less func(a, b sortKey) bool) {
	for {
		c := 2*i + 1
		if c >= len(heap) {
			return
		}
		if c+1 < len(heap) && less(heap[c].k, heap[c+1].k) {
			c++
		}
		if !less(heap[i].k, heap[c].k) {
			return
		}
		heap[i], heap[c] = heap[c], heap[i]
		i = c
	}
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

func sortChanges(cs []*Change) { sort.Sort(byTS(cs)) }

// byTS and byKey sort with sort.Sort rather than slices.SortFunc: each
// generic sort instantiation adds some 18-24 KB to the browser's download,
// a sort.Interface three small methods.
type byTS []*Change

func (x byTS) Len() int           { return len(x) }
func (x byTS) Less(i, j int) bool { return x[i].TS.Compare(x[j].TS) < 0 }
func (x byTS) Swap(i, j int)      { x[i], x[j] = x[j], x[i] }

type byKey struct {
	rows  []keyedRow
	order []query.Order
}

func (x byKey) Len() int           { return len(x.rows) }
func (x byKey) Less(i, j int) bool { return compareKeys(x.rows[i].k, x.rows[j].k, x.order) < 0 }
func (x byKey) Swap(i, j int)      { x.rows[i], x.rows[j] = x.rows[j], x.rows[i] }

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
// order and window: the client applies them to its own copy. The states
// come in sequence order; the second result is the cursor to resume from
// next time. ChangedPage reads the same in bounded pages.
func (db *DB) ChangedSince(a Actor, q *query.Query, cursor uint64) ([]RowState, uint64, error) {
	p, err := db.ChangedPage(a, q, cursor, cursor, 0)
	if err != nil {
		return nil, 0, err
	}
	return p.States, p.Seq, nil
}

// Count returns the number of live rows of table, whoever may read them:
// for operators (the server's inspector), never for a client's reads.
func (db *DB) Count(table string) (int, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t, err := db.table(table)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range t.rows {
		if r.visible() {
			n++
		}
	}
	return n, nil
}
