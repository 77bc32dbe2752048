package server

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
)

// tombstoneCell marks a deleted row in a RowState (docs/protocol.md).
const tombstoneCell = "$deleted"

// rowsChunkBytes is the size a rows frame is cut at. The client refuses
// frames over limits.MaxFrameBytes, so a large result goes out in several
// frames; each stays well under the limit.
const rowsChunkBytes = 256 << 10

// sub is one live query of a connection. Fields after request are guarded
// by conn.mu.
type sub struct {
	id string
	q  *query.Query
	// request is the sub frame as received: the same frame again changes
	// nothing, so it is answered with nothing.
	request subRequest

	es *engine.Subscription
	// gen changes whenever es is replaced, so callbacks of a replaced engine
	// subscription that are already in flight are ignored.
	gen uint64
	// catchUp is the initial (or resumed) result while it is being
	// streamed; nil once its last page went out.
	catchUp *catchUp
	// pending holds the rows changed since they were last sent, current
	// to pendingSeq; they go out once catchUp is done. Rows of other
	// tables are rows the query includes, or included until the change.
	pending    map[engine.RowRef]struct{}
	pendingSeq uint64
	// pendingSince is when pending last went from empty to not, for the
	// fan-out latency metric.
	pendingSince time.Time
	// queued is set while the sub waits in conn.work.
	queued bool
	// cursor is the last cursor sent on this subscription: where a resume
	// after an expiry pause starts.
	cursor uint64
}

type subRequest struct {
	query  string
	cursor uint64
	scope  string
}

// catchUp is where streaming a subscription's result has got to. An
// unwindowed query is read by sequence number (engine.ChangedPage), so
// every page's cursor is safe to resume from. A windowed query (offset or
// limit) is read as its current window, by sort key (WindowPage), cursor
// or not: rows changed since the cursor may have moved anywhere in the
// order. Resuming one (cursor > 0), the rows changed since the cursor then
// follow, so a row the client holds that left the window is updated too.
type catchUp struct {
	cursor   uint64 // the client's cursor, 0 for none or another scope
	window   bool
	inWindow bool // still reading the window
	pos      engine.WindowPos
	after    uint64
	// startSeq is the DB's seq once the live subscription was registered:
	// what a window, read page by page, is current to.
	startSeq uint64
	// tables are the included tables whose rows changed since cursor are
	// still to be read, after the query's own (a resumed subscription
	// with includes); table is the one being read ("" for the query's).
	tables []string
	table  string
	// reset marks a resume sent from 0 (Rows.Reset).
	reset bool
}

// includedTables lists the tables q includes rows of, each once.
func includedTables(q *query.Query, into []string) []string {
	for _, sub := range q.Include {
		if !slices.Contains(into, sub.Table) {
			into = append(into, sub.Table)
		}
		into = includedTables(sub, into)
	}
	return into
}

// keepCursor, as the cursor of sendRowsLocked, keeps the last one sent:
// a page that does not complete a window, or live rows with more pending.
const keepCursor = 0

// ackBody is protocol.Ack with rows already encoded.
type ackBody struct {
	IDs    []string                 `json:"ids"`
	Stamps map[string]hlc.Timestamp `json:"stamps,omitempty"`
	Rows   []json.RawMessage        `json:"rows,omitempty"`
}

func (c *conn) onSub(m *protocol.Sub) {
	if _, err := m.Query.Check(c.db.Schema()); err != nil {
		c.send(protocol.TError, protocol.Error{Error: "protocol", Code: "bad_query", Message: err.Error(), Sub: m.ID})
		return
	}
	c.srv.app.reach(c.ctx, m.Cursor)
	req := subRequest{query: m.Query.Key(), cursor: m.Cursor, scope: m.Scope}
	c.mu.Lock()
	old := c.subs[m.ID]
	if old != nil && old.request == req {
		c.mu.Unlock()
		return
	}
	if old == nil {
		if be := c.takeSubscriptionLocked(); be != nil {
			c.mu.Unlock()
			c.log.Info("subscription refused", "budget", be.Budget, "limit", be.Limit)
			c.send(protocol.TError, be.errorBody(m.ID))
			return
		}
	}
	// Reusing an id replaces that subscription. A cursor received under
	// other claims may skip rows they hid (protocol.Sub.Scope): start over.
	s := &sub{id: m.ID, q: followed(m.Query), request: req, cursor: m.Cursor}
	if m.Scope != c.scope {
		s.cursor = 0
	}
	c.subs[m.ID] = s
	paused := c.paused
	var oldES *engine.Subscription
	if old != nil {
		oldES, old.es = old.es, nil
	}
	c.mu.Unlock()
	if oldES != nil {
		oldES.Cancel()
	}
	if !paused { // else started by the auth that ends the pause
		c.startSub(s)
	}
}

