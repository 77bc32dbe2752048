package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/id"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// Buckets the engine keeps in its Store.
const (
	bucketRows    = "rows"    // table\x00id -> storedRow
	bucketApplied = "applied" // change id -> "" (changes already merged)
	bucketOutbox  = "outbox"  // hlc timestamp -> Change (pending local writes)
	bucketMeta    = "meta"    // "seq", "stamp" -> uint64 big endian; saved results (resultcache.go)
	// bucketPacks (pack.go) holds rows packed many to a value.
)

// Options configures Open. Only Bundle is required.
type Options struct {
	// Bundle is the app's schema and policies.
	Bundle *bundle.Bundle
	// Store persists rows; nil keeps everything in memory.
	Store storage.Store
	// Clock is the time source; nil means the system clock.
	Clock clock.Clock
	// Node names this replica in timestamps; empty picks a random one.
	Node string
	// EnforcePolicies makes reads and writes by non-backend actors obey the
	// bundle's policies. The server sets it; clients may leave it off and let
	// the server decide, since a client cannot be trusted to enforce anyway.
	EnforcePolicies bool
	// Optimistic keeps local writes pending (see package doc) until Ack or
	// Reject; sync clients set it. Without it local writes are final.
	Optimistic bool
	// Sequenced numbers every change to the base (the server's cursor).
	Sequenced bool
	// CacheResults keeps a commit stamp (one more small write per commit)
	// so that live query results can be saved and served to the next DB
	// over the same store before it reads any rows (see SaveResult).
	// Browser clients set it.
	CacheResults bool
	// PackRows keeps each table's rows in a few large values, compacted
	// from the rows written one by one (pack.go), so that reading a table
	// is a few reads instead of one per row. Browser clients that write
	// their store set it. Rows stored packed are read whether it is set or not.
	PackRows bool
	// ForgetApplied keeps the ids of applied changes (the applied bucket,
	// which makes Apply and Submit accept a resent change once) for this
	// DB's life only: Open does not read them back, and SweepApplied
	// deletes those the store holds. A sync client sets it. Its merges are
	// idempotent by timestamp and the server deduplicates what it submits,
	// so the log bought it nothing, while it grew by one id per write ever
	// made and every Open read it whole (10k ids added about 100 ms to a
	// browser's start). A server must not set it: Submit relies on the log
	// to accept a resend after a lost ack without applying it twice.
	ForgetApplied bool
	// AppliedFor is how long the id of an applied change is kept, counted
	// from when this DB applied it: within it, Submit accepts a resend of
	// the change (after a lost ack) without applying it twice. Older ids
	// are deleted (applied.go), so the log holds the changes of that last
	// stretch of time rather than every change ever. A resend after it is
	// judged as a new change: an insert of a row that exists is refused
	// (ErrExists), an update or delete applies again, which merging by
	// timestamp makes harmless. Zero keeps every id.
	AppliedFor time.Duration
	// OnError receives failures that have no caller to return to, such as a
	// subscription callback that panicked. Nil drops them.
	OnError func(error)
}

// DB is an open engine. It is safe for concurrent use.
type DB struct {
	opts   Options
	schema *schema.Schema
	store  storage.Store
	// deferred is store when it can take a batch without waiting for the
	// disk (storage.WriteBehind): commits then install in memory and notify
	// at once, and only the writer waits for durability, outside the lock.
	deferred storage.Deferrer
	hlc      *hlc.Clock
	ids      *id.Generator

	mu      sync.RWMutex
	closed  bool
	tables  map[string]*table
	applied map[string]struct{}
	// appliedOrder lists applied's ids by when they were applied, with
	// Options.AppliedFor (applied.go); appliedPruned is when expired ones
	// were last looked for (Unix ms).
	appliedOrder  []appliedEntry
	appliedPruned int64
	pending       map[string]*Change // change id -> pending local change
	// pendingOrder is pending sorted by time, built by Pending and dropped
	// (nil) by every change to pending, which holds the write lock;
	// pendingOrderMu orders the readers that may build it together.
	pendingOrder   []*Change
	pendingOrderMu sync.Mutex
	batches        map[string]*pendingBatch // batch id -> its pending changes (batch.go)
	seq            uint64
	// commits counts the commits installed in memory, so that work done
	// under the read lock can tell whether it is still current.
	commits uint64
	// stamp counts commits, on disk and in memory (see the result cache);
	// written under mu, read without it. openStamp is its value at Open.
	stamp     atomic.Uint64
	openStamp uint64
	// results are the saved results valid at Open, by key; read-only
	// after Open, and useless once the stamp moves (resultcache.go).
	results map[string]json.RawMessage
	// lastCommit is the durability handle of the last commit made under mu
	// on a deferred store (nil otherwise); write takes it before unlocking.
	lastCommit *storage.Commit

	notify notifier
}

