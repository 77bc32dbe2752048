//go:build js && wasm

// Package idbstore is a storage.Store on the browser's IndexedDB: one
// database per app and user, one object store per bucket, binary keys and
// Uint8Array values.
//
// Apply is one readwrite transaction over every bucket it touches, so a
// batch commits or aborts as a whole. Durability is "relaxed": a commit
// survives the tab or the browser crashing, though an OS crash may lose the
// last instants (strict durability would add an fsync to every write, and
// the engine writes under its lock). Scan reads the keys and values of the
// prefix with getAllKeys and getAll in one readonly transaction, a
// consistent snapshot in ascending key order, and copies each array into Go
// in one piece when the page has the package's host helper (the slices fn
// receives then share one buffer, each capped at its own length, so keeping
// or appending to one never touches another).
//
// Object stores can only be created while upgrading a database. The buckets
// the engine and the sync client use are created up front; a write to any
// other bucket reopens the database one version up to create it. Another
// tab asking for an upgrade makes every connection here close itself
// (versionchange), and the next call reconnects, so tabs never block each
// other's upgrades.
package idbstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	gosync "sync"
	"syscall/js"
	"time"

	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

// DefaultBuckets are the buckets created when the database is created: the
// engine's (rows, packs, applied, outbox, meta) and the sync client's
// (sync). A database made before one of them existed gets it on the first
// write to it (an upgrade, see above).
var DefaultBuckets = []string{"rows", "packs", "applied", "outbox", "meta", "sync"}

// ErrUnavailable is returned by Open when the page has no IndexedDB.
var ErrUnavailable = errors.New("idbstore: IndexedDB is not available here")

// Store is an IndexedDB-backed storage.Store.
type Store struct {
	name string

	connMu gosync.Mutex // serializes (re)connecting
	mu     gosync.Mutex // guards the fields below
	want   map[string]bool
	c      *conn // nil when not connected
	closed bool
}

var _ storage.Store = (*Store)(nil)

// conn is one open IDBDatabase and its event handlers.
type conn struct {
	db      js.Value
	version int
	stores  map[string]bool
	onVC    js.Func
	onClose js.Func
}

// Available reports whether IndexedDB exists in this context.
func Available() bool {
	idb := js.Global().Get("indexedDB")
	return !jsutil.IsNullish(idb)
}

// Open opens (creating or upgrading as needed) the database name with at
// least buckets. It also asks the browser to keep the origin's storage
// (navigator.storage.persist), ignoring the answer.
func Open(ctx context.Context, name string, buckets []string) (*Store, error) {
	return OpenEarly(ctx, name, buckets, js.Undefined())
}

// OpenEarly is Open that first tries to use early, a connection the page
// began opening before the core loaded (bindings/js src/early-open.ts). Its
// shape is {name, ready: Promise, take(): IDBDatabase|null}: ready settles
// when the open has, and take hands the connection over once, or null if
// the open failed or the connection closed since. The connection is used
// only if early.name is name; the page closes what is not taken. Anything
// else as early (undefined, a foreign object) is ignored: the database is
// then opened as Open does.
//
// Why: the database is named after the user, whom the core derives from
// the config, so the core alone could only open it after loading. The page
// guesses the name (the one this app opened last) and opens it while the
// wasm compiles, which takes the open off the first result's path.
func OpenEarly(ctx context.Context, name string, buckets []string, early js.Value) (*Store, error) {
	if !Available() {
		return nil, ErrUnavailable
	}
	s := &Store{name: name, want: map[string]bool{}}
	for _, b := range buckets {
		s.want[b] = true
	}
	// An adopted connection without every bucket is upgraded by conn, as
	// one it had opened itself would be.
	s.c = s.adopt(ctx, early)
	if _, err := s.conn(ctx); err != nil {
		return nil, err
	}
	requestPersistence()
	return s, nil
}

// Name is the IndexedDB database name.
func (s *Store) Name() string { return s.name }

func requestPersistence() {
	_ = jsutil.Catch(func() {
		st := js.Global().Get("navigator")
		if jsutil.IsNullish(st) {
			return
		}
		st = st.Get("storage")
		if jsutil.IsNullish(st) || st.Get("persist").Type() != js.TypeFunction {
			return
		}
		p := st.Call("persist")
		if p.Type() == js.TypeObject && p.Get("catch").Type() == js.TypeFunction {
			p.Call("catch", jsutil.Noop())
		}
	})
}

// EarlyName is the name of the database early is opening (see OpenEarly),
// or "" when early is not such an object.
func EarlyName(early js.Value) string {
	if early.Type() != js.TypeObject {
		return ""
	}
	// early comes from the page: read it as untrusted (see jsutil.Get).
	n, err := jsutil.Get(early, "name")
	if err != nil || n.Type() != js.TypeString {
		return ""
	}
	return n.String()
}