// followed is the query a subscription to q follows. With includes it is
// q without its window: the client resolves includes and applies the
// window itself, from its own copy, so every row that may enter its
// window (and every change to one, deletes included) must reach it. A
// window of the joined result would leave rows the client holds out of
// date once they fell out of it, and they could come back in the
// client's window as they were.
func followed(q *query.Query) *query.Query {
	if !q.HasIncludes() || (q.Limit == 0 && q.Offset == 0) {
		return q
	}
	all := *q
	all.Limit, all.Offset = 0, 0
	return &all
}

// takeSubscriptionLocked counts one more subscription against the budgets,
// or returns the one it would exceed.
func (c *conn) takeSubscriptionLocked() *BudgetError {
	b := c.srv.cfg.Budgets
	if n := b.subscriptionsPerConnection(c.actor); len(c.subs) >= n {
		return &BudgetError{Budget: BudgetSubscriptionsPerConnection, Limit: n}
	}
	return c.srv.subCounts.take(b, c.actor)
}

func (c *conn) onUnsub(m *protocol.Unsub) {
	c.mu.Lock()
	s := c.subs[m.ID]
	var es *engine.Subscription
	if s != nil {
		delete(c.subs, m.ID)
		c.srv.subCounts.give(c.actor, 1)
		es, s.es = s.es, nil
	}
	c.mu.Unlock()
	if es != nil {
		es.Cancel()
	}
}

// current reports whether s is still the live registration of its id and
// generation; callers hold c.mu.
func (c *conn) current(s *sub, gen uint64) bool {
	return !c.finished && c.subs[s.id] == s && s.gen == gen
}

// startSub (re)starts s from s.cursor. The worker first registers a live
// engine subscription (watch) and only then streams the result, so no
// change can fall between the two; changes that arrive meanwhile are held
// in pending and sent after the result's last page. Registering scans the
// table, so it is the worker's job too: a client re-subscribing in a loop
// spends its own worker's time, not the read loop's.
func (c *conn) startSub(s *sub) {
	c.mu.Lock()
	if c.finished || c.subs[s.id] != s {
		c.mu.Unlock()
		return
	}
	s.gen++
	old := s.es
	windowed := s.q.Limit > 0 || s.q.Offset > 0
	s.es, s.pending = nil, nil
	cursor, reset := s.cursor, false
	if cursor > 0 && !windowed && c.db.PolicyDepsChangedSince(c.actor, s.q, cursor) {
		// A row the read policies consult changed since the cursor, so
		// rows may have been hidden without changing: the whole result
		// goes out again, and the client drops what it leaves out.
		cursor, reset = 0, true
	}
	s.catchUp = &catchUp{cursor: cursor, window: windowed, inWindow: windowed, reset: reset}
	if s.q.HasIncludes() && s.cursor > 0 {
		// Resuming, the rows of the query's table changed since the
		// cursor are not enough: an included row may have changed (or
		// gone) under one that did not. Its tables' changes follow.
		s.catchUp.tables = includedTables(s.q, nil)
	}
	c.enqueueLocked(s)
	c.mu.Unlock()
	if old != nil {
		old.Cancel()
	}
}

// watch registers s's live engine subscription.
func (c *conn) watch(s *sub, gen uint64, actor engine.Actor) {
	es, err := c.db.Watch(actor, s.q, func(u engine.Update) { c.onUpdate(s, gen, u) })
	if err != nil {
		c.failSub(s, err)
		return
	}
	startSeq := c.db.Seq()
	c.mu.Lock()
	if !c.current(s, gen) {
		c.mu.Unlock()
		es.Cancel()
		return
	}
	s.es = es
	s.catchUp.startSeq = startSeq
	c.enqueueLocked(s)
	c.mu.Unlock()
}

