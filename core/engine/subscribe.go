package engine

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/jazzgo/jazz-tools/core/query"
)

// Update is what a subscription callback receives after each change that
// touches its result: the delta, and the whole current result on demand.
type Update struct {
	Added   []Row
	Updated []Row
	// Removed holds the ids of rows that left the result.
	Removed []string
	// Related names every row of a table the query includes from that
	// changed (Watch of an unwindowed query only): a server sends each one
	// its client may read, so that the rows a client holds to resolve
	// includes from stay current, deletes included, even while no row of
	// the result includes them. An update may carry only Related.
	Related []RowRef
	// Seq is the DB's sequence number once this update's changes were
	// installed (Sequenced DBs), the cursor a client may resume from.
	Seq uint64
	// First marks the subscription's first result: Added is all of it, in
	// result order.
	First bool
	// Steps say where the changes happened (Subscribe only, not Watch):
	// applied in order to the result before this update, they give the
	// result after it. A consumer that keeps the result (a page) updates it
	// in O(changes) instead of receiving every row again.
	Steps []Step
	sub   *Subscription
}

// Step is one commit's change to a result, by position. Delete the rows at
// Del (positions in the result before the step, in descending order, so
// each stays valid), then insert each of Ins at its At (positions in the
// result after the step, in ascending order, so each is final when made),
// then replace the rows at Set (a step where no row moved carries only
// Set). A changed row that stayed is deleted and inserted again, unless
// the step is Set only.
type Step struct {
	Del []int
	Ins []Placed
	Set []Placed
}

// Placed is a row and its position.
type Placed struct {
	At  int
	Row Row
}

// Rows returns the subscription's current result. It reads the live state,
// which may already include changes delivered in later updates.
func (u Update) Rows() []Row { return u.sub.Rows() }

// Subscription is a live query. Cancel it to stop updates.
type Subscription struct {
	db    *DB
	t     *table
	q     *query.Query
	actor Actor
	cb    func(Update)
	reg   subKey
	// ids are the ids of all matching rows, in result order; keys holds
	// each member's sort key as of when it was placed. Both are made from
	// unsorted, the matches with their keys, when first needed (sorted):
	// the first result of a windowed query needs only its window, which a
	// bounded selection finds without sorting every match (5k matches of
	// a new query at a page's start, in code not yet optimized).
	ids      []string
	keys     map[string]sortKey
	unsorted []keyedRow
	sortOnce sync.Once
	// first is the first result when it was chosen that way; it stays the
	// result until a change reaches the subscription, which sorts first,
	// so until then reads (the bridge's, as it delivers the first result)
	// need not sort either.
	first    []Row
	isSorted atomic.Bool
	// bare is set for a watch of an unwindowed query (the server's): it
	// keeps no result at all, neither ids nor keys, and judges each commit
	// from the changed rows' cells before and after it (bareDelta). Its
	// memory does not grow with its result, and registering it reads no
	// rows. With includes it follows every row that matches the query's
	// own condition, whether its includes resolve or not: a server sends
	// them all (ChangedPage does too), and the client, which resolves
	// includes itself, then holds each one current, ready for the day its
	// included row arrives. A change to an included row reaches it as the
	// rows including it, each as Added.
	bare bool
	// steps is set for Subscribe: its updates carry Steps.
	steps bool
	// nodes are q's includes (include.go); the subscription is registered
	// in the includers of each one's table.
	nodes []*incNode
	// deps are the tables whose changes can show or hide rows of the
	// result through its read policies (relational.go).
	deps []*table
	// canRead is the read check of the commit being handled (DB.reader),
	// shared by the rows it judges; nil between commits.
	canRead func(*table, *row) bool
	done    bool
	// canceled is read by the notifier outside db.mu. It lives on the
	// subscription rather than in a notifier map so that a canceled
	// subscription is not kept alive forever (a long-running server cancels
	// one per unsubscribe and per closed connection).
	canceled atomic.Bool
}

// Subscribe registers q for a and calls cb with the initial result (as
// Added) and then after every change that touches the result. Callbacks for
// one DB are delivered one at a time, in commit order, never while the DB
// lock is held, so a callback may read or write the DB.
func (db *DB) Subscribe(a Actor, q *query.Query, cb func(Update)) (*Subscription, error) {
	return db.subscribe(a, q, cb, true)
}

