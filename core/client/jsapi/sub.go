package jsapi

import (
	"context"
	"encoding/json"
	gosync "sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/live"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// sub is one live query from Subscribe. It survives the Db being
// reopened: attach moves it to the new Db, and its feed makes the first
// result from there relative to what the page holds, so the page sees one
// continuous stream. What changed, and where, is decided by the feed
// (core/live); the callback gets each Delta as JSON.
type sub struct {
	h    *Handle
	id   int
	q    *query.Query
	text []byte // q as the page sent it: the saved result's key
	cb   func(string)
	done func() // told once the subscription has ended
	feed *live.Feed

	mu       gosync.Mutex
	dead     bool
	gen      int    // the handle generation of the engine subscription
	cancel   func() // cancels it
	retained bool   // a follower asked the leader to register q
	// latest is the latest update of gen, through which the result is read
	// when it is saved for the next page load (see scheduleSaveLocked);
	// unsaved is set only once there is one.
	latest   engine.Update
	saveTime clock.Timer
	unsaved  bool // a result since the last save
}

// saveDelay spaces out the saves of a busy subscription's result: each
// one rewrites the whole result in the store.
const saveDelay = 100 * time.Millisecond

// maxSavedRows skips saving results that cannot fit engine.MaxCachedResult
// without encoding them first (a row's JSON is longer than 64 bytes).
const maxSavedRows = engine.MaxCachedResult / 64

// Subscribe starts a live query. cb gets each change of its result as a
// delta's JSON (live.Delta), the first being the whole result; done runs
// once the subscription has ended, by stop or by Close. A query the
// schema cannot run is refused at once; the subscription itself starts in
// the background (it takes the engine's lock, which a write may hold
// while it waits for the store).
func (h *Handle) Subscribe(queryJSON string, cb func(delta string), done func()) (stop func(), err error) {
	q, err := query.Decode([]byte(queryJSON))
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, client.ErrClosed
	}
	sc := h.schema.Clone()
	if _, err := q.Check(sc); err != nil {
		h.mu.Unlock()
		return nil, err
	}
	def, _ := sc.Table(q.Table)
	s := &sub{h: h, id: h.nextID, q: q, text: []byte(queryJSON), cb: cb, done: done}
	s.feed = live.New(live.Options{
		Clock:          h.env.clock(),
		Deliver:        s.send,
		CacheConfirmed: func() { h.env.trace("subscribe: cache confirmed") },
	})
	h.nextID++
	h.subs[s.id] = s
	follower := h.role == roleFollower && h.tabs != nil
	h.mu.Unlock()
	if follower {
		s.retained = true
		h.tabs.retain(q, true)
	}
	go h.safely("subscribe", func() {
		if db, _, _, err := h.current(); err == nil {
			s.fromCache(db, def)
		}
		if err := h.schemaReady(context.Background()); err != nil {
			return
		}
		if db, _, gen, err := h.current(); err == nil {
			s.attach(db, gen)
		}
	})
	return func() {
		h.mu.Lock()
		delete(h.subs, s.id)
		h.mu.Unlock()
		if u, ok := s.stop(); ok {
			// The result is still worth keeping (until the next change);
			// saving takes the engine's lock, so not on the caller's turn.
			go h.safely("saving a result", func() { s.saveNow(u) })
		}
	}, nil
}

