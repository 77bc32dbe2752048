package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// Actor is who performs an operation.
type Actor struct {
	// Session is the caller's resolved session; nil is the system itself.
	Session *session.Session
	// Attribution, when set, is stamped as the author instead of the
	// session's user, without changing whose permissions apply.
	Attribution string
	// Backend skips policies (backend-level permissions). The anonymous
	// check still applies to a backend acting for an anonymous session.
	Backend bool
}

// Author is the user id writes by a are stamped with.
func (a Actor) Author() string { return session.Author(a.Session, a.Attribution) }

func (db *DB) enforce(a Actor) bool { return db.opts.EnforcePolicies && !a.Backend && a.Session != nil }

// Insert adds a row and returns it as stored (id and metadata included).
func (db *DB) Insert(ctx context.Context, a Actor, tableName string, values map[string]any) (Row, error) {
	row, _, err := db.Write(ctx, a, KindInsert, tableName, "", values)
	return row, err
}

// Update changes some columns of a row and returns the row as it now is.
func (db *DB) Update(ctx context.Context, a Actor, tableName, rowID string, patch map[string]any) (Row, error) {
	row, _, err := db.Write(ctx, a, KindUpdate, tableName, rowID, patch)
	return row, err
}

// Delete removes a row (leaving a tombstone so the delete replicates).
func (db *DB) Delete(ctx context.Context, a Actor, tableName, rowID string) error {
	_, _, err := db.Write(ctx, a, KindDelete, tableName, rowID, nil)
	return err
}

// Write is Insert, Update or Delete (rowID is "" for an insert) that also
// returns the id of the change it committed, for a caller that waits for
// the server to acknowledge it. Looking the change up in Pending afterwards
// would race with that acknowledgement: the sync client may push the change
// and see it acknowledged while Write waits for the disk.
func (db *DB) Write(ctx context.Context, a Actor, kind Kind, tableName, rowID string, values map[string]any) (Row, string, error) {
	return db.WriteOp(ctx, a, "", Op{Kind: kind, Table: tableName, Row: rowID, Values: values})
}

// WriteOp is Write for any kind of op, upsert and restore included, with
// the change's id chosen by the caller (changeID, "" for a fresh one): a
// caller that hands out a handle to wait on knows its id before the write
// returns, as it does a batch's. The id must be a UUID not in use.
func (db *DB) WriteOp(ctx context.Context, a Actor, changeID string, op Op) (Row, string, error) {
	c := &Change{ID: changeID, Table: op.Table, Row: op.Row, Kind: op.Kind, Values: op.Values}
	if c.Kind == KindUpsert {
		c.Kind, c.Upsert = KindInsert, true
	}
	if c.Row == "" && (c.Kind != KindInsert || c.Upsert) {
		return nil, "", fmt.Errorf("%w: %s needs a row id", ErrBadChange, op.Kind)
	}
	return db.write(ctx, a, c)
}

// write authorizes and commits one local change, returning the row as it
// now reads (nil after a delete) and the change's id.
func (db *DB) write(ctx context.Context, a Actor, c *Change) (Row, string, error) {
	op := c.Kind.operation()
	// Anonymous sessions are refused before the schema or any policy is
	// consulted, so nothing about the data leaks through the error.
	if err := policy.CheckAnonymous(a.Session, c.Table, op); err != nil {
		return nil, "", err
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil, "", ErrClosed
	}
	db.lastCommit = nil
	if c.Row == "" {
		c.Row = db.ids.New()
	}
	var err error
	if c.ID == "" {
		c.ID = db.ids.New()
	} else {
		err = db.checkChangeID(c.ID)
	}
	id := c.ID // c is shared once committed: read nothing of it after unlocking
	c.TS = db.hlc.Now()
	if err == nil {
		err = db.authorizeLocked(a, c, db.tables[c.Table].writableRow(c.Row), nil)
	}
	if err == nil {
		if db.opts.Optimistic {
			err = db.addPendingLocked(ctx, c)
		} else {
			err = db.applyLocked(ctx, []*Change{c}, nil)
		}
	}
	var out Row
	if err == nil && c.Kind != KindDelete {
		out = db.tables[c.Table].rows[c.Row].public()
	}
	durable := db.lastCommit
	db.lastCommit = nil
	// Subscribers see the write now; its caller hears back once it is on
	// disk, so an awaited write survives a reload. If the disk fails, the
	// write still stands in memory (and syncs): the store's owner was told.
	db.unlockAndNotify()
	if err != nil {
		return nil, "", err
	}
	if durable != nil {
		select {
		case <-durable.Done():
		case <-ctx.Done():
			return out, id, ctx.Err()
		}
	}
	return out, id, nil
}