// table holds one table's rows, indexes and subscriptions.
type table struct {
	def  *schema.Table
	rows map[string]*row
	// index holds the equality index of every indexed column, each built
	// when queries need it (see colIndex).
	index map[string]*colIndex
	subs  subIndex
	// includers are the subscriptions whose includes read this table
	// (include.go).
	includers map[*Subscription]struct{}
	// readDeps are the tables whose rows the read policy of this one
	// consults (allowedTo, exists: policy.Set.Deps); watchers are the
	// subscriptions to check again whenever a row of this table changes,
	// since that may show or hide rows of theirs (relational.go).
	readDeps []*table
	watchers map[*Subscription]struct{}
	// packs is the number of packs stored for the table, tail the ids of
	// its rows stored one by one (pack.go); kept with PackRows only.
	packs uint32
	tail  map[string]struct{}
	// bySeq lists the rows by sequence number for ChangedPage (seqindex.go),
	// built on first use; seqMu guards building it under the read lock.
	bySeq *seqIndex
	seqMu sync.Mutex
}

// Open loads the rows in opts.Store (if any) and returns a ready DB.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.Bundle == nil || opts.Bundle.Schema == nil {
		return nil, fmt.Errorf("engine: Options.Bundle with a schema is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.Store == nil {
		opts.Store = storage.NewMemory()
	}
	if opts.Node == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		opts.Node = hex.EncodeToString(b[:])
	}
	db := &DB{
		opts:    opts,
		schema:  opts.Bundle.Schema,
		store:   opts.Store,
		hlc:     hlc.New(opts.Clock, opts.Node),
		ids:     id.NewGenerator(opts.Clock, nil),
		tables:  map[string]*table{},
		applied: map[string]struct{}{},
		pending: map[string]*Change{},
		batches: map[string]*pendingBatch{},
	}
	db.notify.onError = opts.OnError
	db.deferred, _ = opts.Store.(storage.Deferrer)
	for _, t := range db.schema.Tables {
		db.tables[t.Name] = newTable(t)
	}
	for _, t := range db.tables {
		for dep := range opts.Bundle.Policies.Deps(t.def.Name, policy.Read) {
			t.readDeps = append(t.readDeps, db.tables[dep])
		}
	}
	if err := db.load(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

func (db *DB) load(ctx context.Context) error {
	// The meta bucket, the applied ids and the outbox are read at once: in
	// a browser each read is a round trip to IndexedDB, and together they
	// are most of a reopened DB's wait.
	type appliedRead struct {
		ops []storage.Op
		err error
	}
	appliedDone := make(chan appliedRead, 1)
	if db.opts.ForgetApplied {
		appliedDone <- appliedRead{}
	} else {
		go func() {
			ops, err := db.loadApplied(ctx)
			appliedDone <- appliedRead{ops, err}
		}()
	}
	outbox := make(chan outboxRead, 1)
	go func() { outbox <- db.readOutbox(ctx) }()
	err := db.loadMeta(ctx)
	// Only the rows of tables in the schema are read: a browser client
	// opens with no tables and learns them later (Extend loads those), so
	// scanning everything here would read every row twice.
	for name, t := range db.tables {
		if err != nil {
			break
		}
		if err = db.loadRows(ctx, t); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
	}
	o := <-outbox
	if err == nil {
		err = o.err
	}
	if err == nil {
		// After the rows: a pending change sits on top of its row.
		err = db.restoreOutbox(o.entries, db.tables)
	}
	a := <-appliedDone
	if err == nil && a.err == nil && len(a.ops) > 0 {
		// Expired ids and ids without a time (see loadApplied).
		err = db.store.Apply(ctx, a.ops)
	}
	return errors.Join(a.err, err)
}

// loadMeta reads the meta bucket in one scan (one round trip in a
// browser): the sequence number, the stamp and the saved results.
func (db *DB) loadMeta(ctx context.Context) error {
	var results [][2][]byte
	err := db.store.Scan(ctx, bucketMeta, nil, func(k, v []byte) error {
		switch {
		case string(k) == "seq" && len(v) == 8:
			db.seq = binary.BigEndian.Uint64(v)
		case string(k) == metaStamp && len(v) == 8:
			db.openStamp = binary.BigEndian.Uint64(v)
			db.stamp.Store(db.openStamp)
		case bytes.HasPrefix(k, []byte(resultPrefix)):
			// Judged once the stamp is known ("stamp" sorts after).
			results = append(results, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
		}
		return nil
	})
	if err != nil || !db.opts.CacheResults {
		return err
	}
	for _, kv := range results {
		db.keepResult(kv[0], kv[1])
	}
	return nil
}

// SweepApplied deletes the applied-change ids the store holds, for a DB
// with Options.ForgetApplied: nothing reads them back, and each commit that
// writes one has been published (client.EncodeTabBatch reads acks from a
// commit's own ops) before this batch, queued after it, deletes it. It
// returns how many it deleted. Ids written after its scan stay for the
// next sweep.
func (db *DB) SweepApplied(ctx context.Context) (int, error) {
	if !db.opts.ForgetApplied {
		return 0, errors.New("engine: SweepApplied needs Options.ForgetApplied (this DB relies on its applied log)")
	}
	var ops []storage.Op
	err := db.store.Scan(ctx, bucketApplied, nil, func(k, _ []byte) error {
		ops = append(ops, storage.Del(bucketApplied, bytes.Clone(k)))
		return nil
	})
	if err != nil || len(ops) == 0 {
		return 0, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return 0, ErrClosed
	}
	if _, err := db.persist(ctx, ops); err != nil {
		return 0, err
	}
	return len(ops), nil
}

// loadRows reads a table's stored rows: its tail, then its packs (pack.go).
// It is the cold start of a browser tab (every row of a table, when the
// table is first used), so it does as little per row as it can: one
// decoder for the whole scan (see rowDecoder), rows in chunks, every id a
// slice of one string, the table's map made once at its final size, and no
// indexing (a column's index is built when queries need it, see
// colIndex).
func (db *DB) loadRows(ctx context.Context, t *table) error {
	prefix := []byte(t.def.Name + "\x00")
	d := newRowDecoder(t.def)
	var (
		loaded []*row
		chunk  []row
		ids    []byte // every id, back to back; idEnd[i] ends loaded[i]'s
		idEnd  []int
	)
	keep := db.opts.PackRows // row.stored; only packing needs it
	add := func(rid, v []byte) error {
		if len(chunk) == cap(chunk) {
			chunk = make([]row, 0, 256)
		}
		if seq, visible, ok := d.checkEncoded(v); ok {
			// Kept encoded (lazyrow.go).
			chunk = append(chunk, row{stored: v, encVisible: visible, seq: seq})
		} else {
			cells, seq, err := d.decode(v)
			if err != nil {
				return d.corrupt(string(rid), err)
			}
			chunk = append(chunk, row{base: cells, view: cells, seq: seq})
			if keep {
				chunk[len(chunk)-1].stored = v
			}
		}
		loaded = append(loaded, &chunk[len(chunk)-1])
		ids = append(ids, rid...)
		idEnd = append(idEnd, len(ids))
		return nil
	}
	err := db.store.Scan(ctx, bucketRows, prefix, func(k, v []byte) error {
		if !bytes.HasPrefix(k, prefix) {
			return fmt.Errorf("%w: row key %q outside %q", ErrCorrupt, k, prefix)
		}
		return add(k[len(prefix):], v)
	})
	if err != nil {
		return err
	}
	tail := len(loaded)
	var packs uint32
	err = db.store.Scan(ctx, bucketPacks, prefix, func(k, v []byte) error {
		if !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+4 {
			return fmt.Errorf("%w: pack key %q outside %q", ErrCorrupt, k, prefix)
		}
		n := binary.BigEndian.Uint32(k[len(prefix):])
		if n == math.MaxUint32 {
			return fmt.Errorf("%w: pack number %d out of range", ErrCorrupt, n)
		}
		if err := packEntries(v, add); err != nil {
			return fmt.Errorf("%w: pack %s/%d: %v", ErrCorrupt, t.def.Name, n, err)
		}
		packs = max(packs, n+1)
		return nil
	})
	if err != nil {
		return err
	}
	// A write after this load must order after every cell it may overwrite.
	db.hlc.Raise(d.latest)
	text := string(ids)
	if len(t.rows) == 0 {
		t.rows = make(map[string]*row, len(loaded))
	}
	indexed := false // (a fresh table has no index built yet)
	for _, ci := range t.index {
		indexed = indexed || ci.keys != nil
	}
	if db.opts.PackRows {
		t.packs = packs
	}
	start := 0
	for i, r := range loaded {
		r.id = text[start:idEnd[i]]
		start = idEnd[i]
		if i < tail && db.opts.PackRows {
			t.tail[r.id] = struct{}{}
		}
		// A row both in the tail and in a pack is one row; its versions
		// merge (see pack.go).
		if old := t.rows[r.id]; old != nil {
			if indexed {
				t.indexRow(old, false)
			}
			t.materialize(old)
			t.materialize(r)
			merge(old.base, r.base)
			old.seq = max(old.seq, r.seq)
			old.stored = nil // neither version, now
			old.recompute()
			r = old
		}
		t.rows[r.id] = r
		if indexed {
			t.indexRow(r, true)
		}
	}
	return nil
}

// outboxRead is the outbox as stored: keys and Change JSON.
type outboxRead struct {
	entries [][2][]byte
	err     error
}

// readOutbox reads the outbox (restoreOutbox interprets it).
func (db *DB) readOutbox(ctx context.Context) outboxRead {
	var r outboxRead
	r.err = db.store.Scan(ctx, bucketOutbox, nil, func(k, v []byte) error {
		r.entries = append(r.entries, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
		return nil
	})
	return r
}

// loadOutbox restores the pending local changes of the given tables; changes
// for tables not (yet) in the schema stay in the store until Extend adds them.
func (db *DB) loadOutbox(ctx context.Context, tables map[string]*table) error {
	r := db.readOutbox(ctx)
	if r.err != nil {
		return r.err
	}
	return db.restoreOutbox(r.entries, tables)
}

// restoreOutbox puts the outbox entries of the given tables back as
// pending changes.
func (db *DB) restoreOutbox(entries [][2][]byte, tables map[string]*table) error {
	for _, e := range entries {
		k, v := e[0], e[1]
		batch, changes, err := decodeOutboxEntry(v)
		if err != nil {
			return fmt.Errorf("%w: outbox entry %s: %v", ErrCorrupt, k, err)
		}
		var restored []*Change
		for _, c := range changes {
			t := tables[c.Table]
			if t == nil {
				continue
			}
			vals, err := decodeCells(t.def, valuesAsCells(c.Values))
			if err != nil {
				return err
			}
			c.Values = cellsAsValues(vals)
			if err := db.hlc.Observe(c.TS); err != nil {
				return err
			}
			t.addPending(c)
			db.pending[c.ID] = c
			db.pendingOrder = nil
			restored = append(restored, c)
		}
		if batch != "" && len(restored) > 0 {
			db.registerBatchLocked(batch, k, len(changes), restored)
		}
	}
	return nil
}

func valuesAsCells(v map[string]any) map[string]cell {
	out := make(map[string]cell, len(v))
	for k, x := range v {
		out[k] = cell{V: x}
	}
	return out
}

func cellsAsValues(c map[string]cell) map[string]any {
	out := make(map[string]any, len(c))
	for k, x := range c {
		out[k] = x.V
	}
	return out
}

// Schema returns the schema the DB was opened with.
func (db *DB) Schema() *schema.Schema { return db.schema }

// Bundle returns the bundle the DB was opened with.
func (db *DB) Bundle() *bundle.Bundle { return db.opts.Bundle }

// Seq returns the sequence number of the last base change (Sequenced DBs).
func (db *DB) Seq() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.seq
}

// Close releases the DB and its store. Subscriptions stop receiving updates.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	for _, t := range db.tables {
		t.subs.init()
	}
	db.mu.Unlock()
	return db.store.Close()
}

