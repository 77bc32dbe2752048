package server

import (
	"context"
	"sync"
	"time"

	"nhooyr.io/websocket"
)

// Bounds of one connection's outgoing queue. A client that lets this much
// pile up is not keeping up; it is disconnected (1008) so fan-out, which
// runs inside the writer's Submit, never waits on it.
const (
	maxQueuedFrames = 4096
	maxQueuedBytes  = 64 << 20
	writeTimeout    = 10 * time.Second
)

// closeReq is how a connection ends: an optional last frame (the structured
// error), then the close handshake with code and reason. flush sends what is
// queued first; a slow consumer's queue is dropped instead.
type closeReq struct {
	code   websocket.StatusCode
	reason string
	frame  []byte
	flush  bool
}

// outbox serializes every write to one socket through a single goroutine
// (the websocket library allows one writer at a time) behind a bounded,
// never-blocking queue.
type outbox struct {
	mu    sync.Mutex
	queue [][]byte
	bytes int
	req   *closeReq // set once; then push refuses
	// drained is closed (and cleared) when the writer takes the queue or
	// the outbox closes: what waitRoom waits on.
	drained chan struct{}

	wake chan struct{}
	done chan struct{}
}

func newOutbox() *outbox {
	return &outbox{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues msg. It never blocks: errQueueFull tells the caller to drop
// the connection, errClosing that it is already going.
func (o *outbox) push(msg []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.req != nil {
		return errClosing
	}
	if len(o.queue) >= maxQueuedFrames || o.bytes+len(msg) > maxQueuedBytes {
		return errQueueFull
	}
	o.queue = append(o.queue, msg)
	o.bytes += len(msg)
	o.signal()
	return nil
}

// close asks the writer to end the connection; only the first request counts.
func (o *outbox) close(r closeReq) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.req != nil {
		return false
	}
	o.req = &r
	o.wakeWaitersLocked()
	o.signal()
	return true
}

// waitRoom blocks until at most limit bytes are queued; false means the
// outbox is closing. A producer that can wait (a result being streamed)
// calls it before each page, so a slow reader holds back the producer
// instead of filling the queue.
func (o *outbox) waitRoom(limit int) bool {
	for {
		o.mu.Lock()
		if o.req != nil {
			o.mu.Unlock()
			return false
		}
		if o.bytes <= limit {
			o.mu.Unlock()
			return true
		}
		if o.drained == nil {
			o.drained = make(chan struct{})
		}
		ch := o.drained
		o.mu.Unlock()
		<-ch
	}
}

// wakeWaitersLocked releases every waitRoom; callers hold o.mu.
func (o *outbox) wakeWaitersLocked() {
	if o.drained != nil {
		close(o.drained)
		o.drained = nil
	}
}

// dropped reports a close request that discards the queue.
func (o *outbox) dropped() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.req != nil && !o.req.flush
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run writes queued frames until a close request has been carried out or a
// write fails (then onWriteError is told and the socket dropped).
func (o *outbox) run(t transport, onWriteError func(error)) {
	defer close(o.done)
	write := func(msg []byte) bool {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := t.Write(ctx, msg)
		cancel()
		if err != nil {
			o.close(closeReq{}) // refuse further pushes
			onWriteError(err)
			t.CloseNow()
			return false
		}
		return true
	}
	for {
		o.mu.Lock()
		batch, req := o.queue, o.req
		o.queue, o.bytes = nil, 0
		o.wakeWaitersLocked()
		o.mu.Unlock()
		if req != nil && !req.flush {
			batch = nil
		}
		for _, msg := range batch {
			if o.dropped() {
				break // a slow consumer: what it has not received is dropped
			}
			if !write(msg) {
				return
			}
		}
		if req != nil {
			if req.frame != nil && !write(req.frame) {
				return
			}
			t.Close(req.code, req.reason)
			return
		}
		if len(batch) == 0 {
			<-o.wake
		}
	}
}
