package jsapi

import (
	"context"
	"encoding/json"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
)

// Reads run in every tab (each holds the rows); writes, batches and waits
// for the server run where the Db syncs: here, or at the leader tab.

// All is the rows of queryJSON, as a JSON array. The query stays
// registered with the server for the Db's life, so the rows stay current.
func (h *Handle) All(ctx context.Context, queryJSON string) (string, error) {
	return h.read(ctx, queryJSON, false)
}

// One is the first row of queryJSON as JSON, or null.
func (h *Handle) One(ctx context.Context, queryJSON string) (string, error) {
	return h.read(ctx, queryJSON, true)
}

func (h *Handle) read(ctx context.Context, queryJSON string, one bool) (string, error) {
	q, err := query.Decode([]byte(queryJSON))
	if err != nil {
		return "", err
	}
	if err := h.schemaReady(ctx); err != nil {
		return "", err
	}
	var out any
	err = h.do(func(db *client.Db) error {
		if one {
			r, err := db.One(q)
			out = r
			return err
		}
		rs, err := db.All(q)
		if rs == nil {
			rs = []engine.Row{}
		}
		out = rs
		return err
	})
	if err != nil {
		return "", err
	}
	h.ensure(q)
	return Marshal(out)
}

// ensure keeps q registered with the server for the Db's life, as reads
// do; a follower asks the leader to.
func (h *Handle) ensure(q *query.Query) {
	key := q.Key()
	h.mu.Lock()
	_, had := h.ensured[key]
	if !had {
		h.ensured[key] = q
	}
	r, t := h.role, h.tabs
	h.mu.Unlock()
	if !had && r == roleFollower && t != nil {
		t.retain(q, true)
	}
}

// Loaded returns once the server's result for queryJSON is all in
// (client.Db.WaitLoaded): the package's "edge" read tier. In a follower
// tab it returns at once: the leader holds the connection, and the
// follower has what the leader forwarded.
func (h *Handle) Loaded(ctx context.Context, queryJSON string) error {
	q, err := query.Decode([]byte(queryJSON))
	if err != nil {
		return err
	}
	if err := h.schemaReady(ctx); err != nil {
		return err
	}
	db, r, _, err := h.current()
	if err != nil || r == roleFollower {
		return err
	}
	return db.WaitLoaded(ctx, q)
}

// AllStaged reads as a transaction does: the rows of queryJSON as they
// would be after opsJSON's writes, which are not committed.
func (h *Handle) AllStaged(ctx context.Context, queryJSON, opsJSON string) (string, error) {
	q, err := query.Decode([]byte(queryJSON))
	if err != nil {
		return "", err
	}
	ops, err := DecodeOps(opsJSON)
	if err != nil {
		return "", err
	}
	if err := h.schemaReady(ctx); err != nil {
		return "", err
	}
	var rows []engine.Row
	err = h.do(func(db *client.Db) (err error) {
		rows, err = db.AllStaged(q, ops)
		return err
	})
	if err != nil {
		return "", err
	}
	h.ensure(q)
	if rows == nil {
		rows = []engine.Row{}
	}
	return Marshal(rows)
}

// NewIDs returns n fresh row or batch ids (UUIDv7) as a JSON array, so a
// batch's rows have their ids before anything is applied.
func (h *Handle) NewIDs(n int) (string, error) {
	if n < 1 || n > maxNewIDs {
		return "", BadArgument("jazz: newIds takes a count from 1 to %d", maxNewIDs)
	}
	db, _, _, err := h.current()
	if err != nil {
		return "", err
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = db.Engine().NewID()
	}
	return Marshal(ids)
}

// write is one write, batch or wait for a batch, as the tab that syncs
// performs it (and as a follower sends it there).
type write struct {
	Kind   string          `json:"m"` // an engine.Kind, "batch" or "wait"
	Table  string          `json:"table,omitempty"`
	ID     string          `json:"id,omitempty"`  // the row, or the batch
	Change string          `json:"c,omitempty"`   // the change's id, when the caller chose it
	Values string          `json:"v,omitempty"`   // values JSON, or a batch's ops JSON
	Schema json.RawMessage `json:"def,omitempty"` // the tables it needs, so the leader knows them

	// vals and ops are Values decoded, when this tab decoded them already
	// (a write it checked and performs itself); a leader decodes a
	// follower's.
	vals map[string]any
	ops  []engine.Op
}