// Watch is Subscribe without the initial result: cb is called only for
// changes committed after Watch returns. A server streaming the result in
// pages (WindowPage, ChangedPage) uses it, so no copy of a large result is
// made only to be thrown away.
func (db *DB) Watch(a Actor, q *query.Query, cb func(Update)) (*Subscription, error) {
	return db.subscribe(a, q, cb, false)
}

func (db *DB) subscribe(a Actor, q *query.Query, cb func(Update), initial bool) (*Subscription, error) {
	// Finding the matches scans the table and checks the read policy of
	// every row, so it runs under the read lock, where writers need not
	// wait for it; a watch (no first result to hurry) sorts them there too,
	// and a bare watch (see Subscription.bare) needs none. Only registering
	// takes the write lock, and if a commit landed in between, the matches
	// are found again under it.
	unwindowed := !initial && q.Offset == 0 && q.Limit == 0
	var bare bool
	var deps []*table
	find := func(t *table) []keyedRow {
		// A bare subscription judges a row from its own cells before and
		// after a change; one whose policy reads other rows cannot, so it
		// keeps its result to compare with (relational.go).
		deps = db.policyDeps(a, t, q)
		bare = unwindowed && len(deps) == 0
		if bare {
			return nil
		}
		keyed := keyRows(db.matching(a, t, q), q.OrderBy)
		if !initial {
			sortKeyed(keyed, q.OrderBy)
		}
		return keyed
	}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return nil, ErrClosed
	}
	t, err := db.checkQuery(q)
	if err != nil {
		db.mu.RUnlock()
		return nil, err
	}
	commits := db.commits
	keyed := find(t)
	db.mu.RUnlock()

	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil, ErrClosed
	}
	if now, err := db.checkQuery(q); err != nil {
		db.mu.Unlock()
		return nil, err
	} else if now != t || db.commits != commits {
		t, keyed = now, find(now)
	}
	s := &Subscription{db: db, t: t, q: q, actor: a, cb: cb, unsorted: keyed, bare: bare, steps: initial}
	if !initial && !bare {
		s.sortOnce.Do(func() { s.install(keyed) })
	}
	s.reg = t.subs.add(s)
	s.nodes = db.includeNodes(q, t, nil, nil)
	for _, n := range s.nodes {
		if n.t.includers == nil {
			n.t.includers = map[*Subscription]struct{}{}
		}
		n.t.includers[s] = struct{}{}
	}
	s.watch(deps)
	if !initial {
		db.unlockAndNotify()
		return s, nil
	}
	var added []Row
	if q.Limit > 0 && q.Offset+q.Limit < len(keyed) {
		added = db.shapeRows(a, q, t, keyedWindow(keyed, q.OrderBy, q.Offset, q.Limit))
		s.first = added
	} else {
		added = s.windowRowsLocked()
	}
	first := Update{sub: s, Added: added, Seq: db.seq, First: true}
	if first.Added == nil {
		first.Added = []Row{}
	}
	db.notify.queue(s, first)
	db.unlockAndNotify()
	return s, nil
}

// Cancel stops the subscription; no callback starts after Cancel returns
// (one already running may finish).
func (s *Subscription) Cancel() {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if !s.done {
		s.done = true
		s.t.subs.remove(s)
		for _, n := range s.nodes {
			delete(n.t.includers, s)
		}
		for _, t := range s.deps {
			delete(t.watchers, s)
		}
	}
	s.db.notify.cancel(s)
}

// Rows returns the current result.
func (s *Subscription) Rows() []Row {
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	return s.windowRowsLocked()
}

// sorted makes ids and keys from unsorted, once. Callers hold the DB's
// lock, read or write: readers may call it concurrently, hence the Once.
func (s *Subscription) sorted() {
	s.sortOnce.Do(func() {
		sortKeyed(s.unsorted, s.q.OrderBy)
		s.install(s.unsorted)
	})
}

func sortKeyed(keyed []keyedRow, order []query.Order) { sort.Sort(byKey{keyed, order}) }

