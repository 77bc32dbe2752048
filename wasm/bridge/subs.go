//go:build js && wasm

package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	gosync "sync"
	"syscall/js"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/wasm/jserr"
)

// sub is one live query from subscribe. It survives the Db being
// reopened: attach moves it to the new Db, and the first update from there
// is a diff against the last rows sent, so JavaScript sees one continuous
// stream.
type sub struct {
	h     *handle
	id    int
	q     *query.Query
	text  []byte   // q as the page sent it: the result cache's key
	cb    js.Value // the app's callback (JS-owned)
	unsub *stopper // owned: released by stop

	// order makes callbacks run one at a time and in order (a result
	// from the cache, then the computed ones); held while one runs.
	order gosync.Mutex

	mu       gosync.Mutex
	dead     bool
	gen      int    // the handle generation of the engine subscription
	cancel   func() // cancels it
	fresh    bool   // the next update is the first from gen
	last     map[string]bool
	retained bool // a follower asked the leader to register q
	// cached is the rows JSON sent from the result cache, until the
	// first computed result: when that is the same, it is not sent again.
	cached []byte
	// save is the latest result waiting to be saved for the next page
	// load; saving runs saveDelay after the first result that set it.
	save     *resultSave
	saveTime *time.Timer
}

// resultSave is one result to keep for the result cache.
type resultSave struct {
	db    *client.Db
	q     *query.Query
	text  []byte
	stamp uint64
	rows  []byte
}

// saveDelay spaces out the saves of a busy subscription's result: each
// one rewrites the whole result in IndexedDB.
const saveDelay = 100 * time.Millisecond

// update is the JSON a subscription callback receives.
type update struct {
	Added   []engine.Row    `json:"added"`
	Updated []engine.Row    `json:"updated"`
	Removed []string        `json:"removed"`
	Rows    json.RawMessage `json:"rows"`
}

func (h *handle) subscribe(args []js.Value) (any, error) {
	hook("subscribe")
	qs, err := stringArg(args, 0, "queryJSON")
	if err != nil {
		return nil, err
	}
	cb, err := funcArg(args, 1, "callback")
	if err != nil {
		return nil, err
	}
	q, err := decodeQuery(qs)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, client.ErrClosed
	}
	// Checked here against every table useSchema declared, so a bad
	// query throws; the engine subscription itself starts on a goroutine
	// (it takes the engine's lock, which a write may hold while it waits
	// for IndexedDB).
	sc := copySchema(h.schema)
	_, err = q.Check(sc)
	if err != nil {
		h.mu.Unlock()
		return nil, err
	}
	def, _ := sc.Table(q.Table)
	s := &sub{h: h, id: h.nextID, q: q, text: []byte(qs), cb: cb, last: map[string]bool{}}
	h.nextID++
	h.subs[s.id] = s
	follower := h.role == roleFollower && h.tabs != nil
	h.mu.Unlock()
	s.unsub = newStopper(func() {
		safely("unsubscribe", func() {
			h.mu.Lock()
			delete(h.subs, s.id)
			h.mu.Unlock()
			if r := s.stop(); r != nil {
				// The result is still worth keeping (until the next
				// change); saving takes the engine's lock, so not here on
				// the event loop.
				go safely("saving a result", func() { s.saveNow(r) })
			}
		})
	})
	if follower {
		s.retained = true
		h.tabs.retain(q, true)
	}
	go safely("subscribe", func() {
		ctx := context.Background()
		if db, _, _, err := h.current(); err == nil {
			s.fromCache(db, def)
		}
		if err := h.schemaReady(ctx); err != nil {
			return
		}
		db, _, gen, err := h.current()
		if err != nil {
			return
		}
		s.attach(db, gen)
	})
	return s.unsub.js, nil
}

