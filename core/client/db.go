package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	gosync "sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/sync"
)

// Options configures Open: the user's Config plus the seams the platform
// provides (storage, clock, transport).
type Options struct {
	Config
	// Bundle gives the schema up front; tables can also be added later
	// with UseSchema. Policies in it are not enforced on the client: the
	// server decides.
	Bundle *bundle.Bundle
	// Store persists rows, the outbox and sync cursors; nil keeps them in
	// memory. The Db closes it on Close.
	Store storage.Store
	Clock clock.Clock
	// Transport is the sync transport; nil means WebSocket.
	Transport sync.Transport
	// Rand is the randomness for anonymous ids; nil means crypto/rand.
	Rand io.Reader
	// TokenTTL is the lifetime of self-minted local-first tokens (default
	// 10 minutes, at most identity.MaxTokenLifetime).
	TokenTTL time.Duration
	// RefreshBefore is how long before a token's expiry the Db renews a
	// local-first token or calls onJWTExpired for an external one, so a
	// well-behaved app never sees "expired" (default 1 minute).
	RefreshBefore time.Duration
	// HookTimeout bounds one onJWTExpired call (default 30 s).
	HookTimeout time.Duration
	// SyncOptions tunes the sync client (heartbeats, backoff); DB, URL,
	// AppID, Credentials, Transport, Clock and the callbacks are set by
	// the Db.
	SyncOptions sync.Options
	// Logger receives diagnostics (never credentials); nil discards them.
	// A *slog.Logger is one (see sync.Logger).
	Logger sync.Logger
	// PackRows keeps the store's tables packed, many rows to a value
	// (engine.Options.PackRows), for a store where each value read costs
	// (IndexedDB) and that outlives the Db. Only the one writer of a store
	// may set it: the browser's leader tab does, a follower does not.
	PackRows bool
	// Identity is the local-first identity of Config.Secret when the caller
	// has it already (StorageName returns it); nil derives it.
	Identity *identity.Identity
	// Background, when set, runs the work Open starts but need not finish
	// before it returns: connecting to the server. A browser passes one
	// that waits for the current JavaScript task, so the page gets the Db
	// (and a reload its saved query results) before the connection's
	// setup takes the thread. Nil starts it at once.
	Background func(func())
	// OnError receives failures with no caller to return to, such as a
	// queued write the server rejected (after it was rolled back), a frame
	// from the server that did not decode (sync.ErrUndecodableFrame), or a
	// new reason syncing does not work (see SyncState.Error).
	OnError func(error)
}

// Db is a client database scoped to one session.
type Db struct {
	opts   Options
	mode   session.AuthMode
	engine *engine.DB
	sync   *sync.Client
	auth   authStore
	hook   refresher
	id     *identity.Identity

	mu       gosync.Mutex
	closed   bool
	token    string // external: the bearer; local-first: the current minted token
	tokenExp time.Time
	// tokenFrom is when the current token was received or minted: its
	// lifetime, tokenExp - tokenFrom, caps the renewal margin.
	tokenFrom time.Time
	// presentedExp is the expiry of the token last handed to the sync
	// client, acceptedExp that of the last one the server accepted.
	presentedExp, acceptedExp time.Time
	renew                     clock.Timer
	serverSub                 map[string]int // query key -> live local subscriptions using it
	// unsent are retained server queries the sync client refused, on
	// tables this Db did not know yet (a UseSchema still under way);
	// UseSchema sends them. subMu orders those sends (see subscribeServer).
	unsent    map[string]*query.Query
	subMu     gosync.Mutex
	pruneOnce gosync.Once // see SaveResult
	errs      errListeners
	syncState syncStore
}

