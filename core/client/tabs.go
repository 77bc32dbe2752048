package client

// Browser tabs of one app and user share one IndexedDB database. One tab,
// the leader, owns it: it alone syncs with the server and writes to the
// store. Every other tab (a follower) opens its Db over the same store
// read-only (FollowerStore) and without a server, and keeps up by
// replaying the batches the leader commits (LeaderStore's tap). Followers
// send their writes to the leader, which performs them; see docs/browser.md.
//
// What a batch carries is exactly what the leader's engine persisted:
// confirmed row states, new pending changes, and which pending changes
// were acknowledged or dropped (rejected). A follower folds row states and
// acknowledgements into its engine like server data, and queues the
// leader's pending changes as its own pending ones, so they show at once
// and an acknowledgement or a rejection settles them as it would a change
// of its own. Everything is incremental.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	gosync "sync"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// StorageName is the name of the browser database holding c's data:
// "jazz:<appId>:<user>", one per app and per user, so two users of one
// browser never see each other's rows, queued writes or cursors. <user> is
// the user_id (derived from the secret, or the JWT's sub), or "anonymous"
// for anonymous sessions, which share one database of readable rows. A
// local-first user who signs up keeps the same user_id, and so their data.
//
// For a local-first config it also returns the identity it derived, for
// Options.Identity: deriving it is the costly part of naming, and of
// opening.
func StorageName(c Config) (string, *identity.Identity, error) {
	if err := c.Validate(); err != nil {
		return "", nil, err
	}
	ns := "anonymous"
	var id *identity.Identity
	switch c.Mode() {
	case session.LocalFirst:
		var err error
		if id, err = identity.FromSecret(c.Secret); err != nil {
			return "", nil, fmt.Errorf("%w: secret: %v", ErrConfig, err)
		}
		ns = id.UserID
	case session.External:
		s, _, err := ExternalSession(c.JWTToken)
		if err != nil {
			return "", nil, fmt.Errorf("%w: jwtToken: %v", ErrConfig, err)
		}
		ns = s.UserID
	}
	return "jazz:" + c.AppID + ":" + ns, id, nil
}

// The engine's buckets, as it lays them out in its Store (core/engine).
// TestTabs_BatchSeesEngineWrites fails if the engine changes them.
const (
	tabBucketRows    = "rows"    // table\x00id -> engine row (engine.AppendRowJSON)
	tabBucketApplied = "applied" // change id -> ""
	tabBucketOutbox  = "outbox"  // ts\x00change (or batch) id -> Change (or batch) JSON
)

// sharedStore is the view of a store owned by someone else (the bridge,
// which keeps it across Db reloads): Close does not close it.
type sharedStore struct {
	s        storage.Store
	readOnly bool
	tap      func(batch []byte)
}

// LeaderStore wraps s for the leader tab. After every Apply that commits,
// tap receives the batch other tabs need (see Replay), if there is one. tap
// runs while the engine holds its lock: it must not block or call the Db.
// Close leaves s open.
func LeaderStore(s storage.Store, tap func(batch []byte)) storage.Store {
	return &sharedStore{s: s, tap: tap}
}

// FollowerStore wraps s for a follower tab: reads go to s, writes are
// dropped (the leader makes them), Close leaves s open.
func FollowerStore(s storage.Store) storage.Store { return &sharedStore{s: s, readOnly: true} }

func (t *sharedStore) Get(ctx context.Context, bucket string, key []byte) ([]byte, bool, error) {
	return t.s.Get(ctx, bucket, key)
}

func (t *sharedStore) Scan(ctx context.Context, bucket string, prefix []byte, fn func(k, v []byte) error) error {
	return t.s.Scan(ctx, bucket, prefix, fn)
}

func (t *sharedStore) Apply(ctx context.Context, ops []storage.Op) error {
	if t.readOnly {
		return nil
	}
	if err := t.s.Apply(ctx, ops); err != nil {
		return err
	}
	if t.tap != nil {
		if b := EncodeTabBatch(ops); b != nil {
			t.tap(b)
		}
	}
	return nil
}

func (t *sharedStore) Close() error { return nil }

// tabBatch is the wire form of one committed batch.
type tabBatch struct {
	Rows    []tabRow          `json:"rows,omitempty"`
	Pending []json.RawMessage `json:"pending,omitempty"`
	Acked   []string          `json:"acked,omitempty"`
	Dropped []string          `json:"dropped,omitempty"`
}

type tabRow struct {
	Table string          `json:"t"`
	ID    string          `json:"id"`
	Row   json.RawMessage `json:"r"`
}

