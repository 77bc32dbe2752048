// Package storage is the persistence seam under the engine, the sync client's
// outbox and the server. A Store is a small transactional key/value space split
// into named buckets, which maps directly onto bbolt (server), IndexedDB object
// stores (browser) and plain maps (memory, tests).
//
// Contract, for every implementation:
//   - Apply writes a batch atomically and durably: when it returns nil, every
//     operation is visible to later reads and survives a crash of the process.
//     When it returns an error, none of them took effect.
//   - Keys within a bucket are iterated in ascending byte order.
//   - Values passed in and returned are owned by the caller (copy on the way in
//     and out), so callers may reuse buffers.
package storage

import (
	"context"
	"errors"
)

// Error catalogue.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("storage: store is closed")
	// ErrInjected is the failure a Faulty store produces.
	ErrInjected = errors.New("storage: injected fault")
	// ErrBadBucket is returned for an empty bucket name.
	ErrBadBucket = errors.New("storage: bucket name must not be empty")
	// ErrEmptyKey is returned by Apply for an op with an empty key; bbolt
	// cannot store one, so no Store accepts one.
	ErrEmptyKey = errors.New("storage: key must not be empty")
	// ErrWriteFailed wraps the failure that made a WriteBehind store stop
	// writing to disk: data written since lives in memory only.
	ErrWriteFailed = errors.New("storage: the store stopped accepting writes; changes are kept in memory only")
)

// Op is one write in a batch: a Put of Value under Key, or a delete.
type Op struct {
	Bucket string
	Key    []byte
	Value  []byte
	Delete bool
}

// Put returns an Op storing v under k in bucket b.
func Put(b string, k, v []byte) Op { return Op{Bucket: b, Key: k, Value: v} }

// Del returns an Op removing k from bucket b.
func Del(b string, k []byte) Op { return Op{Bucket: b, Key: k, Delete: true} }

// Store is the persistence seam. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the value under key, or nil and false when absent.
	Get(ctx context.Context, bucket string, key []byte) ([]byte, bool, error)
	// Scan calls fn for each key in bucket whose key starts with prefix, in
	// ascending key order. Returning an error from fn stops the scan and is
	// returned.
	Scan(ctx context.Context, bucket string, prefix []byte, fn func(key, value []byte) error) error
	// Apply writes ops atomically and durably.
	Apply(ctx context.Context, ops []Op) error
	// Close releases the store. It is safe to call more than once.
	Close() error
}