// Open creates a Db from opts: it derives the session from the config,
// opens the engine over the store, and starts syncing when ServerURL is set.
func Open(ctx context.Context, opts Options) (*Db, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.TokenTTL <= 0 || opts.TokenTTL > identity.MaxTokenLifetime {
		opts.TokenTTL = 10 * time.Minute
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = time.Minute
	}
	if opts.RefreshBefore > opts.TokenTTL/2 {
		opts.RefreshBefore = opts.TokenTTL / 2
	}
	if opts.HookTimeout <= 0 {
		opts.HookTimeout = DefaultHookTimeout
	}
	if opts.Logger == nil {
		opts.Logger = sync.Discard
	}
	db := &Db{opts: opts, mode: opts.Config.Mode(), serverSub: map[string]int{}}
	sess, err := db.initialSession()
	if err != nil {
		return nil, err
	}
	db.auth.state = AuthState{AuthMode: db.mode, Session: sess}
	db.hook = refresher{clock: opts.Clock, timeout: opts.HookTimeout, apply: func(tok string) error { return db.UpdateAuthToken(&tok) }, report: db.report}

	b := opts.Bundle
	if b == nil {
		empty, _ := schema.New()
		b = &bundle.Bundle{Version: bundle.Version, Schema: empty}
	}
	db.engine, err = engine.Open(ctx, engine.Options{
		Bundle:     b,
		Store:      opts.Store,
		Clock:      opts.Clock,
		Optimistic: opts.ServerURL != "",
		// A reopened client can then show live query results at once
		// (SaveResult, CachedResult).
		CacheResults: true,
		PackRows:     opts.PackRows,
		// The server deduplicates resends; a log kept here would only grow
		// (engine.Options.ForgetApplied).
		ForgetApplied: true,
		OnError:       db.report,
	})
	if err != nil {
		return nil, err
	}
	db.syncState.state = SyncState{Connection: Offline}
	if opts.ServerURL != "" {
		db.syncState.state = SyncState{Connection: Connecting, PendingWrites: db.engine.PendingCount()}
		so := opts.SyncOptions
		so.DB, so.Store, so.URL, so.AppID = db.engine, opts.Store, opts.ServerURL, opts.AppID
		so.Credentials, so.Transport, so.Clock = db.credentials, opts.Transport, opts.Clock
		so.OnAuthError, so.OnReject, so.OnAuthenticated = db.onAuthError, db.onReject, db.onAuthenticated
		so.OnError = db.report
		so.OnStatus, so.OnFatal, so.OnProblem, so.OnAck = db.onSyncStatus, db.onFatal, db.onProblem, db.onAck
		if so.Logger == nil {
			so.Logger = opts.Logger
		}
		if db.sync, err = sync.New(so); err != nil {
			db.engine.Close()
			return nil, err
		}
		db.scheduleRenewal()
		if opts.Background != nil {
			opts.Background(db.sync.Start)
		} else {
			db.sync.Start()
		}
	}
	return db, nil
}

func (db *Db) initialSession() (*session.Session, error) {
	switch db.mode {
	case session.LocalFirst:
		id := db.opts.Identity
		if id == nil {
			var err error
			if id, err = identity.FromSecret(db.opts.Secret); err != nil {
				return nil, fmt.Errorf("%w: secret: %v", ErrConfig, err)
			}
		}
		db.id = id
		return &session.Session{UserID: id.UserID, AuthMode: session.LocalFirst, Claims: map[string]any{}}, nil
	case session.External:
		s, exp, err := ExternalSession(db.opts.JWTToken)
		if err != nil {
			return nil, fmt.Errorf("%w: jwtToken: %v", ErrConfig, err)
		}
		db.token = db.opts.JWTToken
		db.tokenFrom = db.opts.Clock.Now()
		if exp > 0 {
			db.tokenExp = time.Unix(exp, 0)
		}
		return s, nil
	}
	var b [16]byte
	if _, err := io.ReadFull(db.opts.Rand, b[:]); err != nil {
		return nil, err
	}
	return &session.Session{UserID: session.AnonymousNamespace + hex.EncodeToString(b[:]), AuthMode: session.Anonymous, Claims: map[string]any{}}, nil
}