// install makes ids and keys from the matches, sorted.
func (s *Subscription) install(keyed []keyedRow) {
	s.ids, s.keys = make([]string, len(keyed)), make(map[string]sortKey, len(keyed))
	for i, x := range keyed {
		s.ids[i] = x.r.id
		s.keys[x.r.id] = x.k
	}
	s.unsorted = nil
	s.isSorted.Store(true)
}

func (s *Subscription) windowRowsLocked() []Row {
	if s.bare {
		return s.db.shapeRows(s.actor, s.q, s.t, orderedWindow(s.db.matching(s.actor, s.t, s.q), s.q.OrderBy, s.q.Offset, s.q.Limit))
	}
	if s.first != nil && !s.isSorted.Load() {
		return slices.Clone(s.first)
	}
	s.sorted()
	ids := window(s.ids, s.q.Offset, s.q.Limit)
	rows := make([]*row, len(ids))
	for i, id := range ids {
		rows[i] = s.t.rows[id]
	}
	return s.db.shapeRows(s.actor, s.q, s.t, rows)
}

func (s *Subscription) windowed() bool { return s.q.Offset > 0 || s.q.Limit > 0 }

// position finds id (placed with key k) in s.ids by binary search.
func (s *Subscription) position(k sortKey) int {
	return sort.Search(len(s.ids), func(i int) bool {
		return compareKeys(s.keys[s.ids[i]], k, s.q.OrderBy) >= 0
	})
}

// bulkThreshold is the number of rows changed in one commit above which a
// subscription is updated by one merge pass instead of row by row: a sync
// batch of thousands of rows in random order would otherwise shift the
// sorted id list once per row.
const bulkThreshold = 32

// rowsChanged updates membership for the rows changed by one commit and adds
// to d the net delta: what differs between the result before the commit and
// after it. (Row-by-row deltas would report a row pushed out of a window and
// back in as both added and removed.)
func (s *Subscription) rowsChanged(changes []changedRow, d *Update) {
	s.canRead = s.db.reader(s.actor)
	defer func() { s.canRead = nil }()
	if s.bare {
		s.bareDelta(changes, d)
		return
	}
	s.sorted()
	distinct := make([]*row, 0, len(changes))
	was := make(map[string]bool, len(changes))
	seen := make(map[string]bool, len(changes))
	// quiet are the rows only checked again: unchanged, they are news
	// only when they enter or leave. (With includes, what a row includes
	// may have been shown or hidden, so every one is news.)
	var quiet map[string]bool
	for _, c := range changes {
		r := c.r
		if !seen[r.id] {
			seen[r.id] = true
			distinct = append(distinct, r)
			_, was[r.id] = s.keys[r.id]
			if c.recheck && len(s.nodes) == 0 {
				if quiet == nil {
					quiet = map[string]bool{}
				}
				quiet[r.id] = true
			}
		} else if !c.recheck {
			delete(quiet, r.id)
		}
	}
	var edges *windowEdges
	var before map[string]int
	if s.windowed() {
		edges = s.edgesBefore(distinct, was)
	} else if s.steps {
		before = make(map[string]int, len(distinct))
		for _, r := range distinct {
			if was[r.id] {
				before[r.id] = s.position(s.keys[r.id])
			}
		}
	}
	if len(distinct) < bulkThreshold {
		for _, r := range distinct {
			s.place(r)
		}
	} else {
		s.placeAll(distinct, was)
	}
	if edges != nil {
		for id := range quiet {
			delete(seen, id)
		}
		s.windowDelta(edges, seen, d)
		return
	}
	var st stepper
	for _, r := range distinct {
		_, is := s.keys[r.id]
		if !was[r.id] && !is || was[r.id] && is && quiet[r.id] {
			continue
		}
		var pub Row
		if is {
			pub = s.out(r)
		}
		switch {
		case was[r.id] && is:
			d.Updated = append(d.Updated, pub)
		case is:
			d.Added = append(d.Added, pub)
		default:
			d.Removed = append(d.Removed, r.id)
		}
		if s.steps {
			after := -1
			if is {
				after = s.position(s.keys[r.id])
			}
			b, ok := before[r.id]
			if !ok {
				b = -1
			}
			st.add(b, after, pub)
		}
	}
	if s.steps {
		st.finish(d)
	}
}

// stepper builds a Step from each changed row's position before and after
// (-1 for not in the result).
type stepper struct {
	st      Step
	inPlace bool // every row stayed where it was, so far
	started bool
}

