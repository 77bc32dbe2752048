package server

import (
	"encoding/json"
	"errors"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/limits"
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
	var verdicts []engine.Verdict
	err := c.srv.app.do(func() error {
		var err error
		verdicts, err = c.db.Submit(c.ctx, actor, p.Changes)
		return err
	})
	switch {
	case errors.Is(err, engine.ErrClosed) || errors.Is(err, ErrClosed):
		// A bundle swap or shutdown is closing this connection; nothing was
		// applied and the client will resend.
		return true
	case err != nil:
		c.log.Error("storage failure while applying a push; closing so the client resends", "error", err, "changes", len(p.Changes))
		c.closeWith(closeInternalError, "storage failure", nil, true)
		return false
	}
	var (
		ids     []string
		stamps  = map[string]hlc.Timestamp{}
		rows    []json.RawMessage
		size    int
		seenID  = map[string]bool{}
		seenRow = map[string]bool{}
	)
	for i, ch := range p.Changes {
		if verdicts[i].Err != nil || seenID[ch.ID] {
			continue
		}
		seenID[ch.ID] = true
		ids = append(ids, ch.ID)
		if st := verdicts[i].Stamp; !st.IsZero() {
			stamps[ch.ID] = st
		}
		key := ch.Table + "\x00" + ch.Row
		if seenRow[key] {
			continue
		}
		seenRow[key] = true
		if st, ok := visibleState(c.db, actor, ch.Table, ch.Row); ok {
			if raw, err := limits.Marshal(st); err == nil && size+len(raw) <= ackRowsBytes {
				rows = append(rows, raw)
				size += len(raw)
			}
		}
	}
	if len(ids) > 0 {
		c.send(protocol.TAck, ackBody{IDs: ids, Stamps: stamps, Rows: rows})
	}
	rejected := 0
	for i, ch := range p.Changes {
		if err := verdicts[i].Err; err != nil {
			rejected++
			c.send(protocol.TReject, protocol.Reject{ID: ch.ID, Error: protocol.ErrorBodyFrom(err)})
		}
	}
	c.log.Debug("push", "changes", len(p.Changes), "acked", len(ids), "rejected", rejected)
	return true
}
