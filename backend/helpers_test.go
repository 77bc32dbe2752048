package backend_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/backend"
	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/server"
	"github.com/jazzgo/jazz-tools/server/auth"
)

const (
	testApp       = "backend-test"
	backendSecret = "backend-secret-0123456789"
	adminSecret   = "admin-secret-0123456789"
	wait          = 10 * time.Second
)

// notesBundle: notes are readable by their owner, or by anyone when public;
// only the owner may write them (the server's test app).
const notesBundle = `{"version":1,
 "schema":{"tables":[{"name":"notes","columns":[
   {"name":"title","type":"string"},
   {"name":"owner_id","type":"string"},
   {"name":"public","type":"boolean","optional":true}]}]},
 "policies":{"notes":{
   "read":{"or":[{"eq":[{"col":"owner_id"},{"session":"user_id"}]},{"eq":[{"col":"public"},{"value":true}]}]},
   "insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "updateOld":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "updateNew":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "delete":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}}}}`

var bg = context.Background()

// extKey is the external identity provider's signing key.
var extKey = func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}()

func extJWK() string {
	pub := extKey.Public().(ed25519.PublicKey)
	return `{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
}

// extToken signs an external JWT for sub, valid for ttl from now (negative:
// already expired).
func extToken(t testing.TB, sub string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	iat := now
	if ttl < 0 {
		iat = now.Add(2 * ttl)
	}
	return signExt(t, map[string]any{"sub": sub, "iat": iat.Unix(), "exp": now.Add(ttl).Unix(), "org": "acme"})
}

// signExt signs an external JWT with exactly claims.
func signExt(t testing.TB, claims map[string]any) string {
	t.Helper()
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`))
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := h + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(extKey, []byte(in)))
}

// localUser is a local-first identity.
func localUser(t testing.TB) *identity.Identity {
	t.Helper()
	secret, err := identity.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.FromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func localToken(t testing.TB, id *identity.Identity) string {
	t.Helper()
	tok, err := id.MintToken(testApp, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// fixture is a real server on loopback and a backend Context against it.
type fixture struct {
	t   *testing.T
	srv *server.Server
	hs  *httptest.Server
	ctx *backend.Context
}

type serverOpt func(*server.Config)

func withServerResolver(r *auth.Resolver) serverOpt { return func(c *server.Config) { c.Resolver = r } }

func startServer(t *testing.T, opts ...serverOpt) (*server.Server, *httptest.Server) {
	t.Helper()
	ext, err := auth.NewStaticKey(extJWK(), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Decode([]byte(notesBundle))
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		AppID:       testApp,
		InMemory:    true,
		Resolver:    &auth.Resolver{AllowLocalFirst: true, External: ext, BackendSecret: backendSecret},
		AdminSecret: adminSecret,
		Bundle:      b,
		Logger:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return srv, hs
}

// newFixture starts a server and a Context configured like it (external
// key, local-first allowed, the bundle loaded with the admin secret).
func newFixture(t *testing.T, mod func(*backend.Options), sopts ...serverOpt) *fixture {
	t.Helper()
	srv, hs := startServer(t, sopts...)
	f := &fixture{t: t, srv: srv, hs: hs}
	f.ctx = f.newContext(mod)
	return f
}

func (f *fixture) options() backend.Options {
	return backend.Options{
		AppID:               testApp,
		ServerURL:           f.hs.URL,
		BackendSecret:       backendSecret,
		AdminSecret:         adminSecret,
		JWTPublicKey:        extJWK(),
		AllowLocalFirstAuth: true,
	}
}

func (f *fixture) newContext(mod func(*backend.Options)) *backend.Context {
	f.t.Helper()
	o := f.options()
	if mod != nil {
		mod(&o)
	}
	c, err := backend.New(bg, o)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

// request is an incoming request to the backend's own API with hdr.
func request(hdr map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/notes", nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(bg, wait)
	t.Cleanup(cancel)
	return ctx
}

func mustQuery(t testing.TB, js string) *query.Query {
	t.Helper()
	q, err := query.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

var allNotes = `{"table":"notes","orderBy":[{"col":"title"}]}`

func titles(rows []engine.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i], _ = r["title"].(string)
	}
	return out
}

func note(title, owner string, public bool) map[string]any {
	return map[string]any{"title": title, "owner_id": owner, "public": public}
}

// authorOf reads a note as the backend (which sees every row) and returns
// its $createdBy and $updatedBy.
func (f *fixture) authorOf(t *testing.T, id string) (string, string) {
	t.Helper()
	r, err := f.ctx.AsBackend().One(ctxT(t), mustQuery(t, `{"table":"notes","where":{"eq":[{"col":"id"},{"value":"`+id+`"}]}}`))
	if err != nil || r == nil {
		t.Fatalf("reading %s as the backend: %v %v", id, r, err)
	}
	c, _ := r["$createdBy"].(string)
	u, _ := r["$updatedBy"].(string)
	return c, u
}