func (b *stepper) add(before, after int, r Row) {
	if !b.started {
		b.started, b.inPlace = true, true
	}
	b.inPlace = b.inPlace && before >= 0 && before == after
	if before >= 0 {
		b.st.Del = append(b.st.Del, before)
	}
	if after >= 0 {
		b.st.Ins = append(b.st.Ins, Placed{At: after, Row: r})
	}
}

// finish orders the step and adds it to d. When every changed row kept
// its place (and none came or went), the others kept theirs too, so the
// step is Set only: the consumer replaces rows instead of moving them.
func (b *stepper) finish(d *Update) {
	if !b.started {
		return
	}
	// sort.Slice, not slices.SortFunc: steps are short, and each generic
	// instantiation adds some 20 KB to the browser's download.
	sort.Slice(b.st.Ins, func(i, j int) bool { return b.st.Ins[i].At < b.st.Ins[j].At })
	if b.inPlace {
		b.st.Set, b.st.Ins, b.st.Del = b.st.Ins, nil, nil
	} else {
		sort.Sort(sort.Reverse(sort.IntSlice(b.st.Del)))
	}
	d.Steps = append(d.Steps, b.st)
}

// changedRow is a row a commit changed, with its cells before the commit.
type changedRow struct {
	r      *row
	before map[string]cell
	// included marks a row that did not change itself but includes one
	// that did (include.go); it has no before.
	included bool
	// recheck marks a row that did not change itself but whose policy
	// reads a row that did (relational.go): it is news only if it entered
	// or left the result.
	recheck bool
}

// bareDelta is rowsChanged for a subscription that keeps no result: a row
// was in it if its cells before the commit matched, and is in it if they
// match now.
func (s *Subscription) bareDelta(changes []changedRow, d *Update) {
	seen := make(map[string]bool, len(changes))
	for _, c := range changes {
		if !c.included {
			seen[c.r.id] = false // judged below, from its own before
		}
	}
	for _, c := range changes {
		if done, own := seen[c.r.id]; done || (own && c.included) {
			continue
		}
		seen[c.r.id] = true
		was := !c.included && s.matches(&row{id: c.r.id, base: c.before, view: c.before})
		switch is := s.matches(c.r); {
		case was && is:
			d.Updated = append(d.Updated, c.r.public())
		case is:
			d.Added = append(d.Added, c.r.public())
		case was:
			d.Removed = append(d.Removed, c.r.id)
		}
	}
}

// windowEdges is what a windowed subscription's delta needs of the result
// before a commit: the position of each row that may enter or leave the
// window. A commit of k rows moves every other row by at most k places, so
// only the changed rows and the rows within k places of an edge of the
// window can cross one; every other row stays inside or outside. Looking at
// those alone keeps a write's cost to a windowed subscription O(k log n),
// not a copy of its whole window.
type windowEdges struct {
	lo, hi int // the window is positions [lo, hi) of s.ids
	margin int
	before map[string]int // candidate id -> position before, -1 for none
}

func (s *Subscription) edgesBefore(changed []*row, was map[string]bool) *windowEdges {
	e := &windowEdges{margin: len(changed) + 1, before: make(map[string]int, 4*len(changed)+8)}
	e.lo, e.hi = s.q.Offset, math.MaxInt
	if s.q.Limit > 0 {
		e.hi = e.lo + s.q.Limit
	}
	e.note(s.ids, e.before)
	for _, r := range changed {
		p := -1
		if was[r.id] {
			p = s.position(s.keys[r.id])
		}
		e.before[r.id] = p
	}
	return e
}

// note records the position of every id within margin of an edge of the
// window.
func (e *windowEdges) note(ids []string, into map[string]int) {
	span := func(from, to int) {
		for i := max(from, 0); i < min(to, len(ids)); i++ {
			into[ids[i]] = i
		}
	}
	span(e.lo-e.margin, e.lo+e.margin)
	if e.hi != math.MaxInt {
		span(e.hi-e.margin, e.hi+e.margin)
	}
}

func (e *windowEdges) in(p int) bool { return p >= e.lo && p < e.hi }

