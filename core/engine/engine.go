package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/id"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// Buckets the engine keeps in its Store.
const (
	bucketRows    = "rows"    // table\x00id -> storedRow
	bucketApplied = "applied" // change id -> "" (changes already merged)
	bucketOutbox  = "outbox"  // hlc timestamp -> Change (pending local writes)
	bucketMeta    = "meta"    // "seq" -> uint64 big endian
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
	pending map[string]*Change // change id -> pending local change
	seq     uint64
	// lastCommit is the durability handle of the last commit made under mu
	// on a deferred store (nil otherwise); write takes it before unlocking.
	lastCommit *storage.Commit

	notify notifier
}

// table holds one table's rows, indexes and subscriptions.
type table struct {
	def  *schema.Table
	rows map[string]*row
	// index maps column -> value key -> ids of visible rows.
	index map[string]map[string]map[string]struct{}
	subs  subIndex
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
	}
	db.notify.onError = opts.OnError
	db.deferred, _ = opts.Store.(storage.Deferrer)
	for _, t := range db.schema.Tables {
		db.tables[t.Name] = newTable(t)
	}
	if err := db.load(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

func (db *DB) load(ctx context.Context) error {
	if v, ok, err := db.store.Get(ctx, bucketMeta, []byte("seq")); err != nil {
		return err
	} else if ok && len(v) == 8 {
		db.seq = binary.BigEndian.Uint64(v)
	}
	// Only the rows of tables in the schema are read: a browser client
	// opens with no tables and learns them later (Extend loads those), so
	// scanning everything here would read every row twice.
	for name, t := range db.tables {
		if err := db.loadRows(ctx, t); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := db.store.Scan(ctx, bucketApplied, nil, func(k, _ []byte) error {
		db.applied[string(k)] = struct{}{}
		return nil
	}); err != nil {
		return err
	}
	return db.loadOutbox(ctx, db.tables)
}

// loadRows reads a table's stored rows and indexes them.
func (db *DB) loadRows(ctx context.Context, t *table) error {
	prefix := []byte(t.def.Name + "\x00")
	return db.store.Scan(ctx, bucketRows, prefix, func(k, v []byte) error {
		r, err := decodeStoredRow(t.def, string(k[len(prefix):]), v)
		if err != nil {
			return err
		}
		t.rows[r.id] = r
		t.indexRow(r, true)
		return nil
	})
}

// loadOutbox restores the pending local changes of the given tables; changes
// for tables not (yet) in the schema stay in the store until Extend adds them.
func (db *DB) loadOutbox(ctx context.Context, tables map[string]*table) error {
	return db.store.Scan(ctx, bucketOutbox, nil, func(k, v []byte) error {
		var c Change
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("%w: outbox entry %s: %v", ErrCorrupt, k, err)
		}
		t := tables[c.Table]
		if t == nil {
			return nil
		}
		vals, err := decodeCells(t.def, valuesAsCells(c.Values))
		if err != nil {
			return err
		}
		c.Values = cellsAsValues(vals)
		if err := db.hlc.Observe(c.TS); err != nil {
			return err
		}
		t.addPending(&c)
		db.pending[c.ID] = &c
		return nil
	})
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
// the equality indexes.
func (t *table) indexRow(r *row, add bool) {
	if !r.visible() {
		return
	}
	for col, idx := range t.index {
		v, _ := r.Get(col)
		k, ok := indexKey(v)
		if !ok {
			continue
		}
		set := idx[k]
		if add {
			if set == nil {
				set = map[string]struct{}{}
				idx[k] = set
			}
			set[r.id] = struct{}{}
		} else if set != nil {
			delete(set, r.id)
			if len(set) == 0 {
				delete(idx, k)
			}
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
	return r
}

func (t *table) addPending(c *Change) {
	r := t.row(c.Row)
	t.indexRow(r, false)
	r.pending = append(r.pending, c)
	r.recompute()
	t.indexRow(r, true)
}
