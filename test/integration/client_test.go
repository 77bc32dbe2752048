package integration

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/storage"
)

var ctx = context.Background()

func newSecret(t *testing.T) string {
	s, err := identity.NewSecret(rand.Reader)
	if err == nil {
		return s
	}
	t.Fatal(err)
	return ""
}

func TestLocalFirst_WriteReachesServerStampedWithUserID(t *testing.T) {
	e := newEnv(t, envOpts{})
	secret := newSecret(t)
	db := e.open(client.Config{Secret: secret}, nil)
	st := db.GetAuthState()
	id, _ := identity.FromSecret(secret)
	if st.AuthMode != "local-first" || st.Session.UserID != id.UserID || st.Error != "" {
		t.Fatalf("auth state = %+v", st)
	}
	r, err := db.Insert(ctx, "todos", todo(st.Session.UserID, "milk"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "row on the server", func() bool { return len(e.serverRows(t)) == 1 })
	got := e.serverRows(t)[0]
	if got.ID() != r.ID() || got["$createdBy"] != id.UserID || got["$updatedBy"] != id.UserID {
		t.Fatalf("server row = %v", got)
	}
	eventually(t, "outbox drained", func() bool { return len(db.Pending()) == 0 })
}

func TestLocalFirst_SameSecretIsSameUserOnTwoDevices(t *testing.T) {
	e := newEnv(t, envOpts{})
	secret := newSecret(t)
	phone := e.open(client.Config{Secret: secret}, nil)
	laptop := e.open(client.Config{Secret: secret}, nil)
	uid := phone.GetAuthState().Session.UserID
	if laptop.GetAuthState().Session.UserID != uid {
		t.Fatal("same secret gave two user ids")
	}
	mine := &query.Query{Table: "todos"}
	stop, err := laptop.Subscribe(mine, func(engine.Update) {})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := phone.Insert(ctx, "todos", todo(uid, "from phone")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "laptop sees phone's row", func() bool {
		rows, _ := laptop.All(mine)
		return len(rows) == 1 && rows[0]["$createdBy"] == uid
	})
}

func TestExternal_SessionFromTokenAndAuthorship(t *testing.T) {
	e := newEnv(t, envOpts{})
	db := e.open(client.Config{JWTToken: e.jwt("user-42", time.Hour)}, nil)
	st := db.GetAuthState()
	if st.AuthMode != "external" || st.Session.UserID != "user-42" || st.Session.Claims["role"] != "member" {
		t.Fatalf("auth state = %+v", st)
	}
	eventually(t, "connected", connected(db))
	if _, err := db.Insert(ctx, "todos", todo("user-42", "x")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "row on the server", func() bool {
		rows := e.serverRows(t)
		return len(rows) == 1 && rows[0]["$createdBy"] == "user-42"
	})
}

func TestAnonymous_ReadsPublicRowsAndCannotWrite(t *testing.T) {
	e := newEnv(t, envOpts{})
	owner := e.open(client.Config{Secret: newSecret(t)}, nil)
	uid := owner.GetAuthState().Session.UserID
	owner.Insert(ctx, "todos", todo(uid, "public"))
	owner.Insert(ctx, "todos", todo(uid, "private"))
	eventually(t, "rows on the server", func() bool { return len(e.serverRows(t)) == 2 })

	visitor := e.open(client.Config{}, nil)
	if visitor.GetAuthState().AuthMode != "anonymous" {
		t.Fatalf("mode = %s", visitor.GetAuthState().AuthMode)
	}
	all := &query.Query{Table: "todos"}
	stop, _ := visitor.Subscribe(all, func(engine.Update) {})
	defer stop()
	eventually(t, "public row arrives", func() bool { rows, _ := visitor.All(all); return len(rows) == 1 && rows[0]["title"] == "public" })
	_, err := visitor.Insert(ctx, "todos", todo("x", "nope"))
	var ae *policy.AnonymousWriteDeniedError
	if !errors.As(err, &ae) || ae.Table != "todos" || ae.Operation != policy.Insert {
		t.Fatalf("anonymous insert: %v", err)
	}
	if len(visitor.Pending()) != 0 {
		t.Fatal("refused write was queued")
	}
}

func TestLocalFirst_TokenRenewalAcrossManyExpiriesHasNoGap(t *testing.T) {
	e := newEnv(t, envOpts{})
	var errs []client.AuthState
	var mu sync.Mutex
	db := e.open(client.Config{Secret: newSecret(t)}, func(o *client.Options) {
		o.TokenTTL = 2 * time.Minute
		o.RefreshBefore = 30 * time.Second
	})
	db.OnAuthChanged(func(s client.AuthState) {
		if s.Error != "" {
			mu.Lock()
			errs = append(errs, s)
			mu.Unlock()
		}
	})
	uid := db.GetAuthState().Session.UserID
	eventually(t, "connected", connected(db))
	// Twenty token lifetimes, in steps shorter than the renewal margin.
	for i := 0; i < 80; i++ {
		e.clock.Advance(25 * time.Second)
		if i%8 == 0 {
			if _, err := db.Insert(ctx, "todos", todo(uid, "tick")); err != nil {
				t.Fatal(err)
			}
			eventually(t, "write acked", func() bool { return len(db.Pending()) == 0 })
		}
		// Before moving the clock on, let any renewal this step started
		// (an in-band auth, in real time) be accepted by the server: the
		// accepted token must outlive the next step.
		eventually(t, "renewal accepted", func() bool {
			return db.AcceptedTokenExpiry().Sub(e.clock.Now()) > 25*time.Second
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 0 {
		t.Fatalf("auth errors during renewal: %+v", errs)
	}
	if n := len(e.serverRows(t)); n != 10 {
		t.Fatalf("server has %d rows, want 10", n)
	}
}

func TestExternal_ExpiryWithWritesInFlightCallsHookOnceAndLosesNothing(t *testing.T) {
	e := newEnv(t, envOpts{})
	db := e.open(client.Config{JWTToken: e.jwt("user-7", time.Minute)}, func(o *client.Options) {
		o.RefreshBefore = time.Second
	})
	eventually(t, "connected", connected(db))
	release := make(chan struct{})
	var calls atomic.Int32
	db.OnJWTExpired(func(context.Context) (string, error) {
		calls.Add(1)
		<-release
		return e.jwt("user-7", time.Hour), nil
	})
	e.clock.Advance(61 * time.Second)
	eventually(t, "expired reported", func() bool { return db.GetAuthState().Error == client.AuthExpired })
	if st := db.GetAuthState(); st.Session == nil || st.Session.UserID != "user-7" {
		t.Fatalf("last session not kept: %+v", st)
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := db.Insert(ctx, "todos", todo("user-7", "in flight")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Local reads keep working while paused.
	if rows, _ := db.All(&query.Query{Table: "todos"}); len(rows) != 50 {
		t.Fatalf("local rows while paused = %d", len(rows))
	}
	close(release)
	eventually(t, "error cleared", func() bool { return db.GetAuthState().Error == "" })
	eventually(t, "all writes delivered", func() bool { return len(db.Pending()) == 0 && len(e.serverRows(t)) == 50 })
	if calls.Load() != 1 {
		t.Fatalf("onJWTExpired called %d times, want 1", calls.Load())
	}
	seen := map[string]bool{}
	for _, r := range e.serverRows(t) {
		if seen[r.ID()] || r["$createdBy"] != "user-7" {
			t.Fatalf("duplicate or misattributed row %v", r)
		}
		seen[r.ID()] = true
	}
}

func TestUpdateAuthToken_RefusesOtherPrincipalNullAndWrongMode(t *testing.T) {
	e := newEnv(t, envOpts{})
	db := e.open(client.Config{JWTToken: e.jwt("alice", time.Hour)}, nil)
	other := e.jwt("bob", time.Hour)
	if err := db.UpdateAuthToken(&other); !errors.Is(err, client.ErrPrincipalChanged) {
		t.Fatalf("other principal: %v", err)
	}
	if err := db.UpdateAuthToken(nil); !errors.Is(err, client.ErrNullToken) {
		t.Fatalf("null: %v", err)
	}
	same := e.jwt("alice", 2*time.Hour)
	if err := db.UpdateAuthToken(&same); err != nil {
		t.Fatalf("same principal: %v", err)
	}
	lf := e.open(client.Config{Secret: newSecret(t)}, nil)
	if err := lf.UpdateAuthToken(&same); !errors.Is(err, client.ErrNotExternal) {
		t.Fatalf("local-first Db: %v", err)
	}
}

func TestAuthErrors_EachServerCodeReachesAuthState(t *testing.T) {
	cases := []struct {
		name string
		opts envOpts
		cfg  func(e *env) client.Config
		want client.AuthError
	}{
		{"local-first not allowed", envOpts{noLocalFirst: true}, func(e *env) client.Config { return client.Config{Secret: newSecret(t)} }, client.AuthDisabled},
		{"no external auth configured", envOpts{noExternal: true}, func(e *env) client.Config { return client.Config{JWTToken: e.jwt("u", time.Hour)} }, client.AuthDisabled},
		{"forged signature", envOpts{}, func(e *env) client.Config {
			tok := e.jwt("u", time.Hour)
			return client.Config{JWTToken: tok[:len(tok)-4] + "AAAA"}
		}, client.AuthInvalid},
		{"expired at connect", envOpts{}, func(e *env) client.Config { return client.Config{JWTToken: e.jwt("u", -time.Minute)} }, client.AuthExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts)
			db := e.open(c.cfg(e), nil)
			eventually(t, "auth error "+string(c.want), func() bool { return db.GetAuthState().Error == c.want })
			if db.GetAuthState().Session == nil {
				t.Fatal("session dropped on auth error")
			}
			// Local writes still work and queue.
			uid := db.GetAuthState().Session.UserID
			if _, err := db.Insert(ctx, "todos", todo(uid, "queued")); err != nil {
				t.Fatal(err)
			}
			if len(db.Pending()) != 1 {
				t.Fatal("write not queued while refused")
			}
		})
	}
}

func TestRejectedWrite_RolledBackAndReportedTyped(t *testing.T) {
	e := newEnv(t, envOpts{})
	var reported atomic.Value
	db := e.open(client.Config{Secret: newSecret(t)}, func(o *client.Options) {
		o.OnError = func(err error) { reported.Store(err) }
	})
	// The client does not enforce policies; the server does: a todo owned
	// by someone else is accepted locally, refused remotely, rolled back.
	r, err := db.Insert(ctx, "todos", todo("someone-else", "forged"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "rejection reported", func() bool { return reported.Load() != nil })
	var de *policy.DeniedError
	if err := reported.Load().(error); !errors.As(err, &de) || de.Table != "todos" || de.Operation != policy.Insert {
		t.Fatalf("reported %v", err)
	}
	rows, _ := db.All(&query.Query{Table: "todos"})
	for _, row := range rows {
		if row.ID() == r.ID() {
			t.Fatal("rejected row still visible locally")
		}
	}
	if len(e.serverRows(t)) != 0 {
		t.Fatal("server kept a forged row")
	}
}

// roleBundle: todos are also readable by the sessions whose "role" claim
// is the todo's title.
const roleBundle = `{"version":1,
 "schema":{"tables":[{"name":"todos","columns":[
   {"name":"title","type":"string"},{"name":"done","type":"boolean"},{"name":"owner_id","type":"string"}]}]},
 "policies":{"todos":{
   "read":{"or":[{"eq":[{"col":"owner_id"},{"session":"user_id"}]},{"eq":[{"col":"title"},{"session":"claims.role"}]}]},
   "insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}}}}`

// A refreshed token whose claims grant more shows the rows they grant at
// once, including rows written long before, which resuming from the
// subscription's cursor would skip; and a reopened Db with the new token
// gets them too, even though its saved cursor is from the old claims.
func TestUpdateAuthToken_NewClaimsShowTheRowsTheyGrant(t *testing.T) {
	e := newEnv(t, envOpts{bundle: roleBundle})
	srv, err := e.srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	old, err := srv.Insert(context.Background(), engine.Actor{Backend: true}, "todos", todo("someone", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	all := &query.Query{Table: "todos"}
	titles := func(db *client.Db) []string {
		rows, _ := db.All(all)
		var out []string
		for _, r := range rows {
			out = append(out, r["title"].(string))
		}
		return out
	}
	store := storage.NewMemory()
	keep := func(o *client.Options) { o.Store = keepOpen{store} }
	db := e.open(client.Config{JWTToken: e.jwtAs("alice", "member", time.Hour)}, keep)
	stop, _ := db.Subscribe(all, func(engine.Update) {})
	uid := db.GetAuthState().Session.UserID
	if _, err := db.Insert(context.Background(), "todos", todo(uid, "mine")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice's own row, synced", func() bool { return len(db.Pending()) == 0 && len(titles(db)) == 1 })

	admin := e.jwtAs("alice", "admin", time.Hour)
	if err := db.UpdateAuthToken(&admin); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the row the admin role grants", func() bool { return len(titles(db)) == 2 })
	if rows, _ := db.All(&query.Query{Table: "todos", Where: nil}); !hasID(rows, old.ID()) {
		t.Fatalf("rows = %v, want the admin row %s", titles(db), old.ID())
	}
	stop()
	db.Close()

	// The same store, reopened as a member again, then as an admin with a
	// fresh store: the member's cursors do not hide the granted row from
	// the admin, and a member sees only what members may.
	fresh := storage.NewMemory()
	member := e.open(client.Config{JWTToken: e.jwtAs("alice", "member", time.Hour)}, func(o *client.Options) { o.Store = keepOpen{fresh} })
	stop, _ = member.Subscribe(all, func(engine.Update) {})
	savedCursor := func() bool {
		n := 0
		_ = fresh.Scan(context.Background(), "sync", []byte("cursor/"), func(_, _ []byte) error { n++; return nil })
		return n > 0
	}
	eventually(t, "the member's rows and cursor", func() bool { return len(titles(member)) == 1 && savedCursor() })
	stop()
	member.Close()
	adminDb := e.open(client.Config{JWTToken: admin}, func(o *client.Options) { o.Store = keepOpen{fresh} })
	stop, _ = adminDb.Subscribe(all, func(engine.Update) {})
	defer stop()
	eventually(t, "the admin's rows after a reopen", func() bool { return len(titles(adminDb)) == 2 })
}

func hasID(rows []engine.Row, id string) bool {
	for _, r := range rows {
		if r.ID() == id {
			return true
		}
	}
	return false
}

// keepOpen lets a Db be closed and another opened over the same data.
type keepOpen struct{ storage.Store }

func (keepOpen) Close() error { return nil }
