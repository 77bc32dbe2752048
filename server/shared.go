package server

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/server/pgstore"
)

// tailPoll is how often a server reads the shared store for commits
// without being woken: a lost NOTIFY (a dropped LISTEN connection) costs
// at most this.
const tailPoll = time.Second

// tailTimeout bounds one read of the others' commits and its install.
const tailTimeout = 30 * time.Second

// shared is what an app over a store shared with other servers adds
// (pgstore, Config.DatabaseURL): each server's engine is a replica of the
// database. A write takes the app's lock in the database, installs what
// the others committed since this replica's version, and only then lets
// the engine decide (policies, existence, resends) and commit, so every
// decision is made on the rows as they stand and every replica numbers
// rows alike. Between writes, a tail installs the others' commits as
// NOTIFY (or the poll) announces them.
type shared struct {
	store *pgstore.Store
	// mu orders this process's writes, installs and bundle swaps, and
	// guards version. It is taken before app.mu.
	mu sync.Mutex
	// version is the store version the current engine reflects.
	version uint64
	// onSwap closes the connections bound to an engine replaced because
	// another server published a bundle (set by follow).
	onSwap func(old *engine.DB)

	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func newShared(s *pgstore.Store) *shared {
	return &shared{store: s, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// follow starts the tail: onSwap closes the connections bound to an engine
// replaced because another server published a bundle.
func (a *app) follow(onSwap func(old *engine.DB)) {
	sh := a.shared
	if sh == nil {
		return
	}
	sh.onSwap = onSwap
	sh.store.Listen(func() {
		select {
		case sh.wake <- struct{}{}:
		default:
		}
	})
	go func() {
		defer close(sh.done)
		t := time.NewTicker(tailPoll)
		defer t.Stop()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { <-sh.stop; cancel() }()
		for {
			select {
			case <-sh.stop:
				return
			case <-sh.wake:
			case <-t.C:
			}
			// Bounded, so a connection that hangs without breaking stalls
			// the tail for no longer than this.
			cctx, ccancel := context.WithTimeout(ctx, tailTimeout)
			if err := a.catchUp(cctx); err != nil && ctx.Err() == nil {
				a.log.Warn("reading the shared store's commits", "error", err)
			}
			ccancel()
		}
	}()
}

// stopTail stops the tail and waits for it; safe to call more than once
// and before follow.
func (sh *shared) stopTail() {
	sh.stopOnce.Do(func() {
		close(sh.stop)
		select {
		case <-sh.done:
		case <-time.After(10 * time.Second):
		}
	})
}

// catchUp installs what other servers committed since this replica's
// version: rows and applied ids into the engine, or, if a bundle was
// published, a new engine over the store (closing the connections bound
// to the old one through onSwap).
func (a *app) catchUp(ctx context.Context) error {
	sh := a.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return a.catchUpLocked(ctx)
}

func (a *app) catchUpLocked(ctx context.Context) error {
	sh := a.shared
	v, ops, err := sh.store.Changes(ctx, sh.version)
	if err != nil || v <= sh.version {
		return err
	}
	if raw := publishedBundle(ops); raw != nil {
		if err := a.swapTo(ctx, raw, sh.onSwap); err != nil {
			return err
		}
		sh.version = v
		return nil
	}
	err = a.do(func() error { return a.db.Replicate(ctx, ops) })
	if err != nil {
		return err
	}
	sh.version = v
	return nil
}

// publishedBundle is the bundle among ops, nil if none was published.
func publishedBundle(ops []storage.Op) []byte {
	var raw []byte
	for _, op := range ops {
		if op.Bucket == bucketApp && bytes.Equal(op.Key, []byte(keyBundle)) && !op.Delete {
			raw = op.Value
		}
	}
	return raw
}

// swapTo makes the bundle another server published current: a new engine
// loads the store as it now stands, as a local publish does.
func (a *app) swapTo(ctx context.Context, raw []byte, onSwap func(old *engine.DB)) error {
	b, err := bundle.Decode(raw)
	if err != nil {
		return fmt.Errorf("server: the bundle published by another server is unreadable: %w", err)
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
	old := a.db
	a.db, a.bundleJSON = db, raw
	if onSwap != nil {
		onSwap(old)
	}
	a.log.Info("bundle published by another server", "tables", len(b.Schema.Tables))
	return old.Close()
}

// write runs fn, an engine operation that may commit once, with the
// context its commit must use. On a shared store, fn runs under the app's
// lock in the database, on an engine brought up to date first, and its
// commit is durable and visible to every server when it returns.
func (a *app) write(ctx context.Context, fn func(ctx context.Context) error) error {
	sh := a.shared
	if sh == nil {
		return a.do(func() error { return fn(ctx) })
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w, err := sh.store.Begin(ctx, sh.version)
	if err != nil {
		return err
	}
	defer w.Close()
	if publishedBundle(w.Tail) != nil {
		// The connection's engine is being replaced: the swap closes it
		// and its client resends to the new one.
		w.Close()
		if err := a.catchUpLocked(ctx); err != nil {
			return err
		}
		return engine.ErrClosed
	}
	return a.do(func() error {
		if len(w.Tail) > 0 {
			if err := a.db.Replicate(ctx, w.Tail); err != nil {
				return err
			}
		}
		sh.version = w.Version
		err := fn(w.Context(ctx))
		if v, ok := w.Committed(); ok {
			sh.version = v
		}
		return err
	})
}

// persistBundle stores op (the bundle db was opened with, and what goes
// with it). On a shared
// store it brings db up to date with what committed since it was loaded,
// under the lock, and commits the bundle, which the others then load.
func (a *app) persistBundle(ctx context.Context, db *engine.DB, op []storage.Op) error {
	sh := a.shared
	if sh == nil {
		return a.store.Apply(ctx, op)
	}
	w, err := sh.store.Begin(ctx, sh.version)
	if err != nil {
		return err
	}
	defer w.Close()
	if err := db.Replicate(ctx, w.Tail); err != nil {
		return err
	}
	if err := a.store.Apply(w.Context(ctx), op); err != nil {
		return err
	}
	sh.version, _ = w.Committed()
	return nil
}

// reach brings the replica up to seq when a client comes with a cursor
// beyond it (its last server was ahead of this one), so it is answered
// from rows at least as new as those it has.
func (a *app) reach(ctx context.Context, seq uint64) {
	if a.shared == nil || seq == 0 {
		return
	}
	db, err := a.current()
	if err != nil || db.Seq() >= seq {
		return
	}
	if err := a.catchUp(ctx); err != nil {
		a.log.Warn("reading the shared store's commits", "error", err)
	}
}