// failSub drops a subscription the engine refused.
func (c *conn) failSub(s *sub, err error) {
	if errors.Is(err, engine.ErrClosed) {
		return
	}
	c.mu.Lock()
	if c.subs[s.id] == s {
		delete(c.subs, s.id)
		c.srv.subCounts.give(c.actor, 1)
	}
	c.mu.Unlock()
	c.send(protocol.TError, protocol.Error{Error: "protocol", Code: "bad_query", Message: err.Error(), Sub: s.id})
}

// onUpdate notes the rows an engine update names. It runs inside the
// writer's Submit, so it only notes them: the connection's worker reads
// and sends them, and a write's ack never waits for its fan-out. While
// paused it notes nothing: the resume after auth covers the gap from the
// cursor.
func (c *conn) onUpdate(s *sub, gen uint64, u engine.Update) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.current(s, gen) || c.paused {
		return
	}
	if s.pending == nil {
		s.pending = map[engine.RowRef]struct{}{}
	}
	if len(s.pending) == 0 {
		s.pendingSince = time.Now()
	}
	table := s.q.Table
	for _, r := range u.Added {
		s.pending[engine.RowRef{Table: table, ID: r.ID()}] = struct{}{}
	}
	for _, r := range u.Updated {
		s.pending[engine.RowRef{Table: table, ID: r.ID()}] = struct{}{}
	}
	for _, id := range u.Removed {
		s.pending[engine.RowRef{Table: table, ID: id}] = struct{}{}
	}
	for _, ref := range u.Related {
		s.pending[ref] = struct{}{}
	}
	s.pendingSeq = max(s.pendingSeq, u.Seq)
	if s.catchUp == nil {
		c.enqueueLocked(s)
	}
}

// enqueueLocked puts s in line for the worker.
func (c *conn) enqueueLocked(s *sub) {
	if s.queued {
		return
	}
	s.queued = true
	c.work = append(c.work, s)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// runWorker streams results and live rows for the connection's whole life,
// one page at a time, round robin over the subscriptions with something to
// send, waiting for the socket to take each page before reading the next.
// The read loop never waits for it, so pings are answered and pushes
// acked while a large result goes out.
func (c *conn) runWorker() {
	defer close(c.workerDone)
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			return
		}
		for c.step() {
		}
	}
}

// step sends one page for the first subscription in line; false when
// there is nothing to do or the connection is ending.
func (c *conn) step() bool {
	c.mu.Lock()
	if c.finished || len(c.work) == 0 {
		c.mu.Unlock()
		return false
	}
	s := c.work[0]
	c.work = c.work[1:]
	s.queued = false
	actor, paused := c.actor, c.paused
	c.mu.Unlock()
	if paused {
		return true // the auth that ends the pause restarts s
	}
	if !c.out.waitRoom(rowsChunkBytes) {
		return false
	}
	work := func() {
		n := c.srv.cfg.Budgets.rowsInFlight(actor)
		c.mu.Lock()
		gen, es, cu := s.gen, s.es, s.catchUp
		live := c.current(s, gen)
		var progress catchUp
		if cu != nil {
			progress = *cu
		}
		c.mu.Unlock()
		switch {
		case !live:
		case es == nil:
			c.watch(s, gen, actor)
		case cu != nil:
			c.catchUpPage(s, gen, es, actor, progress, n)
		default:
			c.livePage(s, gen, n)
		}
	}
	if !anonymous(actor) {
		work()
		return true
	}
	select {
	case c.srv.anonWorkers <- struct{}{}:
		defer func() { <-c.srv.anonWorkers }()
	case <-c.stop:
		return false
	}
	return c.srv.anonCPU.run(c.stop, work)
}