// EncodeTabBatch describes committed ops for follower tabs; nil when they
// hold nothing a follower needs (cursors, sequence numbers).
func EncodeTabBatch(ops []storage.Op) []byte {
	var b tabBatch
	applied := map[string]bool{}
	var settled []string
	for _, op := range ops {
		switch op.Bucket {
		case tabBucketRows:
			if op.Delete {
				continue
			}
			table, id, ok := strings.Cut(string(op.Key), "\x00")
			if !ok {
				continue
			}
			// The store holds the engine's binary form; other tabs get
			// the row as RowState JSON, the form Replay (and older tabs) read.
			raw, err := engine.AppendRowJSON(make([]byte, 0, 2*len(op.Value)+64), op.Value)
			if err != nil {
				continue
			}
			b.Rows = append(b.Rows, tabRow{Table: table, ID: id, Row: raw})
		case tabBucketApplied:
			if !op.Delete {
				applied[string(op.Key)] = true
			}
		case tabBucketOutbox:
			if !op.Delete {
				if json.Valid(op.Value) {
					b.Pending = append(b.Pending, json.RawMessage(op.Value))
				}
				continue
			}
			k := string(op.Key)
			settled = append(settled, k[strings.LastIndexByte(k, 0)+1:])
		}
	}
	for _, id := range settled {
		if applied[id] {
			b.Acked = append(b.Acked, id)
		} else {
			b.Dropped = append(b.Dropped, id)
		}
	}
	if len(b.Rows)+len(b.Pending)+len(b.Acked)+len(b.Dropped) == 0 {
		return nil
	}
	out, err := json.Marshal(b)
	if err != nil {
		return nil
	}
	return out
}

// Follower replays a leader's batches into a Db opened over FollowerStore
// (with no ServerURL: the leader syncs).
type Follower struct {
	db *Db

	mu gosync.Mutex
}

// NewFollower returns a Follower for db.
func NewFollower(db *Db) *Follower { return &Follower{db: db} }

// ErrBadBatch wraps a batch that cannot be decoded.
var ErrBadBatch = errors.New("client: malformed tab batch")

// Replay folds one batch from the leader into the Db. It is idempotent, so
// batches that arrive while the Db is being (re)opened can be replayed
// after. An error leaves the Db possibly behind the store: reopen it.
func (f *Follower) Replay(ctx context.Context, data []byte) error {
	var b tabBatch
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBatch, err)
	}
	eng := f.db.engine
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(b.Rows) > 0 || len(b.Acked) > 0 {
		states := make([]engine.RowState, 0, len(b.Rows))
		for _, r := range b.Rows {
			var st engine.RowState
			if err := json.Unmarshal(r.Row, &st); err != nil {
				return fmt.Errorf("%w: row %s/%s: %v", ErrBadBatch, r.Table, r.ID, err)
			}
			st.Table, st.ID = r.Table, r.ID
			states = append(states, st)
		}
		// No stamps: the leader's rows in this batch already hold each
		// acknowledged change as the server stamped it.
		acked := make([]engine.Acked, len(b.Acked))
		for i, id := range b.Acked {
			acked[i] = engine.Acked{ID: id}
		}
		if err := eng.Merge(ctx, states, acked); err != nil {
			return err
		}
	}
	var fresh []*engine.Change
	for _, raw := range b.Pending {
		// One change, or every change of a batch (engine.WriteBatch),
		// which stay one batch here: settled whole by its id.
		cs, err := engine.DecodeOutboxEntry(raw)
		if err != nil {
			return fmt.Errorf("%w: change: %v", ErrBadBatch, err)
		}
		for _, c := range cs {
			t, err := eng.Schema().Table(c.Table)
			if err != nil {
				continue // a table this tab does not use yet: Extend restores its writes later
			}
			normalizeValues(t, c.Values)
			fresh = append(fresh, c)
		}
	}
	if len(fresh) > 0 {
		if err := eng.AddPending(ctx, fresh); err != nil {
			return err
		}
	}
	if len(b.Dropped) > 0 {
		return eng.Reject(ctx, b.Dropped...)
	}
	return nil
}

// normalizeValues restores column types lost in JSON (ints, timestamps),
// as the engine does for changes it loads from its own outbox.
func normalizeValues(t *schema.Table, vals map[string]any) {
	for k, v := range vals {
		col, ok := t.Column(k)
		if !ok || v == nil {
			continue
		}
		col.Optional = true
		if n, err := schema.Normalize(col, v); err == nil {
			vals[k] = n
		}
	}
}

// RetainServerQuery registers q with the server on behalf of another tab,
// exactly as a local read or subscription would; it returns the key to
// release it with. A no-op on a Db without a server.
func (db *Db) RetainServerQuery(q *query.Query) string { return db.ensureServerSub(q) }

// ReleaseServerQuery undoes one RetainServerQuery.
func (db *Db) ReleaseServerQuery(key string) { db.releaseServerSub(key) }

// MirrorAuthError sets the auth error a follower shows: the leader's, since
// only the leader talks to the server.
func (db *Db) MirrorAuthError(e AuthError) {
	db.auth.set(func(s *AuthState) { s.Error = e })
}
