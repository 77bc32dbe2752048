package server

import (
	"context"
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
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/server/boltstore"
)

// Where the published bundle is kept, next to the engine's own buckets in
// the same store, so data and the schema that reads it are backed up and
// restored together.
const (
	bucketApp = "app"
	keyBundle = "bundle"
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
}

// openApp opens the store and an engine over the bundle in force: cfg.Bundle
// when given (then persisted), else the stored one, else an empty schema.
func openApp(ctx context.Context, cfg Config, m *metrics) (*app, error) {
	var store storage.Store
	if cfg.InMemory {
		store = cfg.store
		if store == nil {
			store = storage.NewMemory()
		}
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("server: data directory: %w", err)
		}
		bs, err := boltstore.Open(filepath.Join(cfg.DataDir, cfg.AppID+".db"), boltstore.Options{})
		if err != nil {
			return nil, err
		}
		store = bs
	}
	a := &app{log: cfg.Logger, clock: cfg.Clock, store: timedStore{store, &m.commit}, appliedFor: cfg.AppliedFor}
	if err := a.start(ctx, cfg.Bundle); err != nil {
		store.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) start(ctx context.Context, initial *bundle.Bundle) error {
	if initial != nil {
		enc, err := initial.Encode()
		if err != nil {
			return fmt.Errorf("server: encoding the initial bundle: %w", err)
		}
		db, err := a.openEngine(ctx, initial)
		if err != nil {
			return err
		}
		if err := a.store.Apply(ctx, []storage.Op{storage.Put(bucketApp, []byte(keyBundle), enc)}); err != nil {
			db.Close()
			return fmt.Errorf("server: persisting the initial bundle: %w", err)
		}
		a.db, a.bundleJSON = db, enc
		return nil
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
		a.bundleJSON = raw
	}
	a.db, err = a.openEngine(ctx, b)
	return err
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

// publish opens an engine over the store with b, persists b and makes the
// new engine current. onSwap runs with swaps still excluded, after the new
// engine is current and before the old one is closed, so that it can close
// every connection bound to the old engine and to no other. On any error the
// old engine stays in force and nothing is persisted.
func (a *app) publish(ctx context.Context, b *bundle.Bundle, onSwap func(old *engine.DB)) error {
	enc, err := b.Encode()
	if err != nil {
		return fmt.Errorf("server: encoding the bundle: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	db, err := a.openEngine(ctx, b)
	if err != nil {
		return err
	}
	if err := a.store.Apply(ctx, []storage.Op{storage.Put(bucketApp, []byte(keyBundle), enc)}); err != nil {
		db.Close()
		return fmt.Errorf("server: persisting the bundle: %w", err)
	}
	old := a.db
	a.db, a.bundleJSON = db, enc
	onSwap(old)
	return old.Close()
}

// close waits for in-flight engine operations, then closes the engine and
// the store.
func (a *app) close() error {
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
