package server

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// ackRowsBytes bounds the row states attached to one ack. They are a
// convenience (the client folds an acked change into its base anyway), so
// past the bound they are left out rather than split.
const ackRowsBytes = 512 << 10

// onPush authorizes and applies a batch of changes, then answers with one
// ack for those applied (or applied before: resends are idempotent) and a
// reject for each refused one, in the order of the changes. It returns false
// when the connection must end.
func (c *conn) onPush(p *protocol.Push) bool {
	c.mu.Lock()
	paused, actor := c.paused, c.actor
	c.mu.Unlock()
	if paused {
		// No ack and no reject: the client keeps the changes queued and
		// sends them again after re-authenticating.
		c.send(protocol.TError, expiredBody())
		return true
	}
	m := c.srv.metrics
	m.pushFrames.Add(1)
	m.changesPushed.Add(uint64(len(p.Changes)))
	if p.Batch != "" {
		return c.onPushBatch(p, actor)
	}
	var verdicts []engine.Verdict
	err := c.srv.app.write(c.ctx, func(ctx context.Context) error {
		var err error
		verdicts, err = c.db.Submit(ctx, actor, p.Changes)
		return err
	})
	if answer, keep := c.pushApplied(err, len(p.Changes)); !answer {
		return keep
	}
	ack := c.ackFor(actor)
	for i, ch := range p.Changes {
		if verdicts[i].Err == nil {
			ack.add(ch, verdicts[i].Stamp)
		}
	}
	if len(ack.IDs) > 0 {
		c.send(protocol.TAck, ack.body())
		m.changesAcked.Add(uint64(len(ack.IDs)))
	}
	rejected := 0
	for i, ch := range p.Changes {
		if err := verdicts[i].Err; err != nil {
			rejected++
			body := protocol.ErrorBodyFrom(err)
			m.reject(body.Code, 1)
			c.send(protocol.TReject, protocol.Reject{ID: ch.ID, Error: body})
		}
	}
	c.log.Debug("push", "changes", len(p.Changes), "acked", len(ack.IDs), "rejected", rejected)
	return true
}

// onPushBatch applies a push that carries one batch, all or nothing
// (engine.SubmitBatch), and answers with one ack listing every change of
// it, or one reject naming the batch and the change that failed.
func (c *conn) onPushBatch(p *protocol.Push, actor engine.Actor) bool {
	var v engine.BatchVerdict
	err := c.srv.app.write(c.ctx, func(ctx context.Context) error {
		var err error
		v, err = c.db.SubmitBatch(ctx, actor, p.Batch, p.Changes)
		return err
	})
	if answer, keep := c.pushApplied(err, len(p.Changes)); !answer {
		return keep
	}
	if v.Err != nil {
		body := protocol.ErrorBodyFrom(v.Err)
		// The whole batch is refused: every change of it counts.
		c.srv.metrics.reject(body.Code, len(p.Changes))
		c.send(protocol.TReject, protocol.Reject{ID: p.Changes[v.Index].ID, Batch: p.Batch, Error: body})
		c.log.Debug("batch rejected", "batch", p.Batch, "changes", len(p.Changes), "error", v.Err)
		return true
	}
	ack := c.ackFor(actor)
	ack.Batch = p.Batch
	for i, ch := range p.Changes {
		var stamp hlc.Timestamp
		if v.Stamps != nil {
			stamp = v.Stamps[i]
		}
		ack.add(ch, stamp)
	}
	c.send(protocol.TAck, ack.body())
	c.srv.metrics.changesAcked.Add(uint64(len(ack.IDs)))
	c.log.Debug("batch", "batch", p.Batch, "changes", len(p.Changes))
	return true
}

// pushApplied reports whether a push's submission ran (its verdicts are to
// be answered) and, when not, whether the connection stays. A closing DB
// or server is not a failure: nothing was applied and the client resends.
// A storage failure closes the connection, so that the client resends.
func (c *conn) pushApplied(err error, n int) (answer, keep bool) {
	switch {
	case errors.Is(err, engine.ErrClosed) || errors.Is(err, ErrClosed):
		// A bundle swap or shutdown is closing this connection; nothing was
		// applied and the client will resend.
		return false, true
	case err != nil:
		c.log.Error("storage failure while applying a push; closing so the client resends", "error", err, "changes", n)
		c.closeWith(closeInternalError, "storage failure", nil, true)
		return false, false
	}
	return true, true
}

// ackBuilder gathers an ack: the applied change ids, their stamps and,
// up to ackRowsBytes, the resulting states of their rows.
type ackBuilder struct {
	c       *conn
	actor   engine.Actor
	IDs     []string
	Batch   string
	stamps  map[string]hlc.Timestamp
	rows    []json.RawMessage
	size    int
	seenID  map[string]bool
	seenRow map[string]bool
}

func (c *conn) ackFor(actor engine.Actor) *ackBuilder {
	return &ackBuilder{c: c, actor: actor, stamps: map[string]hlc.Timestamp{}, seenID: map[string]bool{}, seenRow: map[string]bool{}}
}

// add acknowledges ch, applied under stamp (zero for a resend).
func (a *ackBuilder) add(ch *engine.Change, stamp hlc.Timestamp) {
	if a.seenID[ch.ID] {
		return
	}
	a.seenID[ch.ID] = true
	a.IDs = append(a.IDs, ch.ID)
	if !stamp.IsZero() {
		a.stamps[ch.ID] = stamp
	}
	key := ch.Table + "\x00" + ch.Row
	if a.seenRow[key] {
		return
	}
	a.seenRow[key] = true
	if st, ok := visibleState(a.c.db, a.actor, ch.Table, ch.Row, true); ok {
		if raw, err := st.AppendJSON(nil); err == nil && a.size+len(raw) <= ackRowsBytes {
			a.rows = append(a.rows, raw)
			a.size += len(raw)
		}
	}
}

// batchAckBody is an ack for a batch: ackBody and the batch's id.
type batchAckBody struct {
	ackBody
	Batch string `json:"batch"`
}

func (a *ackBuilder) body() any {
	b := ackBody{IDs: a.IDs, Stamps: a.stamps, Rows: a.rows}
	if a.Batch != "" {
		return batchAckBody{ackBody: b, Batch: a.Batch}
	}
	return b
}