// adopt takes early's connection if it is for this database (see
// OpenEarly), or returns nil.
func (s *Store) adopt(ctx context.Context, early js.Value) *conn {
	if EarlyName(early) != s.name {
		return nil
	}
	ready, err := jsutil.Get(early, "ready")
	if err != nil {
		return nil
	}
	if _, err := jsutil.Await(ctx, ready); err != nil {
		return nil
	}
	// take and the handlers newConn sets run in one go (no JS event runs
	// in between): a connection closed before it was taken is seen here.
	var db js.Value
	if jsutil.Catch(func() { db = early.Call("take") }) != nil || !jsutil.Is(db, "IDBDatabase") {
		return nil
	}
	if n, err := jsutil.Get(db, "name"); err != nil || n.Type() != js.TypeString || n.String() != s.name {
		db.Call("close") // a connection to another database: ours to drop now
		return nil
	}
	return s.newConn(db)
}

// conn returns the open connection, connecting first when there is none.
func (s *Store) conn(ctx context.Context) (*conn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, storage.ErrClosed
	}
	if c := s.c; c != nil && s.hasAllLocked(c) {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()

	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.mu.Lock()
	c := s.c
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, storage.ErrClosed
	}
	if c != nil && s.hasAll(c) {
		return c, nil
	}
	version := 0 // the current version
	if c != nil {
		version = c.version + 1
		s.drop(c)
	}
	for attempt := 0; ; attempt++ {
		nc, err := s.open(ctx, version)
		if err != nil {
			return nil, err
		}
		if s.hasAll(nc) {
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				nc.close()
				return nil, storage.ErrClosed
			}
			s.c = nc
			s.mu.Unlock()
			return nc, nil
		}
		// Stores are missing: upgrade one version up to create them.
		version = nc.version + 1
		nc.close()
		if attempt > 5 {
			return nil, fmt.Errorf("idbstore: %s: could not create the object stores", s.name)
		}
	}
}

func (s *Store) hasAll(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hasAllLocked(c)
}

func (s *Store) hasAllLocked(c *conn) bool {
	for b := range s.want {
		if !c.stores[b] {
			return false
		}
	}
	return true
}

// drop forgets c (if current) and closes it.
func (s *Store) drop(c *conn) {
	s.mu.Lock()
	if s.c == c {
		s.c = nil
	}
	s.mu.Unlock()
	c.close()
}

func (s *Store) wanted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.want))
	for b := range s.want {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

// open opens the database at version (0: whatever it is), creating the
// wanted stores if an upgrade runs.
func (s *Store) open(ctx context.Context, version int) (*conn, error) {
	want := s.wanted()
	var req js.Value
	err := jsutil.Catch(func() {
		idb := js.Global().Get("indexedDB")
		if version > 0 {
			req = idb.Call("open", s.name, version)
		} else {
			req = idb.Call("open", s.name)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("idbstore: opening %s: %w", s.name, err)
	}
	// The upgrade must create stores synchronously inside the event.
	upgrade := jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		_ = jsutil.Catch(func() {
			db := req.Get("result")
			names := db.Get("objectStoreNames")
			for _, b := range want {
				if !names.Call("contains", b).Bool() {
					db.Call("createObjectStore", b)
				}
			}
		})
		return nil
	})
	req.Set("onupgradeneeded", upgrade)
	defer func() {
		req.Set("onupgradeneeded", js.Null())
		jsutil.Release(upgrade)
	}()
	// "blocked" only means another connection has not closed yet; ours
	// close on versionchange, so keep waiting (bounded by ctx).
	for {
		ev, err := jsutil.Wait(ctx, req, "success", "error", "blocked")
		if err != nil {
			// The open may still succeed later: close what it yields.
			closeLater(req)
			return nil, fmt.Errorf("idbstore: opening %s: %w", s.name, err)
		}
		switch ev.Type {
		case "blocked":
			continue
		case "error":
			return nil, fmt.Errorf("idbstore: opening %s: %w", s.name, jsutil.ErrorOf(req.Get("error")))
		}
		break
	}
	return s.newConn(req.Get("result")), nil
}

// newConn wraps db, an open IDBDatabase of this Store, and makes it close
// itself when another connection upgrades or the browser closes it.
func (s *Store) newConn(db js.Value) *conn {
	c := &conn{db: db, version: db.Get("version").Int(), stores: map[string]bool{}}
	names := db.Get("objectStoreNames")
	for i, n := 0, names.Get("length").Int(); i < n; i++ {
		c.stores[names.Call("item", i).String()] = true
	}
	c.onVC = jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		// Another connection wants to upgrade: get out of its way. The
		// next call reconnects at the new version.
		s.drop(c)
		return nil
	})
	c.onClose = jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		// The browser closed it (storage cleared, ...).
		s.drop(c)
		return nil
	})
	db.Set("onversionchange", c.onVC)
	db.Set("onclose", c.onClose)
	return c
}

