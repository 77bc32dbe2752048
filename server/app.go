package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/server/boltstore"
	"github.com/jazzgo/jazz-tools/server/pgstore"
)

// Where the published bundle is kept, next to the engine's own buckets in
// the same store, so data and the schema that reads it are backed up and
// restored together.
const (
	bucketApp = "app"
	keyBundle = "bundle"
	// keyRetired holds the columns earlier bundles had and the one in
	// force dropped, by table (schema.Table.Retire), as JSON.
	keyRetired = "retired"
)

// app is the served app's data: one store for its whole life, and an engine
// over it that is replaced whenever a new bundle is published.
type app struct {
	log   *slog.Logger
	clock clock.Clock
	store storage.Store
	// appliedFor is Config.AppliedFor, for each engine opened.
	appliedFor time.Duration

	// mu is held shared by every engine operation that reads or writes the
	// store and exclusively by a bundle swap and by close, so a new engine
	// never loads while the old one is still writing. Engine callbacks must
	// not take it (they run inside Submit, which already holds it).
	mu         sync.RWMutex
	db         *engine.DB
	bundleJSON []byte // canonical encoding of the published bundle; nil before the first
	closed     bool
	// shared is set when the store is shared with other servers
	// (Config.DatabaseURL): writes are then serialized across them and
	// their commits installed here (cluster.go).
	shared *shared
}

// openStore opens the store the configuration names: memory, a bbolt file
// in DataDir, or the app's tables in the PostgreSQL database at
// DatabaseURL (shared with other servers; returned as such too).
func openStore(ctx context.Context, cfg Config) (storage.Store, *pgstore.Store, error) {
	switch {
	case cfg.InMemory:
		if cfg.store != nil {
			return cfg.store, nil, nil
		}
		return storage.NewMemory(), nil, nil
	case cfg.DatabaseURL != "":
		ps, err := pgstore.Open(ctx, cfg.DatabaseURL, cfg.AppID, pgstore.Options{})
		if err != nil {
			return nil, nil, err
		}
		return ps, ps, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("server: data directory: %w", err)
	}
	bs, err := boltstore.Open(filepath.Join(cfg.DataDir, cfg.AppID+".db"), boltstore.Options{})
	if err != nil {
		return nil, nil, err
	}
	return bs, nil, nil
}