// windowDelta adds to d the rows that entered the window (in window
// order), those still in it that changed, and those that left it.
func (s *Subscription) windowDelta(e *windowEdges, changed map[string]bool, d *Update) {
	after := make(map[string]int, len(e.before)+2*e.margin)
	e.note(s.ids, after)
	for id := range e.before {
		if _, ok := after[id]; !ok {
			p := -1
			if k, ok := s.keys[id]; ok {
				p = s.position(k)
			}
			after[id] = p
		}
	}
	type placed struct {
		id string
		at int
	}
	var entered, left []placed
	for id, a := range after {
		b, known := e.before[id]
		if !known {
			// Near an edge now but not before, and unchanged: it moved by
			// less than the margin, so it did not cross an edge.
			continue
		}
		switch inA, inB := e.in(a), e.in(b); {
		case inA && (!inB || changed[id]):
			entered = append(entered, placed{id, a})
		case inB && !inA:
			left = append(left, placed{id, b})
		}
	}
	sort.Slice(entered, func(i, j int) bool { return entered[i].at < entered[j].at })
	sort.Slice(left, func(i, j int) bool { return left[i].at < left[j].at })
	var st stepper
	for _, p := range entered {
		pub := s.out(s.t.rows[p.id])
		b := e.before[p.id]
		if e.in(b) {
			d.Updated = append(d.Updated, pub)
		} else {
			d.Added = append(d.Added, pub)
			b = e.lo - 1 // not in the window: no delete
		}
		if s.steps {
			st.add(b-e.lo, p.at-e.lo, pub)
		}
	}
	for _, p := range left {
		d.Removed = append(d.Removed, p.id)
		if s.steps {
			st.add(p.at-e.lo, -1, nil)
		}
	}
	if s.steps {
		st.finish(d)
	}
}

// matches reports whether r belongs in the result now.
func (s *Subscription) matches(r *row) bool {
	can := s.canRead
	if can == nil {
		can = func(t *table, r *row) bool { return s.db.readable(s.actor, t, r) }
	}
	return r.visible() && s.q.Where.Eval(r, nil) && can(s.t, r) && (s.bare || s.db.joined(s.actor, s.q, s.t, r))
}

// out is r as the subscription's reader sees it (see DB.shape).
func (s *Subscription) out(r *row) Row { return s.db.shape(s.actor, s.q, s.t, r, nil) }

// place moves r to where it now belongs in s.ids (or out of it): binary
// search and one shift.
func (s *Subscription) place(r *row) {
	if oldKey, ok := s.keys[r.id]; ok {
		i := s.position(oldKey)
		s.ids = append(s.ids[:i], s.ids[i+1:]...)
		delete(s.keys, r.id)
	}
	if s.matches(r) {
		k := keyOf(r, s.q.OrderBy)
		i := s.position(k)
		s.ids = append(s.ids, "")
		copy(s.ids[i+1:], s.ids[i:])
		s.ids[i] = r.id
		s.keys[r.id] = k
	}
}

// placeAll places many rows at once: drop the changed members, then merge
// the sorted newcomers in, binary-searching each one's place and copying
// the run of ids before it: O(k log n) comparisons plus one copy.
func (s *Subscription) placeAll(rows []*row, was map[string]bool) {
	kept := s.ids
	anyWas := false
	for _, w := range was {
		anyWas = anyWas || w
	}
	if anyWas {
		kept = make([]string, 0, len(s.ids))
		for _, id := range s.ids {
			if !was[id] {
				kept = append(kept, id)
			}
		}
	}
	var incoming []string
	for _, r := range rows {
		delete(s.keys, r.id)
		if s.matches(r) {
			s.keys[r.id] = keyOf(r, s.q.OrderBy)
			incoming = append(incoming, r.id)
		}
	}
	sort.Slice(incoming, func(i, j int) bool {
		return compareKeys(s.keys[incoming[i]], s.keys[incoming[j]], s.q.OrderBy) < 0
	})
	merged := make([]string, 0, len(kept)+len(incoming))
	i := 0
	for _, id := range incoming {
		k := s.keys[id]
		pos := i + sort.Search(len(kept)-i, func(x int) bool {
			return compareKeys(s.keys[kept[i+x]], k, s.q.OrderBy) >= 0
		})
		merged = append(merged, kept[i:pos]...)
		merged = append(merged, id)
		i = pos
	}
	s.ids = append(merged, kept[i:]...)
}

