package sync

import (
	"fmt"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// sync sends what the server does not have yet: subscriptions registered
// since the last call and pending changes not in flight. It is level
// triggered (it compares state, it does not replay events), so calling it
// too often is harmless and a coalesced Notify loses nothing.
func (c *Client) sync() {
	if c.phase != phConnected || c.cs == nil {
		return
	}
	c.reconcileSubs()
	c.pushPending()
}

// pushPending pushes the DB's pending changes, oldest first, in batches of
// at most MaxChangesPerPush, skipping those already in flight.
func (c *Client) pushPending() {
	var batch []*engine.Change
	for _, ch := range c.opts.DB.Pending() {
		if _, ok := c.cs.inflight[ch.ID]; ok {
			continue
		}
		batch = append(batch, ch)
		if len(batch) == protocol.MaxChangesPerPush {
			c.push(batch)
			batch = nil
		}
	}
	if len(batch) > 0 {
		c.push(batch)
	}
}

// push sends one batch, splitting it when its frame would exceed MaxFrame.
func (c *Client) push(batch []*engine.Change) {
	if c.cs == nil {
		return
	}
	b, err := protocol.Encode(protocol.TPush, &protocol.Push{Changes: batch})
	if err == nil && len(b) <= limits.MaxFrameBytes {
		for _, ch := range batch {
			c.cs.inflight[ch.ID] = ch
		}
		c.cs.out.push(b)
		return
	}
	if len(batch) > 1 {
		h := len(batch) / 2
		c.push(batch[:h])
		c.push(batch[h:])
		return
	}
	// A single change no frame can carry. The server would refuse it and
	// close the connection on every attempt, blocking everything queued
	// behind it, so it is rolled back here as the server would reject it.
	body := protocol.ErrorBody{Name: protocol.NameBadChange, Code: "frame_too_large",
		Message: fmt.Sprintf("the change does not fit in a %d byte frame", limits.MaxFrameBytes), Table: batch[0].Table}
	if err != nil {
		body.Code, body.Message = "unencodable", err.Error()
	}
	if err := c.rejectChange(batch[0], &protocol.RemoteError{Body: body}); err != nil {
		c.log.Error("cannot roll back an unsendable change", "id", batch[0].ID, "err", err)
	}
}

func (c *Client) onAck(a *protocol.Ack) error {
	acked := make([]engine.Acked, len(a.IDs))
	for i, id := range a.IDs {
		acked[i] = engine.Acked{ID: id, Stamp: a.Stamps[id]}
	}
	if err := c.merge(a.Rows, acked); err != nil {
		// The changes stay pending and go out again on the next connection.
		return fmt.Errorf("merging ack: %w", err)
	}
	for _, id := range a.IDs {
		delete(c.cs.inflight, id)
		c.settle(id, nil)
	}
	return nil
}

func (c *Client) onReject(r *protocol.Reject) error {
	ch := c.cs.inflight[r.ID]
	if ch == nil {
		ch = c.pendingChange(r.ID)
	}
	if ch == nil {
		c.log.Debug("reject for a change that is not pending", "id", r.ID)
		return nil
	}
	if err := c.rejectChange(ch, &protocol.RemoteError{Body: r.Error}); err != nil {
		return fmt.Errorf("rolling back change %s: %w", r.ID, err)
	}
	return nil
}

// rejectChange rolls ch back and tells its waiters and OnReject.
func (c *Client) rejectChange(ch *engine.Change, rerr *protocol.RemoteError) error {
	c.mu.Lock()
	c.rejecting[ch.ID] = true // see WaitFor
	c.mu.Unlock()
	c.inForeign.Add(1)
	err := c.opts.DB.Reject(c.ctx, ch.ID)
	c.inForeign.Add(-1)
	c.mu.Lock()
	delete(c.rejecting, ch.ID)
	var ws []chan error
	if err == nil {
		c.rememberRejection(ch.ID, rerr)
		ws = c.waiters[ch.ID]
		delete(c.waiters, ch.ID)
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for _, w := range ws {
		w <- rerr
	}
	if c.cs != nil {
		delete(c.cs.inflight, ch.ID)
	}
	c.log.Info("change rejected", "id", ch.ID, "table", ch.Table, "error", rerr.Body.Name, "code", rerr.Body.Code)
	if f := c.opts.OnReject; f != nil {
		c.cb.post(func() { f(ch, rerr) })
	}
	return nil
}

// merge is DB.Merge, which may run DB subscription callbacks on this
// goroutine (see inForeign).
func (c *Client) merge(states []engine.RowState, acked []engine.Acked) error {
	c.inForeign.Add(1)
	defer c.inForeign.Add(-1)
	return c.opts.DB.Merge(c.ctx, states, acked)
}

func (c *Client) pendingChange(id string) *engine.Change {
	for _, ch := range c.opts.DB.Pending() {
		if ch.ID == id {
			return ch
		}
	}
	return nil
}