// fromCache sends the result saved by the last page over this storage when
// it is still exactly the current one (see engine.DB.CachedResult): the
// page shows its data while the table is still being read. The computed
// result follows; it is sent only if it differs.
func (s *sub) fromCache(db *client.Db, def *schema.Table) {
	rows, err := db.CachedResult(s.q, s.text, def)
	if err != nil {
		return
	}
	b := make([]byte, 0, 2*len(rows)+64)
	b = append(b, `{"added":`...)
	b = append(b, rows...)
	b = append(b, `,"updated":[],"removed":[],"rows":`...)
	b = append(b, rows...)
	b = append(b, '}')
	s.order.Lock()
	defer s.order.Unlock()
	s.mu.Lock()
	if s.dead || s.gen != 0 {
		s.mu.Unlock() // a computed result got here first
		return
	}
	// The ids the page now has (s.last) are read from rows only if the
	// computed result differs (see deliver): decoding JSON is slow the
	// first time, and this is a page's first result.
	s.cached = rows
	s.mu.Unlock()
	hook("subscribe: from cache")
	safely("subscription callback", func() { s.cb.Invoke(string(b)) })
}

// attach subscribes on db (generation gen) and drops the subscription on
// the previous Db.
func (s *sub) attach(db *client.Db, gen int) {
	s.mu.Lock()
	if s.dead || gen <= s.gen {
		s.mu.Unlock()
		return
	}
	old := s.cancel
	s.gen, s.cancel, s.fresh = gen, nil, true
	s.mu.Unlock()
	if old != nil {
		old()
	}
	cancel, err := db.Subscribe(s.q, func(u engine.Update) { s.deliver(gen, u) })
	if err != nil {
		if gen == s.currentGen() {
			s.h.report(err)
		}
		return
	}
	s.mu.Lock()
	if s.dead || s.gen != gen {
		s.mu.Unlock()
		cancel()
		return
	}
	s.cancel = cancel
	s.mu.Unlock()
}

func (s *sub) currentGen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

func (s *sub) deliver(gen int, u engine.Update) {
	rows, stamp := u.RowsAt()
	if rows == nil {
		rows = []engine.Row{}
	}
	rowsJSON, err := json.Marshal(rows)
	if err != nil {
		s.h.report(err)
		return
	}
	s.order.Lock()
	defer s.order.Unlock()
	s.mu.Lock()
	if s.dead || gen != s.gen {
		s.mu.Unlock()
		return
	}
	s.scheduleSaveLocked(gen, stamp, rowsJSON)
	out := update{Added: u.Added, Updated: u.Updated, Removed: u.Removed, Rows: rowsJSON}
	if s.fresh && s.cached != nil && bytes.Equal(s.cached, rowsJSON) {
		// The computed result is the one the cache already showed.
		s.fresh, s.cached = false, nil
		s.setLastLocked(rows)
		s.mu.Unlock()
		hook("subscribe: cache confirmed")
		return
	}
	if s.cached != nil {
		// The page shows the saved result: the first computed one is
		// relative to its rows.
		s.last = cachedIDs(s.cached)
		s.cached = nil
	}
	if s.fresh {
		// First result from this Db: relative to what was sent before.
		s.fresh = false
		out.Added, out.Updated, out.Removed = nil, nil, nil
		now := map[string]bool{}
		for _, r := range rows {
			now[r.ID()] = true
			if s.last[r.ID()] {
				out.Updated = append(out.Updated, r)
			} else {
				out.Added = append(out.Added, r)
			}
		}
		for id := range s.last {
			if !now[id] {
				out.Removed = append(out.Removed, id)
			}
		}
	}
	s.setLastLocked(rows)
	s.mu.Unlock()
	if out.Added == nil {
		out.Added = []engine.Row{}
	}
	if out.Updated == nil {
		out.Updated = []engine.Row{}
	}
	if out.Removed == nil {
		out.Removed = []string{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.h.report(err)
		return
	}
	safely("subscription callback", func() { s.cb.Invoke(string(b)) })
}

// setLastLocked records rows as what the page has.
func (s *sub) setLastLocked(rows []engine.Row) {
	s.last = make(map[string]bool, len(rows))
	for _, r := range rows {
		s.last[r.ID()] = true
	}
}

// cachedIDs returns the ids in a saved result (rows JSON, valid: see
// engine.DB.CachedResult).
func cachedIDs(rows []byte) map[string]bool {
	var ids []struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(rows, &ids)
	m := make(map[string]bool, len(ids))
	for _, r := range ids {
		m[r.ID] = true
	}
	return m
}

// scheduleSaveLocked arranges for rows (the result at stamp, from the Db of
// generation gen) to be saved for the next page load. Only a tab that
// writes the storage saves, and only results small enough to rewrite.
func (s *sub) scheduleSaveLocked(gen int, stamp uint64, rows []byte) {
	if len(rows) > engine.MaxCachedResult {
		s.save = nil
		return
	}
	db, r, cur, err := s.h.current()
	if err != nil || cur != gen || r == roleFollower || s.h.mode() != "indexeddb" {
		return
	}
	s.save = &resultSave{db: db, q: s.q, text: s.text, stamp: stamp, rows: rows}
	if s.saveTime == nil {
		s.saveTime = time.AfterFunc(saveDelay, s.saveResult)
	}
}

// saveResult saves the latest scheduled result (the timer's function).
func (s *sub) saveResult() {
	s.mu.Lock()
	r := s.save
	s.save, s.saveTime = nil, nil
	dead := s.dead
	s.mu.Unlock()
	if r == nil || dead {
		return
	}
	safely("saving a result", func() { s.saveNow(r) })
}

func (s *sub) saveNow(r *resultSave) {
	// Not saved (the state moved on, the Db closed) is fine: a later
	// result will be, or the next page reads the rows.
	_, _ = r.db.SaveResult(context.Background(), r.q, r.text, r.stamp, r.rows)
}

// stop ends the subscription and releases its unsubscribe function. It
// returns the result still waiting to be saved, if any, for the caller to
// save (see saveNow).
func (s *sub) stop() *resultSave {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return nil
	}
	s.dead = true
	cancel := s.cancel
	s.cancel = nil
	unsaved := s.save
	if s.saveTime != nil {
		s.saveTime.Stop()
	}
	s.save, s.saveTime = nil, nil
	retained := s.retained
	s.mu.Unlock()
	s.unsub.release()
	if cancel != nil {
		go safely("unsubscribe", cancel)
	}
	if retained && s.h.tabs != nil {
		s.h.tabs.retain(s.q, false)
	}
	return unsaved
}

