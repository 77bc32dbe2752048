package engine

// Batches: several writes that apply, persist, sync and settle as one unit.
//
// Locally a batch is authorized change by change (each against the rows as
// the changes before it left them), then committed at once: one commit,
// one subscription update per affected subscription, and one outbox entry
// holding every change, so a reload restores all of it or none. The sync
// client sends the entry as one push marked with the batch id; the server
// applies it all or nothing (SubmitBatch) and logs the batch id, not each
// change's, as applied, so a resend is recognized as a whole. An
// acknowledgement or a rejection names the batch and settles every change
// in it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jazzgo/jazz-tools/core/hlc"
	idpkg "github.com/jazzgo/jazz-tools/core/id"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// ErrBatchTooLarge is returned by WriteBatch for a batch the protocol could
// not carry in one push: more than limits.MaxChangesPerPush changes, or a
// push frame over limits.MaxFrameBytes. Nothing of it is applied. A batch
// is atomic, so it is never split: write it as several batches.
var ErrBatchTooLarge = errors.New("engine: batch too large")

// ErrEmptyBatch is returned for a batch without writes.
var ErrEmptyBatch = fmt.Errorf("%w: a batch has at least one write", ErrBadChange)

// batchFrameSlack is the room a push frame needs around a batch's outbox
// entry: its type tag ("t":"push", 11 bytes) with room to spare.
const batchFrameSlack = 64

// Op is one write of a batch: an insert (Row is the new row's id, or ""
// for a fresh one), an update or a delete.
type Op struct {
	Kind   Kind           `json:"kind"`
	Table  string         `json:"table"`
	Row    string         `json:"row,omitempty"`
	Values map[string]any `json:"values,omitempty"`
}

// BatchResult is what WriteBatch committed.
type BatchResult struct {
	// ID names the batch: the sync client and the server settle it whole.
	ID string
	// Changes are the ids of its changes, one per op, in order.
	Changes []string
	// Rows are the rows after the batch, one per op (nil for a delete, and
	// for an op whose row a later op of the batch deleted).
	Rows []Row
}

// outboxBatch is a batch's outbox entry: all its changes, one value.
type outboxBatch struct {
	Batch   string    `json:"batch"`
	Changes []*Change `json:"changes"`
}

// outboxBatchPrefix starts a batch's outbox entry and never a single
// change's (whose JSON starts with "id").
var outboxBatchPrefix = []byte(`{"batch":`)

// pendingBatch is a batch with changes still pending here.
type pendingBatch struct {
	key     []byte    // its outbox entry
	changes []*Change // its changes restored here, in order
	total   int       // how many changes the batch has
	left    int       // how many are still pending
}

// stagedRows tracks the rows a batch's changes touch, as those before
// each change left them (pending writes and the batch's own included).
type stagedRows struct {
	db   *DB
	rows map[*table]map[string]*row
}

// get returns the row rid of t as the batch has it so far (nil when there
// is none). The caller holds the write lock.
func (s *stagedRows) get(t *table, rid string) *row {
	if r, ok := s.rows[t][rid]; ok {
		return r
	}
	return t.writableRow(rid)
}

// add folds c into its row's staged state, as a pending change.
func (s *stagedRows) add(t *table, c *Change) {
	prev := s.get(t, c.Row)
	nr := &row{id: c.Row, base: map[string]cell{}}
	if prev != nil {
		nr.base = prev.base
		nr.pending = append(prev.pending[:len(prev.pending):len(prev.pending)], c)
	} else {
		nr.pending = []*Change{c}
	}
	nr.recompute()
	if s.rows[t] == nil {
		s.rows[t] = map[string]*row{}
	}
	s.rows[t][c.Row] = nr
}

// stageLocked turns ops into authorized changes without committing them,
// each checked against the rows as the ones before it left them. The
// caller holds the write lock.
func (db *DB) stageLocked(a Actor, ops []Op) ([]*Change, *stagedRows, error) {
	s := &stagedRows{db: db, rows: map[*table]map[string]*row{}}
	changes := make([]*Change, len(ops))
	for i, op := range ops {
		c := &Change{Table: op.Table, Row: op.Row, Kind: op.Kind, Values: op.Values}
		if c.Kind == KindUpsert {
			c.Kind, c.Upsert = KindInsert, true
		}
		if err := policy.CheckAnonymous(a.Session, c.Table, c.Kind.operation()); err != nil {
			return nil, nil, err
		}
		if c.Row == "" {
			if c.Kind != KindInsert || c.Upsert {
				return nil, nil, fmt.Errorf("%w: write %d: %s needs a row id", ErrBadChange, i, op.Kind)
			}
			c.Row = db.ids.New()
		}
		c.ID = db.ids.New()
		c.TS = db.hlc.Now()
		if err := c.check(); err != nil {
			return nil, nil, fmt.Errorf("write %d: %w", i, err)
		}
		t := db.tables[c.Table]
		var existing *row
		if t != nil {
			existing = s.get(t, c.Row)
		}
		if err := db.authorizeLocked(a, c, existing, s); err != nil {
			return nil, nil, fmt.Errorf("write %d of the batch: %w", i, err)
		}
		s.add(t, c)
		changes[i] = c
	}
	return changes, s, nil
}