// closeLater closes the connection an abandoned open request eventually
// produces, so it never blocks another tab's upgrade.
func closeLater(req js.Value) {
	var f js.Func
	f = jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		req.Set("onsuccess", js.Null())
		req.Set("onerror", js.Null())
		jsutil.Release(f)
		if r := req.Get("result"); req.Get("readyState").String() == "done" && !jsutil.IsNullish(r) {
			_ = jsutil.Catch(func() { r.Call("close") })
		}
		return nil
	})
	req.Set("onsuccess", f)
	req.Set("onerror", f)
}

func (c *conn) close() {
	if c.db.IsUndefined() {
		return
	}
	_ = jsutil.Catch(func() { c.db.Call("close") })
	c.db.Set("onversionchange", js.Null())
	c.db.Set("onclose", js.Null())
	jsutil.Release(c.onVC)
	jsutil.Release(c.onClose)
	c.db = js.Undefined()
}

var errStale = errors.New("connection closed")

var durability = js.Global().Get("Object").New()

func init() { durability.Set("durability", "relaxed") }

// transaction starts a transaction over buckets, reconnecting once if the
// connection was closed under us (a versionchange from another tab).
func (s *Store) transaction(ctx context.Context, buckets []string, mode string) (js.Value, error) {
	for attempt := 0; ; attempt++ {
		c, err := s.conn(ctx)
		if err != nil {
			return js.Undefined(), err
		}
		names := js.Global().Get("Array").New(len(buckets))
		for i, b := range buckets {
			names.SetIndex(i, b)
		}
		var tx js.Value
		err = errStale
		if !c.db.IsUndefined() {
			err = jsutil.Catch(func() { tx = c.db.Call("transaction", names, mode, durability) })
		}
		if err == nil {
			return tx, nil
		}
		s.drop(c)
		if attempt > 0 {
			return js.Undefined(), fmt.Errorf("idbstore: %s: %w", s.name, err)
		}
	}
}

func (s *Store) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	return nil
}

// exists reports whether bucket has an object store (connecting if needed).
func (s *Store) exists(ctx context.Context, bucket string) (bool, error) {
	c, err := s.conn(ctx)
	if err != nil {
		return false, err
	}
	if c.stores[bucket] {
		return true, nil
	}
	// Another connection may have created it since we connected.
	var ok bool
	err = jsutil.Catch(func() {
		if !c.db.IsUndefined() {
			ok = c.db.Get("objectStoreNames").Call("contains", bucket).Bool()
		}
	})
	return ok, err
}

func (s *Store) Get(ctx context.Context, bucket string, key []byte) ([]byte, bool, error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	if ok, err := s.exists(ctx, bucket); err != nil || !ok {
		return nil, false, err
	}
	tx, err := s.transaction(ctx, []string{bucket}, "readonly")
	if err != nil {
		return nil, false, err
	}
	var req js.Value
	if err := jsutil.Catch(func() { req = tx.Call("objectStore", bucket).Call("get", jsutil.Uint8Array(key)) }); err != nil {
		return nil, false, fmt.Errorf("idbstore: get: %w", err)
	}
	v, err := request(ctx, req)
	if err != nil {
		return nil, false, fmt.Errorf("idbstore: get: %w", err)
	}
	if jsutil.IsNullish(v) {
		return nil, false, nil
	}
	b, err := jsutil.Bytes(v)
	if err != nil {
		return nil, false, fmt.Errorf("idbstore: %s/%q: %w", bucket, key, err)
	}
	return b, true, nil
}

// request waits for an IDBRequest and returns its result.
func request(ctx context.Context, req js.Value) (js.Value, error) {
	ev, err := jsutil.Wait(ctx, req, "success", "error")
	if err != nil {
		return js.Undefined(), err
	}
	if ev.Type == "error" {
		return js.Undefined(), jsutil.ErrorOf(req.Get("error"))
	}
	return req.Get("result"), nil
}

// successor is the smallest key greater than every key starting with p, or
// nil when there is none (p is empty or all 0xff).
func successor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

var keyRange = js.Global().Get("IDBKeyRange")