// credentials is what the sync client presents at every (re)connection. A
// local-first Db mints a fresh token whenever the current one is past half
// its life, so a reconnect never presents a nearly expired token.
func (db *Db) credentials() protocol.Auth {
	db.mu.Lock()
	defer db.mu.Unlock()
	switch db.mode {
	case session.External:
		db.presentedExp = db.tokenExp
		return protocol.Auth{Bearer: db.token}
	case session.LocalFirst:
		now := db.opts.Clock.Now()
		if db.token == "" || db.tokenExp.Sub(now) < db.opts.TokenTTL/2 {
			tok, err := db.id.MintToken(db.opts.AppID, now, db.opts.TokenTTL)
			if err != nil {
				db.opts.Logger.Error("minting a local-first token failed", "err", err)
				return protocol.Auth{}
			}
			db.token, db.tokenExp, db.tokenFrom = tok, now.Add(db.opts.TokenTTL), now
			db.scheduleRenewalLocked()
		}
		db.presentedExp = db.tokenExp
		return protocol.Auth{Bearer: db.token}
	}
	return protocol.Auth{}
}

func (db *Db) scheduleRenewal() {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.scheduleRenewalLocked()
}

// scheduleRenewalLocked arms the proactive path: RefreshBefore ahead of
// expiry, a local-first Db renews its own token in-band, and an external Db
// asks onJWTExpired for a new one, so the server never has to refuse it.
func (db *Db) scheduleRenewalLocked() {
	if db.renew != nil {
		db.renew.Stop()
		db.renew = nil
	}
	if db.closed || db.sync == nil || db.tokenExp.IsZero() {
		return
	}
	d := db.tokenExp.Sub(db.opts.Clock.Now()) - db.marginLocked()
	if d < 0 {
		d = 0
	}
	exp := db.tokenExp
	db.renew = db.opts.Clock.AfterFunc(d, func() { db.renewDue(exp) })
}

// marginLocked is how long before expiry the current token is renewed:
// RefreshBefore, but never more than half the token's lifetime. Without the
// cap a token living less than RefreshBefore would be due the moment it
// arrives, and each fresh one would ask for the next: a refresh loop.
func (db *Db) marginLocked() time.Duration {
	m := db.opts.RefreshBefore
	if life := db.tokenExp.Sub(db.tokenFrom); life > 0 && m > life/2 {
		m = life / 2
	}
	return m
}

func (db *Db) renewDue(exp time.Time) {
	db.mu.Lock()
	if db.closed || !db.tokenExp.Equal(exp) {
		db.mu.Unlock()
		return
	}
	mode := db.mode
	if mode == session.LocalFirst {
		db.token = "" // the next credentials() call mints a new one
	}
	db.mu.Unlock()
	switch mode {
	case session.LocalFirst:
		db.sync.Reauthenticate()
	case session.External:
		db.hook.trigger()
	}
}

func (db *Db) onAuthError(e protocol.Error) {
	code := AuthError(e.Code)
	switch code {
	case AuthExpired, AuthMissing, AuthInvalid, AuthDisabled:
	default:
		code = AuthInvalid
	}
	db.auth.set(func(s *AuthState) { s.Error = code })
	if code != AuthExpired {
		return
	}
	switch db.mode {
	case session.LocalFirst:
		// Our own token lapsed (e.g. the device slept past its renewal):
		// mint a new one and resume; no app involvement needed.
		db.mu.Lock()
		db.token = ""
		db.mu.Unlock()
		db.auth.set(func(s *AuthState) { s.Error = "" })
		db.sync.Reauthenticate()
	case session.External:
		db.hook.trigger()
	}
}

// onAuthenticated records that the server accepted our credentials: the
// auth error, if any, is over.
func (db *Db) onAuthenticated(*session.Session) {
	db.mu.Lock()
	db.acceptedExp = db.presentedExp
	db.mu.Unlock()
	db.auth.set(func(s *AuthState) { s.Error = "" })
}