// openApp opens the store and an engine over the bundle in force: cfg.Bundle
// when given (then persisted), else the stored one, else an empty schema.
func openApp(ctx context.Context, cfg Config, m *metrics) (*app, error) {
	store, ps, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &app{log: cfg.Logger, clock: cfg.Clock, store: timedStore{store, &m.commit}, appliedFor: cfg.AppliedFor}
	if ps != nil {
		a.shared = newShared(ps)
	}
	if err := a.start(ctx, cfg.Bundle); err != nil {
		store.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) start(ctx context.Context, initial *bundle.Bundle) error {
	if a.shared != nil {
		// Read before any row is, so that installing what committed
		// after it covers whatever the load below missed.
		v, err := a.shared.store.Version(ctx)
		if err != nil {
			return err
		}
		a.shared.version = v
	}
	b := emptyBundle()
	raw, ok, err := a.store.Get(ctx, bucketApp, []byte(keyBundle))
	if err != nil {
		return fmt.Errorf("server: reading the stored bundle: %w", err)
	}
	if ok {
		if b, err = bundle.Decode(raw); err != nil {
			return fmt.Errorf("server: the stored bundle is unreadable: %w", err)
		}
		retired, err := a.storedRetired(ctx)
		if err != nil {
			return err
		}
		b.Schema.RetireColumns(retired)
		a.bundleJSON = raw
	}
	if initial != nil && ok {
		// A restart with the bundle already in force (the usual case for
		// --bundle) has nothing to check or publish.
		if enc, err := initial.Encode(); err == nil && bytes.Equal(enc, raw) {
			initial = nil
		}
	}
	if a.db, err = a.openEngine(ctx, b); err != nil {
		return err
	}
	if initial == nil {
		return nil
	}
	// A bundle given at start is a publish before the first connection,
	// checked against the stored data like any other (never forced).
	old, _, err := a.swap(ctx, initial, false)
	if err != nil {
		a.db.Close()
		return err
	}
	return old.Close()
}

// storedRetired reads the retired columns kept beside the bundle.
func (a *app) storedRetired(ctx context.Context) (map[string][]string, error) {
	raw, ok, err := a.store.Get(ctx, bucketApp, []byte(keyRetired))
	if err != nil || !ok {
		return nil, err
	}
	var retired map[string][]string
	if err := json.Unmarshal(raw, &retired); err != nil {
		return nil, fmt.Errorf("server: the stored retired columns are unreadable: %w", err)
	}
	return retired, nil
}

// emptyBundle is the schema in force before anything is published: no
// tables, so every query and write fails with an unknown-table error.
func emptyBundle() *bundle.Bundle {
	s := &schema.Schema{}
	_ = s.Init() // cannot fail without tables
	return &bundle.Bundle{Version: bundle.Version, Schema: s, Policies: policy.Set{}}
}

func (a *app) openEngine(ctx context.Context, b *bundle.Bundle) (*engine.DB, error) {
	db, err := engine.Open(ctx, engine.Options{
		Bundle:          b,
		Store:           sharedStore{a.store},
		Clock:           a.clock,
		Sequenced:       true,
		EnforcePolicies: true,
		AppliedFor:      a.appliedFor,
		OnError: func(err error) {
			a.log.Error("engine error", "error", err)
		},
	})
	if err != nil {
		if errors.Is(err, engine.ErrCorrupt) {
			return nil, &IncompatibleBundleError{Err: err}
		}
		return nil, fmt.Errorf("server: opening the engine: %w", err)
	}
	return db, nil
}

// sharedStore lets an engine be closed (on a bundle swap) without closing
// the store under it, which outlives every engine.
type sharedStore struct{ storage.Store }

func (sharedStore) Close() error { return nil }

// current returns the engine in force.
func (a *app) current() (*engine.DB, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return nil, ErrClosed
	}
	return a.db, nil
}

// bind calls fn with the engine in force while a swap is excluded, so a
// connection records its engine atomically with respect to publishing.
func (a *app) bind(fn func(db *engine.DB)) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	fn(a.db)
	return nil
}

// do runs one engine operation with swaps excluded. fn must not call do.
func (a *app) do(fn func() error) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	return fn()
}

// bundle returns the published bundle's canonical JSON, nil if none.
func (a *app) bundle() []byte {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.bundleJSON
}

// publish checks b against the bundle in force and the stored rows
// (schema.Compare), opens an engine over the store with b, writes the
// defaults the plan fills in, persists b and makes the new engine current.
// A change that would break rows or old clients is refused with a
// *schema.UnsafeChangeError unless force is set and every break can be
// forced. onSwap runs with swaps still excluded, after the new engine is
// current and before the old one is closed, so that it can close every
// connection bound to the old engine and to no other. On any error the old
// engine stays in force and the bundle is not persisted (defaults already
// written stay in their rows, as values of a column the bundle in force
// does not declare: kept, untyped, until a publish declares it).
func (a *app) publish(ctx context.Context, b *bundle.Bundle, force bool, onSwap func(old *engine.DB)) (*schema.Plan, error) {
	if a.shared != nil {
		a.shared.mu.Lock()
		defer a.shared.mu.Unlock()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrClosed
	}
	old, plan, err := a.swap(ctx, b, force)
	if err != nil {
		return nil, err
	}
	onSwap(old)
	return plan, old.Close()
}

