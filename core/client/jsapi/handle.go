package jsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// role is what a handle's Db does among the tabs sharing its store.
type role int

const (
	roleSingle   role = iota // alone: syncs and writes (memory storage, or no tabs)
	roleLeader               // syncs and writes for every tab
	roleFollower             // no server, read-only store; writes go to the leader
)

func (r role) String() string {
	return [...]string{"single", "leader", "follower"}[r]
}

// Handle is one DbHandle of the package: a client.Db that may be reopened
// (a follower promoted to leader, a reload after the leader vanished) under
// the same handle. Subscriptions, listeners, the schema and the queries
// kept registered move to each new Db, so the app sees one Db throughout.
type Handle struct {
	env       Env
	id        string
	cfg       client.Config
	identity  *identity.Identity // the local-first identity (nil in other modes), derived once
	storeName string
	store     storage.Store // owned: closed by Close

	mu         gosync.Mutex
	storeMode  string
	queue      *storage.WriteBehind // the current Db's write queue (nil in memory or as a follower)
	db         *client.Db
	gen        int
	role       role
	follower   *client.Follower
	schema     *schema.Schema // every table useSchema added
	schemaDone chan struct{}  // closed once the last useSchema reached the Db
	subs       map[int]*sub
	listeners  map[int]*listener
	leaderSync *client.SyncState       // the last sync state a leader tab announced
	ensured    map[string]*query.Query // queries read with all/one: kept registered
	hook       func(context.Context) (string, error)
	nextID     int
	closed     bool
	tabs       *tabs

	reloadMu gosync.Mutex
}

var liveHandles atomic.Int64

// LiveHandles is how many handles are open (tests prove Close frees them).
func LiveHandles() int { return int(liveHandles.Load()) }

// Open opens the Db that configJSON describes (createDb). With env.Tabs and
// a persistent store it joins the other tabs of the same app and user:
// the first leads, the others follow (docs/browser.md).
func Open(ctx context.Context, configJSON string, env Env) (*Handle, error) {
	done := make(chan struct{})
	close(done)
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	h := &Handle{
		env: env, id: hex.EncodeToString(idb[:]), schemaDone: done,
		subs: map[int]*sub{}, listeners: map[int]*listener{}, ensured: map[string]*query.Query{},
	}
	// Whether this tab writes the storage (leads) or asks the tab that does
	// is a round trip to the browser's lock manager. It is asked first, for
	// the store the page opened early (the likely one), while the config
	// is decoded, the user derived and the store taken over; a wrong guess
	// is dropped and the lock asked for the right one.
	type leadResult struct {
		leader bool
		err    error
	}
	var lead chan leadResult
	startLead := func(name string) {
		t, ch := newTabs(h, name), make(chan leadResult, 1)
		h.tabs, lead = t, ch
		go func() {
			ok, err := t.tryLead(ctx)
			ch <- leadResult{ok, err}
		}()
	}
	dropLead := func() {
		if lead != nil {
			<-lead
			h.tabs.shutdown()
			h.tabs, lead = nil, nil
		}
	}
	if env.EarlyName != "" && env.Tabs != nil {
		startLead(env.EarlyName)
	}
	c, err := decodeConfig(configJSON)
	if err != nil {
		dropLead()
		return nil, err
	}
	name, id, err := client.StorageName(c.Config)
	if err != nil {
		dropLead()
		return nil, err
	}
	h.cfg, h.identity, h.storeName = c.Config, id, name
	if lead != nil && (name != env.EarlyName || c.Storage == Memory) {
		dropLead()
	}
	if lead == nil && c.Storage != Memory && env.Tabs != nil {
		startLead(name)
	}
	h.store, h.storeMode = env.OpenStore(ctx, name, c.Storage)
	r := roleSingle
	if lead != nil {
		l := <-lead
		switch {
		case h.storeMode != Persistent:
			h.tabs.shutdown() // memory: nothing to share
			h.tabs = nil
		case l.err != nil:
			env.log("warn", "jazz: cannot coordinate with other tabs ("+l.err.Error()+"); this tab syncs on its own")
			h.tabs.shutdown()
			h.tabs = nil
		case l.leader:
			r = roleLeader
		default:
			r = roleFollower
		}
	}
	db, err := h.openDb(ctx, r)
	if err != nil {
		if h.tabs != nil {
			h.tabs.shutdown()
		}
		h.store.Close()
		return nil, err
	}
	h.install(db, r)
	if h.tabs != nil {
		h.tabs.start(r)
	}
	liveHandles.Add(1)
	return h, nil
}

