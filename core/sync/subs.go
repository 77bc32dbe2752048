package sync

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// bucketSync is where cursors live in Options.Store.
const bucketSync = "sync"

func cursorKey(id string) []byte { return []byte("cursor/" + id) }

// storedCursor is a persisted cursor with the query it belongs to: a cursor
// says "every row of this query changed up to here is in the DB", which is
// false for any other query, so a subscription whose query changed starts
// over. Scope is the server's name for what the session could read when
// the cursor arrived; the server starts over a cursor sent back under
// other claims (protocol.Sub.Scope).
type storedCursor struct {
	Cursor uint64 `json:"cursor"`
	Query  string `json:"query"`
	Scope  string `json:"scope,omitempty"`
}

// subEntry is a registered subscription. ver changes whenever the id is
// registered with a different query.
type subEntry struct {
	q   *query.Query
	key string
	ver uint64
	// loaded is closed once this registration's result has come complete
	// (Loaded).
	loaded chan struct{}
}

// subProgress tracks one subscription id on one connection, to know which
// rows frames belong to the current registration. Every frame's cursor is
// safe to resume from (protocol.Rows), so normally each is saved. But after
// the id was re-registered with another query on the same connection,
// frames of the old query may still arrive until the server has processed
// the unsub, and nothing tells them apart from the new one's until the new
// result is complete; saving the old query's cursor for the new query would
// skip rows. awaiting counts the results (one per sub sent) not yet
// complete; resub marks that frames are ambiguous until it reaches zero.
// persisted is the last cursor saved, so cursors only grow.
type subProgress struct {
	awaiting  int
	resub     bool
	persisted uint64
	// from is the cursor the latest registration resumed from, and kept
	// the ids its result has brought so far (only when resuming): a result
	// the server resends whole (Rows.Reset) leaves the rest to forget.
	from uint64
	kept map[string]bool
}

// ErrTooManySubscriptions is returned by Subscribe beyond the server's limit.
//
// It is built without fmt: this was the only fmt call at the browser
// client's package init, and browsers compile wasm functions on their first
// call, so it cost every page start the compilation of fmt's printf
// machinery, which starting up needs nowhere else.
var ErrTooManySubscriptions = errors.New("sync: at most " + strconv.Itoa(protocol.MaxSubscriptions) + " subscriptions")

// Subscribe registers a live query under id: the server sends the rows it
// matches (that the session may read) into the DB, then keeps them current.
// The registration survives reconnects; its cursor is stored so a new
// connection or a new Client resumes where the last one stopped. Registering
// an id again with another query replaces it. Read the rows through the DB
// (DB.Subscribe / DB.All); the client only brings them in.
func (c *Client) Subscribe(id string, q *query.Query) error {
	if id == "" || len(id) > protocol.MaxSubIDLen {
		return fmt.Errorf("sync: subscription id must be 1 to %d bytes", protocol.MaxSubIDLen)
	}
	if q == nil {
		return errors.New("sync: nil query")
	}
	if _, err := q.Check(c.opts.DB.Schema()); err != nil {
		return err
	}
	key := q.Key()
	// Keep a private copy: the caller may reuse q.
	if cp, err := query.Decode([]byte(key)); err == nil {
		q = cp
	}
	c.mu.Lock()
	old := c.subs[id]
	switch {
	case old != nil && old.key == key:
		c.mu.Unlock()
		return nil
	case old == nil && len(c.subs) >= protocol.MaxSubscriptions:
		c.mu.Unlock()
		return ErrTooManySubscriptions
	}
	c.subVer++
	c.subs[id] = &subEntry{q: q, key: key, ver: c.subVer, loaded: make(chan struct{})}
	c.mu.Unlock()
	c.Notify()
	return nil
}

// Loaded returns a channel that is closed once the result of subscription
// id, as registered now, has been received whole and merged into the DB:
// the server sends a result in pages, each merged (and reported to the
// DB's subscriptions) as it arrives, and marks the last one complete. It
// stays closed across reconnects (a resumed result only adds changes to
// rows the DB has). It is nil for an id not registered; registering the
// id again with another query makes a new one.
func (c *Client) Loaded(id string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.subs[id]; e != nil {
		return e.loaded
	}
	return nil
}

// Unsubscribe drops the live query id. Its rows stay in the DB, and its
// cursor in the Store, so subscribing again to the same query resumes.
func (c *Client) Unsubscribe(id string) {
	c.mu.Lock()
	_, ok := c.subs[id]
	delete(c.subs, id)
	c.mu.Unlock()
	if ok {
		c.Notify()
	}
}