// Authorize checks a change made by a on another replica, as the server does
// for every change a client sends: shape, anonymous denial, schema, row
// existence and policies. It normalizes c.Values and stamps c.By with the
// actor's author, so a client cannot forge authorship. It does not apply c.
func (db *DB) Authorize(a Actor, c *Change) error {
	if err := policy.CheckAnonymous(a.Session, c.Table, c.Kind.operation()); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	return db.authorizeLocked(a, c, db.tables[c.Table].rowOrNil(c.Row), nil)
}

// rowOrNil is nil-safe so an unknown table reaches the schema error.
func (t *table) rowOrNil(rid string) *row {
	if t == nil {
		return nil
	}
	return t.rows[rid]
}

// writableRow is rowOrNil for a writer, who holds the write lock: an
// encoded row is materialized here, once, for both the authorization and
// the write that follows it.
func (t *table) writableRow(rid string) *row {
	r := t.rowOrNil(rid)
	if r != nil {
		t.materialize(r)
	}
	return r
}

// authorizeLocked checks c against existing, the row as it stands (nil when
// there is none). A row a may not read is taken as missing (seenBy), before
// the patch is validated, so neither the error nor its kind tells a writer
// that the id exists.
func (db *DB) authorizeLocked(a Actor, c *Change, existing *row, ov overlay) error {
	t := db.tables[c.Table]
	if t == nil {
		return fmt.Errorf("%w %q", schema.ErrUnknownTable, c.Table)
	}
	c.By = a.Author()
	exists := db.seenBy(a, t, existing)
	if c.Upsert {
		// Resolved against this replica's row; an upsert of a deleted
		// row goes on as an insert and fails as one.
		c.Kind = KindInsert
		if exists {
			c.Kind = KindUpdate
		}
	}
	var (
		vals map[string]any
		err  error
	)
	switch c.Kind {
	case KindInsert:
		if existing != nil && (existing.encoded() || len(existing.view) > 0) {
			return fmt.Errorf("%w: %s/%s", ErrExists, c.Table, c.Row)
		}
		vals, err = t.def.ValidateInsert(c.Values)
	case KindUpdate:
		if !exists {
			return notFound(c.Table, c.Row)
		}
		vals, err = t.def.ValidatePatch(c.Values)
	case KindDelete:
		if !exists {
			return notFound(c.Table, c.Row)
		}
	case KindRestore:
		// Only a deleted row the writer could read comes back; anything
		// else reads as missing, or, for a live row, as taken.
		switch {
		case exists:
			return fmt.Errorf("%w: %s/%s is not deleted, so there is nothing to restore", ErrExists, c.Table, c.Row)
		case existing == nil || (!existing.encoded() && len(existing.view) == 0) || !db.readable(a, t, existing):
			return notFound(c.Table, c.Row)
		}
		vals, err = t.def.ValidateInsert(c.Values)
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrBadChange, c.Kind)
	}
	if err != nil {
		return err
	}
	c.Values = vals
	if !db.enforce(a) {
		return nil
	}
	var oldRow, newRow *row
	if exists {
		oldRow = existing
	}
	if c.Kind != KindDelete {
		// The row as it would be after the change, metadata included, so
		// policies may speak of $createdBy and friends.
		newRow = &row{id: c.Row, base: map[string]cell{}}
		if exists {
			newRow.base = maps.Clone(t.cellsOf(existing))
		}
		merge(newRow.base, c.cells())
		newRow.view = newRow.base
	}
	return db.opts.Bundle.Policies.CheckWrite(a.Session, c.Table, c.Kind.operation(), asExprRow(oldRow), asExprRow(newRow), db.world(ov))
}

