//go:build js && wasm

package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	gosync "sync"
	"syscall/js"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/wasm/idbstore"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
	"github.com/jazzgo/jazz-tools/wasm/jsws"
)

// role is what this handle's Db does among the tabs sharing its database.
type role int

const (
	roleSingle   role = iota // alone: syncs and writes (memory storage, or no tab APIs)
	roleLeader               // syncs and writes for every tab
	roleFollower             // no server, read-only store; writes go to the leader
)

func (r role) String() string {
	return [...]string{"single", "leader", "follower"}[r]
}

// openTimeout bounds opening IndexedDB: past it the Db runs in memory.
const openTimeout = 10 * time.Second

// handle is one DbHandle: a client.Db that may be reopened (a follower
// promoted to leader, a reload) under the same JS object.
type handle struct {
	id        string
	cfg       client.Config
	identity  *identity.Identity // the local-first identity (nil in other modes), derived once
	storeMode string
	queue     *storage.WriteBehind // the current Db's write queue (nil in memory or as a follower)
	store     storage.Store        // owned: closed by close()
	obj       js.Value
	methods   map[string]js.Func

	mu         gosync.Mutex
	db         *client.Db
	gen        int
	role       role
	follower   *client.Follower
	schema     *schema.Schema // every table useSchema added
	schemaDone chan struct{}  // closed once the last useSchema reached the Db
	subs       map[int]*sub
	listeners  map[int]*listener
	// leaderSync is the last sync state a leader tab announced (mirrorSync).
	leaderSync *client.SyncState
	ensured    map[string]*query.Query // queries read with all/one: kept registered
	hook       js.Value                // the onJWTExpired hook, or undefined
	nextID     int
	closed     bool
	tabs       *tabs
	stopOnline func() // see watchOnline

	reloadMu gosync.Mutex
}

var (
	liveMu  gosync.Mutex
	handles = map[*handle]bool{}
)

