package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	gosync "sync"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/sync"
)

// Handle reads and writes as one actor (see the package documentation for
// the kinds). Handles are cheap values: make one per request. They share
// their actor's connection with every other handle for the same actor.
type Handle struct {
	c     *Context
	actor actor
	err   error // a bad argument to the method that made the handle
}

// Write is the result of a local write: the change's id (for WaitFor) and
// the row as it now reads locally (nil after a delete).
type Write struct {
	ChangeID string
	Row      engine.Row
}

// Session is the session the handle acts as (ForSession, ForRequest), nil
// for backend handles. It must not be modified.
func (h *Handle) Session() *session.Session { return h.actor.session }

// Backend reports whether the handle has backend permissions (AsBackend,
// DB, WithAttribution*).
func (h *Handle) Backend() bool { return h.err == nil && h.actor.session == nil }

// Author is the user id the handle's writes are stamped with.
func (h *Handle) Author() string { return session.Author(h.actor.session, h.actor.attribution) }

// Err is the error every operation of a handle made from bad arguments
// returns (nil for a usable handle).
func (h *Handle) Err() error { return h.err }

// UpdateAuthToken does nothing and returns nil. Backend handles do not own
// bearer auth: they authenticate with the backend secret, and a user
// handle's identity is fixed when it is made. (Seed page "Authentication":
// backend-scoped wrappers ignore updateAuthToken.) Make a new handle with
// ForRequest for another request's credentials.
func (h *Handle) UpdateAuthToken(string) error { return nil }

func (h *Handle) acquire(ctx context.Context) (*conn, func(), error) {
	if h == nil || h.c == nil {
		return nil, nil, configErr("a nil Handle")
	}
	if h.err != nil {
		return nil, nil, h.err
	}
	cn, release, err := h.c.acquire(ctx, h.actor)
	if err != nil {
		return nil, nil, err
	}
	if err := cn.err(); err != nil {
		release()
		return nil, nil, err
	}
	return cn, release, nil
}

// sync registers q with the server and waits until the server has answered
// it and everything sent before. With pin, q stays registered until the
// returned release is called.
func (h *Handle) sync(ctx context.Context, cn *conn, q *query.Query, pin bool) (release func(), err error) {
	if q == nil {
		return nil, fmt.Errorf("%w: nil query", query.ErrInvalid)
	}
	release, err = cn.retainQuery(q, pin)
	if err != nil {
		return nil, err
	}
	if err := h.wait(ctx, cn); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// wait is a round trip on cn with a clear error on timeout.
func (h *Handle) wait(ctx context.Context, cn *conn) error {
	if err := cn.roundtrip(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("backend: the server did not answer in time (%s): %w", h.actor, err)
		}
		return err
	}
	return nil
}

// All returns the rows matching q that the actor may read, as the server
// has them: every write it acknowledged before the call is included (see
// Consistency in the package documentation), and so are the actor's own
// writes not yet acknowledged. Without a deadline on ctx, the wait for the
// server is bounded by Options.WaitTimeout.
func (h *Handle) All(ctx context.Context, q *query.Query) ([]engine.Row, error) {
	ctx, cancel := h.cWait(ctx)
	defer cancel()
	cn, release, err := h.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if _, err := h.sync(ctx, cn, q, false); err != nil {
		return nil, err
	}
	return cn.eng.All(h.actor.engine(), q)
}

// AllStaged is All over the rows as they would be after ops (a
// transaction's writes, not written): see engine.DB.AllStaged.
func (h *Handle) AllStaged(ctx context.Context, q *query.Query, ops []engine.Op) ([]engine.Row, error) {
	ctx, cancel := h.cWait(ctx)
	defer cancel()
	cn, release, err := h.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if _, err := h.sync(ctx, cn, q, false); err != nil {
		return nil, err
	}
	return cn.eng.AllStaged(h.actor.engine(), q, ops)
}

// One is All's first row, or nil.
func (h *Handle) One(ctx context.Context, q *query.Query) (engine.Row, error) {
	ctx, cancel := h.cWait(ctx)
	defer cancel()
	cn, release, err := h.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if _, err := h.sync(ctx, cn, q, false); err != nil {
		return nil, err
	}
	return cn.eng.One(h.actor.engine(), q)
}

func (h *Handle) cWait(ctx context.Context) (context.Context, context.CancelFunc) {
	if h == nil || h.c == nil {
		return context.WithCancel(ctx)
	}
	return h.c.waitContext(ctx)
}