func (s *Store) Scan(ctx context.Context, bucket string, prefix []byte, fn func(k, v []byte) error) error {
	if err := s.check(); err != nil {
		return err
	}
	if ok, err := s.exists(ctx, bucket); err != nil || !ok {
		return err
	}
	tx, err := s.transaction(ctx, []string{bucket}, "readonly")
	if err != nil {
		return err
	}
	var keysReq, valsReq js.Value
	err = jsutil.Catch(func() {
		st := tx.Call("objectStore", bucket)
		var rng js.Value
		switch up := successor(prefix); {
		case len(prefix) == 0:
			rng = js.Undefined()
		case up == nil:
			rng = keyRange.Call("lowerBound", jsutil.Uint8Array(prefix))
		default:
			rng = keyRange.Call("bound", jsutil.Uint8Array(prefix), jsutil.Uint8Array(up), false, true)
		}
		keysReq = st.Call("getAllKeys", rng)
		valsReq = st.Call("getAll", rng)
	})
	if err != nil {
		return fmt.Errorf("idbstore: scan: %w", err)
	}
	keys, err := request(ctx, keysReq)
	if err != nil {
		return fmt.Errorf("idbstore: scan: %w", err)
	}
	vals, err := request(ctx, valsReq)
	if err != nil {
		return fmt.Errorf("idbstore: scan: %w", err)
	}
	// Both arrays are copied in bulk (see jsutil.BytesArray): per item, the
	// crossings cost more than IndexedDB's read.
	ks, err := jsutil.BytesArray(keys)
	if err != nil {
		return fmt.Errorf("idbstore: scan %s keys: %w", bucket, err)
	}
	vs, err := jsutil.BytesArray(vals)
	if err != nil {
		return fmt.Errorf("idbstore: scan %s values: %w", bucket, err)
	}
	if len(ks) != len(vs) {
		return fmt.Errorf("idbstore: scan: %d keys but %d values", len(ks), len(vs))
	}
	for i, k := range ks {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(k, vs[i]); err != nil {
			return err
		}
	}
	return nil
}

// applyTimeout bounds one write transaction. Apply does not give up when
// its ctx ends once the transaction is issued: IndexedDB may still commit,
// and reporting a failure for a write that happened would break the
// all-or-nothing contract.
const applyTimeout = time.Minute

func (s *Store) Apply(ctx context.Context, ops []storage.Op) error {
	if len(ops) == 0 {
		return s.check()
	}
	set := map[string]bool{}
	for _, op := range ops {
		if op.Bucket == "" {
			return storage.ErrBadBucket
		}
		if len(op.Key) == 0 {
			return storage.ErrEmptyKey
		}
		set[op.Bucket] = true
	}
	if err := s.check(); err != nil {
		return err
	}
	buckets := make([]string, 0, len(set))
	s.mu.Lock()
	for b := range set {
		buckets = append(buckets, b)
		s.want[b] = true // an unknown bucket makes conn() upgrade
	}
	s.mu.Unlock()
	sort.Strings(buckets)
	tx, err := s.transaction(ctx, buckets, "readwrite")
	if err != nil {
		return err
	}
	err = jsutil.Catch(func() {
		stores := map[string]js.Value{}
		for _, b := range buckets {
			stores[b] = tx.Call("objectStore", b)
		}
		for _, op := range ops {
			if op.Delete {
				stores[op.Bucket].Call("delete", jsutil.Uint8Array(op.Key))
			} else {
				stores[op.Bucket].Call("put", jsutil.Uint8Array(op.Value), jsutil.Uint8Array(op.Key))
			}
		}
	})
	if err != nil {
		_ = jsutil.Catch(func() { tx.Call("abort") })
		return fmt.Errorf("idbstore: apply: %w", err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	ev, err := jsutil.Wait(wctx, tx, "complete", "abort")
	if err != nil {
		return fmt.Errorf("idbstore: apply: %w", err)
	}
	if ev.Type == "abort" {
		return fmt.Errorf("idbstore: apply aborted: %w", jsutil.ErrorOf(tx.Get("error")))
	}
	return nil
}

// Close closes the connection. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	c := s.c
	s.c = nil
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
	return nil
}

// Delete removes the database name (tests and "sign out and forget").
func Delete(ctx context.Context, name string) error {
	if !Available() {
		return ErrUnavailable
	}
	var req js.Value
	if err := jsutil.Catch(func() { req = js.Global().Get("indexedDB").Call("deleteDatabase", name) }); err != nil {
		return err
	}
	for {
		ev, err := jsutil.Wait(ctx, req, "success", "error", "blocked")
		if err != nil {
			return err
		}
		switch ev.Type {
		case "blocked":
			continue
		case "error":
			return jsutil.ErrorOf(req.Get("error"))
		}
		return nil
	}
}
