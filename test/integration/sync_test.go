package integration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/query"
)

// gate fronts the server and can make it unreachable, like a network outage.
type gate struct {
	down atomic.Bool
	next http.Handler
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.down.Load() {
		http.Error(w, "unreachable", http.StatusServiceUnavailable)
		return
	}
	g.next.ServeHTTP(w, r)
}

func TestOffline_QueuedWritesDeliveredExactlyOnceOnReconnect(t *testing.T) {
	e := newEnv(t, envOpts{})
	g := &gate{next: e.srv.Handler()}
	g.down.Store(true)
	hs := httptest.NewServer(g)
	defer hs.Close()
	db := e.open(client.Config{Secret: newSecret(t), ServerURL: hs.URL}, nil)
	uid := db.GetAuthState().Session.UserID
	for i := 0; i < 20; i++ {
		if _, err := db.Insert(ctx, "todos", todo(uid, "offline")); err != nil {
			t.Fatal(err)
		}
	}
	if rows, _ := db.All(&query.Query{Table: "todos"}); len(rows) != 20 || len(db.Pending()) != 20 {
		t.Fatalf("offline: %d local rows, %d pending", len(rows), len(db.Pending()))
	}
	// Several failed attempts while the server is unreachable.
	for i := 0; i < 5; i++ {
		e.clock.Advance(time.Minute)
		time.Sleep(5 * time.Millisecond) // let the failed dial happen in real time
	}
	if len(e.serverRows(t)) != 0 {
		t.Fatal("rows reached an unreachable server")
	}
	g.down.Store(false)
	eventually(t, "reconnected and drained", func() bool {
		e.clock.Advance(time.Minute) // fire the pending backoff timer
		return len(db.Pending()) == 0
	})
	rows := e.serverRows(t)
	if len(rows) != 20 {
		t.Fatalf("server has %d rows, want 20 exactly once", len(rows))
	}
}

func TestTwoUsers_ConvergeOnSharedRows(t *testing.T) {
	e := newEnv(t, envOpts{})
	alice := e.open(client.Config{Secret: newSecret(t)}, nil)
	bob := e.open(client.Config{JWTToken: e.jwt("bob", time.Hour)}, nil)
	all := &query.Query{Table: "todos"}
	for _, db := range []*client.Db{alice, bob} {
		stop, err := db.Subscribe(all, func(engine.Update) {})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	a := alice.GetAuthState().Session.UserID
	alice.Insert(ctx, "todos", todo(a, "public"))
	alice.Insert(ctx, "todos", todo(a, "alice only"))
	bob.Insert(ctx, "todos", todo("bob", "public"))
	eventually(t, "alice sees both public rows and her own", func() bool { rows, _ := alice.All(all); return len(rows) == 3 })
	eventually(t, "bob sees both public rows and his own", func() bool { rows, _ := bob.All(all); return len(rows) == 2 })
	rows, _ := bob.All(all)
	for _, r := range rows {
		if r["title"] == "alice only" {
			t.Fatal("bob received alice's private row")
		}
	}
}

func TestExternal_ProactiveRefreshAvoidsExpiry(t *testing.T) {
	e := newEnv(t, envOpts{})
	var sawExpired atomic.Bool
	db := e.open(client.Config{JWTToken: e.jwt("carol", 2*time.Minute)}, func(o *client.Options) { o.RefreshBefore = 30 * time.Second })
	db.OnAuthChanged(func(s client.AuthState) {
		if s.Error != "" {
			sawExpired.Store(true)
		}
	})
	var calls atomic.Int32
	db.OnJWTExpired(func(ctxHook context.Context) (string, error) {
		calls.Add(1)
		return e.jwt("carol", time.Hour), nil
	})
	eventually(t, "connected", connected(db))
	e.clock.Advance(95 * time.Second) // past exp - RefreshBefore, before exp
	eventually(t, "fresh token accepted", func() bool { return db.AcceptedTokenExpiry().Sub(e.clock.Now()) > 30*time.Minute })
	e.clock.Advance(time.Minute) // the old token's expiry passes harmlessly
	db.Insert(ctx, "todos", todo("carol", "still syncing"))
	eventually(t, "write acked", func() bool { return len(db.Pending()) == 0 })
	if sawExpired.Load() || calls.Load() != 1 {
		t.Fatalf("expired seen = %v, hook calls = %d", sawExpired.Load(), calls.Load())
	}
}

func TestSignUp_IdentityProofCarriesTheLocalFirstUserID(t *testing.T) {
	e := newEnv(t, envOpts{})
	db := e.open(client.Config{Secret: newSecret(t)}, nil)
	proof, err := db.GetLocalFirstIdentityProof(5*time.Minute, "https://auth.example")
	if err != nil {
		t.Fatal(err)
	}
	uid, err := identity.VerifyProof(proof, "https://auth.example", e.clock.Now(), 0)
	if err != nil || uid != db.GetAuthState().Session.UserID {
		t.Fatalf("proof verified as %q, %v", uid, err)
	}
	if _, err := identity.VerifyProof(proof, "https://other.example", e.clock.Now(), 0); err == nil {
		t.Fatal("proof accepted for another audience")
	}
	// The provider then issues JWTs with that sub: the external Db is the
	// same user and sees the rows written while local-first.
	db.Insert(ctx, "todos", todo(uid, "before sign-up"))
	eventually(t, "written", func() bool { return len(db.Pending()) == 0 })
	ext := e.open(client.Config{JWTToken: e.jwt(uid, time.Hour)}, nil)
	all := &query.Query{Table: "todos"}
	stop, _ := ext.Subscribe(all, func(engine.Update) {})
	defer stop()
	eventually(t, "rows kept after sign-up", func() bool { rows, _ := ext.All(all); return len(rows) == 1 })
}

func TestExternal_HookSetAfterRefreshWasDueIsCalledAtOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	db := e.open(client.Config{JWTToken: e.jwt("dora", 2*time.Minute)}, func(o *client.Options) { o.RefreshBefore = 30 * time.Second })
	eventually(t, "connected", connected(db))
	e.clock.Advance(100 * time.Second) // renewal came due with no hook set
	var calls atomic.Int32
	db.OnJWTExpired(func(context.Context) (string, error) {
		calls.Add(1)
		return e.jwt("dora", time.Hour), nil
	})
	eventually(t, "fresh token accepted", func() bool { return db.AcceptedTokenExpiry().Sub(e.clock.Now()) > 30*time.Minute })
	if calls.Load() != 1 {
		t.Fatalf("hook calls = %d", calls.Load())
	}
}