// Apply merges changes that were authorized elsewhere (or by Authorize) into
// the base, persisting them in one batch. Changes already applied are
// skipped, so Apply is idempotent. It returns the changes that were new.
func (db *DB) Apply(ctx context.Context, changes []*Change) ([]*Change, error) {
	for _, c := range changes {
		if err := c.check(); err != nil {
			return nil, err
		}
		if db.tables[c.Table] == nil {
			return nil, fmt.Errorf("%w %q", schema.ErrUnknownTable, c.Table)
		}
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil, ErrClosed
	}
	var fresh []*Change
	seen := map[string]bool{}
	for _, c := range changes {
		if _, done := db.applied[c.ID]; !done && !seen[c.ID] {
			seen[c.ID] = true
			fresh = append(fresh, c)
		}
	}
	err := db.applyLocked(ctx, fresh, nil)
	db.unlockAndNotify()
	if err != nil {
		return nil, err
	}
	return fresh, nil
}

// Verdict is Submit's answer for one change.
type Verdict struct {
	// Err says why the change was refused; nil means it is applied, by
	// this call or (a resend) by an earlier one.
	Err error
	// Stamp is the timestamp this DB gave the change when this call
	// applied it, zero for a refusal or a resend.
	Stamp hlc.Timestamp
}

// Submit authorizes and applies changes sent by a (a client's push) as one
// batch: each change is checked against the rows as the changes before it in
// the batch left them, the accepted ones are persisted with a single write,
// and verdicts[i] says what became of change i. A change whose id was
// already applied is accepted again without being re-applied, which makes
// resends after a lost ack harmless. err is a storage failure, in which case
// nothing was applied.
//
// The time a change carries is the sender's to choose, so Submit ignores
// it: every change is stamped anew from this DB's clock before it is
// authorized and merged (Verdict.Stamp). Edit times ($createdAt,
// $updatedAt) are therefore the server's clock at apply, and a change's
// place in last-writer-wins is the order the server accepted it in: a
// client whose clock runs ahead cannot win every later write, nor drag
// other replicas' clocks forward, and an edit made offline takes its place
// when it reaches the server.
func (db *DB) Submit(ctx context.Context, a Actor, changes []*Change) (verdicts []Verdict, err error) {
	verdicts = make([]Verdict, len(changes))
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil, ErrClosed
	}
	s := db.newStage()
	now := db.nowMs()
	db.expireAppliedLocked(s, now)
	seen := map[string]bool{}
	var accepted []*Change
	for i, c := range changes {
		if _, done := db.applied[c.ID]; done || seen[c.ID] {
			continue
		}
		if err := db.submitOneLocked(s, a, c); err != nil {
			verdicts[i].Err = err
			continue
		}
		seen[c.ID] = true
		verdicts[i].Stamp = c.TS
		s.ops = append(s.ops, appliedOp(c.ID, now))
		accepted = append(accepted, c)
	}
	if err := s.commit(ctx); err != nil {
		db.unlockAndNotify()
		return nil, err
	}
	for _, c := range accepted {
		db.markApplied(c.ID, now)
	}
	db.unlockAndNotify()
	return verdicts, nil
}

// rowUpdate is a staged new state for one row.
type rowUpdate struct {
	t       *table
	r       *row
	base    map[string]cell
	pending []*Change
	seq     uint64
	persist bool
	stored  []byte // base and seq encoded, once persisted
	// forget drops the row from memory once installed, when nothing of
	// it is pending (RowState.Hidden).
	forget bool
}

type stage struct {
	db   *DB
	ups  map[*row]*rowUpdate
	list []*rowUpdate
	ops  []storage.Op
	seq  uint64
}