// indexRow adds (add=true) or removes the row's current visible values from
// the equality indexes that are built (the others are built from the rows
// when first needed). The caller holds the write lock.
//
// It runs twice per written row, so the value key is built in a stack
// buffer and only becomes a string (an allocation) when it is new to the
// index, and a value held by one row (most titles, timestamps) costs no set
// of its own (see rowSet).
func (t *table) indexRow(r *row, add bool) {
	if !r.visible() {
		return
	}
	var buf [64]byte
	for col, ci := range t.index {
		idx := ci.keys
		if idx == nil {
			continue
		}
		v, _ := r.Get(col)
		k, ok := appendIndexKey(buf[:0], v)
		if !ok {
			continue
		}
		set, ok := idx[string(k)]
		switch {
		case add && set.many != nil:
			set.many[r] = struct{}{} // the map is shared: nothing to store back
		case add:
			idx[string(k)] = set.with(r)
		case !ok:
		case set.without(r):
			delete(idx, string(k))
		default:
			idx[string(k)] = set
		}
	}
}

func (t *table) row(rid string) *row {
	r := t.rows[rid]
	if r == nil {
		r = &row{id: rid, base: map[string]cell{}}
		r.view = r.base
		t.rows[rid] = r
	}
	t.materialize(r) // the callers change it
	return r
}

func (t *table) addPending(c *Change) {
	r := t.row(c.Row)
	t.indexRow(r, false)
	r.pending = append(r.pending, c)
	r.recompute()
	t.indexRow(r, true)
}
