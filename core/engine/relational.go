package engine

import "github.com/jazzgo/jazz-tools/core/query"

// Policies that follow relations (allowedTo, exists: core/policy) make a
// row's visibility depend on other rows: revoking a share hides the
// project's todos though no todo changed. A live subscription whose read
// policies (its table's, and its includes' tables') consult other tables
// watches those tables, and a commit that touches one of them checks every
// candidate row of the subscription again. Such a subscription keeps its
// result (it is never bare), so what entered and left is known exactly.

// policyDeps are the tables whose rows can show or hide rows of q's result
// (and of its includes) for a, through the read policies.
func (db *DB) policyDeps(a Actor, t *table, q *query.Query) []*table {
	if !db.enforce(a) {
		return nil
	}
	seen := map[*table]bool{}
	var out []*table
	add := func(t *table) {
		for _, d := range t.readDeps {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	add(t)
	for _, n := range db.includeNodes(q, t, nil, nil) {
		add(n.t)
	}
	return out
}

// watch registers s with the tables of deps; the caller holds the write lock.
func (s *Subscription) watch(deps []*table) {
	s.deps = deps
	for _, t := range deps {
		if t.watchers == nil {
			t.watchers = map[*Subscription]struct{}{}
		}
		t.watchers[s] = struct{}{}
	}
}

// recheck adds to changes every row that may be in s's result, before or
// after the commit: the rows now in it, and the rows of its table that
// match its condition (visibility aside), each marked recheck.
func (s *Subscription) recheck(changes []changedRow) []changedRow {
	s.sorted()
	for _, id := range s.ids {
		if r := s.t.rows[id]; r != nil {
			changes = append(changes, changedRow{r: r, recheck: true})
		}
	}
	for _, r := range s.db.scan(s.t, s.q, nil) {
		if _, in := s.keys[r.id]; !in {
			changes = append(changes, changedRow{r: r, recheck: true})
		}
	}
	return changes
}

// HiddenState is the state a server sends for a row the client's session
// may no longer read: the client forgets the row (RowState.Hidden).
func HiddenState(table, id string) RowState {
	return RowState{Table: table, ID: id, Cells: map[string]cell{}, Hidden: true}
}