// WriteBatch authorizes ops as one batch and commits them together: all or
// none. batchID names it ("" for a fresh id). With Options.Optimistic the
// changes stay pending as one outbox entry until the server settles the
// batch; otherwise they are applied at once. Like Write, it returns once
// the commit is on disk.
func (db *DB) WriteBatch(ctx context.Context, a Actor, batchID string, ops []Op) (*BatchResult, error) {
	if len(ops) == 0 {
		return nil, ErrEmptyBatch
	}
	if len(ops) > limits.MaxChangesPerPush {
		return nil, fmt.Errorf("%w: %d writes, at most %d go in one batch", ErrBatchTooLarge, len(ops), limits.MaxChangesPerPush)
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil, ErrClosed
	}
	if batchID == "" {
		batchID = db.ids.New()
	}
	db.lastCommit = nil
	var changes []*Change
	err := db.checkBatchID(batchID)
	if err == nil {
		changes, _, err = db.stageLocked(a, ops)
	}
	var entry []byte
	if err == nil {
		entry, err = encodeBatchEntry(batchID, changes)
	}
	if err == nil {
		if db.opts.Optimistic {
			err = db.addPendingEntriesLocked(ctx, changes, map[string][]byte{batchID: entry})
		} else {
			now := db.nowMs()
			if err = db.applyLocked(ctx, changes, []storage.Op{appliedOp(batchID, now)}); err == nil {
				db.markApplied(batchID, now)
			}
		}
	}
	var res *BatchResult
	if err == nil {
		res = &BatchResult{ID: batchID, Changes: make([]string, len(changes)), Rows: make([]Row, len(changes))}
		for i, c := range changes {
			res.Changes[i] = c.ID
			if r := db.tables[c.Table].rows[c.Row]; r != nil && c.Kind != KindDelete && r.visible() {
				res.Rows[i] = r.public()
			}
		}
	}
	durable := db.lastCommit
	db.lastCommit = nil
	db.unlockAndNotify()
	if err != nil {
		return nil, err
	}
	if durable != nil {
		select {
		case <-durable.Done():
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	return res, nil
}

// checkChangeID refuses a caller's id for a single change that is in use
// (pending here, or applied), as checkBatchID does a batch id.
func (db *DB) checkChangeID(changeID string) error {
	if !idpkg.Valid(changeID) {
		return fmt.Errorf("%w: change id is not a UUID", ErrBadChange)
	}
	if db.pending[changeID] != nil {
		return fmt.Errorf("%w: change %s", ErrExists, changeID)
	}
	return db.checkBatchID(changeID)
}

// checkBatchID refuses a batch id in use (pending here, or applied).
func (db *DB) checkBatchID(batchID string) error {
	if !idpkg.Valid(batchID) {
		return fmt.Errorf("%w: batch id is not a UUID", ErrBadChange)
	}
	if _, ok := db.batches[batchID]; ok {
		return fmt.Errorf("%w: batch %s", ErrExists, batchID)
	}
	if _, ok := db.applied[batchID]; ok {
		return fmt.Errorf("%w: batch %s", ErrExists, batchID)
	}
	return nil
}

// encodeBatchEntry is a batch's outbox entry. It is refused when the push
// that carries it would be over the frame limit: a batch is never split.
// Each change is stamped with the batch first.
func encodeBatchEntry(batchID string, changes []*Change) ([]byte, error) {
	for _, c := range changes {
		c.Batch = batchID
	}
	b, err := limits.Marshal(outboxBatch{Batch: batchID, Changes: changes})
	if err != nil {
		return nil, fmt.Errorf("engine: encoding batch: %w", err)
	}
	if len(b)+batchFrameSlack > limits.MaxFrameBytes {
		return b, fmt.Errorf("%w: its push would take %d bytes, over the %d byte frame limit", ErrBatchTooLarge, len(b)+batchFrameSlack, limits.MaxFrameBytes)
	}
	return b, nil
}

// batchOutboxKey orders a batch's entry with its first change.
func batchOutboxKey(batchID string, first *Change) []byte {
	return []byte(first.TS.String() + "\x00" + batchID)
}

// registerBatchLocked notes changes of batch id, which has total changes
// in all, as pending here (key is its outbox entry). A batch restored
// table by table (Extend) adds up.
func (db *DB) registerBatchLocked(id string, key []byte, total int, changes []*Change) {
	b := db.batches[id]
	if b == nil {
		b = &pendingBatch{key: key, total: total}
		db.batches[id] = b
	}
	b.changes = append(b.changes, changes...)
	b.left += len(changes)
}

// PendingBatch returns the pending changes of batch id, in order, or nil
// when none is pending. complete is false while some of its changes wait
// in the outbox for their table (Extend): a batch must not be pushed in
// part, since the server takes a push marked with it as all of it.
func (db *DB) PendingBatch(id string) (changes []*Change, complete bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	b := db.batches[id]
	if b == nil {
		return nil, false
	}
	complete = len(b.changes) == b.total
	for _, c := range b.changes {
		if db.pending[c.ID] != nil {
			changes = append(changes, c)
		}
	}
	return changes, complete
}

// BatchOf returns the id of the batch pending change id belongs to ("" for
// a change written alone, or one no longer pending).
func (db *DB) BatchOf(changeID string) string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if c := db.pending[changeID]; c != nil {
		return c.Batch
	}
	return ""
}

// expandBatches replaces each batch id in ids by the ids of its pending
// changes, so Merge and Reject settle a batch whole.
func (db *DB) expandBatches(ids []string) []string {
	var out []string
	for _, id := range ids {
		b := db.batches[id]
		if b == nil {
			out = append(out, id)
			continue
		}
		for _, c := range b.changes {
			if db.pending[c.ID] != nil {
				out = append(out, c.ID)
			}
		}
	}
	return out
}

// expandAcked is expandBatches for acknowledgements: the changes of an
// acknowledged batch id carry no stamp (the row states that come with it
// hold them, as for a resend).
func (db *DB) expandAcked(acked []Acked) []Acked {
	var out []Acked
	for _, a := range acked {
		if db.batches[a.ID] == nil {
			out = append(out, a)
			continue
		}
		for _, cid := range db.expandBatches([]string{a.ID}) {
			out = append(out, Acked{ID: cid})
		}
	}
	return out
}

// batchSettles counts, during one merge, the changes of each batch it
// settles, to delete the batch's outbox entry with its last change.
type batchSettles struct {
	n     map[string]int
	acked map[string]bool
	seen  map[string]bool
}

func (bs *batchSettles) note(c *Change, acked bool) {
	if bs.seen[c.ID] {
		return
	}
	if bs.n == nil {
		bs.n, bs.acked, bs.seen = map[string]int{}, map[string]bool{}, map[string]bool{}
	}
	bs.seen[c.ID] = true
	bs.n[c.Batch]++
	if acked {
		bs.acked[c.Batch] = true
	}
}

// ops deletes the outbox entry of each batch whose last pending changes
// this merge settles; an acknowledged one is logged as applied under the
// batch id (so follower tabs, which see the entry go, know it was acked).
func (bs *batchSettles) ops(db *DB, s *stage, now int64) {
	for id, n := range bs.n {
		b := db.batches[id]
		if b == nil || n < b.left {
			continue
		}
		s.ops = append(s.ops, storage.Del(bucketOutbox, b.key))
		if bs.acked[id] {
			s.ops = append(s.ops, appliedOp(id, now))
		}
	}
}

// installed updates the pending batches once the merge has committed.
func (bs *batchSettles) installed(db *DB, now int64) {
	for id, n := range bs.n {
		b := db.batches[id]
		if b == nil {
			continue
		}
		if b.left -= n; b.left <= 0 {
			delete(db.batches, id)
			if bs.acked[id] {
				db.markApplied(id, now)
			}
		}
	}
}

// decodeOutboxEntry reads an outbox value: one change, or a batch's.
func decodeOutboxEntry(v []byte) (batch string, changes []*Change, err error) {
	if bytes.HasPrefix(v, outboxBatchPrefix) {
		var b outboxBatch
		if err := json.Unmarshal(v, &b); err != nil {
			return "", nil, err
		}
		for _, c := range b.Changes {
			if c == nil {
				return "", nil, errors.New("a null change in a batch")
			}
			c.Batch = b.Batch
		}
		return b.Batch, b.Changes, nil
	}
	c := new(Change)
	if err := json.Unmarshal(v, c); err != nil {
		return "", nil, err
	}
	return "", []*Change{c}, nil
}

// DecodeOutboxEntry reads an outbox value as stored by this package (one
// change, or all the changes of a batch, each with Batch set), for a
// follower tab that sees the leader write it.
func DecodeOutboxEntry(v []byte) ([]*Change, error) {
	_, cs, err := decodeOutboxEntry(v)
	if err != nil {
		return nil, fmt.Errorf("%w: outbox entry: %v", ErrCorrupt, err)
	}
	return cs, nil
}

// BatchVerdict is SubmitBatch's answer.
type BatchVerdict struct {
	// Err says why the batch was refused, nothing of it applied; Index is
	// the change that failed. Nil means it is applied, by this call or
	// (a resend) by an earlier one.
	Err   error
	Index int
	// Stamps are the timestamps this DB gave the changes, in order, when
	// this call applied them; nil for a refusal or a resend.
	Stamps []hlc.Timestamp
}

// SubmitBatch authorizes and applies a client's batch (a push marked with
// batchID) all or nothing: each change is checked like Submit checks it,
// against the rows as the changes before it left them, and one refusal
// refuses them all. The batch is logged as applied under batchID, in the
// same write as its rows, so a resend is accepted again without being
// applied twice. err is a storage failure: nothing was applied.
func (db *DB) SubmitBatch(ctx context.Context, a Actor, batchID string, changes []*Change) (BatchVerdict, error) {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return BatchVerdict{}, ErrClosed
	}
	defer db.unlockAndNotify()
	if _, done := db.applied[batchID]; done {
		return BatchVerdict{}, nil
	}
	if !idpkg.Valid(batchID) {
		return BatchVerdict{Err: fmt.Errorf("%w: batch id is not a UUID", ErrBadChange)}, nil
	}
	s := db.newStage()
	now := db.nowMs()
	db.expireAppliedLocked(s, now)
	seen := map[string]bool{}
	stamps := make([]hlc.Timestamp, len(changes))
	for i, c := range changes {
		err := error(nil)
		if _, done := db.applied[c.ID]; done || seen[c.ID] {
			err = fmt.Errorf("%w: change %s appears twice", ErrBadChange, c.ID)
		} else {
			seen[c.ID] = true
			err = db.submitOneLocked(s, a, c)
		}
		if err != nil {
			s.dropNewRows()
			return BatchVerdict{Err: err, Index: i}, nil
		}
		c.Batch = batchID
		stamps[i] = c.TS
	}
	s.ops = append(s.ops, appliedOp(batchID, now))
	if err := s.commit(ctx); err != nil {
		return BatchVerdict{}, err
	}
	db.markApplied(batchID, now)
	return BatchVerdict{Stamps: stamps}, nil
}

