package sync

import (
	stdsync "sync"
	"sync/atomic"
)

// dispatcher runs user callbacks one at a time, in the order they were
// posted, on its own goroutine. The loop only posts, so a callback that
// blocks, or calls back into the Client, can neither stall syncing nor
// deadlock against it.
type dispatcher struct {
	mu      stdsync.Mutex
	q       []func()
	stopped bool
	wake    chan struct{}
	done    chan struct{}
	// inCallback is true while a callback runs; Close called from one must
	// not wait for the dispatcher to finish.
	inCallback atomic.Bool
	// onPanic reports a callback that panicked; the others still run.
	onPanic func(any)
}

func (d *dispatcher) init() {
	d.wake = make(chan struct{}, 1)
	d.done = make(chan struct{})
}

func (d *dispatcher) post(f func()) {
	d.mu.Lock()
	d.q = append(d.q, f)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// stop makes run return once everything posted so far has run.
func (d *dispatcher) stop() {
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		q, stopped := d.q, d.stopped
		d.q = nil
		d.mu.Unlock()
		for _, f := range q {
			d.call(f)
		}
		if len(q) == 0 {
			if stopped {
				return
			}
			<-d.wake
		}
	}
}

func (d *dispatcher) call(f func()) {
	d.inCallback.Store(true)
	defer func() {
		d.inCallback.Store(false)
		if p := recover(); p != nil && d.onPanic != nil {
			d.onPanic(p)
		}
	}()
	f()
}