// reconcileSubs brings the server's set of subscriptions on this
// connection in line with the registry: unsub what was dropped first (it
// frees slots under the server's limit), then sub what is new or changed.
func (c *Client) reconcileSubs() {
	cs := c.cs
	c.mu.Lock()
	snap := make(map[string]*subEntry, len(c.subs))
	for id, e := range c.subs {
		snap[id] = e
	}
	c.mu.Unlock()
	for _, id := range sortedKeys(cs.sent) {
		if snap[id] == nil {
			c.write(protocol.TUnsub, &protocol.Unsub{ID: id})
			delete(cs.sent, id)
		}
	}
	for _, id := range sortedKeys(snap) {
		e := snap[id]
		v, ok := cs.sent[id]
		if ok && v == e.ver {
			continue
		}
		if ok {
			c.write(protocol.TUnsub, &protocol.Unsub{ID: id})
		}
		cursor, scope := c.loadCursor(id, e.key)
		c.write(protocol.TSub, &protocol.Sub{ID: id, Query: e.q, Cursor: cursor, Scope: scope})
		cs.sent[id] = e.ver
		p := cs.progress[id]
		if p == nil {
			p = &subProgress{}
			cs.progress[id] = p
		} else {
			p.resub, p.persisted = true, 0
		}
		p.awaiting++
		p.from, p.kept = cursor, nil
		if cursor > 0 {
			p.kept = map[string]bool{}
		}
	}
}

// onRows merges confirmed row states, then saves the subscription's cursor:
// only after the merge succeeded, so a crash in between resumes from the
// older cursor and receives the rows again (merging is idempotent), never
// skips them.
func (c *Client) onRows(r *protocol.Rows) error {
	if err := c.merge(r.Rows, nil); err != nil {
		return fmt.Errorf("merging rows: %w", err)
	}
	p := c.cs.progress[r.Sub]
	if p == nil {
		return nil
	}
	if p.kept != nil {
		for _, st := range r.Rows {
			p.kept[st.ID] = true
		}
	}
	loaded := false
	if r.Complete && p.awaiting > 0 {
		p.awaiting--
		if p.awaiting == 0 {
			p.resub = false
			loaded = true // the frames are the current registration's
		}
		c.releaseRoundtrips()
	}
	ver, live := c.cs.sent[r.Sub]
	if !live {
		return nil
	}
	c.mu.Lock()
	e := c.subs[r.Sub]
	c.mu.Unlock()
	if e == nil || e.ver != ver {
		return nil // re-registered meanwhile; the next sync resubscribes
	}
	if loaded && r.Reset && p.kept != nil {
		if err := c.opts.DB.ForgetStale(c.ctx, e.q, p.kept, p.from); err != nil {
			return fmt.Errorf("forgetting rows hidden while away: %w", err)
		}
	}
	if loaded {
		p.kept = nil
		select {
		case <-e.loaded:
		default:
			close(e.loaded)
		}
	}
	if p.resub || r.Cursor <= p.persisted {
		return nil
	}
	if err := c.saveCursor(r.Sub, e.key, r.Cursor); err != nil {
		// Not fatal: the next connection resumes from an older cursor.
		c.log.Warn("cannot save a subscription cursor", "sub", r.Sub, "err", err)
		return nil
	}
	p.persisted = r.Cursor
	return nil
}

// subRefused settles a subscription whose result the server will not send
// (protocol.Error.Sub) and reports it.
func (c *Client) subRefused(e protocol.Error) {
	if p := c.cs.progress[e.Sub]; p != nil && p.awaiting > 0 {
		p.awaiting--
		if p.awaiting == 0 {
			p.resub = false
		}
	}
	c.releaseRoundtrips()
	if report := c.opts.OnError; report != nil {
		err := &SubscriptionError{Sub: e.Sub, Code: e.Code, Budget: e.Budget, Limit: e.Limit, Message: e.Message}
		c.cb.post(func() { report(err) })
	}
}

// streaming reports whether a result sent for on this connection has not
// reached its last page yet.
func (c *Client) streaming() bool {
	for _, p := range c.cs.progress {
		if p.awaiting > 0 {
			return true
		}
	}
	return false
}

// loadCursor returns the cursor saved for subscription id, if it was saved
// for the query key, and the scope it was received under.
func (c *Client) loadCursor(id, key string) (uint64, string) {
	v, ok, err := c.opts.Store.Get(c.ctx, bucketSync, cursorKey(id))
	if err != nil {
		c.log.Warn("cannot read a subscription cursor", "sub", id, "err", err)
		return 0, ""
	}
	var sc storedCursor
	if !ok || json.Unmarshal(v, &sc) != nil || sc.Query != key {
		return 0, ""
	}
	return sc.Cursor, sc.Scope
}

func (c *Client) saveCursor(id, key string, cursor uint64) error {
	b, err := json.Marshal(storedCursor{Cursor: cursor, Query: key, Scope: c.cs.scope})
	if err != nil {
		return err
	}
	return c.opts.Store.Apply(c.ctx, []storage.Op{storage.Put(bucketSync, cursorKey(id), b)})
}

// sortedKeys is m's keys in order. sort.Strings rather than slices.Sorted:
// a generic sort instantiation is some 20 KB of the browser's download.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