// AcceptedTokenExpiry is when the credentials the server last accepted
// expire (zero when they do not, or before the first acceptance).
func (db *Db) AcceptedTokenExpiry() time.Time {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.acceptedExp
}

func (db *Db) onReject(c *engine.Change, err *protocol.RemoteError) {
	db.countPending()
	if c.Batch != "" {
		db.report(fmt.Errorf("client: batch %s was rejected by the server and rolled back whole (its %s of %s/%s failed): %w", c.Batch, c.Kind, c.Table, c.Row, err))
		return
	}
	db.report(fmt.Errorf("client: %s of %s/%s was rejected by the server and rolled back: %w", c.Kind, c.Table, c.Row, err))
}

func (db *Db) report(err error) {
	db.opts.Logger.Warn("background failure", "err", err)
	if db.opts.OnError != nil {
		db.opts.OnError(err)
	}
	db.errs.emit(err)
}

// GetAuthState returns the current auth snapshot.
func (db *Db) GetAuthState() AuthState { return db.auth.get() }

// OnAuthChanged calls cb with every new auth state; the result stops it.
func (db *Db) OnAuthChanged(cb func(AuthState)) (stop func()) { return db.auth.subscribe(cb) }

// OnJWTExpired sets the hook asked for a fresh token when the current one
// expires (or is about to). Nil removes it. A hook set when a refresh is
// already due (the token is inside its renewal margin, or the server said
// it expired) is called at once: apps often register it just after
// creating the Db, and the moment must not be lost.
func (db *Db) OnJWTExpired(h ExpiredHook) {
	db.hook.setHook(h)
	if h == nil || db.mode != session.External {
		return
	}
	db.mu.Lock()
	due := db.sync != nil && !db.tokenExp.IsZero() && db.tokenExp.Sub(db.opts.Clock.Now()) <= db.marginLocked()
	db.mu.Unlock()
	if due || db.auth.get().Error == AuthExpired {
		db.hook.trigger()
	}
}

// OnError subscribes to failures with no caller (rejected queued writes).
func (db *Db) OnError(cb func(error)) (stop func()) { return db.errs.add(cb) }

