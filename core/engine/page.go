package engine

import (
	"encoding/json"
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
// pages together miss nothing. Each page starts from its position in the
// table's sequence index (seqindex.go), so reading a result page by page
// costs one pass over it, not one pass over the table per page; the query
// and the policies are evaluated once per row considered.
func (db *DB) ChangedPage(a Actor, q *query.Query, cursor, after uint64, n int) (ChangePage, error) {
	var page ChangePage
	err := db.changedRows(a, q, cursor, after, n, 0, &page, func(t *table, r *row) int {
		page.States = append(page.States, t.stateOf(r))
		return 0
	})
	return page, err
}

// JSONPage is one page of ChangedPageJSON.
type JSONPage struct {
	// Rows are the page's rows, each the JSON its RowState marshals to,
	// lowest sequence number first.
	Rows []json.RawMessage
	// After, Done and Seq are as in ChangePage.
	After uint64
	Done  bool
	Seq   uint64
}

// ChangedPageJSON is ChangedPage with each row already encoded as the JSON
// of its RowState (what a rows frame carries), and bounded in bytes as well
// as rows: the page ends with the row that brings it to maxBytes (0: no
// bound), so a page of large rows is as small in memory as one of small
// rows. Rows are encoded straight from the engine's copy, with no RowState
// in between; an encoded row (lazyrow.go) is not even decoded.
func (db *DB) ChangedPageJSON(a Actor, q *query.Query, cursor, after uint64, n, maxBytes int) (JSONPage, error) {
	var (
		page ChangePage
		buf  []byte
		ends []int
		err  error
	)
	err2 := db.changedRows(a, q, cursor, after, n, maxBytes, &page, func(t *table, r *row) int {
		if err != nil {
			return 0
		}
		before := len(buf)
		if buf, err = t.appendStateJSON(buf, r); err != nil {
			buf = buf[:before]
			return 0
		}
		ends = append(ends, len(buf))
		return len(buf) - before
	})
	if err2 != nil {
		return JSONPage{}, err2
	}
	if err != nil {
		return JSONPage{}, err
	}
	out := JSONPage{Rows: make([]json.RawMessage, len(ends)), After: page.After, Done: page.Done, Seq: page.Seq}
	from := 0
	for i, end := range ends {
		out.Rows[i] = buf[from:end:end]
		from = end
	}
	return out, nil
}

// changedRows reads one page of ChangedPage into page (bounds only), calling
// emit for each row the page holds; emit returns the bytes the row added,
// and the page ends once they reach maxBytes (0: no bound) or n rows (0: no
// bound) were considered.
func (db *DB) changedRows(a Actor, q *query.Query, cursor, after uint64, n, maxBytes int, page *ChangePage, emit func(*table, *row) int) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	t, err := db.checkQuery(q)
	if err != nil {
		return err
	}
	x := t.seqIndex()
	from := max(after, cursor)
	page.After, page.Seq = from, db.seq
	considered, size := 0, 0
	can := db.reader(a)
	i := x.search(from)
	for ; i < len(x.entries); i++ {
		if (n > 0 && considered == n) || (maxBytes > 0 && size >= maxBytes) {
			break
		}
		e := x.entries[i]
		r := e.r
		if !t.live(e) || (!r.encoded() && len(r.base) == 0) {
			continue
		}
		considered++
		page.After = e.seq
		if !r.baseHas(schema.ColCreatedAt) {
			continue // never confirmed: nothing to send
		}
		if (cursor == 0 && !q.Where.Eval(r, nil)) || !can(t, r) {
			continue
		}
		size += emit(t, r)
	}
	for i < len(x.entries) && !t.live(x.entries[i]) {
		i++
	}
	if page.Done = i == len(x.entries); page.Done {
		page.After = max(page.After, db.seq)
	}
	return nil
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
