package sync

import (
	"context"
	stdsync "sync"
)

// outQueue holds the frames waiting for a connection's writer. It is
// unbounded so the loop never blocks on a slow socket; what it can hold is
// bounded by the outbox and the subscriptions anyway.
type outQueue struct {
	mu   stdsync.Mutex
	msgs [][]byte
	wake chan struct{}
}

func newOutQueue() *outQueue { return &outQueue{wake: make(chan struct{}, 1)} }

func (q *outQueue) push(b []byte) {
	q.mu.Lock()
	q.msgs = append(q.msgs, b)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next returns the oldest frame, waiting for one; false once ctx is done.
func (q *outQueue) next(ctx context.Context) ([]byte, bool) {
	for {
		if ctx.Err() != nil {
			return nil, false
		}
		q.mu.Lock()
		if len(q.msgs) > 0 {
			b := q.msgs[0]
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			q.mu.Unlock()
			return b, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, false
		}
	}
}
