package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
)

// ExpiredHook returns a fresh token for the same user, or "" when there is
// none (the app will sign out). It should honour ctx: it is cancelled when
// the hook is abandoned.
type ExpiredHook func(ctx context.Context) (string, error)

// DefaultHookTimeout bounds one onJWTExpired call.
const DefaultHookTimeout = 30 * time.Second

// ErrHookTimeout is reported when the hook did not answer in time.
var ErrHookTimeout = errors.New("client: onJWTExpired did not return within its timeout")

// refresher runs the onJWTExpired hook single-flight: however many failures
// (expired writes, a proactive timer) ask for a refresh at once, the hook
// runs once. Each run belongs to a generation; applying any token (from the
// hook or from updateAuthToken) or abandoning a hung hook moves the
// generation on, and a result from an older generation is dropped.
type refresher struct {
	clock   clock.Clock
	timeout time.Duration
	apply   func(token string) error
	report  func(error)

	mu       sync.Mutex
	hook     ExpiredHook
	gen      uint64
	inflight bool
	runs     int
	closed   bool
	cancel   context.CancelFunc
}

func (r *refresher) setHook(h ExpiredHook) {
	r.mu.Lock()
	r.hook = h
	r.mu.Unlock()
}

// supersede marks every running hook call stale (a token arrived another way).
func (r *refresher) supersede() {
	r.mu.Lock()
	r.gen++
	r.mu.Unlock()
}

// trigger asks for a refresh; it returns false when no hook is set.
func (r *refresher) trigger() bool {
	r.mu.Lock()
	if r.hook == nil || r.closed {
		r.mu.Unlock()
		return false
	}
	if r.inflight {
		r.mu.Unlock()
		return true
	}
	r.inflight = true
	r.runs++
	gen, hook := r.gen, r.hook
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.mu.Unlock()
	go r.run(ctx, cancel, gen, hook)
	return true
}

type hookResult struct {
	token string
	err   error
}

func (r *refresher) run(ctx context.Context, cancel context.CancelFunc, gen uint64, hook ExpiredHook) {
	defer cancel()
	done := make(chan hookResult, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- hookResult{err: errors.New("client: onJWTExpired panicked")}
			}
		}()
		tok, err := hook(ctx)
		done <- hookResult{tok, err}
	}()
	timedOut := make(chan struct{})
	t := r.clock.AfterFunc(r.timeout, func() { close(timedOut) })
	var res hookResult
	select {
	case res = <-done:
		t.Stop()
	case <-timedOut:
		res.err = ErrHookTimeout
	}
	r.mu.Lock()
	r.inflight = false
	stale := r.gen != gen || r.closed
	if errors.Is(res.err, ErrHookTimeout) {
		// Abandon the hung call: if it ever returns, it is stale.
		r.gen++
	}
	r.mu.Unlock()
	switch {
	case stale:
	case res.err != nil:
		r.report(res.err)
	case res.token != "":
		if err := r.apply(res.token); err != nil {
			r.report(err)
		}
	}
}

// calls reports how many times the hook was started (for tests).
func (r *refresher) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs
}

func (r *refresher) close() {
	r.mu.Lock()
	r.closed = true
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
}
