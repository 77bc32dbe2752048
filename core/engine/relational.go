package engine

import (
	"context"

	"github.com/jazzgo/jazz-tools/core/query"
)

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

// forget drops row id of t from the base, as a server's hidden state asks:
// stored empty rather than deleted, since an empty row stored one by one
// outranks the row's copy in a pack; what is pending of it stays.
func (s *stage) forget(t *table, id string) {
	u := s.of(t, id)
	u.base, u.persist, u.forget = map[string]cell{}, true, true
}

// PolicyDepsChangedSince reports whether a row of a table that q's read
// policies consult (for a) changed after seq cursor: rows of q's result
// may then have been hidden since without changing themselves, so a
// server resuming q from cursor sends its whole result instead.
func (db *DB) PolicyDepsChangedSince(a Actor, q *query.Query, cursor uint64) bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t, err := db.checkQuery(q)
	if err != nil {
		return false
	}
	for _, d := range db.policyDeps(a, t, q) {
		if x := d.seqIndex(); len(x.entries) > 0 && x.entries[len(x.entries)-1].seq > cursor {
			return true
		}
	}
	return false
}

// ForgetStale forgets the rows of q's table that q matches here but that
// the server's whole result for q (kept, by id) left out, when the server
// resent that result because rows may have been hidden (protocol
// Rows.Reset). Only rows nothing refreshed after since (the cursor the
// client resumed from) and with nothing pending are forgotten: a row
// another subscription brought in meanwhile is current, and a pending
// write is the server's to settle. A windowed q is left alone, since rows
// outside its window are not in its result anyway.
func (db *DB) ForgetStale(ctx context.Context, q *query.Query, kept map[string]bool, since uint64) error {
	if q.Limit > 0 || q.Offset > 0 {
		return nil
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	t, err := db.checkQuery(q)
	if err != nil {
		db.mu.Unlock()
		return err
	}
	s := db.newStage()
	for _, r := range db.scan(t, q, nil) {
		if !kept[r.id] && len(r.pending) == 0 && r.seq <= since {
			s.forget(t, r.id)
		}
	}
	if len(s.list) > 0 {
		err = s.commit(ctx)
	}
	db.unlockAndNotify()
	return err
}
