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
// at most MaxChangesPerPush, skipping those already in flight. The changes
// of a batch written as one (engine.WriteBatch) go as one push of their
// own, marked with the batch's id, once all of them are pending here.
func (c *Client) pushPending() {
	var batch []*engine.Change
	var seenBatch map[string]bool
	for _, ch := range c.opts.DB.Pending() {
		if _, ok := c.cs.inflight[ch.ID]; ok {
			continue
		}
		if ch.Batch != "" {
			if seenBatch[ch.Batch] {
				continue
			}
			if seenBatch == nil {
				seenBatch = map[string]bool{}
			}
			seenBatch[ch.Batch] = true
			cs, complete := c.opts.DB.PendingBatch(ch.Batch)
			if !complete || len(cs) == 0 {
				continue
			}
			// Order: what was written before the batch goes first.
			if len(batch) > 0 {
				c.push(batch)
				batch = nil
			}
			c.pushBatch(ch.Batch, cs)
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
	b, err := protocol.EncodePush(&protocol.Push{Changes: batch})
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

// pushBatch sends one batch as one push. WriteBatch refused any batch
// whose push would not fit a frame, so one that does not is rolled back
// whole, as the server would reject it.
func (c *Client) pushBatch(id string, cs []*engine.Change) {
	if c.cs == nil {
		return
	}
	b, err := protocol.EncodePush(&protocol.Push{Changes: cs, Batch: id})
	if err == nil && len(b) <= limits.MaxFrameBytes {
		for _, ch := range cs {
			c.cs.inflight[ch.ID] = ch
		}
		c.cs.out.push(b)
		return
	}
	body := protocol.ErrorBody{Name: protocol.NameBadChange, Code: "frame_too_large",
		Message: fmt.Sprintf("batch %s does not fit in a %d byte frame", id, limits.MaxFrameBytes), Table: cs[0].Table}
	if err != nil {
		body.Code, body.Message = "unencodable", err.Error()
	}
	if err := c.rejectBatch(id, cs[0], &protocol.RemoteError{Body: body}); err != nil {
		c.log.Error("cannot roll back an unsendable batch", "batch", id, "err", err)
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
	if a.Batch != "" {
		c.settle(a.Batch, nil)
	}
	if f := c.opts.OnAck; f != nil {
		c.cb.post(f)
	}
	return nil
}

func (c *Client) onReject(r *protocol.Reject) error {
	if r.Batch != "" {
		cs, _ := c.opts.DB.PendingBatch(r.Batch)
		if len(cs) == 0 {
			c.log.Debug("reject for a batch that is not pending", "batch", r.Batch)
			return nil
		}
		failed := cs[0]
		for _, ch := range cs {
			if ch.ID == r.ID {
				failed = ch
			}
		}
		if err := c.rejectBatch(r.Batch, failed, &protocol.RemoteError{Body: r.Error}); err != nil {
			return fmt.Errorf("rolling back batch %s: %w", r.Batch, err)
		}
		return nil
	}
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

// rejectBatch rolls back every change of batch id, tells the waiters of
// the batch and of each change, and calls OnReject once, with the change
// that failed.
func (c *Client) rejectBatch(id string, failed *engine.Change, rerr *protocol.RemoteError) error {
	cs, _ := c.opts.DB.PendingBatch(id)
	c.mu.Lock()
	c.rejecting[id] = true // see WaitFor
	for _, ch := range cs {
		c.rejecting[ch.ID] = true
	}
	c.mu.Unlock()
	c.inForeign.Add(1)
	err := c.opts.DB.Reject(c.ctx, id)
	c.inForeign.Add(-1)
	c.mu.Lock()
	var ws []chan error
	for _, k := range append([]string{id}, idsOf(cs)...) {
		delete(c.rejecting, k)
		if err == nil {
			c.rememberRejection(k, rerr)
			ws = append(ws, c.waiters[k]...)
			delete(c.waiters, k)
		}
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for _, w := range ws {
		w <- rerr
	}
	if c.cs != nil {
		for _, ch := range cs {
			delete(c.cs.inflight, ch.ID)
		}
	}
	c.log.Info("batch rejected", "batch", id, "changes", len(cs), "table", failed.Table, "error", rerr.Body.Name, "code", rerr.Body.Code)
	if f := c.opts.OnReject; f != nil {
		c.cb.post(func() { f(failed, rerr) })
	}
	return nil
}

func idsOf(cs []*engine.Change) []string {
	out := make([]string, len(cs))
	for i, ch := range cs {
		out[i] = ch.ID
	}
	return out
}

// merge is DB.Merge, which may run DB subscription callbacks on this
// goroutine (see inForeign).
func (c *Client) merge(states []engine.RowState, acked []engine.Acked) error {
	c.inForeign.Add(1)
	defer c.inForeign.Add(-1)
	return c.opts.DB.Merge(c.ctx, states, acked)
}

// pendingWrite reports whether id names a change or a batch still pending.
func (c *Client) pendingWrite(id string) bool {
	if cs, _ := c.opts.DB.PendingBatch(id); len(cs) > 0 {
		return true
	}
	return c.pendingChange(id) != nil
}

func (c *Client) pendingChange(id string) *engine.Change {
	for _, ch := range c.opts.DB.Pending() {
		if ch.ID == id {
			return ch
		}
	}
	return nil
}
