// Package boltstore is the server's durable storage.Store, kept in a single
// bbolt (go.etcd.io/bbolt) file.
//
// Why bbolt:
//   - One file per data directory: easy to back up, move and inspect, and no
//     separate database process to run next to the server.
//   - Every read-write transaction is fsynced on commit, so when Apply returns
//     nil the batch is on disk, which is exactly the storage.Store contract.
//   - Crash safety is part of the design, not a recovery step: pages are
//     copy-on-write and a commit becomes visible only when the meta page is
//     written, so a crash at any point leaves either the old or the new state
//     and the file opens cleanly afterwards (TestCrashKeepsAckedBatches checks
//     this by SIGKILLing a writer mid-stream).
//   - The file is locked (flock) while open, so two servers cannot share a
//     data directory by accident: the second Open fails after Options.Timeout
//     with ErrLocked and the path in the message.
//
// Mapping: each storage bucket is a top-level bbolt bucket, created on demand
// inside the Apply transaction that first writes to it. Keys are stored as-is,
// so bbolt's byte-order iteration is the contract's ascending key order.
//
// Server only: this package uses mmap, flock and fsync and must never be
// imported by the wasm client build (the browser uses the IndexedDB store).
// Keep imports of it under server/ and cmd/.
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/jazzgo/jazz-tools/core/storage"
)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// DefaultFileMode is the permission a new database file is created with when
// Options.FileMode is zero: readable and writable by the server's user only.
const DefaultFileMode os.FileMode = 0o600

// ErrLocked is returned (wrapped, with the path) by Open when another process,
// typically a second server on the same data directory, holds the file lock
// for longer than Options.Timeout.
var ErrLocked = errors.New("boltstore: database file is locked by another process")

// ErrEmptyKey is storage.ErrEmptyKey: bbolt cannot store an empty key.
var ErrEmptyKey = storage.ErrEmptyKey

// Options tunes Open. The zero value is the right choice for a server.
//
// There is deliberately no way to turn off fsync: durability of every
// acknowledged Apply is the point of this package.
type Options struct {
	// Timeout bounds the wait for the exclusive file lock. Zero means
	// DefaultTimeout (2s); a negative value is treated as zero. There is no
	// "wait forever": a second server on the same data directory must fail
	// fast with a clear error rather than hang.
	Timeout time.Duration

	// FileMode is the permission used when the file is created; existing
	// files keep theirs. Zero means DefaultFileMode (0600).
	FileMode os.FileMode
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.FileMode == 0 {
		o.FileMode = DefaultFileMode
	}
	return o
}

// Store is a storage.Store backed by one bbolt file. It is safe for
// concurrent use; writers are serialised by bbolt, readers run in parallel
// with each other and with the writer.
type Store struct {
	path string

	// mu guards closed and db against Close. Every method holds the read lock
	// for the duration of its bbolt transaction only, never while calling
	// user code, so a Scan callback may call Apply without deadlocking.
	mu     sync.RWMutex
	closed bool
	db     *bolt.DB
}

var _ storage.Store = (*Store)(nil)