// LiveHandles is how many Db handles are open.
func LiveHandles() int {
	liveMu.Lock()
	defer liveMu.Unlock()
	return len(handles)
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// leadResult is the answer to tabs.tryLead.
type leadResult struct {
	leader bool
	err    error
}

func createDb(ctx context.Context, cfgJSON string, early js.Value) (*handle, error) {
	hook("createDb")
	done := make(chan struct{})
	close(done)
	h := &handle{
		id: newID(), schemaDone: done, hook: js.Undefined(),
		subs: map[int]*sub{}, listeners: map[int]*listener{}, ensured: map[string]*query.Query{},
	}
	// Whether this tab writes the storage (leads) or asks the tab that does
	// is a round trip to the browser's lock manager. It is asked first, for
	// the database the page opened early (the likely one, see openStore),
	// while the config is decoded, the user derived and IndexedDB taken
	// over; a wrong guess is dropped and the lock asked for the right one.
	canShare := idbstore.Available() && tabsAvailable()
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
	guess := idbstore.EarlyName(early)
	if guess != "" && canShare {
		startLead(guess)
	}
	c, err := decodeConfig(cfgJSON)
	if err != nil {
		dropLead()
		return nil, err
	}
	name, id, err := client.StorageName(c.Config)
	if err != nil {
		dropLead()
		return nil, err
	}
	h.cfg, h.identity = c.Config, id
	if lead != nil && (name != guess || c.Storage == "memory") {
		dropLead()
	}
	if lead == nil && c.Storage != "memory" && canShare {
		startLead(name)
	}
	h.store, h.storeMode = openStore(ctx, name, c.Storage, early)
	r := roleSingle
	if lead != nil {
		l := <-lead
		switch {
		case h.storeMode != "indexeddb":
			h.tabs.shutdown() // memory: nothing to share
			h.tabs = nil
		case l.err != nil:
			console.Call("warn", "jazz: cannot coordinate with other tabs ("+l.err.Error()+"); this tab syncs on its own")
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
	h.stopOnline = h.watchOnline()
	h.obj = h.makeObject()
	if h.tabs != nil {
		h.tabs.start(r)
	}
	liveMu.Lock()
	handles[h] = true
	liveMu.Unlock()
	return h, nil
}

// openStore opens the IndexedDB database name, or memory when asked to or
// when IndexedDB cannot be used (Node, some private modes). early is the
// page's guess at the database, opened while the core loaded (see
// idbstore.OpenEarly), or undefined.
func openStore(ctx context.Context, name, want string, early js.Value) (storage.Store, string) {
	if want == "memory" {
		return storage.NewMemory(), "memory"
	}
	why := "IndexedDB is not available here"
	if idbstore.Available() {
		octx, cancel := context.WithTimeout(ctx, openTimeout)
		s, err := idbstore.OpenEarly(octx, name, idbstore.DefaultBuckets, early)
		cancel()
		if err == nil {
			return s, "indexeddb"
		}
		why = "IndexedDB could not be opened: " + err.Error()
	}
	console.Call("warn", "jazz: "+why+". This Db keeps its data in memory only: it is lost when the page closes, and other tabs do not see it. (storageMode() is \"memory\".)")
	return storage.NewMemory(), "memory"
}

// openDb opens a client.Db for role r over the handle's store.
func (h *handle) openDb(ctx context.Context, r role) (*client.Db, error) {
	h.mu.Lock()
	sc := h.schema.Clone()
	h.mu.Unlock()
	opts := client.Options{
		Config:    h.cfg,
		Bundle:    &bundle.Bundle{Version: bundle.Version, Schema: sc},
		Transport: jsws.Transport{},
		// Connecting can wait for the page's current task: see afterTask.
		Background: afterTask,
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
	if r != roleFollower && h.mode() == "indexeddb" {
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

// mode is where the Db keeps its data: "indexeddb" or "memory".
func (h *handle) mode() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.storeMode
}

// storageName is the IndexedDB database the Db keeps its data in, or ""
// when it keeps it in memory. The page remembers it to open the database
// early on its next load (idbstore.OpenEarly).
func (h *handle) storageName([]js.Value) (any, error) {
	if s, ok := h.store.(*idbstore.Store); ok && h.mode() == "indexeddb" {
		return s.Name(), nil
	}
	return "", nil
}

// storageFailed runs once IndexedDB stops taking writes (disk full, storage
// cleared under the page): the Db goes on in memory, and says so the way it
// does when IndexedDB is missing, plus a StorageError to onError listeners.
func (h *handle) storageFailed(err error) {
	h.mu.Lock()
	h.storeMode = "memory"
	h.mu.Unlock()
	console.Call("warn", "jazz: IndexedDB failed: "+err.Error()+". New changes still sync, but are lost if the page closes before they do. (storageMode() is now \"memory\".)")
	h.report(err)
}

// install makes db the handle's Db, moving subscriptions and listeners
// over from the previous one, which it returns (nil the first time).
func (h *handle) install(db *client.Db, r role) *client.Db {
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
	hookSet := !h.hook.IsUndefined()
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

// reload reopens the Db for role r and swaps it in. With tabs it must run
// on the tabs loop (see tabs.reload), so no batch is replayed into a Db
// being replaced.
func (h *handle) reload(ctx context.Context, r role) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if h.isClosed() {
		return client.ErrClosed
	}
	// The new Db loads from IndexedDB: first write out what the current one
	// has queued, or the new one would start without it.
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

func (h *handle) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *handle) current() (*client.Db, role, int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, 0, 0, client.ErrClosed
	}
	return h.db, h.role, h.gen, nil
}

// do runs fn on the current Db, again on the new one if the Db was
// replaced (and so closed) under it.
func (h *handle) do(fn func(db *client.Db) error) error {
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

// schemaReady waits until every useSchema made so far reached the Db.
func (h *handle) schemaReady(ctx context.Context) error {
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

// report delivers a failure with no caller to onError listeners.
func (h *handle) report(err error) {
	h.mu.Lock()
	var ls []*listener
	for _, l := range h.listeners {
		if l.kind == listenError {
			ls = append(ls, l)
		}
	}
	h.mu.Unlock()
	for _, l := range ls {
		l.deliverError(jsapi.Describe(err))
	}
}

func (h *handle) makeObject() js.Value {
	obj := js.Global().Get("Object").New()
	h.methods = map[string]js.Func{
		"useSchema":                  syncFunc(h.useSchema),
		"all":                        asyncFunc(h.read(false)),
		"one":                        asyncFunc(h.read(true)),
		"insert":                     asyncFunc(h.writeMethod("insert")),
		"update":                     asyncFunc(h.writeMethod("update")),
		"delete":                     asyncFunc(h.writeMethod("delete")),
		"upsert":                     asyncFunc(h.writeMethod("upsert")),
		"restore":                    asyncFunc(h.writeMethod("restore")),
		"newIds":                     syncFunc(h.newIDs),
		"batch":                      asyncFunc(h.batch),
		"waitBatch":                  asyncFunc(h.waitBatch),
		"allStaged":                  asyncFunc(h.allStaged),
		"loaded":                     asyncFunc(h.loaded),
		"subscribe":                  syncFunc(h.subscribe),
		"getAuthState":               syncFunc(h.getAuthState),
		"onAuthChanged":              syncFunc(h.onAuthChanged),
		"getSyncState":               syncFunc(h.getSyncState),
		"onSyncStateChanged":         syncFunc(h.onSyncStateChanged),
		"updateAuthToken":            syncFunc(h.updateAuthToken),
		"onJWTExpired":               syncFunc(h.onJWTExpired),
		"onError":                    syncFunc(h.onError),
		"getLocalFirstIdentityProof": asyncFunc(h.identityProof),
		"storageMode":                syncFunc(func([]js.Value) (any, error) { return h.mode(), nil }),
		"storageName":                syncFunc(h.storageName),
		"close":                      asyncFunc(func([]js.Value) (func(context.Context) (any, error), error) { return h.close, nil }),
	}
	for name, f := range h.methods {
		obj.Set(name, exported(f))
	}
	return obj
}

func (h *handle) useSchema(args []js.Value) (any, error) {
	hook("useSchema")
	s, err := stringArg(args, 0, "schemaJSON")
	if err != nil {
		return nil, err
	}
	sc, err := decodeSchema(s)
	if err != nil {
		return nil, err
	}
	return nil, h.addSchema(sc, false)
}

// addSchema records sc's tables and brings them to the Db on a goroutine
// (the engine reads the store to load their rows); later calls wait for it
// (schemaReady). onLoop is set when called from the tabs loop, which then
// applies it at once.
func (h *handle) addSchema(sc *schema.Schema, onLoop bool) error {
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
		// Extend also restores writes queued for these tables (by an
		// earlier session or the leader tab), so no reopen is needed.
		err := h.do(func(db *client.Db) error { return db.UseSchema(context.Background(), addedSchema) })
		if err != nil && !errors.Is(err, client.ErrClosed) {
			h.report(fmt.Errorf("jazz: useSchema: %w", err))
		}
	}
	if onLoop {
		// The tabs loop must not wait for an earlier useSchema: that one may
		// be waiting for the loop (a reload). Extending twice is harmless.
		safely("useSchema", apply)
		go func() { <-prev; close(done) }()
	} else {
		// Loading the tables can wait for the page's current task (the
		// subscribe that usually follows useSchema, and its saved result):
		// see afterTask.
		afterTask(func() {
			defer close(done)
			<-prev
			safely("useSchema", apply)
		})
	}
	return nil
}

// loaded(queryJSON) resolves once the server's result for the query is all
// in (client.Db.WaitLoaded): the package's "edge" read tier. In a follower
// tab it resolves at once: the leader tab holds the connection, and the
// follower has what the leader forwarded.
func (h *handle) loaded(args []js.Value) (func(context.Context) (any, error), error) {
	qs, err := stringArg(args, 0, "queryJSON")
	if err != nil {
		return nil, err
	}
	q, err := decodeQuery(qs)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (any, error) {
		if err := h.schemaReady(ctx); err != nil {
			return nil, err
		}
		db, r, _, err := h.current()
		if err != nil || r == roleFollower {
			return js.Undefined(), err
		}
		return js.Undefined(), db.WaitLoaded(ctx, q)
	}, nil
}

// read is all (one=false) or one.
func (h *handle) read(one bool) func([]js.Value) (func(context.Context) (any, error), error) {
	return func(args []js.Value) (func(context.Context) (any, error), error) {
		qs, err := stringArg(args, 0, "queryJSON")
		if err != nil {
			return nil, err
		}
		q, err := decodeQuery(qs)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) {
			hook("read")
			if err := h.schemaReady(ctx); err != nil {
				return nil, err
			}
			var out any
			err := h.do(func(db *client.Db) error {
				var err error
				if one {
					var r engine.Row
					if r, err = db.One(q); err == nil {
						out = r
					}
				} else {
					var rs []engine.Row
					if rs, err = db.All(q); err == nil {
						if rs == nil {
							rs = []engine.Row{}
						}
						out = rs
					}
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			h.ensure(q)
			b, err := json.Marshal(out)
			if err != nil {
				return nil, err
			}
			return string(b), nil
		}, nil
	}
}

// ensure keeps q registered with the server for the Db's life, as reads
// do; a follower asks the leader to.
func (h *handle) ensure(q *query.Query) {
	key := q.Key()
	h.mu.Lock()
	_, had := h.ensured[key]
	if !had {
		h.ensured[key] = q
	}
	r, t := h.role, h.tabs
	h.mu.Unlock()
	if !had && r == roleFollower && t != nil {
		t.retain(q, true)
	}
}

// writeMethod makes the method for one kind of single write. Not inlined:
// each kind would get its own copy of this code in the wasm.
//
//go:noinline
func (h *handle) writeMethod(kind string) func([]js.Value) (func(context.Context) (any, error), error) {
	return func(args []js.Value) (func(context.Context) (any, error), error) {
		table, err := stringArg(args, 0, "table")
		if err != nil {
			return nil, err
		}
		w := &write{Kind: kind, Table: table}
		next := 1
		if kind != "insert" {
			if w.ID, err = stringArg(args, 1, "id"); err != nil {
				return nil, err
			}
			next = 2
		}
		if kind != "delete" {
			if w.Values, err = stringArg(args, next, "valuesJSON"); err != nil {
				return nil, err
			}
			if _, err := decodeValues(w.Values); err != nil {
				return nil, err
			}
			next++
		}
		// An optional last argument names the change, so the caller can
		// wait for it (waitBatch) before the write returns.
		if len(args) > next && args[next].Type() == js.TypeString {
			w.Change = args[next].String()
		}
		return func(ctx context.Context) (any, error) {
			hook(kind)
			if err := h.schemaReady(ctx); err != nil {
				return nil, err
			}
			var out string
			var err error
			if _, r, _, cerr := h.current(); cerr != nil {
				return nil, cerr
			} else if r == roleFollower {
				out, err = h.tabs.call(ctx, h.withDef(w))
			} else {
				out, err = h.execWrite(ctx, w)
			}
			if err != nil {
				return nil, err
			}
			if kind == "delete" {
				return js.Undefined(), nil
			}
			return out, nil
		}, nil
	}
}

// write is one insert, update or delete, as the leader tab receives it.
type write struct {
	Kind   string          `json:"m"`
	Table  string          `json:"table"`
	ID     string          `json:"id,omitempty"`
	Change string          `json:"c,omitempty"` // the change's id, when the caller chose it
	Values string          `json:"v,omitempty"`
	Schema json.RawMessage `json:"def,omitempty"` // the table's schema, so the leader knows it
}

func (h *handle) withDef(w *write) *write {
	h.mu.Lock()
	sc := h.schema.Closure(w.Table)
	h.mu.Unlock()
	if sc != nil {
		w.Schema, _ = json.Marshal(sc)
	}
	return w
}

// execWrite performs w on this tab's Db and returns the row JSON.
func (h *handle) execWrite(ctx context.Context, w *write) (string, error) {
	if w.Kind == "batch" || w.Kind == "wait" {
		return h.execBatch(ctx, w)
	}
	var vals map[string]any
	if w.Kind != "delete" {
		var err error
		if vals, err = decodeValues(w.Values); err != nil {
			return "", err
		}
	}
	var row engine.Row
	err := h.do(func(db *client.Db) error {
		switch k := engine.Kind(w.Kind); k {
		case engine.KindInsert, engine.KindUpdate, engine.KindDelete, engine.KindUpsert, engine.KindRestore:
			var err error
			row, _, err = db.Write(ctx, w.Change, engine.Op{Kind: k, Table: w.Table, Row: w.ID, Values: vals})
			return err
		}
		return jsapi.BadArgument("jazz: unknown write %q", w.Kind)
	})
	if err != nil || w.Kind == "delete" {
		return "", err
	}
	b, err := json.Marshal(row)
	return string(b), err
}

func (h *handle) getAuthState([]js.Value) (any, error) {
	db, _, _, err := h.current()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(db.GetAuthState())
	return string(b), err
}

func (h *handle) updateAuthToken(args []js.Value) (any, error) {
	hook("updateAuthToken")
	var tok *string
	if len(args) > 0 && args[0].Type() == js.TypeString {
		s := args[0].String()
		tok = &s
	} else if len(args) > 0 && !jsutil.IsNullish(args[0]) {
		return nil, jsapi.BadArgument("jazz: updateAuthToken takes a string or null")
	}
	db, r, _, err := h.current()
	if err != nil {
		return nil, err
	}
	if err := db.UpdateAuthToken(tok); err != nil {
		return nil, err
	}
	if r == roleFollower && h.tabs != nil {
		h.tabs.forwardToken(*tok)
	}
	return nil, nil
}

func (h *handle) onJWTExpired(args []js.Value) (any, error) {
	var fn js.Value
	switch {
	case len(args) == 0 || jsutil.IsNullish(args[0]):
		fn = js.Undefined()
	case args[0].Type() == js.TypeFunction:
		fn = args[0]
	default:
		return nil, jsapi.BadArgument("jazz: onJWTExpired takes a function or null")
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, client.ErrClosed
	}
	h.hook = fn
	db := h.db
	h.mu.Unlock()
	if fn.IsUndefined() {
		db.OnJWTExpired(nil)
	} else {
		db.OnJWTExpired(h.runHook)
	}
	return nil, nil
}

// runHook calls the onJWTExpired hook and awaits its Promise; the core's
// timeout cancels ctx, which ends the wait.
func (h *handle) runHook(ctx context.Context) (string, error) {
	h.mu.Lock()
	fn := h.hook
	h.mu.Unlock()
	if fn.Type() != js.TypeFunction {
		return "", nil
	}
	var p js.Value
	if err := jsutil.Catch(func() { p = fn.Invoke() }); err != nil {
		return "", fmt.Errorf("jazz: onJWTExpired threw: %w", err)
	}
	v, err := jsutil.Await(ctx, p)
	if err != nil {
		return "", fmt.Errorf("jazz: onJWTExpired: %w", err)
	}
	if jsutil.IsNullish(v) {
		return "", nil
	}
	if v.Type() != js.TypeString {
		return "", fmt.Errorf("jazz: onJWTExpired must resolve to a JWT string, null or undefined (got %s)", v.Type())
	}
	return v.String(), nil
}

func (h *handle) identityProof(args []js.Value) (func(context.Context) (any, error), error) {
	if len(args) < 1 || args[0].Type() != js.TypeNumber {
		return nil, jsapi.BadArgument("jazz: ttlSeconds must be a number")
	}
	ttl := time.Duration(args[0].Float() * float64(time.Second))
	aud, err := stringArg(args, 1, "audience")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (any, error) {
		db, _, _, err := h.current()
		if err != nil {
			return nil, err
		}
		return db.GetLocalFirstIdentityProof(ttl, aud)
	}, nil
}

// close releases everything the handle owns. Calling it again does nothing.
func (h *handle) close(ctx context.Context) (any, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return js.Undefined(), nil
	}
	h.closed = true
	db, t := h.db, h.tabs
	subs := h.subs
	ls := h.listeners
	h.subs, h.listeners = map[int]*sub{}, map[int]*listener{}
	h.mu.Unlock()
	if t != nil {
		t.shutdown() // the leader finishes other tabs' calls and says bye first
	}
	h.stopOnline()
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
	db = h.db
	h.mu.Unlock()
	// Results not saved yet go in before Close writes out the queue.
	for _, r := range unsaved {
		r.s.saveTo(db, r.u)
	}
	err := db.Close()
	if cerr := h.store.Close(); err == nil {
		err = cerr
	}
	// Later calls get ClosedError from shared functions, not a released one.
	closedOnce.Do(initClosedMethods)
	for name, f := range h.methods {
		if c, ok := closedMethods[name]; ok {
			h.obj.Set(name, c)
		}
		jsutil.Release(f)
	}
	h.methods = nil
	liveMu.Lock()
	delete(handles, h)
	liveMu.Unlock()
	return js.Undefined(), err
}

// closedMethods answer every call on a closed handle; they live as long as
// the page and are shared by every closed handle. They are made at the
// first close, not at start: a page that never closes a Db never pays for
// them, and every page load pays for what Install does. Three plain
// js.Funcs serve every name; they are not counted by LiveFuncs, so a count
// taken before the first close still balances after it.
var (
	closedOnce    gosync.Once
	closedMethods map[string]js.Value
)

func initClosedMethods() {
	closedErr := jsapi.Describe(client.ErrClosed)
	throws := exported(js.FuncOf(func(js.Value, []js.Value) any { return thrown(closedErr) }))
	rejects := exported(js.FuncOf(func(js.Value, []js.Value) any { return rejected(closedErr) }))
	closedMethods = map[string]js.Value{
		"close": exported(js.FuncOf(func(js.Value, []js.Value) any { return promiseCtor.Call("resolve", js.Undefined()) })),
	}
	for _, name := range []string{"useSchema", "subscribe", "getAuthState", "onAuthChanged", "getSyncState", "onSyncStateChanged", "updateAuthToken", "onJWTExpired", "onError", "storageMode", "storageName", "newIds"} {
		closedMethods[name] = throws
	}
	for _, name := range []string{"all", "one", "insert", "update", "delete", "upsert", "restore", "getLocalFirstIdentityProof", "batch", "waitBatch", "allStaged", "loaded"} {
		closedMethods[name] = rejects
	}
}