// openDb opens a client.Db for role r over the handle's store.
func (h *Handle) openDb(ctx context.Context, r role) (*client.Db, error) {
	h.mu.Lock()
	sc := h.schema.Clone()
	persistent := h.storeMode == Persistent
	h.mu.Unlock()
	opts := client.Options{
		Config:     h.cfg,
		Bundle:     &bundle.Bundle{Version: bundle.Version, Schema: sc},
		Transport:  h.env.Transport,
		Background: h.env.Background,
		Identity:   h.identity,
	}
	switch r {
	case roleSingle:
		opts.Store = client.LeaderStore(h.store, nil)
	case roleLeader:
		opts.Store = client.LeaderStore(h.store, h.tabs.publishBatch)
	case roleFollower:
		opts.Config.ServerURL = "" // the leader syncs
		opts.Store = client.FollowerStore(h.store)
	}
	var queue *storage.WriteBehind
	if r != roleFollower && persistent {
		// An IndexedDB commit takes about a millisecond: write behind it, so
		// subscribers see a write at once and bursts share a transaction.
		// The Db's Close writes out what is queued.
		queue = storage.NewWriteBehind(opts.Store, h.storageFailed)
		opts.Store = queue
		// And every value IndexedDB reads costs: keep tables packed
		// (engine/pack.go). This tab is the store's one writer.
		opts.PackRows = true
	}
	db, err := client.Open(ctx, opts)
	if err != nil {
		if queue != nil {
			queue.Close()
		}
		return nil, err
	}
	if r == roleFollower {
		h.initialFollowerSync(db)
	}
	h.mu.Lock()
	h.queue = queue
	h.mu.Unlock()
	return db, nil
}

// StorageMode is where the Db keeps its data: Persistent or Memory.
func (h *Handle) StorageMode() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.storeMode
}

// StorageName is the persistent store the Db keeps its data in, or "" in
// memory. The page remembers it to open the store early on its next load.
func (h *Handle) StorageName() string {
	if h.StorageMode() != Persistent {
		return ""
	}
	return h.storeName
}

// Role is "single", "leader" or "follower" (tests and diagnostics).
func (h *Handle) Role() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.role.String()
}

// storageFailed runs once the store stops taking writes (disk full,
// storage cleared under the page): the Db goes on in memory, and says so
// the way it does when there is no persistent store, plus a StorageError
// to onError listeners.
func (h *Handle) storageFailed(err error) {
	h.mu.Lock()
	h.storeMode = Memory
	h.mu.Unlock()
	h.env.log("warn", "jazz: IndexedDB failed: "+err.Error()+". New changes still sync, but are lost if the page closes before they do. (storageMode() is now \"memory\".)")
	h.report(err)
}

// install makes db the handle's Db, moving subscriptions and listeners
// over from the previous one, which it returns (nil the first time).
func (h *Handle) install(db *client.Db, r role) *client.Db {
	h.mu.Lock()
	old := h.db
	h.db, h.role = db, r
	h.gen++
	gen := h.gen
	h.follower = nil
	if r == roleFollower {
		h.follower = client.NewFollower(db)
	}
	subs := make([]*sub, 0, len(h.subs))
	for _, s := range h.subs {
		subs = append(subs, s)
	}
	ls := make([]*listener, 0, len(h.listeners))
	for _, l := range h.listeners {
		ls = append(ls, l)
	}
	ensured := make([]*query.Query, 0, len(h.ensured))
	for _, q := range h.ensured {
		ensured = append(ensured, q)
	}
	hookSet := h.hook != nil
	h.mu.Unlock()
	if hookSet {
		db.OnJWTExpired(h.runHook)
	}
	for _, l := range ls {
		l.attach(db)
	}
	if r != roleFollower {
		for _, q := range ensured {
			db.RetainServerQuery(q)
		}
	}
	for _, s := range subs {
		s.attach(db, gen)
	}
	if h.tabs != nil && r == roleLeader {
		h.tabs.watchLeaderDb(db)
	}
	return old
}

