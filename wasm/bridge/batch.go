//go:build js && wasm

package bridge

import (
	"context"
	"encoding/json"
	"strings"
	"syscall/js"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/core/engine"
)

// Batches and transactions (db.batch, db.transaction in JavaScript): the
// package collects the writes, then hands them over in one call. Row and
// batch ids come from newIds, synchronously, so a batch's result and its
// inserted rows have their ids before anything is applied.

// maxNewIDs bounds one newIds call (a batch holds at most as many writes).
const maxNewIDs = 1001

// decodeOps reads a batch's writes (engine.Op JSON), numbers as
// json.Number, as the single writes' values are read.
func decodeOps(s string) ([]engine.Op, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var ops []engine.Op
	if err := dec.Decode(&ops); err != nil {
		return nil, jsapi.BadArgument("jazz: a batch's writes must be a JSON array of {kind, table, row?, values?}: %v", err)
	}
	return ops, nil
}

// newIDs returns n fresh row or batch ids (UUIDv7) as a JSON array.
func (h *handle) newIDs(args []js.Value) (any, error) {
	if len(args) == 0 || args[0].Type() != js.TypeNumber || args[0].Int() < 1 || args[0].Int() > maxNewIDs {
		return nil, jsapi.BadArgument("jazz: newIds takes a count from 1 to %d", maxNewIDs)
	}
	db, _, _, err := h.current()
	if err != nil {
		return nil, err
	}
	ids := make([]string, args[0].Int())
	for i := range ids {
		ids[i] = db.Engine().NewID()
	}
	b, err := json.Marshal(ids)
	return string(b), err
}

// batch(batchId, opsJSON) writes one batch and resolves to the rows after
// it (JSON, one per write, null for a delete). A follower tab sends it to
// the leader as one call, so it stays one batch.
func (h *handle) batch(args []js.Value) (func(context.Context) (any, error), error) {
	id, err := stringArg(args, 0, "batchId")
	if err != nil {
		return nil, err
	}
	opsJSON, err := stringArg(args, 1, "opsJSON")
	if err != nil {
		return nil, err
	}
	if _, err := decodeOps(opsJSON); err != nil {
		return nil, err
	}
	w := &write{Kind: "batch", ID: id, Values: opsJSON}
	return func(ctx context.Context) (any, error) {
		hook("batch")
		return h.leaderCall(ctx, w)
	}, nil
}

// waitBatch(batchId) resolves once the server acknowledged the batch, or
// rejects with its typed rejection (the batch rolled back by then). Only
// the leader talks to the server: a follower asks it.
func (h *handle) waitBatch(args []js.Value) (func(context.Context) (any, error), error) {
	id, err := stringArg(args, 0, "batchId")
	if err != nil {
		return nil, err
	}
	w := &write{Kind: "wait", ID: id}
	return func(ctx context.Context) (any, error) {
		if _, err := h.leaderCall(ctx, w); err != nil {
			return nil, err
		}
		return js.Undefined(), nil
	}, nil
}

// leaderCall performs w here when this tab leads, or at the leader.
func (h *handle) leaderCall(ctx context.Context, w *write) (string, error) {
	if err := h.schemaReady(ctx); err != nil {
		return "", err
	}
	_, r, _, err := h.current()
	if err != nil {
		return "", err
	}
	if r == roleFollower {
		if w.Kind == "batch" {
			h.mu.Lock()
			if h.schema != nil {
				w.Schema, _ = json.Marshal(h.schema)
			}
			h.mu.Unlock()
		}
		return h.tabs.call(ctx, w)
	}
	return h.execWrite(ctx, w)
}

// execBatch is execWrite for a batch or a wait for one.
func (h *handle) execBatch(ctx context.Context, w *write) (string, error) {
	if w.Kind == "wait" {
		return "", h.do(func(db *client.Db) error { return db.WaitFor(ctx, w.ID) })
	}
	ops, err := decodeOps(w.Values)
	if err != nil {
		return "", err
	}
	var res *engine.BatchResult
	err = h.do(func(db *client.Db) error {
		var err error
		res, err = db.Batch(ctx, w.ID, ops)
		return err
	})
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(res.Rows)
	return string(b), err
}

// allStaged(queryJSON, opsJSON) reads as a transaction does: the rows as
// they would be after its writes, which are not committed. Every tab
// holds the rows, so it runs here.
func (h *handle) allStaged(args []js.Value) (func(context.Context) (any, error), error) {
	qs, err := stringArg(args, 0, "queryJSON")
	if err != nil {
		return nil, err
	}
	q, err := decodeQuery(qs)
	if err != nil {
		return nil, err
	}
	opsJSON, err := stringArg(args, 1, "opsJSON")
	if err != nil {
		return nil, err
	}
	ops, err := decodeOps(opsJSON)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (any, error) {
		if err := h.schemaReady(ctx); err != nil {
			return nil, err
		}
		var rows []engine.Row
		err := h.do(func(db *client.Db) error {
			var err error
			rows, err = db.AllStaged(q, ops)
			return err
		})
		if err != nil {
			return nil, err
		}
		h.ensure(q)
		if rows == nil {
			rows = []engine.Row{}
		}
		b, err := json.Marshal(rows)
		return string(b), err
	}, nil
}