func (db *DB) newStage() *stage { return &stage{db: db, ups: map[*row]*rowUpdate{}, seq: db.seq} }

func (s *stage) of(t *table, rid string) *rowUpdate {
	r := t.row(rid)
	u := s.ups[r]
	if u == nil {
		u = &rowUpdate{t: t, r: r, base: r.base, pending: r.pending, seq: r.seq}
		s.ups[r] = u
		s.list = append(s.list, u)
	}
	return u
}

// mergeBase folds cells into a row's base (copy on first write). A merge
// that changes nothing (a row the server sends again) leaves the row as it
// is: not rewritten, not renumbered.
func (u *rowUpdate) mergeBase(s *stage, cells map[string]cell) {
	base := u.base
	if !u.persist {
		base = maps.Clone(u.base)
	}
	if !merge(base, cells) {
		return
	}
	u.base, u.persist = base, true
	if s.db.opts.Sequenced {
		s.seq++
		u.seq = s.seq
	}
}

// commit persists the stage atomically, then installs it and queues
// subscription updates. The caller holds db.mu.
func (s *stage) commit(ctx context.Context) error {
	db := s.db
	for _, u := range s.list {
		if !u.persist {
			continue
		}
		b, err := encodeStored(u.base, u.seq)
		if err != nil {
			return fmt.Errorf("engine: encoding row %s/%s: %w", u.t.def.Name, u.r.id, err)
		}
		if db.opts.PackRows {
			u.stored = b
		}
		s.ops = append(s.ops, storage.Put(bucketRows, rowKey(u.t.def.Name, u.r.id), b))
	}
	if s.seq != db.seq {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], s.seq)
		s.ops = append(s.ops, storage.Put(bucketMeta, []byte("seq"), b[:]))
	}
	stamp := db.stamp.Load()
	if len(s.ops) > 0 && db.opts.CacheResults {
		// Every commit that writes moves the stamp, in the same batch, so
		// a saved result can tell whether it still describes the store.
		stamp++
		s.ops = append(s.ops, storage.Put(bucketMeta, []byte(metaStamp), binary.BigEndian.AppendUint64(nil, stamp)))
	}
	if len(s.ops) > 0 {
		c, err := db.persist(ctx, s.ops)
		if c != nil {
			db.lastCommit = c
		}
		if err != nil {
			// Nothing was installed: memory still matches the store.
			s.dropNewRows()
			return fmt.Errorf("engine: persisting changes: %w", err)
		}
	}
	s.noteSeqs()
	db.seq = s.seq
	db.commits++
	db.stamp.Store(stamp)
	touched := map[*Subscription][]changedRow{}
	rechecked := map[*Subscription]bool{}
	var order []*Subscription
	for _, u := range s.list {
		before := u.r.view
		wasVisible := u.r.visible()
		u.t.indexRow(u.r, false)
		u.r.base, u.r.pending, u.r.seq = u.base, u.pending, u.seq
		if u.persist {
			u.r.stored = u.stored
		}
		u.r.recompute()
		u.t.indexRow(u.r, true)
		if (!wasVisible || u.forget) && !u.r.visible() && len(u.r.view) == 0 {
			delete(u.t.rows, u.r.id)
		}
		u.t.subs.affected(u.r, before, func(sub *Subscription) {
			if _, seen := touched[sub]; !seen {
				order = append(order, sub)
			}
			touched[sub] = append(touched[sub], changedRow{r: u.r, before: before})
		})
		for sub := range u.t.watchers {
			if _, seen := touched[sub]; !seen {
				order = append(order, sub)
				touched[sub] = nil
			}
			rechecked[sub] = true
		}
		for sub := range u.t.includers {
			r := u.r
			sub.includedChanged(u.t, r, before, func(root *row) {
				if _, seen := touched[sub]; !seen {
					order = append(order, sub)
				}
				touched[sub] = append(touched[sub], changedRow{r: root, included: true})
			})
			if !sub.steps {
				// A server's watch names the changed row itself too: a row
				// that left the includes of a result (a todo moved to a
				// project outside it) is sent as it is now, else the
				// client would keep including its old state.
				d := db.notify.pendingFor(sub)
				d.Related = append(d.Related, RowRef{u.t.def.Name, r.id})
			}
		}
	}
	for _, sub := range order {
		changes := touched[sub]
		if rechecked[sub] {
			changes = sub.recheck(changes)
		}
		if len(changes) > 0 {
			sub.rowsChanged(changes, db.notify.pendingFor(sub))
		}
	}
	if db.opts.PackRows {
		db.packLocked(ctx, s.list)
	}
	return nil
}