// UpdateAuthToken replaces the bearer token of an external Db with a fresh
// one for the same user: it clears the auth error and resumes sync
// (re-authenticating in-band when connected). A nil token, a token for
// another user, or a Db not using jwtToken is refused: those need a new Db.
func (db *Db) UpdateAuthToken(token *string) error {
	if token == nil {
		return ErrNullToken
	}
	if db.mode != session.External {
		return ErrNotExternal
	}
	s, exp, err := ExternalSession(*token)
	if err != nil {
		return err
	}
	cur := db.auth.get().Session
	if s.UserID != cur.UserID {
		return fmt.Errorf("%w (token is for %q, this Db is %q)", ErrPrincipalChanged, s.UserID, cur.UserID)
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	db.token = *token
	db.tokenFrom = db.opts.Clock.Now()
	db.tokenExp = time.Time{}
	if exp > 0 {
		db.tokenExp = time.Unix(exp, 0)
	}
	db.scheduleRenewalLocked()
	db.mu.Unlock()
	db.hook.supersede()
	db.auth.set(func(st *AuthState) { st.Error = ""; st.Session = s })
	if db.sync != nil {
		db.sync.Reauthenticate()
	}
	return nil
}

// UseSchema adds tables (e.g. from the TypeScript app definition), then
// subscribes at the server the retained queries that waited for them.
func (db *Db) UseSchema(ctx context.Context, s *schema.Schema) error {
	if err := db.engine.Extend(ctx, s); err != nil {
		return err
	}
	if db.sync == nil {
		return nil
	}
	db.subMu.Lock()
	defer db.subMu.Unlock()
	for key, q := range db.unsent {
		if db.sync.Subscribe(subID(key), q) == nil {
			delete(db.unsent, key)
		}
	}
	return nil
}

func (db *Db) actor() engine.Actor { return engine.Actor{Session: db.auth.get().Session} }

// Insert writes a row locally at once and queues it for the server.
func (db *Db) Insert(ctx context.Context, table string, values map[string]any) (engine.Row, error) {
	r, err := db.engine.Insert(ctx, db.actor(), table, values)
	db.afterWrite(err)
	return r, err
}

// Update changes columns of a row.
func (db *Db) Update(ctx context.Context, table, id string, patch map[string]any) (engine.Row, error) {
	r, err := db.engine.Update(ctx, db.actor(), table, id, patch)
	db.afterWrite(err)
	return r, err
}

// Delete removes a row.
func (db *Db) Delete(ctx context.Context, table, id string) error {
	err := db.engine.Delete(ctx, db.actor(), table, id)
	db.afterWrite(err)
	return err
}

// Upsert writes row id with values: an insert when the row does not exist
// (defaults fill what values leave out), an update of the columns values
// names when it does; the server decides again against its own rows.
func (db *Db) Upsert(ctx context.Context, table, id string, values map[string]any) (engine.Row, error) {
	r, _, err := db.Write(ctx, "", engine.Op{Kind: engine.KindUpsert, Table: table, Row: id, Values: values})
	return r, err
}

// Restore brings deleted row id back with values, a full row as for an
// insert (defaults fill what values leave out).
func (db *Db) Restore(ctx context.Context, table, id string, values map[string]any) (engine.Row, error) {
	r, _, err := db.Write(ctx, "", engine.Op{Kind: engine.KindRestore, Table: table, Row: id, Values: values})
	return r, err
}

// Write is any single write (insert, update, delete, upsert, restore)
// that also returns its change id, for Wait. changeID names the change
// ("" for a fresh id): a caller that hands out a handle before the write
// returns, as the JavaScript package does, picks it.
func (db *Db) Write(ctx context.Context, changeID string, op engine.Op) (engine.Row, string, error) {
	r, id, err := db.engine.WriteOp(ctx, db.actor(), changeID, op)
	db.afterWrite(err)
	return r, id, err
}

// Tier is how far a write must have got for Wait to return.
type Tier string

const (
	// TierLocal: applied locally and on disk, which every write is by
	// the time it returns.
	TierLocal Tier = "local"
	// TierEdge: the server acknowledged it (stored it, or rejected it).
	TierEdge Tier = "edge"
)

// Wait returns once write id (a change or batch id) got as far as tier,
// or with the server's typed rejection of it (by then it is rolled back),
// or when ctx ends. The one rule for every kind of write, single or batch.
func (db *Db) Wait(ctx context.Context, id string, tier Tier) error {
	switch tier {
	case TierLocal, "":
		return nil
	case TierEdge:
		return db.WaitFor(ctx, id)
	}
	return fmt.Errorf("client: unknown tier %q (local or edge)", tier)
}

// Batch writes ops as one batch (engine.WriteBatch): locally all at once
// and in one outbox entry, to the server as one push that it applies all
// or nothing. batchID names it ("" for a fresh id); WaitFor(batch id)
// waits for the server's answer, which settles every write of it.
func (db *Db) Batch(ctx context.Context, batchID string, ops []engine.Op) (*engine.BatchResult, error) {
	r, err := db.engine.WriteBatch(ctx, db.actor(), batchID, ops)
	db.afterWrite(err)
	return r, err
}

// AllStaged reads q as if ops (a transaction's writes, not committed) had
// been written: see engine.AllStaged.
func (db *Db) AllStaged(q *query.Query, ops []engine.Op) ([]engine.Row, error) {
	db.ensureServerSub(q)
	return db.engine.AllStaged(db.actor(), q, ops)
}

func (db *Db) afterWrite(err error) {
	if err == nil && db.sync != nil {
		db.countPending()
		db.sync.Notify()
	}
}

// Pending returns the writes not yet confirmed by the server.
func (db *Db) Pending() []*engine.Change { return db.engine.Pending() }

// WaitFor blocks until the server confirms (nil) or rejects (the typed
// error) change id, or ctx ends. On a local-only Db it returns at once.
func (db *Db) WaitFor(ctx context.Context, changeID string) error {
	if db.sync == nil {
		return nil
	}
	select {
	case err := <-db.sync.WaitFor(changeID):
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// All reads matching rows from the local replica.
func (db *Db) All(q *query.Query) ([]engine.Row, error) {
	db.ensureServerSub(q)
	return db.engine.All(db.actor(), q)
}

// One reads the first matching row, or nil.
func (db *Db) One(q *query.Query) (engine.Row, error) {
	db.ensureServerSub(q)
	return db.engine.One(db.actor(), q)
}

// Subscribe runs q live: cb gets the initial result and every change. The
// server is asked for the query's rows too, and keeps sending changes until
// the last local subscription to the same query is cancelled.
func (db *Db) Subscribe(q *query.Query, cb func(engine.Update)) (cancel func(), err error) {
	s, err := db.engine.Subscribe(db.actor(), q, cb)
	if err != nil {
		return nil, err
	}
	key := db.ensureServerSub(q)
	var once gosync.Once
	return func() {
		once.Do(func() {
			s.Cancel()
			db.releaseServerSub(key)
		})
	}, nil
}

// Loaded returns a channel closed once the server's result for q has been
// received whole: a subscription's callback fires for every page of the
// result as it is merged, so its first rows are usable at once, and this
// tells when the last page is in. It is closed at once for a Db without a
// server, and nil while q is neither subscribed nor read (All, One).
func (db *Db) Loaded(q *query.Query) <-chan struct{} {
	if db.sync == nil {
		return closedChan
	}
	return db.sync.Loaded(subID(q.Key()))
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// WaitLoaded returns once the server's result for q has arrived whole and
// been merged (see Loaded): the "edge" read tier. It registers q with the
// server if nothing has yet, as a read does, and returns at once for a Db
// without a server. A query the server cannot take yet (its table is not
// declared) is waited for until it is sent.
func (db *Db) WaitLoaded(ctx context.Context, q *query.Query) error {
	if db.sync == nil {
		return nil
	}
	db.ensureServerSub(q)
	for {
		if ch := db.Loaded(q); ch != nil {
			select {
			case <-ch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CachedResult returns q's result as an earlier Db over the same store saved
// it, if the store has not changed since (see engine.DB.CachedResult): what
// a reopened page can show while q's table is still loading. text is q as
// the caller received it (or nil), def q's table as the caller declares it.
func (db *Db) CachedResult(q *query.Query, text []byte, def *schema.Table) (json.RawMessage, error) {
	return db.engine.CachedResult(db.actor(), q, text, def)
}

// SaveResult keeps rows, the JSON of q's result at stamp (from
// engine.Update.RowsAt), for the next Db over this store. The first save
// also deletes, in the background, the saved results that can never be
// served again.
func (db *Db) SaveResult(ctx context.Context, q *query.Query, text []byte, stamp uint64, rows []byte) (bool, error) {
	ok, err := db.engine.SaveResult(ctx, db.actor(), q, text, stamp, rows)
	if ok {
		db.pruneOnce.Do(func() { go db.housekeep() })
	}
	return ok, err
}

// housekeep deletes what the store holds for no reader: saved results that
// can never be served again, and the applied-change ids logged since the
// last sweep (engine.DB.SweepApplied). It runs once, after the first saved
// result, so never on the way to a page's first result (it competes for
// IndexedDB). In a follower tab it costs a scan and its deletes are dropped
// (FollowerStore): the leader sweeps. A failure only leaves the entries for
// the next Db; nobody can act on it, so it is not reported.
func (db *Db) housekeep() {
	ctx := context.Background()
	_, _ = db.engine.PruneResults(ctx)
	_, _ = db.engine.SweepApplied(ctx)
}

// ensureServerSub registers q with the server (once per distinct query) so
// its rows arrive; reads of a query keep it registered for the Db's life.
func (db *Db) ensureServerSub(q *query.Query) string {
	key := q.Key()
	if db.sync == nil {
		return key
	}
	db.mu.Lock()
	n := db.serverSub[key]
	db.serverSub[key] = n + 1
	db.mu.Unlock()
	if n == 0 {
		db.subscribeServer(key, q)
	}
	return key
}

// subscribeServer subscribes q at the server. The sync client refuses a
// query on a table the Db does not know yet: another tab's query can reach
// the leader before the leader's own UseSchema has loaded the table. Such
// a query waits in unsent for UseSchema. Both hold subMu, so a refusal is
// recorded before a UseSchema that completes afterwards looks.
func (db *Db) subscribeServer(key string, q *query.Query) {
	db.subMu.Lock()
	defer db.subMu.Unlock()
	if err := db.sync.Subscribe(subID(key), q); err != nil {
		if db.unsent == nil {
			db.unsent = map[string]*query.Query{}
		}
		db.unsent[key] = q
	}
}

func (db *Db) releaseServerSub(key string) {
	if db.sync == nil {
		return
	}
	db.mu.Lock()
	db.serverSub[key]--
	last := db.serverSub[key] <= 0
	if last {
		delete(db.serverSub, key)
	}
	db.mu.Unlock()
	if last {
		db.subMu.Lock()
		delete(db.unsent, key)
		db.subMu.Unlock()
		db.sync.Unsubscribe(subID(key))
	}
}

// subID is a short stable id for a query (the protocol caps ids at 64).
func subID(key string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return "q" + strconv.FormatUint(h, 36)
}

// GetLocalFirstIdentityProof signs a short-lived proof of this local-first
// user's identity for audience (e.g. an auth provider), which can verify it
// with identity.VerifyProof and issue JWTs with the same sub: signing up
// keeps the user's id and data.
func (db *Db) GetLocalFirstIdentityProof(ttl time.Duration, audience string) (string, error) {
	if db.id == nil {
		return "", fmt.Errorf("%w: identity proofs need a local-first Db (created with secret)", ErrConfig)
	}
	return db.id.MintProof(audience, db.opts.Clock.Now(), ttl)
}

// Status is the sync client's status ("offline" for a local-only Db);
// SyncState is the fuller picture apps show.
func (db *Db) Status() sync.Status {
	if db.sync == nil {
		return sync.Offline
	}
	return db.sync.Status()
}

// Reconnect tells the sync client the network is back: if it is waiting to
// reconnect, it dials now instead of after its delay (sync.Client.Reconnect).
// Browsers call it on the window's online event. A local-only Db ignores it.
func (db *Db) Reconnect() {
	if db.sync != nil {
		db.sync.Reconnect()
	}
}

// Engine exposes the underlying engine (for bridges and tests).
func (db *Db) Engine() *engine.DB { return db.engine }

// Close stops syncing and releases everything. Queued writes stay in the
// store and are sent by the next Db opened over it.
func (db *Db) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	if db.renew != nil {
		db.renew.Stop()
	}
	db.mu.Unlock()
	db.hook.close()
	var errs []error
	if db.sync != nil {
		errs = append(errs, db.sync.Close())
	}
	errs = append(errs, db.engine.Close())
	return errors.Join(errs...)
}

// errListeners fans background errors out to OnError subscribers.
type errListeners struct {
	mu   gosync.Mutex
	next int
	fns  map[int]func(error)
}

func (l *errListeners) add(fn func(error)) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fns == nil {
		l.fns = map[int]func(error){}
	}
	id := l.next
	l.next++
	l.fns[id] = fn
	return func() { l.mu.Lock(); delete(l.fns, id); l.mu.Unlock() }
}

func (l *errListeners) emit(err error) {
	l.mu.Lock()
	fns := make([]func(error), 0, len(l.fns))
	for _, f := range l.fns {
		fns = append(fns, f)
	}
	l.mu.Unlock()
	for _, f := range fns {
		f(err)
	}
}
