package integration

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/server"
	"github.com/jazzgo/jazz-tools/server/auth"
)

const appID = "todo-app"

// todoBundle: owners read, write and delete their own todos; rows titled
// "public" are readable by everyone, anonymous visitors included.
const todoBundle = `{"version":1,
 "schema":{"tables":[{"name":"todos","columns":[
   {"name":"title","type":"string"},{"name":"done","type":"boolean"},{"name":"owner_id","type":"string"}]}]},
 "policies":{"todos":{
   "read":{"or":[{"eq":[{"col":"owner_id"},{"session":"user_id"}]},{"eq":[{"col":"title"},{"value":"public"}]}]},
   "insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "updateOld":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "delete":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}}}}`

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	clock  *clock.Fake
	srv    *server.Server
	url    string
	issuer ed25519.PrivateKey
	bundle *bundle.Bundle
}

type envOpts struct {
	noLocalFirst bool
	noExternal   bool
	bundle       string // default todoBundle
	budgets      server.Budgets
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	js := todoBundle
	if o.bundle != "" {
		js = o.bundle
	}
	b, err := bundle.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clock: clock.NewFake(t0), bundle: b}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	e.issuer = priv
	res := &auth.Resolver{AppID: appID, AllowLocalFirst: !o.noLocalFirst, Clock: e.clock, Leeway: -1}
	if !o.noExternal {
		der, _ := x509.MarshalPKIXPublicKey(pub)
		key, err := auth.NewStaticKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), auth.Options{Clock: e.clock, Leeway: -1})
		if err != nil {
			t.Fatal(err)
		}
		res.External = key
	}
	e.srv, err = server.New(server.Config{AppID: appID, InMemory: true, Resolver: res, Clock: e.clock, Bundle: b, Logger: testLogger(), HeartbeatTimeout: 24 * time.Hour, HelloTimeout: 24 * time.Hour, Budgets: o.budgets})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(e.srv.Handler())
	t.Cleanup(func() { e.srv.Close(); hs.Close() })
	e.url = hs.URL
	return e
}

// jwt mints an external token for sub expiring ttl after the fake now.
func (e *env) jwt(sub string, ttl time.Duration) string {
	return e.jwtAs(sub, "member", ttl)
}

// jwtAs is jwt with the given "role" claim.
func (e *env) jwtAs(sub, role string, ttl time.Duration) string {
	now := e.clock.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix(), "role": role})
	s, err := tok.SignedString(e.issuer)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) open(cfg client.Config, mod func(*client.Options)) *client.Db {
	e.t.Helper()
	cfg.AppID = appID
	if cfg.ServerURL == "" {
		cfg.ServerURL = e.url
	}
	// Auth tests jump the fake clock by minutes; liveness (pings, dead
	// connections) is tested in core/sync and server, so keep it out of
	// the way here.
	o := client.Options{Config: cfg, Bundle: e.bundle, Clock: e.clock, Logger: testLogger()}
	o.SyncOptions.HeartbeatInterval = 12 * time.Hour
	o.SyncOptions.DeadAfter = 24 * time.Hour
	if mod != nil {
		mod(&o)
	}
	db, err := client.Open(context.Background(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

// serverRows reads the server's confirmed rows as the system.
func (e *env) serverRows(t *testing.T) []engine.Row {
	t.Helper()
	db, err := e.srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.All(engine.Actor{Backend: true}, &query.Query{Table: "todos"})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// eventually polls cond with real time (the server and client run on their
// own goroutines); it never measures behaviour, it only waits for it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func connected(db *client.Db) func() bool {
	return func() bool { return db.Status().String() == "connected" }
}

func todo(owner, title string) map[string]any {
	return map[string]any{"title": title, "done": false, "owner_id": owner}
}

type counter struct{ n atomic.Int32 }

// testLogger discards logs unless JAZZ_TEST_LOGS is set.
func testLogger() *slog.Logger {
	if os.Getenv("JAZZ_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