// Subscribe runs q live: cb receives the initial result (complete as of
// the server, as for All) and then every change, from the actor's
// replica, on the replica's callback goroutine (one at a time, in order).
// The connection stays open until cancel is called.
func (h *Handle) Subscribe(ctx context.Context, q *query.Query, cb func(engine.Update)) (cancel func(), err error) {
	rctx, rcancel := h.cWait(ctx)
	defer rcancel()
	cn, release, err := h.acquire(rctx)
	if err != nil {
		return nil, err
	}
	unpin, err := h.sync(rctx, cn, q, true)
	if err != nil {
		release()
		return nil, err
	}
	s, err := cn.eng.Subscribe(h.actor.engine(), q, cb)
	if err != nil {
		unpin()
		release()
		return nil, err
	}
	var once gosync.Once
	return func() {
		once.Do(func() {
			s.Cancel()
			unpin()
			release()
		})
	}, nil
}

// Insert writes a row to the replica at once and queues it for the
// server; the returned Write names the change for WaitFor.
func (h *Handle) Insert(ctx context.Context, table string, values map[string]any) (Write, error) {
	return h.write(ctx, engine.KindInsert, table, "", values)
}

// Update changes some columns of row id.
func (h *Handle) Update(ctx context.Context, table, id string, patch map[string]any) (Write, error) {
	return h.write(ctx, engine.KindUpdate, table, id, patch)
}

// Delete removes row id. A row the actor's replica does not hold yet is
// looked up on the server first.
func (h *Handle) Delete(ctx context.Context, table, id string) (Write, error) {
	return h.write(ctx, engine.KindDelete, table, id, nil)
}

// Upsert writes row id with values: an insert when the row does not exist
// (defaults fill what values leave out), an update of the columns values
// names when it does. The server decides again against its own rows.
func (h *Handle) Upsert(ctx context.Context, table, id string, values map[string]any) (Write, error) {
	return h.write(ctx, engine.KindUpsert, table, id, values)
}

// Restore brings deleted row id back with values, a full row as for an
// insert (defaults fill what it leaves out). The replica must hold the
// deleted row (it read the row before, or deleted it itself): a deleted
// row is not fetched from the server.
func (h *Handle) Restore(ctx context.Context, table, id string, values map[string]any) (Write, error) {
	return h.write(ctx, engine.KindRestore, table, id, values)
}

func (h *Handle) write(ctx context.Context, kind engine.Kind, table, id string, values map[string]any) (Write, error) {
	cn, release, err := h.acquire(ctx)
	if err != nil {
		return Write{}, err
	}
	defer release()
	if kind != engine.KindInsert {
		if err := h.fetchRow(ctx, cn, table, id); err != nil {
			return Write{}, err
		}
	}
	row, changeID, err := cn.eng.Write(ctx, h.actor.engine(), kind, table, id, values)
	if err != nil {
		return Write{}, err
	}
	cn.sc.Notify()
	return Write{ChangeID: changeID, Row: row}, nil
}

// fetchRow brings row id of table into the replica when it is not there:
// the replica holds only rows its queries brought in, and updating or
// deleting a row the backend never read must work.
func (h *Handle) fetchRow(ctx context.Context, cn *conn, table, id string) error {
	if _, gerr := cn.eng.Get(h.actor.engine(), table, id); gerr == nil || !errors.Is(gerr, engine.ErrNotFound) {
		return nil
	}
	q, err := rowQuery(table, id)
	if err != nil {
		return err
	}
	rctx, cancel := h.c.waitContext(ctx)
	defer cancel()
	_, err = h.sync(rctx, cn, q, false)
	return err
}

// Batch writes ops as one batch: applied to the replica at once, sent to
// the server as one push that it applies all or nothing (with this
// handle's permissions checked on every row), and settled whole. Nothing
// is applied if any op is refused locally. WaitFor(result.ID) waits for
// the server's answer; a rejection rolls every op back and names the op
// that failed. A batch has at most limits.MaxChangesPerPush ops and must
// fit one frame (engine.ErrBatchTooLarge).
func (h *Handle) Batch(ctx context.Context, ops []engine.Op) (*engine.BatchResult, error) {
	return h.BatchWithID(ctx, "", ops)
}

// BatchWithID is Batch under batchID (a UUID the caller made, "" for a new
// one): a caller that names the batch before it is written, as the
// JavaScript package does, settles it under that name.
func (h *Handle) BatchWithID(ctx context.Context, batchID string, ops []engine.Op) (*engine.BatchResult, error) {
	cn, release, err := h.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	for _, op := range ops {
		if op.Kind != engine.KindInsert && op.Row != "" {
			if err := h.fetchRow(ctx, cn, op.Table, op.Row); err != nil {
				return nil, err
			}
		}
	}
	res, err := cn.eng.WriteBatch(ctx, h.actor.engine(), batchID, ops)
	if err != nil {
		return nil, err
	}
	cn.sc.Notify()
	return res, nil
}

