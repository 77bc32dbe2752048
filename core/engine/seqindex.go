package engine

import "sort"

// seqIndex lists a table's rows in sequence-number order, so that each
// page of ChangedPage starts with a binary search for its position instead
// of a pass over the whole table: streaming a result of n rows in pages of
// k costs O(n) in all rather than O(n²/k).
//
// It is one list per table, shared by every reader, and built the first
// time a page is read. A commit appends the rows it renumbers; the entry a
// row leaves behind goes stale (its seq is no longer the row's) and is
// skipped, and once stale entries are the majority the list is compacted,
// so it stays within about twice the table's row count.
type seqIndex struct {
	entries []seqEntry
	stale   int
}

type seqEntry struct {
	seq uint64
	r   *row
}

// bySeq sorts entries with sort.Sort rather than slices.SortFunc: each
// generic sort instantiation adds some 19 KB to the browser's download,
// a sort.Interface three small methods.
type bySeq []seqEntry

func (x bySeq) Len() int           { return len(x) }
func (x bySeq) Less(i, j int) bool { return x[i].seq < x[j].seq }
func (x bySeq) Swap(i, j int)      { x[i], x[j] = x[j], x[i] }

// compactAfter is the number of stale entries below which compacting is
// not worth its pass over the list.
const compactAfter = 1024

// seqIndex returns t's index, building it if need be. Callers hold the
// DB's lock, read or write: commits, which change the index, hold the
// write lock, so readers only race each other to build it.
func (t *table) seqIndex() *seqIndex {
	t.seqMu.Lock()
	defer t.seqMu.Unlock()
	if t.bySeq == nil {
		x := &seqIndex{entries: make([]seqEntry, 0, len(t.rows))}
		for _, r := range t.rows {
			if r.seq > 0 {
				x.entries = append(x.entries, seqEntry{r.seq, r})
			}
		}
		sort.Sort(bySeq(x.entries))
		t.bySeq = x
	}
	return t.bySeq
}

// live reports whether e is still where its row is: the row is in the
// table and e has its current sequence number.
func (t *table) live(e seqEntry) bool {
	return e.r.seq == e.seq && t.rows[e.r.id] == e.r
}

// search returns the position of the first entry numbered above after.
func (x *seqIndex) search(after uint64) int {
	return sort.Search(len(x.entries), func(i int) bool { return x.entries[i].seq > after })
}

// noteSeqs appends to the tables' indexes the rows the stage renumbers; it
// runs in commit, before the new numbers are installed. A commit's numbers
// are all above every earlier one, so appending them sorted keeps each
// list in order; should they not be (a merge of foreign numbers), the
// index is dropped and built again when next needed.
func (s *stage) noteSeqs() {
	var starts map[*table]int
	for _, u := range s.list {
		x := u.t.bySeq
		if x == nil || u.seq == u.r.seq {
			continue
		}
		if starts == nil {
			starts = map[*table]int{}
		}
		if _, ok := starts[u.t]; !ok {
			starts[u.t] = len(x.entries)
		}
		if u.r.seq > 0 {
			x.stale++
		}
		x.entries = append(x.entries, seqEntry{u.seq, u.r})
	}
	for t, start := range starts {
		x := t.bySeq
		added := x.entries[start:]
		sort.Sort(bySeq(added))
		if start > 0 && x.entries[start-1].seq >= added[0].seq {
			t.bySeq = nil
			continue
		}
		if x.stale > compactAfter && 2*x.stale > len(x.entries) {
			t.compactSeqs()
		}
	}
}

// compactSeqs drops the entries that are no longer any row's. It runs
// before the commit installs its rows, so an entry just appended is kept
// by its number being the row's staged one: it is checked after install
// by live, and kept here if it is the last entry of its row.
func (t *table) compactSeqs() {
	x := t.bySeq
	last := make(map[*row]int, len(t.rows))
	for i, e := range x.entries {
		last[e.r] = i
	}
	kept := x.entries[:0]
	for i, e := range x.entries {
		if last[e.r] == i && t.rows[e.r.id] == e.r {
			kept = append(kept, e)
		}
	}
	clear(x.entries[len(kept):])
	x.entries, x.stale = kept, 0
}
