package client

import (
	"errors"
	gosync "sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/sync"
)

// Connection is the Db's link to the server as an app shows it.
type Connection string

const (
	// Connecting: dialing, or waiting for the server's welcome.
	Connecting Connection = "connecting"
	// Online: the server welcomed us; writes go out, results come in.
	Online Connection = "online"
	// Offline: not connected, and a reconnect is scheduled (SyncState.Error
	// says why the last attempt failed); or the Db has no server.
	Offline Connection = "offline"
	// Paused: the server refused the credentials; sync waits for new ones
	// (AuthState.Error says why).
	Paused Connection = "paused"
	// Stopped: nothing more is synced, after a fatal error (SyncState.Error:
	// an unknown app, another protocol version) or Close.
	Stopped Connection = "stopped"
)

// SyncState is what an app shows about syncing: whether it is connected,
// how many local writes the server has not confirmed yet, when it last
// confirmed one, and what is wrong, if anything.
type SyncState struct {
	Connection Connection
	// PendingWrites counts local writes not yet acknowledged (or rejected)
	// by the server, across every tab of the app.
	PendingWrites int
	// LastAckedAt is when the server last acknowledged writes of this Db
	// (zero before the first).
	LastAckedAt time.Time
	// Error is why sync is not working, nil when it is: an unreachable
	// server or one that is not a jazz-tools server (sync.ErrUnreachable,
	// sync.ErrWrongServer, retried), no schema published on the server
	// (sync.ErrNoBundle), or a fatal error (sync.ErrUnknownApp,
	// sync.ErrProtocolVersion). It is cleared once online again.
	Error error
}

func (s SyncState) equal(o SyncState) bool {
	return s.Connection == o.Connection && s.PendingWrites == o.PendingWrites &&
		s.LastAckedAt.Equal(o.LastAckedAt) && s.Error == o.Error
}

// syncStore holds the current SyncState and notifies listeners of changes.
type syncStore struct {
	mu        gosync.Mutex
	state     SyncState
	listeners map[int]func(SyncState)
	next      int
}

func (s *syncStore) get() SyncState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// set changes the state with fn and calls the listeners (outside the lock)
// if anything changed. It returns the state before.
func (s *syncStore) set(fn func(*SyncState)) SyncState {
	s.mu.Lock()
	before := s.state
	fn(&s.state)
	after := s.state
	var ls []func(SyncState)
	if !before.equal(after) {
		ls = make([]func(SyncState), 0, len(s.listeners))
		for _, l := range s.listeners {
			ls = append(ls, l)
		}
	}
	s.mu.Unlock()
	for _, l := range ls {
		l(after)
	}
	return before
}

func (s *syncStore) subscribe(l func(SyncState)) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listeners == nil {
		s.listeners = map[int]func(SyncState){}
	}
	id := s.next
	s.next++
	s.listeners[id] = l
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.listeners, id)
	}
}

// SyncState returns the current sync state.
func (db *Db) SyncState() SyncState { return db.syncState.get() }

// OnSyncStateChanged calls cb with every new sync state; the result stops
// it. cb runs on the goroutine that made the change (a write's, or the
// sync client's callback goroutine): keep it short.
func (db *Db) OnSyncStateChanged(cb func(SyncState)) (stop func()) {
	return db.syncState.subscribe(cb)
}

// MirrorSyncState sets the sync state a follower tab shows: the leader's,
// since only the leader talks to the server.
func (db *Db) MirrorSyncState(s SyncState) { db.syncState.set(func(st *SyncState) { *st = s }) }

// onSyncStatus follows the sync client's connection status.
func (db *Db) onSyncStatus(s sync.Status) {
	db.syncState.set(func(st *SyncState) {
		if st.Connection == Stopped {
			return // after a fatal error nothing reconnects
		}
		switch s {
		case sync.Connecting:
			st.Connection = Connecting
		case sync.Connected:
			st.Connection, st.Error = Online, nil
		case sync.Paused:
			st.Connection = Paused
		case sync.Closed:
			st.Connection = Stopped
		default:
			st.Connection = Offline
		}
	})
}

// onFatal records a failure that stopped sync, and reports it.
func (db *Db) onFatal(err error) {
	db.syncState.set(func(st *SyncState) { st.Connection, st.Error = Stopped, err })
	db.report(err)
}

// onProblem records why sync is not working. Retries repeat the same
// problem every few seconds: onError hears of it only when it is new (the
// first since the Db was last online, or a different kind).
func (db *Db) onProblem(err error) {
	before := db.syncState.set(func(st *SyncState) { st.Error = err })
	if before.Error == nil || problemKind(before.Error) != problemKind(err) {
		db.report(err)
	}
}

func problemKind(err error) error {
	for _, k := range []error{sync.ErrUnreachable, sync.ErrWrongServer, sync.ErrNoBundle} {
		if errors.Is(err, k) {
			return k
		}
	}
	return err
}

// onAck records that the server acknowledged writes.
func (db *Db) onAck() {
	now := db.opts.Clock.Now()
	db.syncState.set(func(st *SyncState) { st.LastAckedAt, st.PendingWrites = now, db.engine.PendingCount() })
}

// countPending refreshes PendingWrites after a write or a rejection. The
// count is taken under the store's lock, so two goroutines counting at
// once cannot leave the older count in place.
func (db *Db) countPending() {
	db.syncState.set(func(st *SyncState) { st.PendingWrites = db.engine.PendingCount() })
}