// reload reopens the Db for role r and swaps it in. With tabs it runs on
// the tabs loop, so no batch is replayed into a Db being replaced.
func (h *Handle) reload(ctx context.Context, r role) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if h.isClosed() {
		return client.ErrClosed
	}
	// The new Db loads from the store: first write out what the current
	// one has queued, or the new one would start without it.
	h.mu.Lock()
	queue := h.queue
	h.mu.Unlock()
	if queue != nil {
		_ = queue.Flush(ctx)
	}
	db, err := h.openDb(ctx, r)
	if err != nil {
		return err
	}
	if h.isClosed() {
		db.Close()
		return client.ErrClosed
	}
	if old := h.install(db, r); old != nil {
		old.Close()
	}
	return nil
}

func (h *Handle) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *Handle) current() (*client.Db, role, int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, 0, 0, client.ErrClosed
	}
	return h.db, h.role, h.gen, nil
}

// do runs fn on the current Db, again on the new one if the Db was
// replaced (and so closed) under it.
func (h *Handle) do(fn func(db *client.Db) error) error {
	for attempt := 0; ; attempt++ {
		db, _, gen, err := h.current()
		if err != nil {
			return err
		}
		err = fn(db)
		if attempt < 3 && (errors.Is(err, client.ErrClosed) || errors.Is(err, engine.ErrClosed)) {
			h.mu.Lock()
			replaced := h.gen != gen && !h.closed
			h.mu.Unlock()
			if replaced {
				continue
			}
		}
		return err
	}
}

// report delivers a failure with no caller to onError listeners.
func (h *Handle) report(err error) { h.reportBody(Describe(err)) }

func (h *Handle) reportBody(b ErrorBody) {
	h.mu.Lock()
	var ls []*listener
	for _, l := range h.listeners {
		if l.kind == listenError {
			ls = append(ls, l)
		}
	}
	h.mu.Unlock()
	for _, l := range ls {
		l.deliverError(b)
	}
}

// safely runs fn, turning a panic into a console error: for work no
// caller waits on (goroutines, timers, tab messages).
func (h *Handle) safely(what string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			h.env.log("error", fmt.Sprintf("jazz: internal error in %s: %v", what, p))
		}
	}()
	fn()
}

// background runs fn as the env says background work runs (after the
// page's current task), recovering a panic.
func (h *Handle) background(what string, fn func()) {
	run := func() { h.safely(what, fn) }
	if h.env.Background != nil {
		h.env.Background(run)
		return
	}
	go run()
}

// UseSchema records the tables of schemaJSON ({"tables": [...]}) and
// brings them to the Db in the background (the engine reads the store to
// load their rows); later calls wait for it. A table already declared with
// other columns is refused at once.
func (h *Handle) UseSchema(schemaJSON string) error {
	sc, err := DecodeSchema(schemaJSON)
	if err != nil {
		return err
	}
	return h.addSchema(sc, false)
}

// addSchema is UseSchema for a decoded schema. onLoop is set when called
// from the tabs loop, which then applies it at once.
func (h *Handle) addSchema(sc *schema.Schema, onLoop bool) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return client.ErrClosed
	}
	merged, added, err := schema.Merge(h.schema, sc)
	if err != nil || len(added) == 0 {
		h.mu.Unlock()
		return err
	}
	h.schema = merged
	prev := h.schemaDone
	done := make(chan struct{})
	h.schemaDone = done
	h.mu.Unlock()
	addedSchema := (&schema.Schema{Tables: added}).Clone()
	if err := addedSchema.Init(); err != nil {
		// Tables that refer to ones declared earlier: hand the engine the union.
		addedSchema = merged.Clone()
	}
	apply := func() {
		// UseSchema also restores writes queued for these tables (by an
		// earlier session or the leader tab), so no reopen is needed.
		err := h.do(func(db *client.Db) error { return db.UseSchema(context.Background(), addedSchema) })
		if err != nil && !errors.Is(err, client.ErrClosed) {
			h.report(fmt.Errorf("jazz: useSchema: %w", err))
		}
	}
	if onLoop {
		// The tabs loop must not wait for an earlier useSchema: that one may
		// be waiting for the loop (a reload). Extending twice is harmless.
		h.safely("useSchema", apply)
		go func() { <-prev; close(done) }()
		return nil
	}
	// Loading the tables can wait for the page's current task (the
	// subscribe that usually follows useSchema, and its saved result).
	h.background("useSchema", func() {
		defer close(done)
		<-prev
		apply()
	})
	return nil
}