// Write performs one insert, update, delete, upsert or restore and
// returns the row after it as JSON ("" for a delete). id is "" for an
// insert; change, when set, names the change, so the caller can wait for
// it (WaitBatch) before the write returns.
func (h *Handle) Write(ctx context.Context, kind, table, id, valuesJSON, change string) (string, error) {
	switch engine.Kind(kind) {
	case engine.KindInsert, engine.KindUpdate, engine.KindDelete, engine.KindUpsert, engine.KindRestore:
	default:
		return "", BadArgument("jazz: unknown write %q", kind)
	}
	w := &write{Kind: kind, Table: table, ID: id, Values: valuesJSON, Change: change}
	if kind != string(engine.KindDelete) {
		var err error
		if w.vals, err = DecodeValues(valuesJSON); err != nil {
			return "", err
		}
	}
	return h.atLeader(ctx, w)
}

// Batch writes opsJSON as one batch called id and returns the rows after
// it (JSON, one per write, null for a delete). A follower sends it to the
// leader as one call, so it stays one batch.
func (h *Handle) Batch(ctx context.Context, id, opsJSON string) (string, error) {
	ops, err := DecodeOps(opsJSON)
	if err != nil {
		return "", err
	}
	return h.atLeader(ctx, &write{Kind: "batch", ID: id, Values: opsJSON, ops: ops})
}

// WaitBatch returns once the server acknowledged the batch (or change)
// id, or with its typed rejection, the batch rolled back by then.
func (h *Handle) WaitBatch(ctx context.Context, id string) error {
	_, err := h.atLeader(ctx, &write{Kind: "wait", ID: id})
	return err
}

// atLeader performs w here when this tab syncs, or at the leader.
func (h *Handle) atLeader(ctx context.Context, w *write) (string, error) {
	if err := h.schemaReady(ctx); err != nil {
		return "", err
	}
	_, r, _, err := h.current()
	if err != nil {
		return "", err
	}
	if r != roleFollower {
		return h.exec(ctx, w)
	}
	// Tell the leader about the tables the write needs: it may not have
	// loaded them (no page of its own uses them).
	h.mu.Lock()
	sc := h.schema
	if w.Kind != "batch" {
		sc = h.schema.Closure(w.Table)
	}
	if sc != nil {
		w.Schema, _ = json.Marshal(sc)
	}
	h.mu.Unlock()
	return h.tabs.call(ctx, w)
}

// exec performs w on this tab's Db.
func (h *Handle) exec(ctx context.Context, w *write) (string, error) {
	switch w.Kind {
	case "wait":
		return "", h.do(func(db *client.Db) error { return db.WaitFor(ctx, w.ID) })
	case "batch":
		ops, err := w.ops, error(nil)
		if ops == nil {
			if ops, err = DecodeOps(w.Values); err != nil {
				return "", err
			}
		}
		var res *engine.BatchResult
		err = h.do(func(db *client.Db) (err error) {
			res, err = db.Batch(ctx, w.ID, ops)
			return err
		})
		if err != nil {
			return "", err
		}
		return Marshal(res.Rows)
	}
	vals := w.vals
	if vals == nil && w.Kind != string(engine.KindDelete) {
		var err error
		if vals, err = DecodeValues(w.Values); err != nil {
			return "", err
		}
	}
	var row engine.Row
	err := h.do(func(db *client.Db) (err error) {
		row, _, err = db.Write(ctx, w.Change, engine.Op{Kind: engine.Kind(w.Kind), Table: w.Table, Row: w.ID, Values: vals})
		return err
	})
	if err != nil || w.Kind == string(engine.KindDelete) {
		return "", err
	}
	return Marshal(row)
}