// submitOneLocked checks one change of a push against the rows as staged
// in s, stamps it with this DB's clock and stages it (see Submit).
func (db *DB) submitOneLocked(s *stage, a Actor, c *Change) error {
	if err := policy.CheckAnonymous(a.Session, c.Table, c.Kind.operation()); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	t := db.tables[c.Table]
	if t == nil {
		return fmt.Errorf("%w %q", schema.ErrUnknownTable, c.Table)
	}
	existing := t.writableRow(c.Row)
	if u := s.ups[existing]; existing != nil && u != nil {
		existing = &row{id: c.Row, base: u.base, view: u.base}
	}
	c.TS = db.hlc.Now()
	if err := db.authorizeLocked(a, c, existing, s); err != nil {
		return err
	}
	if err := t.checkRowSize(c, existing); err != nil {
		return err
	}
	s.of(t, c.Row).mergeBase(s, c.cells())
	return nil
}

// AllStaged runs q as All does, over the rows as they would be after ops
// (a transaction's writes, not committed): what a transaction reads of its
// own writes. ops are authorized as WriteBatch would; an op that would be
// refused is refused here too. Insert ops should carry their row ids, so
// the rows read are the rows later committed.
func (db *DB) AllStaged(a Actor, q *query.Query, ops []Op) ([]Row, error) {
	if len(ops) == 0 {
		return db.All(a, q)
	}
	if q.HasIncludes() {
		// The related rows would be read as committed, not as staged.
		return nil, fmt.Errorf("%w: include is not supported in a read of a transaction's own writes", query.ErrInvalid)
	}
	// The write lock: staging materializes the rows it touches and draws
	// ids and times, though nothing is committed.
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, ErrClosed
	}
	t, err := db.checkQuery(q)
	if err != nil {
		return nil, err
	}
	_, staged, err := db.stageLocked(a, ops)
	if err != nil {
		return nil, err
	}
	over := staged.rows[t]
	var out []*row
	for _, r := range db.matching(a, t, q) {
		if _, ok := over[r.id]; !ok {
			out = append(out, r)
		}
	}
	for _, r := range over {
		if r.visible() && q.Where.Eval(r, nil) && db.readable(a, t, r) {
			out = append(out, r)
		}
	}
	return db.shapeRows(a, q, t, orderedWindow(out, q.OrderBy, q.Offset, q.Limit)), nil
}