// schemaReady waits until every useSchema made so far reached the Db.
func (h *Handle) schemaReady(ctx context.Context) error {
	h.mu.Lock()
	done := h.schemaDone
	h.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// GetAuthState is the auth state as JSON.
func (h *Handle) GetAuthState() (string, error) {
	db, _, _, err := h.current()
	if err != nil {
		return "", err
	}
	return Marshal(db.GetAuthState())
}

// GetSyncState is the sync state as JSON (SyncState in types.ts).
func (h *Handle) GetSyncState() (string, error) {
	db, _, _, err := h.current()
	if err != nil {
		return "", err
	}
	return encodeSyncState(db.SyncState()), nil
}

// UpdateAuthToken hands the Db a new JWT (nil is refused with a typed
// error); a follower also hands it to the leader, which syncs.
func (h *Handle) UpdateAuthToken(tok *string) error {
	db, r, _, err := h.current()
	if err != nil {
		return err
	}
	if err := db.UpdateAuthToken(tok); err != nil {
		return err
	}
	if r == roleFollower && h.tabs != nil {
		h.tabs.forwardToken(*tok)
	}
	return nil
}

// OnJWTExpired sets the hook asked for a new JWT (nil: none). It stays
// set across reopens.
func (h *Handle) OnJWTExpired(hook func(context.Context) (string, error)) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return client.ErrClosed
	}
	h.hook = hook
	db := h.db
	h.mu.Unlock()
	if hook == nil {
		db.OnJWTExpired(nil)
	} else {
		db.OnJWTExpired(h.runHook)
	}
	return nil
}

func (h *Handle) runHook(ctx context.Context) (string, error) {
	h.mu.Lock()
	fn := h.hook
	h.mu.Unlock()
	if fn == nil {
		return "", nil
	}
	return fn(ctx)
}

// IdentityProof signs a proof of the local-first identity for audience.
func (h *Handle) IdentityProof(ttl time.Duration, audience string) (string, error) {
	db, _, _, err := h.current()
	if err != nil {
		return "", err
	}
	return db.GetLocalFirstIdentityProof(ttl, audience)
}

// Reconnect makes the sync client try the server now (the page came
// online). It does not block.
func (h *Handle) Reconnect() {
	h.mu.Lock()
	db, closed := h.db, h.closed
	h.mu.Unlock()
	if db != nil && !closed {
		db.Reconnect()
	}
}

// Close releases everything the handle owns: subscriptions and listeners
// end (their done functions run), a leader hands over to the next tab,
// results not saved yet are saved, queued writes reach the store. Calling
// it again does nothing.
func (h *Handle) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	t := h.tabs
	subs, ls := h.subs, h.listeners
	h.subs, h.listeners = map[int]*sub{}, map[int]*listener{}
	h.mu.Unlock()
	if t != nil {
		t.shutdown() // the leader finishes other tabs' calls and says bye first
	}
	type unsavedResult struct {
		s *sub
		u engine.Update
	}
	var unsaved []unsavedResult
	for _, s := range subs {
		if u, ok := s.stop(); ok {
			unsaved = append(unsaved, unsavedResult{s, u})
		}
	}
	for _, l := range ls {
		l.stop()
	}
	h.reloadMu.Lock() // wait out a reload in progress
	h.reloadMu.Unlock()
	h.mu.Lock()
	db := h.db
	h.mu.Unlock()
	// Results not saved yet go in before Close writes out the queue.
	for _, r := range unsaved {
		r.s.saveTo(db, r.u)
	}
	err := db.Close()
	if cerr := h.store.Close(); err == nil {
		err = cerr
	}
	liveHandles.Add(-1)
	return err
}