// Open opens or creates the database file at path. The parent directory must
// exist. It fails with an error wrapping ErrLocked, and naming path, when
// another process keeps the file open for longer than opts.Timeout.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := bolt.Open(path, opts.FileMode, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("boltstore: open %s: %w (gave up after %v; is another server using this data directory?): %w",
				path, ErrLocked, opts.Timeout, err)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return &Store{path: path, db: db}, nil
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Get returns a copy of the value under key in bucket, or nil and false when
// the key or the bucket is absent.
func (s *Store) Get(ctx context.Context, bucket string, key []byte) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, storage.ErrClosed
	}
	if bucket == "" {
		return nil, false, storage.ErrBadBucket
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	var (
		val []byte
		ok  bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil || len(key) == 0 {
			return nil
		}
		// A cursor rather than b.Get, so that an empty value is reported as
		// present: presence is "the cursor landed on this exact key".
		k, v := b.Cursor().Seek(key)
		if k != nil && bytes.Equal(k, key) {
			// bbolt memory is only valid inside the transaction: copy out.
			val, ok = append([]byte{}, v...), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("boltstore: get bucket %q: %w", bucket, err)
	}
	return val, ok, nil
}

// Scan calls fn for each key in bucket starting with prefix, in ascending
// byte order.
//
// Scan copies every matching pair out of one read transaction (a consistent
// snapshot, like storage.Memory) and only then calls fn, with no transaction
// and no lock held. So fn may call Apply (or Close) on this store, and a slow
// fn never pins old pages or blocks the file from growing. The price is that
// all matching pairs are held in memory at once; callers scanning very large
// prefixes should narrow the prefix. fn owns the slices it is given.
func (s *Store) Scan(ctx context.Context, bucket string, prefix []byte, fn func(key, value []byte) error) error {
	keys, vals, err := s.collect(ctx, bucket, prefix)
	if err != nil {
		return err
	}
	for i := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// collect copies the pairs of bucket under prefix out of a read transaction.
func (s *Store) collect(ctx context.Context, bucket string, prefix []byte) (keys, vals [][]byte, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, storage.ErrClosed
	}
	if bucket == "" {
		return nil, nil, storage.ErrBadBucket
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if len(prefix) == 0 {
			k, v = c.First()
		} else {
			k, v = c.Seek(prefix)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			// Key and value share one allocation; the cap limit keeps an
			// append by fn to the key from overwriting the value.
			buf := make([]byte, 0, len(k)+len(v))
			buf = append(append(buf, k...), v...)
			keys = append(keys, buf[:len(k):len(k)])
			vals = append(vals, buf[len(k):])
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("boltstore: scan bucket %q: %w", bucket, err)
	}
	return keys, vals, nil
}

// Apply writes ops in one bbolt read-write transaction, creating buckets on
// demand, and returns once the commit is fsynced. Either every op takes
// effect or, when an error is returned, none does. Ops apply in order, so a
// later op on the same key wins. A delete in a bucket that does not exist is a
// no-op and does not create the bucket. An empty ops slice does nothing.
func (s *Store) Apply(ctx context.Context, ops []storage.Op) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	// Validate before taking bbolt's writer lock: cheap, and a bad batch then
	// never delays other writers.
	for i, op := range ops {
		if op.Bucket == "" {
			return fmt.Errorf("boltstore: apply: op %d: %w", i, storage.ErrBadBucket)
		}
		if len(op.Key) == 0 {
			return fmt.Errorf("boltstore: apply: op %d in bucket %q: %w", i, op.Bucket, ErrEmptyKey)
		}
	}
	if len(ops) == 0 {
		return nil
	}
	// A cancelled context stops a batch that has not started; once the
	// transaction begins it runs to commit or rollback.
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("boltstore: apply: begin: %w", err)
	}
	// Rollback after a successful Commit is a harmless ErrTxClosed; on every
	// other path it discards the partial batch.
	defer func() { _ = tx.Rollback() }()
	for i, op := range ops {
		if err := applyOp(tx, op); err != nil {
			kind := "put"
			if op.Delete {
				kind = "delete"
			}
			return fmt.Errorf("boltstore: apply: op %d (%s, bucket %q, %d-byte key): %w",
				i, kind, op.Bucket, len(op.Key), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("boltstore: apply: commit %d ops: %w", len(ops), err)
	}
	return nil
}

func applyOp(tx *bolt.Tx, op storage.Op) error {
	name := []byte(op.Bucket)
	if op.Delete {
		b := tx.Bucket(name)
		if b == nil {
			return nil
		}
		return b.Delete(op.Key)
	}
	b, err := tx.CreateBucketIfNotExists(name)
	if err != nil {
		return err
	}
	// bbolt keeps op.Value until commit, which happens before Apply returns;
	// after that it has been written into the file, so the caller may reuse it.
	return b.Put(op.Key, op.Value)
}

// Close waits for in-flight calls to finish, then closes the file and
// releases its lock. Later calls return storage.ErrClosed; Close itself is
// safe to call more than once and returns nil after the first time.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}