// packLocked notes the rows a commit wrote as the tail of their tables and
// compacts the tables whose tail is due (pack.go). A failed compaction
// changes nothing but is reported: the rows are safe in the tail.
func (db *DB) packLocked(ctx context.Context, ups []*rowUpdate) {
	for _, u := range ups {
		if u.persist {
			u.t.tail[u.r.id] = struct{}{}
		}
	}
	for _, u := range ups {
		if !u.persist || !u.t.compactDue() {
			continue
		}
		if err := db.compactLocked(ctx, u.t); err != nil && db.opts.OnError != nil {
			db.opts.OnError(err)
		}
	}
}

// persist writes ops: on a deferred store it queues them behind every
// earlier batch and returns at once with the batch's Commit (memory moves
// on now); otherwise it applies them and returns a nil Commit. The caller
// holds db.mu, which keeps batches in commit order.
func (db *DB) persist(ctx context.Context, ops []storage.Op) (*storage.Commit, error) {
	if db.deferred != nil {
		return db.deferred.Enqueue(ops)
	}
	return nil, db.store.Apply(ctx, ops)
}

// dropNewRows forgets placeholder rows created while staging.
func (s *stage) dropNewRows() {
	for _, u := range s.list {
		if len(u.r.view) == 0 && len(u.r.pending) == 0 {
			delete(u.t.rows, u.r.id)
		}
	}
}

func (db *DB) applyLocked(ctx context.Context, changes []*Change, extra []storage.Op) error {
	if len(changes) == 0 && len(extra) == 0 {
		return nil
	}
	s := db.newStage()
	s.ops = append(s.ops, extra...)
	now := db.nowMs()
	for _, c := range changes {
		if err := db.hlc.Observe(c.TS); err != nil {
			s.dropNewRows()
			return fmt.Errorf("%w: change %s: %v", ErrBadChange, c.ID, err)
		}
		s.of(db.tables[c.Table], c.Row).mergeBase(s, c.cells())
		s.ops = append(s.ops, appliedOp(c.ID, now))
	}
	db.expireAppliedLocked(s, now)
	if err := s.commit(ctx); err != nil {
		return err
	}
	for _, c := range changes {
		db.markApplied(c.ID, now)
	}
	return nil
}

func (db *DB) addPendingLocked(ctx context.Context, changes ...*Change) error {
	return db.addPendingEntriesLocked(ctx, changes, nil)
}

// addPendingEntriesLocked queues changes: one outbox entry each, except
// that the changes of a batch (Change.Batch) share one, entries[batch]
// when the caller has it encoded already (batch.go).
func (db *DB) addPendingEntriesLocked(ctx context.Context, changes []*Change, entries map[string][]byte) error {
	s := db.newStage()
	var batches map[string][]*Change
	var order []string
	for _, c := range changes {
		u := s.of(db.tables[c.Table], c.Row)
		u.pending = append(append([]*Change(nil), u.pending...), c)
		if c.Batch != "" {
			if batches == nil {
				batches = map[string][]*Change{}
			}
			if batches[c.Batch] == nil {
				order = append(order, c.Batch)
			}
			batches[c.Batch] = append(batches[c.Batch], c)
			continue
		}
		b, err := json.Marshal(c)
		if err != nil {
			s.dropNewRows()
			return fmt.Errorf("engine: encoding change: %w", err)
		}
		s.ops = append(s.ops, storage.Put(bucketOutbox, outboxKey(c), b))
	}
	for _, id := range order {
		b := entries[id]
		if b == nil {
			var err error
			if b, err = encodeBatchEntry(id, batches[id]); err != nil && !errors.Is(err, ErrBatchTooLarge) {
				s.dropNewRows()
				return err
			}
		}
		s.ops = append(s.ops, storage.Put(bucketOutbox, batchOutboxKey(id, batches[id][0]), b))
	}
	if err := s.commit(ctx); err != nil {
		return err
	}
	for _, c := range changes {
		db.pending[c.ID] = c
		db.pendingOrder = nil
	}
	for _, id := range order {
		db.registerBatchLocked(id, batchOutboxKey(id, batches[id][0]), len(batches[id]), batches[id])
	}
	return nil
}

