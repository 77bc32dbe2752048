package server

import (
	"encoding/json"
	"errors"
	"sort"

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

// sub is one live query of a connection. Fields after q are guarded by
// conn.mu.
type sub struct {
	id string
	q  *query.Query

	es *engine.Subscription
	// gen changes whenever es is replaced, so callbacks of a replaced engine
	// subscription that are already in flight are ignored.
	gen uint64
	// ready is false until the initial (or resumed) result has been queued;
	// live updates arriving before that are held in buffered.
	ready    bool
	buffered []liveUpdate
	// cursor is the last cursor sent on this subscription: where a resume
	// after an expiry pause starts.
	cursor uint64
}

type liveUpdate struct {
	ids []string
	seq uint64
}

// rowsBody is protocol.Rows with rows already encoded, so that frames can be
// cut by size without encoding every row twice.
type rowsBody struct {
	Sub      string            `json:"sub"`
	Rows     []json.RawMessage `json:"rows"`
	Cursor   uint64            `json:"cursor"`
	Complete bool              `json:"complete,omitempty"`
}

// ackBody is protocol.Ack with rows already encoded.
type ackBody struct {
	IDs    []string                 `json:"ids"`
	Stamps map[string]hlc.Timestamp `json:"stamps,omitempty"`
	Rows   []json.RawMessage        `json:"rows,omitempty"`
}

func (c *conn) onSub(m *protocol.Sub) {
	if _, err := m.Query.Check(c.db.Schema()); err != nil {
		c.send(protocol.TError, protocol.Error{Error: "protocol", Code: "bad_query", Message: err.Error()})
		return
	}
	c.mu.Lock()
	old := c.subs[m.ID]
	if old == nil && len(c.subs) >= protocol.MaxSubscriptions {
		c.mu.Unlock()
		c.send(protocol.TError, protocol.Error{Error: "protocol", Code: "too_many_subscriptions",
			Message: "a connection may hold at most 256 subscriptions; unsub some first"})
		return
	}
	// Reusing an id replaces that subscription. A cursor received under
	// other claims may skip rows they hid (protocol.Sub.Scope): start over.
	s := &sub{id: m.ID, q: m.Query, cursor: m.Cursor}
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

func (c *conn) onUnsub(m *protocol.Unsub) {
	c.mu.Lock()
	s := c.subs[m.ID]
	var es *engine.Subscription
	if s != nil {
		delete(c.subs, m.ID)
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

// startSub (re)starts s from s.cursor: it registers a live engine
// subscription first and only then reads what changed since the cursor, so
// no change can fall between the two. Live updates that arrive before the
// catch-up result is queued are held and sent after it (those it already
// covers are dropped), so the cursors a client sees only ever grow.
func (c *conn) startSub(s *sub) {
	c.mu.Lock()
	if c.finished || c.subs[s.id] != s {
		c.mu.Unlock()
		return
	}
	s.gen++
	gen, old := s.gen, s.es
	s.es, s.ready, s.buffered = nil, false, nil
	actor, cursor := c.actor, s.cursor
	c.mu.Unlock()
	if old != nil {
		old.Cancel()
	}
	first := true
	es, err := c.db.Subscribe(actor, s.q, func(u engine.Update) {
		// The first update is the whole current result; ChangedSince below
		// sends what the client lacks instead.
		if first {
			first = false
			return
		}
		c.onUpdate(s, gen, u)
	})
	if err != nil {
		c.failSub(s, err)
		return
	}
	c.mu.Lock()
	if !c.current(s, gen) {
		c.mu.Unlock()
		es.Cancel()
		return
	}
	s.es = es
	c.mu.Unlock()

	states, next, err := c.db.ChangedSince(actor, s.q, cursor)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.current(s, gen) || c.paused {
		return // paused: the auth that ends the pause restarts it
	}
	if err != nil {
		return // the engine was closed: the connection is being closed too
	}
	c.sendRowsLocked(s, states, next, true)
	for _, u := range s.buffered {
		if u.seq > next {
			c.sendUpdateLocked(s, u.ids, u.seq)
		}
	}
	s.buffered, s.ready = nil, true
}

// failSub drops a subscription the engine refused.
func (c *conn) failSub(s *sub, err error) {
	if errors.Is(err, engine.ErrClosed) {
		return
	}
	c.mu.Lock()
	if c.subs[s.id] == s {
		delete(c.subs, s.id)
	}
	c.mu.Unlock()
	c.send(protocol.TError, protocol.Error{Error: "protocol", Code: "bad_query", Message: err.Error()})
}

// onUpdate turns an engine update into rows for the client. While paused it
// sends nothing: the resume after auth covers the gap from the cursor.
func (c *conn) onUpdate(s *sub, gen uint64, u engine.Update) {
	ids := make([]string, 0, len(u.Added)+len(u.Updated)+len(u.Removed))
	for _, r := range u.Added {
		ids = append(ids, r.ID())
	}
	for _, r := range u.Updated {
		ids = append(ids, r.ID())
	}
	ids = append(ids, u.Removed...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.current(s, gen) || c.paused {
		return
	}
	if !s.ready {
		s.buffered = append(s.buffered, liveUpdate{ids: ids, seq: u.Seq})
		return
	}
	c.sendUpdateLocked(s, ids, u.Seq)
}

// sendUpdateLocked sends the current states of ids, re-checked against the
// session at send time: the update may be older than the row.
func (c *conn) sendUpdateLocked(s *sub, ids []string, seq uint64) {
	actor := c.actor
	seen := make(map[string]bool, len(ids))
	var states []engine.RowState
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if st, ok := visibleState(c.db, actor, s.q.Table, id); ok {
			states = append(states, st)
		}
	}
	if len(states) > 0 {
		c.sendRowsLocked(s, states, seq, false)
	}
}

// sendRowsLocked queues states as one or more rows frames. The last frame
// carries cursor final (and complete, for a catch-up result). Earlier frames
// carry a cursor that is safe to resume from if the connection drops between
// them: for a catch-up result the states are sent in sequence order, so
// every row at or below the last one sent has been sent; for live updates
// the previous cursor.
func (c *conn) sendRowsLocked(s *sub, states []engine.RowState, final uint64, complete bool) {
	sort.Slice(states, func(i, j int) bool { return states[i].Seq < states[j].Seq })
	chunk := make([]json.RawMessage, 0, len(states))
	size := 0
	for i, st := range states {
		raw, err := limits.Marshal(st)
		if err != nil {
			c.log.Error("could not encode a row", "table", st.Table, "error", err)
			continue
		}
		if len(chunk) > 0 && size+len(raw) > rowsChunkBytes {
			cursor := s.cursor
			if complete {
				cursor = states[i-1].Seq
			}
			c.send(protocol.TRows, rowsBody{Sub: s.id, Rows: chunk, Cursor: cursor})
			chunk, size = make([]json.RawMessage, 0, len(states)-i), 0
			s.cursor = cursor
		}
		chunk = append(chunk, raw)
		size += len(raw)
	}
	c.send(protocol.TRows, rowsBody{Sub: s.id, Rows: chunk, Cursor: final, Complete: complete})
	s.cursor = final
}

// visibleState returns the row state a's client may receive: the full state
// of a row it may read, only the tombstone cell of a deleted one, nothing
// otherwise. The state is read again after the permission check and used
// only if unchanged in between, so a row that became unreadable meanwhile
// never leaks.
func visibleState(db *engine.DB, a engine.Actor, table, id string) (engine.RowState, bool) {
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
			return engine.RowState{}, false
		}
		if again, ok := db.State(table, id); ok && again.Seq == st.Seq {
			return st, true
		}
	}
	return engine.RowState{}, false
}