// BatchAndWait is Batch then WaitFor of the batch. Without a deadline on
// ctx it waits at most Options.WaitTimeout.
func (h *Handle) BatchAndWait(ctx context.Context, ops []engine.Op) (*engine.BatchResult, error) {
	return h.BatchWithIDAndWait(ctx, "", ops)
}

// BatchWithIDAndWait is BatchWithID then WaitFor of the batch.
func (h *Handle) BatchWithIDAndWait(ctx context.Context, batchID string, ops []engine.Op) (*engine.BatchResult, error) {
	ctx, cancel := h.cWait(ctx)
	defer cancel()
	res, err := h.BatchWithID(ctx, batchID, ops)
	if err != nil {
		return nil, err
	}
	return res, h.WaitFor(ctx, res.ID)
}

// WaitFor blocks until the server acknowledged the change or batch (nil;
// changeID may be a batch's id) or rejected it (a *protocol.RemoteError that unwraps to the typed error; the write is
// rolled back by then), the actor's connection was refused (*AuthError), or
// ctx ends.
func (h *Handle) WaitFor(ctx context.Context, changeID string) error {
	if changeID == "" {
		return nil
	}
	if h.err != nil {
		return h.err
	}
	if err := h.c.rejection(changeID); err != nil {
		return err
	}
	cn, release := h.c.lookup(h.actor)
	if cn == nil {
		// Evicted: it had nothing pending, so the change was settled.
		if err := h.c.rejection(changeID); err != nil {
			return err
		}
		if h.c.isClosed() {
			return ErrClosed
		}
		return nil
	}
	defer release()
	select {
	case err := <-cn.sc.WaitFor(changeID):
		if errors.Is(err, sync.ErrClosed) {
			return ErrClosed
		}
		return err
	case <-cn.failed:
		return cn.err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InsertAndWait is Insert then WaitFor: it returns once the server
// acknowledged the row, or with its typed rejection. Without a deadline on
// ctx it waits at most Options.WaitTimeout.
func (h *Handle) InsertAndWait(ctx context.Context, table string, values map[string]any) (engine.Row, error) {
	ctx, cancel := h.cWait(ctx)
	defer cancel()
	w, err := h.Insert(ctx, table, values)
	if err != nil {
		return nil, err
	}
	return w.Row, h.WaitFor(ctx, w.ChangeID)
}

// UpsertAndWait is Upsert then WaitFor.
func (h *Handle) UpsertAndWait(ctx context.Context, table, id string, values map[string]any) (engine.Row, error) {
	return h.writeAndWait(ctx, engine.KindUpsert, table, id, values)
}

// RestoreAndWait is Restore then WaitFor.
func (h *Handle) RestoreAndWait(ctx context.Context, table, id string, values map[string]any) (engine.Row, error) {
	return h.writeAndWait(ctx, engine.KindRestore, table, id, values)
}

func (h *Handle) writeAndWait(ctx context.Context, kind engine.Kind, table, id string, values map[string]any) (engine.Row, error) {
	ctx, cancel := h.cWait(ctx)
	defer cancel()
	w, err := h.write(ctx, kind, table, id, values)
	if err != nil {
		return nil, err
	}
	return w.Row, h.WaitFor(ctx, w.ChangeID)
}

// UpdateAndWait is Update then WaitFor.
func (h *Handle) UpdateAndWait(ctx context.Context, table, id string, patch map[string]any) (engine.Row, error) {
	ctx, cancel := h.cWait(ctx)
	defer cancel()
	w, err := h.Update(ctx, table, id, patch)
	if err != nil {
		return nil, err
	}
	return w.Row, h.WaitFor(ctx, w.ChangeID)
}

// DeleteAndWait is Delete then WaitFor.
func (h *Handle) DeleteAndWait(ctx context.Context, table, id string) error {
	ctx, cancel := h.cWait(ctx)
	defer cancel()
	w, err := h.Delete(ctx, table, id)
	if err != nil {
		return err
	}
	return h.WaitFor(ctx, w.ChangeID)
}

// rowQuery selects one row by id.
func rowQuery(table, id string) (*query.Query, error) {
	t, _ := json.Marshal(table)
	v, _ := json.Marshal(id)
	return query.Decode([]byte(`{"table":` + string(t) + `,"where":{"eq":[{"col":"id"},{"value":` + string(v) + `}]}}`))
}

// RemoteError is a write the server rejected; errors.As it, or errors.As
// the typed error it unwraps to (*policy.DeniedError and friends).
type RemoteError = protocol.RemoteError
