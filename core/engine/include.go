package engine

import (
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// Relations (docs/queries.md). A query's includes are resolved for its
// reader, row by row, with Jazz's inner-join rule: a row whose included
// forward relation names a row that cannot be resolved (not here yet,
// deleted, or not readable by the reader, or itself missing a required
// include) is not in the result; a null reference is kept, as null, unless
// the query sets requireIncludes. A reverse relation is the list of the
// related rows that match its query, and never removes a row.

// joined reports whether r (of t, matching q's own condition) has every
// forward relation q requires.
func (db *DB) joined(a Actor, q *query.Query, t *table, r *row) bool {
	for name, sub := range q.Include {
		rel, _ := db.schema.Relation(t.def.Name, name)
		if rel.Reverse {
			continue
		}
		if _, ok, _ := db.forward(a, q, rel, sub, r); !ok {
			return false
		}
	}
	return true
}

// forward finds the row rel leads to from r: the target (nil for a null
// reference), whether r keeps its place in the result, and the target's
// table.
func (db *DB) forward(a Actor, q *query.Query, rel *schema.Relation, sub *query.Query, r *row) (*row, bool, *table) {
	v, _ := r.Get(rel.Column)
	id, _ := v.(string)
	if v == nil || id == "" {
		return nil, !q.RequireIncludes, nil
	}
	tt := db.tables[rel.To]
	target := tt.rows[id]
	if !db.seenBy(a, tt, target) || !db.joined(a, sub, tt, target) {
		return nil, false, tt
	}
	return target, true, tt
}

// shapeMemo holds the rows included by forward relations already shaped,
// so that the 10k todos of 100 projects make 100 project rows, not 10k
// (the result's rows then share them: they are read-only).
type shapeMemo map[memoKey]Row

type memoKey struct {
	r *row
	q *query.Query
}

// shape is r as q's reader sees it: narrowed to q's select, with its
// includes resolved. r must be joined (see joined). memo may be nil.
func (db *DB) shape(a Actor, q *query.Query, t *table, r *row, memo shapeMemo) Row {
	if !q.Shaped() {
		return r.public()
	}
	var out Row
	if len(q.Select) == 0 {
		out = r.publicWith(len(q.Include))
	} else {
		out = make(Row, len(q.Select)+len(q.Include)+1)
		out[schema.ColID] = r.id
		for _, c := range q.Select {
			switch c {
			case "*":
				for _, col := range t.def.Columns {
					out[col.Name], _ = r.Get(col.Name)
				}
			case query.ColCanRead, query.ColCanEdit, query.ColCanDelete:
				out[c] = db.can(a, t, r, c)
			default:
				out[c], _ = r.Get(c)
			}
		}
	}
	for name, sub := range q.Include {
		rel, _ := db.schema.Relation(t.def.Name, name)
		if !rel.Reverse {
			target, _, tt := db.forward(a, q, rel, sub, r)
			switch k := (memoKey{target, sub}); {
			case target == nil:
				out[name] = nil
			case memo[k] != nil:
				out[name] = memo[k]
			default:
				out[name] = db.shape(a, sub, tt, target, memo)
				if memo != nil {
					memo[k] = out[name].(Row)
				}
			}
			continue
		}
		tt, kids := db.reverse(a, rel, sub, r)
		list := make([]Row, len(kids))
		for i, c := range kids {
			list[i] = db.shape(a, sub, tt, c, memo)
		}
		out[name] = list
	}
	return out
}

// reverse returns the rows rel (a reverse relation) leads to from r, as
// sub selects them for a, and their table.
func (db *DB) reverse(a Actor, rel *schema.Relation, sub *query.Query, r *row) (*table, []*row) {
	tt := db.tables[rel.To]
	var kids []*row
	for c := range db.rowsWhere(tt, rel.Column, r.id) {
		if c.visible() && sub.Where.Eval(c, nil) && db.readable(a, tt, c) && db.joined(a, sub, tt, c) {
			kids = append(kids, c)
		}
	}
	return tt, orderedWindow(kids, sub.OrderBy, sub.Offset, sub.Limit)
}

// Included names the rows that q's includes resolve to, for a, from the
// rows ids of q's table that are in q's result: what a server sends along
// with those rows so that the client, which resolves includes itself, has
// them. Each row is named once.
func (db *DB) Included(a Actor, q *query.Query, ids []string) ([]RowRef, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	t, err := db.checkQuery(q)
	if err != nil || !q.HasIncludes() {
		return nil, err
	}
	seen := map[RowRef]struct{}{}
	var out []RowRef
	var walk func(q *query.Query, t *table, r *row)
	walk = func(q *query.Query, t *table, r *row) {
		for name, sub := range q.Include {
			rel, _ := db.schema.Relation(t.def.Name, name)
			var tt *table
			var rows []*row
			if rel.Reverse {
				tt, rows = db.reverse(a, rel, sub, r)
			} else if target, _, ft := db.forward(a, q, rel, sub, r); target != nil {
				tt, rows = ft, []*row{target}
			}
			for _, x := range rows {
				if ref := (RowRef{tt.def.Name, x.id}); !has(seen, ref) {
					seen[ref] = struct{}{}
					out = append(out, ref)
				}
				walk(sub, tt, x) // again: another path may include more of it
			}
		}
	}
	for _, id := range ids {
		if r := t.rows[id]; db.seenBy(a, t, r) && q.Where.Eval(r, nil) && db.joined(a, q, t, r) {
			walk(q, t, r)
		}
	}
	return out, nil
}

// can is the value of a permission column ($canRead, $canEdit,
// $canDelete) of r for a: null without a session (nothing to judge),
// true for a backend actor (policies do not bind it), else what the
// policies say. $canEdit asks whether an update leaving the row as it is
// would be allowed, which is the update policy applied to the row now.
func (db *DB) can(a Actor, t *table, r *row, col string) any {
	switch {
	case a.Backend:
		return true
	case a.Session == nil:
		return nil
	}
	p := db.opts.Bundle.Policies
	switch col {
	case query.ColCanRead:
		return p.CanRead(a.Session, t.def.Name, r, db.world(nil))
	case query.ColCanEdit:
		return p.CheckWrite(a.Session, t.def.Name, policy.Update, r, r, db.world(nil)) == nil
	default:
		return p.CheckWrite(a.Session, t.def.Name, policy.Delete, r, nil, db.world(nil)) == nil
	}
}

// incNode is one include of a subscription's query, with the way back to
// the row of the result it hangs from.
type incNode struct {
	t      *table
	rel    *schema.Relation // from parent's table to t
	parent *incNode         // nil: the result's own rows
}

// includeNodes lists the includes of q (of t), depth first.
func (db *DB) includeNodes(q *query.Query, t *table, parent *incNode, out []*incNode) []*incNode {
	for name, sub := range q.Include {
		rel, _ := db.schema.Relation(t.def.Name, name)
		n := &incNode{t: db.tables[rel.To], rel: rel, parent: parent}
		out = append(db.includeNodes(sub, n.t, n, out), n)
	}
	return out
}

// RowRef names a row.
type RowRef struct {
	Table, ID string
}

// includedChanged adds to touched the rows of s's result whose includes a
// commit's change to r (of t; before is its cells before the commit) may
// have changed, walking from each place r may be included up to the
// result's rows: through a forward relation to the rows that name it,
// through a reverse one to the row it names (before and after the change).
// The rows found are placed again like changed rows, so one whose include
// changed is an update of that row, and one whose include was lost (or
// found) leaves (or enters) the result.
func (s *Subscription) includedChanged(t *table, r *row, before map[string]cell, touched func(*row)) {
	for _, n := range s.nodes {
		if n.t != t {
			continue
		}
		ids := map[string]struct{}{r.id: {}}
		first := true
		for ; n != nil && len(ids) > 0; n = n.parent {
			up := map[string]struct{}{}
			from := s.t
			if n.parent != nil {
				from = n.parent.t
			}
			for id := range ids {
				if !n.rel.Reverse {
					for p := range s.db.rowsWhere(from, n.rel.Column, id) {
						up[p.id] = struct{}{}
					}
					continue
				}
				if c := n.t.rows[id]; c != nil {
					if v, ok := c.Get(n.rel.Column); ok {
						if p, ok := v.(string); ok {
							up[p] = struct{}{}
						}
					}
				}
				if first {
					if p, ok := before[n.rel.Column].V.(string); ok {
						up[p] = struct{}{}
					}
				}
			}
			ids, first = up, false
		}
		for id := range ids {
			if root := s.t.rows[id]; root != nil {
				touched(root)
			}
		}
	}
}

func has(m map[RowRef]struct{}, k RowRef) bool { _, ok := m[k]; return ok }