// fromCache shows the result saved by the last page over this store when
// it is still exactly the current one (see engine.DB.CachedResult): the
// page shows its data while the table is still being read. The computed
// result follows; the feed sends it only if it differs.
func (s *sub) fromCache(db *client.Db, def *schema.Table) {
	rows, err := db.CachedResult(s.q, s.text, def)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.dead || s.gen != 0 {
		s.mu.Unlock() // a computed result got here first
		return
	}
	s.mu.Unlock()
	b := s.feed.Cached(rows)
	s.h.env.trace("subscribe: from cache")
	s.deliver(string(b))
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
	s.gen, s.cancel = gen, nil
	s.latest, s.unsaved = engine.Update{}, false // unsaved only after a result of gen
	s.feed.Attach(gen)
	s.mu.Unlock()
	if old != nil {
		old()
	}
	cancel, err := db.Subscribe(s.q, func(u engine.Update) {
		s.mu.Lock()
		if gen == s.gen {
			s.latest = u
		}
		s.mu.Unlock()
		s.feed.Push(gen, u)
	})
	if err != nil {
		s.mu.Lock()
		cur := s.gen
		s.mu.Unlock()
		if gen == cur {
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

// send passes one delta to the callback.
func (s *sub) send(d live.Delta) {
	b, err := d.AppendJSON(nil)
	if err != nil {
		s.h.report(err)
		return
	}
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.scheduleSaveLocked()
	s.mu.Unlock()
	s.deliver(string(b))
}

func (s *sub) deliver(delta string) {
	s.mu.Lock()
	dead := s.dead
	s.mu.Unlock()
	if !dead {
		s.h.safely("subscription callback", func() { s.cb(delta) })
	}
}

// scheduleSaveLocked arranges for the result to be saved for the next page
// load, saveDelay from now. Only a tab that writes a persistent store
// saves.
func (s *sub) scheduleSaveLocked() {
	_, r, cur, err := s.h.current()
	if err != nil || cur != s.gen || r == roleFollower || s.h.StorageMode() != Persistent {
		return
	}
	s.unsaved = true
	if s.saveTime == nil {
		s.saveTime = s.h.env.clock().AfterFunc(saveDelay, s.saveResult)
	}
}

// saveResult saves the latest result (the timer's function).
func (s *sub) saveResult() {
	s.mu.Lock()
	u, ok := s.latest, s.unsaved && !s.dead
	s.unsaved, s.saveTime = false, nil
	s.mu.Unlock()
	if ok {
		s.h.safely("saving a result", func() { s.saveNow(u) })
	}
}

// saveNow saves the result u's subscription has now, on the current Db.
func (s *sub) saveNow(u engine.Update) {
	if db, _, _, err := s.h.current(); err == nil {
		s.saveTo(db, u)
	}
}

// saveTo saves the result u's subscription has now on db. It is read and
// encoded only here, a timer's time after the change, and only if small
// enough: a result is never encoded whole on the way to the page.
func (s *sub) saveTo(db *client.Db, u engine.Update) {
	if u.Len() > maxSavedRows {
		return // not built: the whole result, every 100 ms of a busy page
	}
	rows, stamp := u.RowsAt()
	b, err := live.RowsJSON(rows)
	if err != nil {
		return
	}
	// Not saved (the state moved on, the Db closed) is fine: a later
	// result will be, or the next page reads the rows.
	if ok, _ := db.SaveResult(context.Background(), s.q, s.text, stamp, b); ok {
		s.h.env.trace("subscribe: result saved")
	}
}

// stop ends the subscription and tells done. It returns the latest update
// if its result is still waiting to be saved, for the caller to save (see
// saveNow).
func (s *sub) stop() (engine.Update, bool) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return engine.Update{}, false
	}
	s.dead = true
	cancel := s.cancel
	s.cancel = nil
	latest, unsaved := s.latest, s.unsaved
	if s.saveTime != nil {
		s.saveTime.Stop()
	}
	s.saveTime, s.unsaved = nil, false
	retained := s.retained
	s.mu.Unlock()
	s.feed.Stop()
	if s.done != nil {
		s.done()
	}
	if cancel != nil {
		go s.h.safely("unsubscribe", cancel)
	}
	if retained && s.h.tabs != nil {
		s.h.tabs.retain(s.q, false)
	}
	return latest, unsaved
}

type listenKind int

const (
	listenAuth listenKind = iota
	listenError
	listenSync
)

// listener is an onAuthChanged, onError or onSyncStateChanged
// registration; like a sub it moves to a reopened Db.
type listener struct {
	h    *Handle
	id   int
	kind listenKind
	cb   func(string)
	done func()

	mu     gosync.Mutex
	dead   bool
	detach func()
	// lastSync is the sync state JSON last delivered (listenSync): a Db
	// swapped in whose state differs is delivered at once.
	lastSync string
}

// OnAuthChanged calls cb with the auth state's JSON at each change.
func (h *Handle) OnAuthChanged(cb func(string), done func()) (stop func(), err error) {
	return h.listen(listenAuth, cb, done)
}

// OnError calls cb with the {name, code, message, ...} JSON of each failure
// no call returned: a rejected write, a sync problem, storage failing.
func (h *Handle) OnError(cb func(string), done func()) (stop func(), err error) {
	return h.listen(listenError, cb, done)
}

// OnSyncStateChanged calls cb with the sync state's JSON when it changes.
func (h *Handle) OnSyncStateChanged(cb func(string), done func()) (stop func(), err error) {
	return h.listen(listenSync, cb, done)
}

func (h *Handle) listen(kind listenKind, cb func(string), done func()) (func(), error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, client.ErrClosed
	}
	l := &listener{h: h, id: h.nextID, kind: kind, cb: cb, done: done}
	h.nextID++
	h.listeners[l.id] = l
	db := h.db
	h.mu.Unlock()
	l.attach(db)
	return func() {
		h.mu.Lock()
		delete(h.listeners, l.id)
		h.mu.Unlock()
		l.stop()
	}, nil
}

func (l *listener) attach(db *client.Db) {
	var detach func()
	switch l.kind {
	case listenAuth:
		detach = db.OnAuthChanged(func(st client.AuthState) {
			if b, err := json.Marshal(st); err == nil {
				l.call(string(b))
			}
		})
	case listenError:
		detach = db.OnError(func(err error) { l.deliverError(Describe(err)) })
	case listenSync:
		deliver := func(s client.SyncState) {
			j := encodeSyncState(s)
			l.mu.Lock()
			same := j == l.lastSync
			l.lastSync = j
			l.mu.Unlock()
			if !same {
				l.call(j)
			}
		}
		detach = db.OnSyncStateChanged(deliver)
		l.mu.Lock()
		first := l.lastSync == ""
		if first {
			l.lastSync = encodeSyncState(db.SyncState())
		}
		l.mu.Unlock()
		if !first {
			deliver(db.SyncState())
		}
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

func (l *listener) deliverError(b ErrorBody) {
	if l.kind != listenError {
		return
	}
	if j, err := json.Marshal(b); err == nil {
		l.call(string(j))
	}
}

func (l *listener) call(arg string) {
	l.mu.Lock()
	dead := l.dead
	l.mu.Unlock()
	if !dead {
		l.h.safely("listener", func() { l.cb(arg) })
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
	if l.done != nil {
		l.done()
	}
}
