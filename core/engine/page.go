package engine

import (
	"cmp"
	"slices"

	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// ChangePage is one page of ChangedSince.
type ChangePage struct {
	// States are the page's rows, lowest sequence number first.
	States []RowState
	// After is where the next page starts. Every row changed after the
	// cursor and up to After when the page was read is in this page or an
	// earlier one, so After is also a cursor safe to resume from.
	After uint64
	// Done reports that no row changed after After remained.
	Done bool
	// Seq is the DB's sequence number when the page was read.
	Seq uint64
}

// ChangedPage is ChangedSince one bounded page at a time, so a server can
// stream a large result without holding it: it considers the n rows (0: all)
// with the lowest sequence numbers above after (at least cursor) and returns
// those ChangedSince would. A row changed between two pages gets a sequence
// number above every earlier page's After, so it comes in a later page: the
// pages together miss nothing. Only sequence numbers are compared across
// the table; the query and the policies are evaluated once per row
// considered.
func (db *DB) ChangedPage(a Actor, q *query.Query, cursor, after uint64, n int) (ChangePage, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ChangePage{}, ErrClosed
	}
	t, err := db.checkQuery(q)
	if err != nil {
		return ChangePage{}, err
	}
	picked := lowestSeqs(t, max(after, cursor), n)
	page := ChangePage{After: max(after, cursor), Done: n <= 0 || len(picked) < n, Seq: db.seq}
	for _, r := range picked {
		page.After = r.seq
		if !r.baseHas(schema.ColCreatedAt) {
			continue // never confirmed: nothing to send
		}
		if (cursor == 0 && !q.Where.Eval(r, nil)) || !db.readable(a, t, r) {
			continue
		}
		page.States = append(page.States, t.stateOf(r))
	}
	if page.Done {
		page.After = max(page.After, db.seq)
	}
	return page, nil
}

// lowestSeqs returns the n rows (all for n <= 0) with the lowest sequence
// numbers above after, in sequence order. A bounded max-heap picks them, so
// a page costs one pass over the table and no more memory than the page.
func lowestSeqs(t *table, after uint64, n int) []*row {
	var heap []*row
	for _, r := range t.rows {
		if r.seq <= after || (!r.encoded() && len(r.base) == 0) {
			continue
		}
		switch {
		case n <= 0 || len(heap) < n:
			heap = append(heap, r)
			if n > 0 {
				seqSiftUp(heap, len(heap)-1)
			}
		case r.seq < heap[0].seq:
			heap[0] = r
			seqSiftDown(heap, 0)
		}
	}
	slices.SortFunc(heap, func(x, y *row) int { return cmp.Compare(x.seq, y.seq) })
	return heap
}

// seqSiftUp and seqSiftDown keep heap ordered with the highest seq first.
func seqSiftUp(heap []*row, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if heap[p].seq >= heap[i].seq {
			return
		}
		heap[p], heap[i] = heap[i], heap[p]
		i = p
	}
}

func seqSiftDown(heap []*row, i int) {
	for {
		c := 2*i + 1
		if c >= len(heap) {
			return
		}
		if c+1 < len(heap) && heap[c].seq < heap[c+1].seq {
			c++
		}
		if heap[i].seq >= heap[c].seq {
			return
		}
		heap[i], heap[c] = heap[c], heap[i]
		i = c
	}
}

// stateOf is r's confirmed state for a reader.
func (t *table) stateOf(r *row) RowState {
	return RowState{Table: t.def.Name, ID: r.id, Cells: t.baseCopy(r), Seq: r.seq}
}

// WindowPos is where a WindowPage stopped; the zero value is the start of
// the window.
type WindowPos struct {
	key sortKey
}

// WindowPage returns the states of up to n (> 0) rows of the
// subscription's current window (its query's order, offset and limit), in
// order, starting after from, and where the next page starts; done reports
// that the window has no rows after the page. Pages resume by sort key
// rather than by position, so a row inserted or removed before from shifts
// no row past the reader; rows that move or change meanwhile reach the
// subscription's callback, which reports them.
func (s *Subscription) WindowPage(from WindowPos, n int) (states []RowState, next WindowPos, done bool, err error) {
	db := s.db
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed || s.done {
		return nil, from, true, ErrClosed
	}
	if s.bare {
		return nil, from, true, ErrNoWindow
	}
	s.sorted()
	end := len(s.ids)
	if s.q.Limit > 0 {
		end = min(end, s.q.Offset+s.q.Limit)
	}
	i := s.q.Offset
	if from.key != nil {
		i = max(i, s.position(from.key))
		if i < len(s.ids) && compareKeys(s.keys[s.ids[i]], from.key, s.q.OrderBy) == 0 {
			i++
		}
	}
	stop := min(end, i+n)
	for _, id := range s.ids[min(i, stop):stop] {
		states = append(states, s.t.stateOf(s.t.rows[id]))
	}
	next = from
	if stop > i {
		next = WindowPos{key: slices.Clone(s.keys[s.ids[stop-1]])}
	}
	return states, next, stop >= end, nil
}