// subKey is where a subscription is registered: under one equality term
// (col = value key), or under the table as a whole when it has none.
type subKey struct {
	col, key string
}

// subIndex finds the subscriptions a row change can affect without visiting
// the others.
type subIndex struct {
	all  map[*Subscription]struct{}
	byEq map[string]map[string]map[*Subscription]struct{}
}

func (x *subIndex) init() {
	x.all = map[*Subscription]struct{}{}
	x.byEq = map[string]map[string]map[*Subscription]struct{}{}
}

func (x *subIndex) add(s *Subscription) subKey {
	for col, v := range s.q.EqualityTerms() {
		if k, ok := indexKey(v); ok {
			byKey := x.byEq[col]
			if byKey == nil {
				byKey = map[string]map[*Subscription]struct{}{}
				x.byEq[col] = byKey
			}
			if byKey[k] == nil {
				byKey[k] = map[*Subscription]struct{}{}
			}
			byKey[k][s] = struct{}{}
			return subKey{col: col, key: k}
		}
	}
	x.all[s] = struct{}{}
	return subKey{}
}

func (x *subIndex) remove(s *Subscription) {
	if s.reg.col == "" {
		delete(x.all, s)
		return
	}
	set := x.byEq[s.reg.col][s.reg.key]
	delete(set, s)
	if len(set) == 0 {
		delete(x.byEq[s.reg.col], s.reg.key)
	}
}

// affected calls fn for each subscription that may include the row before
// (old cells) or after (r) the change.
func (x *subIndex) affected(r *row, old map[string]cell, fn func(*Subscription)) {
	for s := range x.all {
		fn(s)
	}
	for col, byKey := range x.byEq {
		seen := ""
		if c, ok := old[col]; ok {
			if k, ok := indexKey(c.V); ok {
				seen = k
				for s := range byKey[k] {
					fn(s)
				}
			}
		}
		v, _ := r.Get(col)
		if k, ok := indexKey(v); ok && k != seen {
			for s := range byKey[k] {
				fn(s)
			}
		}
	}
}

// notifier delivers subscription updates in commit order, outside the DB
// lock, one at a time. Updates queued during one commit are merged per
// subscription so a batch produces one callback.
type notifier struct {
	mu       sync.Mutex
	batch    map[*Subscription]*Update
	order    []*Subscription
	fns      []func()
	draining bool
	onError  func(error)
}

func (n *notifier) pendingFor(s *Subscription) *Update {
	if n.batch == nil {
		n.batch = map[*Subscription]*Update{}
	}
	u := n.batch[s]
	if u == nil {
		u = &Update{sub: s}
		n.batch[s] = u
		n.order = append(n.order, s)
	}
	return u
}

func (n *notifier) queue(s *Subscription, u Update) {
	n.mu.Lock()
	n.fns = append(n.fns, func() {
		if !s.canceled.Load() {
			s.cb(u)
		}
	})
	n.mu.Unlock()
}

func (n *notifier) cancel(s *Subscription) { s.canceled.Store(true) }

// unlockAndNotify moves the deltas staged under db.mu to the delivery queue,
// releases db.mu, then delivers unless another goroutine already is (it will
// deliver ours too, in order).
func (db *DB) unlockAndNotify() {
	n := &db.notify
	for _, s := range n.order {
		u := n.batch[s]
		if len(u.Added)+len(u.Updated)+len(u.Removed)+len(u.Related) > 0 && !s.done {
			u.Seq = db.seq
			n.queue(s, *u)
		}
	}
	n.batch, n.order = nil, nil
	db.mu.Unlock()
	n.mu.Lock()
	if n.draining {
		n.mu.Unlock()
		return
	}
	n.draining = true
	for len(n.fns) > 0 {
		f := n.fns[0]
		n.fns = n.fns[1:]
		n.mu.Unlock()
		n.run(f)
		n.mu.Lock()
	}
	n.draining = false
	n.mu.Unlock()
}

// run calls one callback, turning a panic into an error report so one bad
// callback cannot stop delivery to every other subscription.
func (n *notifier) run(f func()) {
	defer func() {
		if p := recover(); p != nil && n.onError != nil {
			n.onError(fmt.Errorf("engine: subscription callback panicked: %v", p))
		}
	}()
	f()
}