// AddPending queues changes that another DB over the same store made and
// queued (a leader tab's writes, seen by a follower tab) as if this DB had
// made them: they show at once, and Merge settles them or Reject rolls
// them back, as for this DB's own writes. Changes already pending here are
// skipped, so a batch may be added twice.
func (db *DB) AddPending(ctx context.Context, changes []*Change) error {
	for _, c := range changes {
		if err := c.check(); err != nil {
			return err
		}
		if db.tables[c.Table] == nil {
			return fmt.Errorf("%w %q", schema.ErrUnknownTable, c.Table)
		}
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	var fresh []*Change
	for _, c := range changes {
		if db.pending[c.ID] == nil {
			// Made on this machine, by this user: its time is our own.
			db.hlc.Raise(c.TS)
			fresh = append(fresh, c)
		}
	}
	var err error
	if len(fresh) > 0 {
		err = db.addPendingLocked(ctx, fresh...)
	}
	db.unlockAndNotify()
	return err
}

func outboxKey(c *Change) []byte { return []byte(c.TS.String() + "\x00" + c.ID) }

// Pending returns the local changes not yet acknowledged, oldest first.
//
// The order is kept between changes to the outbox: a sync client asks on
// every acknowledgement and every write, and sorting 25k pending changes
// each time made a bulk write's cost grow with the square of its size.
func (db *DB) Pending() []*Change {
	db.mu.RLock()
	defer db.mu.RUnlock()
	db.pendingOrderMu.Lock()
	defer db.pendingOrderMu.Unlock()
	if db.pendingOrder == nil {
		order := make([]*Change, 0, len(db.pending))
		for _, c := range db.pending {
			order = append(order, c)
		}
		sortChanges(order)
		db.pendingOrder = order
	}
	return slices.Clone(db.pendingOrder)
}

// PendingCount is len(Pending()) without copying and sorting: a sync
// status shows it after every write.
func (db *DB) PendingCount() int {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return len(db.pending)
}

// RowState is a row's confirmed cells as the server sends them to clients.
type RowState struct {
	Table string          `json:"table"`
	ID    string          `json:"id"`
	Cells map[string]cell `json:"cells"`
	Seq   uint64          `json:"seq,omitempty"`
	// Hidden says the row still exists but the client's session may no
	// longer read it (a share was revoked): the client forgets it, with
	// no cells, where a deleted row would keep its tombstone.
	Hidden bool `json:"hidden,omitempty"`
}

// Acked names a pending change the server acknowledged, with the stamp it
// gave the change (protocol.Ack.Stamps); a zero Stamp when it gave none.
type Acked struct {
	ID    string
	Stamp hlc.Timestamp
}

// Merge folds confirmed row states (from the server) into the base and
// settles the listed pending changes as acknowledged, in one atomic batch.
//
// The server decides every change's time (see Submit), so its states are
// taken as they come: the clock is raised past them without the drift check
// of Observe, since refusing the server's time would leave a replica whose
// own clock is wrong unable to sync at all. An acknowledged change is folded
// into the base under the server's stamp, never under the time this replica
// gave it, so that a replica whose clock runs ahead does not keep a cell
// that would win over later writes the server ordered after it. Without a
// stamp (a resend the server had applied before) the change is dropped from
// pending only: its effect is in the row states the server sends.
func (db *DB) Merge(ctx context.Context, states []RowState, acked []Acked) error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	err := db.mergeLocked(ctx, states, acked, nil)
	db.unlockAndNotify()
	return err
}

