package sync

import (
	"context"
	"errors"
	"sync"
)

// Pipe is an in-memory Transport for tests: every Dial makes a connected pair
// of PipeConns and queues the server end for Accept. It needs no network, so
// tests of the client (and of code built on it) run anywhere, wasm included.
type Pipe struct {
	// OnDial, when set, is called by every Dial before connecting; an error
	// fails that dial. Set it before the Pipe is used.
	OnDial func(url string) error

	mu      sync.Mutex
	backlog []*PipeConn
	changed chan struct{}
	dials   int
}

// NewPipe returns an empty Pipe.
func NewPipe() *Pipe { return &Pipe{changed: make(chan struct{})} }

// Dial implements Transport.
func (p *Pipe) Dial(ctx context.Context, url string) (Conn, error) {
	p.mu.Lock()
	p.dials++
	p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.OnDial != nil {
		if err := p.OnDial(url); err != nil {
			return nil, err
		}
	}
	a, b := newPipeQueue(), newPipeQueue()
	client := &PipeConn{in: a, out: b, url: url}
	server := &PipeConn{in: b, out: a, url: url}
	p.mu.Lock()
	p.backlog = append(p.backlog, server)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	return client, nil
}

// Accept returns the server end of the oldest connection not yet accepted,
// waiting for one until ctx is done.
func (p *Pipe) Accept(ctx context.Context) (*PipeConn, error) {
	for {
		p.mu.Lock()
		if len(p.backlog) > 0 {
			c := p.backlog[0]
			p.backlog = p.backlog[1:]
			p.mu.Unlock()
			return c, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Dials returns how many times Dial was called, failed dials included.
func (p *Pipe) Dials() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials
}

// PipeConn is one end of a Pipe connection. It implements Conn.
type PipeConn struct {
	in, out *pipeQueue
	url     string

	mu     sync.Mutex
	closed bool
}

// URL is the address the client dialed.
func (c *PipeConn) URL() string { return c.url }

// Read returns the next message; once the peer closed with a code, and its
// earlier messages are drained, a *CloseError.
func (c *PipeConn) Read(ctx context.Context) ([]byte, error) { return c.in.pop(ctx) }

// Write queues data for the peer; it never blocks.
func (c *PipeConn) Write(ctx context.Context, data []byte) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return errPipeClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.out.push(append([]byte(nil), data...))
}

// Close delivers code and reason to the peer (after the messages already
// written) and makes this end's Read and Write fail at once.
func (c *PipeConn) Close(code int, reason string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errPipeClosed
	}
	c.closed = true
	c.mu.Unlock()
	c.out.finish(&CloseError{Code: code, Reason: reason})
	c.in.abort(errPipeClosed)
	return nil
}

// pipeQueue is one direction of a PipeConn: an unbounded message queue that
// ends with an error.
type pipeQueue struct {
	mu      sync.Mutex
	msgs    [][]byte
	err     error
	changed chan struct{}
}

func newPipeQueue() *pipeQueue { return &pipeQueue{changed: make(chan struct{})} }

// errPipeClosed is what a PipeConn returns once this end is closed. It is
// not net.ErrClosed: that was this package's only use of package net, and
// linking net (and running its init) cost every browser start for the sake
// of a test transport.
var errPipeClosed = errors.New("sync: pipe closed")

var errPeerGone = errors.New("sync: pipe peer closed")

func (q *pipeQueue) push(b []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		// The receiving end is gone; a real socket would fail the write too.
		return errPeerGone
	}
	q.msgs = append(q.msgs, b)
	q.wakeLocked()
	return nil
}

func (q *pipeQueue) wakeLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// finish ends the queue with err after the queued messages.
func (q *pipeQueue) finish(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.err = err
		q.wakeLocked()
	}
}

// abort ends the queue with err, dropping what was not read yet.
func (q *pipeQueue) abort(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = nil
	if q.err == nil {
		q.err = err
	} else if _, ok := q.err.(*CloseError); ok {
		q.err = err
	}
	q.wakeLocked()
}

func (q *pipeQueue) pop(ctx context.Context) ([]byte, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.mu.Lock()
		if len(q.msgs) > 0 {
			b := q.msgs[0]
			q.msgs = q.msgs[1:]
			q.mu.Unlock()
			return b, nil
		}
		if q.err != nil {
			err := q.err
			q.mu.Unlock()
			return nil, err
		}
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}