type listenKind int

const (
	listenAuth listenKind = iota
	listenError
)

// listener is an onAuthChanged or onError registration; like a sub it
// moves to a reopened Db.
type listener struct {
	h      *handle
	id     int
	kind   listenKind
	cb     js.Value
	stopFn *stopper

	mu     gosync.Mutex
	dead   bool
	detach func()
}

func (h *handle) onAuthChanged(args []js.Value) (any, error) {
	return h.listen(args, listenAuth)
}

func (h *handle) onError(args []js.Value) (any, error) {
	return h.listen(args, listenError)
}

func (h *handle) listen(args []js.Value, kind listenKind) (any, error) {
	cb, err := funcArg(args, 0, "callback")
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, client.ErrClosed
	}
	l := &listener{h: h, id: h.nextID, kind: kind, cb: cb}
	h.nextID++
	h.listeners[l.id] = l
	db := h.db
	h.mu.Unlock()
	l.stopFn = newStopper(func() {
		safely("stop", func() {
			h.mu.Lock()
			delete(h.listeners, l.id)
			h.mu.Unlock()
			l.stop()
		})
	})
	l.attach(db)
	return l.stopFn.js, nil
}

func (l *listener) attach(db *client.Db) {
	var detach func()
	switch l.kind {
	case listenAuth:
		detach = db.OnAuthChanged(func(st client.AuthState) {
			b, err := json.Marshal(st)
			if err == nil {
				l.call(string(b))
			}
		})
	case listenError:
		detach = db.OnError(func(err error) { l.deliverError(jserr.Describe(err)) })
	}
	l.mu.Lock()
	old := l.detach
	l.detach = detach
	dead := l.dead
	l.mu.Unlock()
	if old != nil {
		old()
	}
	if dead {
		detach()
	}
}

func (l *listener) deliverError(b jserr.Body) {
	if l.kind != listenError {
		return
	}
	j, err := json.Marshal(b)
	if err == nil {
		l.call(string(j))
	}
}

func (l *listener) call(arg string) {
	l.mu.Lock()
	dead := l.dead
	l.mu.Unlock()
	if !dead {
		safely("listener", func() { l.cb.Invoke(arg) })
	}
}

func (l *listener) stop() {
	l.mu.Lock()
	if l.dead {
		l.mu.Unlock()
		return
	}
	l.dead = true
	detach := l.detach
	l.detach = nil
	l.mu.Unlock()
	if detach != nil {
		detach()
	}
	l.stopFn.release()
}
