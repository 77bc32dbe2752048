package storage

import (
	"context"
	"sync"
)

// Faulty wraps a Store and fails chosen calls, so tests can check that a failed
// write loses nothing and leaves the caller's state consistent.
type Faulty struct {
	Store
	mu sync.Mutex
	// FailApplyAfter makes every Apply after that many successful ones fail
	// with ErrInjected; a negative value never fails.
	failApplyAfter int
	applies        int
	failReads      bool
}

var _ Store = (*Faulty)(nil)

// NewFaulty wraps s; it injects nothing until told to.
func NewFaulty(s Store) *Faulty { return &Faulty{Store: s, failApplyAfter: -1} }

// FailApplyAfter makes Apply fail once n more calls have succeeded; n < 0 heals.
func (f *Faulty) FailApplyAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applies = 0
	f.failApplyAfter = n
}

// FailReads makes Get and Scan fail while on is true.
func (f *Faulty) FailReads(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failReads = on
}

func (f *Faulty) Apply(ctx context.Context, ops []Op) error {
	f.mu.Lock()
	if f.failApplyAfter >= 0 && f.applies >= f.failApplyAfter {
		f.mu.Unlock()
		return ErrInjected
	}
	f.applies++
	f.mu.Unlock()
	return f.Store.Apply(ctx, ops)
}

func (f *Faulty) Get(ctx context.Context, b string, k []byte) ([]byte, bool, error) {
	f.mu.Lock()
	fail := f.failReads
	f.mu.Unlock()
	if fail {
		return nil, false, ErrInjected
	}
	return f.Store.Get(ctx, b, k)
}

func (f *Faulty) Scan(ctx context.Context, b string, p []byte, fn func(k, v []byte) error) error {
	f.mu.Lock()
	fail := f.failReads
	f.mu.Unlock()
	if fail {
		return ErrInjected
	}
	return f.Store.Scan(ctx, b, p, fn)
}