// Reject drops pending local changes the server refused; their rows fall back
// to the confirmed state plus whatever else is still pending.
func (db *DB) Reject(ctx context.Context, changeIDs ...string) error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	err := db.mergeLocked(ctx, nil, nil, changeIDs)
	db.unlockAndNotify()
	return err
}

func (db *DB) mergeLocked(ctx context.Context, states []RowState, acked []Acked, rejected []string) error {
	s := db.newStage()
	now := db.nowMs()
	for _, st := range states {
		t := db.tables[st.Table]
		if t == nil {
			continue // a table this client's schema does not know yet
		}
		if st.Hidden {
			if t.rows[st.ID] != nil {
				s.forget(t, st.ID)
			}
			continue
		}
		cells, err := decodeCells(t.def, st.Cells)
		if err != nil {
			return err
		}
		for _, c := range cells {
			db.hlc.Raise(c.T)
		}
		u := s.of(t, st.ID)
		u.mergeBase(s, cells)
		if st.Seq > u.seq {
			u.seq, u.persist = st.Seq, true
		}
	}
	// settle drops a pending change; an acknowledged one is logged as
	// applied (which tells follower tabs it was acked, not dropped) and,
	// with the server's stamp, folded into the base under that stamp.
	settle := func(cid string, acked bool, stamp hlc.Timestamp, bs *batchSettles) {
		c := db.pending[cid]
		if c == nil {
			return
		}
		if c.Batch != "" {
			bs.note(c, acked) // the batch's one entry goes with its last change
		}
		u := s.of(db.tables[c.Table], c.Row)
		if acked {
			if !stamp.IsZero() {
				stamped := *c
				stamped.TS = stamp
				db.hlc.Raise(stamp)
				u.mergeBase(s, stamped.cells())
			}
			s.ops = append(s.ops, appliedOp(c.ID, now))
		}
		kept := make([]*Change, 0, len(u.pending))
		for _, p := range u.pending {
			if p.ID != cid {
				kept = append(kept, p)
			}
		}
		u.pending = kept
		if c.Batch == "" {
			s.ops = append(s.ops, storage.Del(bucketOutbox, outboxKey(c)))
		}
	}
	acked, rejected = db.expandAcked(acked), db.expandBatches(rejected)
	var bs batchSettles
	for _, a := range acked {
		settle(a.ID, true, a.Stamp, &bs)
	}
	for _, cid := range rejected {
		settle(cid, false, hlc.Timestamp{}, &bs)
	}
	bs.ops(db, s, now)
	if err := s.commit(ctx); err != nil {
		return err
	}
	bs.installed(db, now)
	for _, a := range acked {
		if db.pending[a.ID] != nil {
			db.markApplied(a.ID, now)
		}
		delete(db.pending, a.ID)
		db.pendingOrder = nil
	}
	for _, cid := range rejected {
		delete(db.pending, cid)
		db.pendingOrder = nil
	}
	return nil
}

// State returns the confirmed state of a row, for sending to clients.
func (db *DB) State(tableName, rowID string) (RowState, bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t := db.tables[tableName]
	if t == nil {
		return RowState{}, false
	}
	r := t.rows[rowID]
	if r == nil || (!r.encoded() && len(r.base) == 0) {
		return RowState{}, false
	}
	return RowState{Table: tableName, ID: rowID, Cells: t.baseCopy(r), Seq: r.seq}, true
}

// Timestamp returns a fresh timestamp from this replica's clock.
func (db *DB) Timestamp() hlc.Timestamp { return db.hlc.Now() }

// NewID returns a fresh UUIDv7.
func (db *DB) NewID() string { return db.ids.New() }