// swap does the work of publish with a.mu held (or before the app is
// shared) and returns the engine it replaced, still open, and the plan it
// carried out. b itself is not modified: the engine gets a copy, with the
// retired columns marked.
func (a *app) swap(ctx context.Context, b *bundle.Bundle, force bool) (*engine.DB, *schema.Plan, error) {
	enc, err := b.Encode()
	if err != nil {
		return nil, nil, fmt.Errorf("server: encoding the bundle: %w", err)
	}
	prev := a.db.Bundle().Schema
	plan, err := schema.Compare(prev, b.Schema, prev.RetiredColumns(), a.rowsOf(ctx, a.db))
	if err != nil {
		return nil, nil, fmt.Errorf("server: checking the bundle against the stored rows: %w", err)
	}
	if err := plan.Check(force); err != nil {
		return nil, nil, err
	}
	if a.shared != nil && len(plan.Fills) > 0 {
		f := plan.Fills[0]
		return nil, nil, &UnsupportedChangeError{Reason: fmt.Sprintf("%s.%s has a default that %d existing rows would need written into them, which servers sharing a database do not do yet: "+
			"add the column as optional, publish, then fill it from a backend (docs/schema-changes.md)", f.Table, f.Column, f.Rows)}
	}
	own, err := bundle.Decode(enc)
	if err != nil {
		return nil, nil, fmt.Errorf("server: decoding the bundle again: %w", err)
	}
	own.Schema.RetireColumns(plan.Retired)
	retired, err := json.Marshal(plan.Retired)
	if err != nil {
		return nil, nil, err
	}
	db, err := a.openEngine(ctx, own)
	if err != nil {
		return nil, nil, err
	}
	if err := fillDefaults(ctx, db, plan.Fills); err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := a.persistBundle(ctx, db, []storage.Op{
		storage.Put(bucketApp, []byte(keyBundle), enc),
		storage.Put(bucketApp, []byte(keyRetired), retired),
	}); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("server: persisting the bundle: %w", err)
	}
	old := a.db
	a.db, a.bundleJSON = db, enc
	return old, plan, nil
}

// rowsOf reads the live rows of db's tables for schema.Compare, as the
// system (no policy applies).
func (a *app) rowsOf(ctx context.Context, db *engine.DB) schema.RowSource {
	return func(table string, each func(map[string]any) bool) error {
		rows, err := db.All(engine.Actor{Backend: true}, &query.Query{Table: table})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !each(r) {
				break
			}
		}
		return nil
	}
}

// fillDefaults writes each fill's default into the live rows that have no
// value for its column, as the system, in batches of at most
// limits.MaxChangesPerPush. These are ordinary changes: they are synced to
// clients like any edit (and stamp the rows' $updatedAt and $updatedBy).
func fillDefaults(ctx context.Context, db *engine.DB, fills []schema.Fill) error {
	sys := engine.Actor{Backend: true}
	for _, f := range fills {
		t, err := db.Schema().Table(f.Table)
		if err != nil {
			return err
		}
		col, _ := t.Column(f.Column)
		rows, err := db.All(sys, &query.Query{Table: f.Table})
		if err != nil {
			return err
		}
		var ops []engine.Op
		flush := func() error {
			if len(ops) == 0 {
				return nil
			}
			_, err := db.WriteBatch(ctx, sys, "", ops)
			ops = ops[:0]
			if err != nil {
				return fmt.Errorf("server: writing the default of %s.%s into existing rows: %w", f.Table, f.Column, err)
			}
			return nil
		}
		for _, r := range rows {
			if r[f.Column] != nil {
				continue
			}
			v, err := col.DefaultValue()
			if err != nil {
				return err
			}
			ops = append(ops, engine.Op{Kind: engine.KindUpdate, Table: f.Table, Row: r.ID(), Values: map[string]any{f.Column: v}})
			if len(ops) == limits.MaxChangesPerPush {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	return nil
}

// close waits for in-flight engine operations, then closes the engine and
// the store.
func (a *app) close() error {
	if a.shared != nil {
		// First: the tail takes the lock below to install.
		a.shared.stopTail()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	err := a.db.Close()
	if err2 := a.store.Close(); err == nil {
		err = err2
	}
	return err
}
