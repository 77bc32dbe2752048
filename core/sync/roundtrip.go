package sync

import (
	"context"
	"sort"

	"github.com/jazzgo/jazz-tools/core/protocol"
)

// rtWaiter is one Roundtrip call waiting for its pong.
type rtWaiter struct {
	ctx context.Context
	ch  chan error
}

// Roundtrip returns once the server has answered a ping sent after
// everything registered or written before the call: subscriptions not yet
// sent are sent and pending changes pushed first, and a server answers the
// frames of one connection in order, so by the time the pong arrives their
// results (rows, acks, rejects) have been merged into the DB.
//
// It is how a caller that cannot tolerate stale reads (a backend answering
// a request) gets read-your-writes across replicas: a change another
// replica saw acknowledged has been fanned out to this connection's
// subscriptions before its ack was sent, hence before our pong.
//
// Without a live, authenticated connection it waits for one (across
// reconnects: a ping lost with its connection is sent again on the next).
// It returns ErrClosed when the client closes, the fatal error after one
// (e.g. ErrUnknownApp), or ctx's error. It does not end a Paused state:
// refused credentials need Reauthenticate, so callers should bound ctx.
func (c *Client) Roundtrip(ctx context.Context) error {
	w := rtWaiter{ctx: ctx, ch: make(chan error, 1)}
	if !c.send(event{kind: evFunc, fn: func() { c.startRoundtrip(w) }}) {
		return ErrClosed
	}
	select {
	case err := <-w.ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.loopDone:
		select {
		case err := <-w.ch:
			return err
		default:
			return ErrClosed
		}
	}
}

// startRoundtrip runs on the loop.
func (c *Client) startRoundtrip(w rtWaiter) {
	switch c.phase {
	case phClosed:
		w.ch <- ErrClosed
	case phFatal:
		w.ch <- c.fatalErr
	case phConnected:
		c.sync()
		c.sendRoundtrip(w)
	default:
		c.rtQueue = append(c.rtQueue, w)
	}
}

func (c *Client) sendRoundtrip(w rtWaiter) {
	c.pingN++
	c.cs.rtWait[c.pingN] = w
	c.write(protocol.TPing, &protocol.Ping{N: c.pingN})
}

// flushRoundtrips sends the pings of Roundtrip calls that were waiting for
// a connection; the caller has just synced on a fresh (or resumed) one.
func (c *Client) flushRoundtrips() {
	q := c.rtQueue
	c.rtQueue = nil
	for _, w := range q {
		if w.ctx.Err() != nil {
			continue // the caller gave up
		}
		c.sendRoundtrip(w)
	}
}

// onPong answers the Roundtrip whose ping this is (heartbeats have none).
func (c *Client) onPong(p *protocol.Ping) {
	if c.cs == nil {
		return
	}
	if w, ok := c.cs.rtWait[p.N]; ok {
		delete(c.cs.rtWait, p.N)
		c.cs.rtPonged = append(c.cs.rtPonged, w)
		c.releaseRoundtrips()
	}
}

// releaseRoundtrips answers the Roundtrip calls whose pong has come, once
// no result is still streaming: the server streams results in pages from
// another goroutine than the one that answers pings, so a pong can overtake
// the last page of a subscription sent before its ping.
func (c *Client) releaseRoundtrips() {
	if len(c.cs.rtPonged) == 0 || c.streaming() {
		return
	}
	for _, w := range c.cs.rtPonged {
		w.ch <- nil
	}
	c.cs.rtPonged = nil
}

// requeueRoundtrips moves the pings in flight on cs back to the queue, in
// the order they were sent, for the next connection.
func (c *Client) requeueRoundtrips(cs *connState) {
	c.rtQueue = append(c.rtQueue, cs.rtPonged...)
	cs.rtPonged = nil
	if len(cs.rtWait) == 0 {
		return
	}
	ns := make([]uint64, 0, len(cs.rtWait))
	for n := range cs.rtWait {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] }) // not slices.Sort: a generic instantiation is ~12 KB of wasm
	for _, n := range ns {
		c.rtQueue = append(c.rtQueue, cs.rtWait[n])
	}
	clear(cs.rtWait)
}

// failRoundtrips answers every queued Roundtrip with err.
func (c *Client) failRoundtrips(err error) {
	for _, w := range c.rtQueue {
		w.ch <- err
	}
	c.rtQueue = nil
}