// catchUpPage reads and sends the next page of s's result. A page is at
// most n rows and about rowsChunkBytes of JSON, read from where the last
// one stopped: memory for a loading subscription is a page, whatever the
// size of its result.
func (c *conn) catchUpPage(s *sub, gen uint64, es *engine.Subscription, actor engine.Actor, cu catchUp, n int) {
	var rows []json.RawMessage
	cursor, done := uint64(keepCursor), false
	if cu.inWindow {
		page, next, end, err := es.WindowPage(cu.pos, n)
		if err != nil {
			return // replaced or closed meanwhile
		}
		rows, cu.pos = c.encodeStates(page), next
		if end {
			cu.inWindow = false
			if done = cu.cursor == 0; done {
				cursor = cu.startSeq
			}
		}
	} else {
		q := s.q
		if cu.table != "" {
			q = &query.Query{Table: cu.table}
		}
		p, err := c.db.ChangedPageJSON(actor, q, cu.cursor, cu.after, n, rowsChunkBytes)
		if err != nil {
			return
		}
		rows, cu.after, done = p.Rows, p.After, p.Done
		if cu.table == "" {
			// The included rows come in the same frames, before the rows
			// that include them: a client merges a frame in one commit.
			if inc := c.includedStates(s, actor, rows); len(inc) > 0 {
				rows = append(inc, rows...)
			}
		}
		switch {
		case done && len(cu.tables) > 0:
			cu.table, cu.tables, cu.after, done = cu.tables[0], cu.tables[1:], 0, false
		case cu.tables != nil || cu.table != "":
			// Phases read to different points: only the end is a cursor
			// safe for them all, and only the live subscription's start
			// is known to be behind every one.
			if done {
				cursor = cu.startSeq
			}
		case !cu.window || done:
			cursor = max(p.After, cu.startSeq)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.current(s, gen) || c.paused || s.catchUp == nil {
		return
	}
	if len(rows) > 0 || done {
		c.sendRowsLocked(s, rows, cursor, done, done && cu.reset)
	}
	if done {
		s.catchUp = nil
		if len(s.pending) == 0 {
			return
		}
	} else {
		*s.catchUp = cu
	}
	c.enqueueLocked(s)
}

// withIncluded is refs plus the rows that s's query includes from those
// of its own table, as actor may read them: the client resolves includes
// itself, from its own copy, so it needs them. A related row actor may not
// read is never among them.
func (c *conn) withIncluded(s *sub, actor engine.Actor, refs []engine.RowRef) []engine.RowRef {
	if !s.q.HasIncludes() {
		return refs
	}
	var ids []string
	seen := make(map[engine.RowRef]struct{}, len(refs))
	for _, ref := range refs {
		seen[ref] = struct{}{}
		if ref.Table == s.q.Table {
			ids = append(ids, ref.ID)
		}
	}
	more, err := c.db.Included(actor, s.q, ids)
	if err != nil {
		return refs
	}
	for _, ref := range more {
		if _, dup := seen[ref]; !dup {
			seen[ref] = struct{}{}
			refs = append(refs, ref)
		}
	}
	return refs
}

// includedStates encodes the rows s's query includes from the rows of a
// page (rows, encoded RowStates of its table), for catchUpPage.
func (c *conn) includedStates(s *sub, actor engine.Actor, rows []json.RawMessage) []json.RawMessage {
	if !s.q.HasIncludes() || len(rows) == 0 {
		return nil
	}
	ids := make([]string, len(rows))
	for i, raw := range rows {
		ids[i] = rowID(raw)
	}
	more, err := c.db.Included(actor, s.q, ids)
	if err != nil {
		return nil
	}
	var states []engine.RowState
	for _, ref := range more {
		if st, ok := visibleState(c.db, actor, ref.Table, ref.ID, false); ok {
			states = append(states, st)
		}
	}
	return c.encodeStates(states)
}

// encodeStates encodes states for sendRowsLocked; a state that cannot be
// encoded is logged and left out.
func (c *conn) encodeStates(states []engine.RowState) []json.RawMessage {
	rows := make([]json.RawMessage, 0, len(states))
	var buf []byte
	for _, st := range states {
		start := len(buf)
		var err error
		if buf, err = st.AppendJSON(buf); err != nil {
			buf = buf[:start]
			c.log.Error("could not encode a row", "table", st.Table, "error", err)
			continue
		}
		rows = append(rows, buf[start:len(buf):len(buf)])
	}
	return rows
}

// livePage sends the current states of up to n of s's pending rows.
func (c *conn) livePage(s *sub, gen uint64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.current(s, gen) || c.paused || s.catchUp != nil || len(s.pending) == 0 {
		return
	}
	ids := takePending(s, n)
	cursor := uint64(keepCursor)
	if len(s.pending) == 0 {
		cursor = s.pendingSeq
	} else {
		c.enqueueLocked(s)
	}
	c.sendUpdateLocked(s, ids, cursor)
}

// answerPing sends every live row noted so far, then the pong. A pong thus
// follows the rows of every write acknowledged before the ping, on any
// connection (onUpdate notes them inside the writer's Submit, before its
// ack): a backend's read waits for a round trip to see such writes
// (docs/backend.md). Results still being streamed are not waited for:
// their live rows follow their last page.
func (c *conn) answerPing(p *protocol.Ping) {
	c.mu.Lock()
	if !c.paused {
		for _, s := range c.subs {
			if s.catchUp != nil || len(s.pending) == 0 {
				continue
			}
			c.sendUpdateLocked(s, takePending(s, len(s.pending)), s.pendingSeq)
		}
	}
	c.mu.Unlock()
	c.send(protocol.TPong, p)
}

// takePending removes up to n of s's pending rows and returns them;
// callers hold c.mu.
func takePending(s *sub, n int) []engine.RowRef {
	refs := make([]engine.RowRef, 0, min(n, len(s.pending)))
	for ref := range s.pending {
		if len(refs) == n {
			break
		}
		refs = append(refs, ref)
		delete(s.pending, ref)
	}
	return refs
}

// sendUpdateLocked sends the current states of refs, re-checked against
// the session at send time: the update may be older than the row. With
// includes, the rows the query's rows include go along (withIncluded).
func (c *conn) sendUpdateLocked(s *sub, refs []engine.RowRef, cursor uint64) {
	c.observeFanoutLocked(s)
	actor := c.actor
	var states []engine.RowState
	for _, ref := range c.withIncluded(s, actor, refs) {
		// A row of the query's own table named by an update was in the
		// result or is now; if the session may no longer read it, the
		// client is told to forget it. Included rows are never named
		// hidden: they may be rows the client never saw.
		if st, ok := visibleState(c.db, actor, ref.Table, ref.ID, ref.Table == s.q.Table); ok {
			states = append(states, st)
		}
	}
	if len(states) > 0 {
		c.sendRowsLocked(s, c.encodeStates(states), cursor, false, false)
	}
}

// sendRowsLocked queues rows (each the JSON of a RowState) as one or more
// rows frames. The last one carries cursor (keepCursor: the last cursor
// sent) and complete; the others the last cursor sent, which is always
// safe to resume from. Cursors sent on a subscription never go down.
func (c *conn) sendRowsLocked(s *sub, rows []json.RawMessage, cursor uint64, complete, reset bool) {
	cursor = max(cursor, s.cursor)
	chunk := make([]json.RawMessage, 0, len(rows))
	size := 0
	for _, raw := range rows {
		if len(raw) > limits.MaxRowBytes {
			// Stored before Submit checked row sizes: no frame can carry
			// it, and sending it would cut this client off for good.
			c.log.Error("a row is over the row size limit and is not sent", "table", s.q.Table, "row", rowID(raw),
				"bytes", len(raw), "limit", limits.MaxRowBytes)
			continue
		}
		if len(chunk) > 0 && size+len(raw) > rowsChunkBytes {
			c.sendEncoded(protocol.EncodeRows(s.id, chunk, s.cursor, false, false))
			chunk, size = chunk[:0], 0
		}
		chunk = append(chunk, raw)
		size += len(raw)
	}
	c.sendEncoded(protocol.EncodeRows(s.id, chunk, cursor, complete, reset))
	s.cursor = cursor
}

// rowID is the id of a row in JSON, for a log line.
func rowID(raw json.RawMessage) string {
	var st struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &st)
	return st.ID
}

// visibleState returns the row state a's client may receive: the full state
// of a row it may read, only the tombstone cell of a deleted one, with hide
// a hidden state (no cells) for a row it may not read, nothing otherwise.
// The state is read again after the permission check and used only if
// unchanged in between, so a row that became unreadable meanwhile never
// leaks.
func visibleState(db *engine.DB, a engine.Actor, table, id string, hide bool) (engine.RowState, bool) {
	for range 3 {
		st, ok := db.State(table, id)
		if !ok {
			return engine.RowState{}, false
		}
		if _, err := db.Get(a, table, id); err != nil {
			if _, deleted := st.Cells[tombstoneCell]; deleted {
				for k := range st.Cells {
					if k != tombstoneCell {
						delete(st.Cells, k)
					}
				}
				return st, true
			}
			if hide {
				return engine.HiddenState(table, id), true
			}
			return engine.RowState{}, false
		}
		if again, ok := db.State(table, id); ok && again.Seq == st.Seq {
			return st, true
		}
	}
	return engine.RowState{}, false
}
