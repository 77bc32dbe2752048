package storage

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"sync"
)

// Memory is an in-memory Store. It is what a Db uses when nothing durable is
// available, and the reference implementation the others are tested against.
type Memory struct {
	mu      sync.RWMutex
	buckets map[string]map[string][]byte
	closed  bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{buckets: map[string]map[string][]byte{}} }

func (m *Memory) Get(_ context.Context, bucket string, key []byte) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	v, ok := m.buckets[bucket][string(key)]
	if !ok {
		return nil, false, nil
	}
	return bytes.Clone(v), true, nil
}

func (m *Memory) Scan(ctx context.Context, bucket string, prefix []byte, fn func(k, v []byte) error) error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	b := m.buckets[bucket]
	keys := make([]string, 0, len(b))
	for k := range b {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = bytes.Clone(b[k])
	}
	m.mu.RUnlock()
	for i, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn([]byte(k), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) Apply(_ context.Context, ops []Op) error {
	for _, op := range ops {
		if op.Bucket == "" {
			return ErrBadBucket
		}
		if len(op.Key) == 0 {
			return ErrEmptyKey
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, op := range ops {
		b := m.buckets[op.Bucket]
		if b == nil {
			b = map[string][]byte{}
			m.buckets[op.Bucket] = b
		}
		if op.Delete {
			delete(b, string(op.Key))
		} else {
			b[string(op.Key)] = bytes.Clone(op.Value)
		}
	}
	return nil
}

func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
