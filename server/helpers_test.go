package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/id"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/server/auth"
)

const (
	testApp           = "test-app"
	testAdminSecret   = "admin-secret-0123456789"
	testBackendSecret = "backend-secret-9876543210"
	// wait bounds every wait for an asynchronous frame; nothing sleeps.
	wait = 5 * time.Second
)

// t0 is the fake "now" every test starts from.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// notesBundle: notes are readable by their owner, or by anyone when public;
// only the owner may write them.
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

func mustBundle(t testing.TB, js string) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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

// fixture is a server on loopback with a fake clock and captured logs.
type fixture struct {
	srv  *Server
	hs   *httptest.Server
	clk  *clock.Fake
	logs *syncBuffer
	cfg  Config
}

type option func(*Config)

func withoutAdmin() option { return func(c *Config) { c.AdminSecret = "" } }
func withResolver(r *auth.Resolver) option {
	return func(c *Config) { c.Resolver = r }
}
func withHeartbeat(d time.Duration) option { return func(c *Config) { c.HeartbeatTimeout = d } }
func withDataDir(dir string) option {
	return func(c *Config) { c.InMemory, c.DataDir = false, dir }
}
func withBundle(js string) option {
	return func(c *Config) {
		if js == "" {
			c.Bundle = nil
			return
		}
		b, err := bundle.Decode([]byte(js))
		if err != nil {
			panic(err)
		}
		c.Bundle = b
	}
}

func newFixture(t *testing.T, opts ...option) *fixture {
	t.Helper()
	clk := clock.NewFake(t0)
	ext, err := auth.NewStaticKey(extJWK(), auth.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := Config{
		AppID:            testApp,
		InMemory:         true,
		Resolver:         &auth.Resolver{AllowLocalFirst: true, External: ext, BackendSecret: testBackendSecret, Clock: clk},
		AdminSecret:      testAdminSecret,
		Logger:           slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:            clk,
		HeartbeatTimeout: 24 * time.Hour,
	}
	withBundle(notesBundle)(&cfg)
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	return &fixture{srv: srv, hs: hs, clk: clk, logs: logs, cfg: cfg}
}

func (f *fixture) wsURL(app string) string {
	return "ws" + strings.TrimPrefix(f.hs.URL, "http") + "/apps/" + app + "/ws"
}

// user is a local-first identity.
type user struct {
	*identity.Identity
}

func newUser(t testing.TB) user {
	t.Helper()
	secret, err := identity.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.FromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return user{id}
}

// token mints a local-first token valid from the fixture's now for ttl.
func (f *fixture) token(t testing.TB, u user, ttl time.Duration) string {
	t.Helper()
	tok, err := u.MintToken(testApp, f.clk.Now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// extToken signs an external JWT for sub with the provider key.
func (f *fixture) extToken(t testing.TB, sub string, ttl time.Duration, extra jwt.MapClaims) string {
	t.Helper()
	now := f.clk.Now()
	claims := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(extKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// client is a raw protocol client: frames arrive on a channel, decoded with
// the strict codec so every server frame is also checked against it.
type client struct {
	t      testing.TB
	c      *websocket.Conn
	frames chan *protocol.Frame
	done   chan struct{}
	// closeCode is the close status the server sent (-1 if none); valid
	// after done is closed.
	closeCode websocket.StatusCode
	readErr   error
	// held are frames set aside (rows that overtook an ack) to be returned
	// by next before anything newer.
	held []*protocol.Frame
	// scope is the welcome's (fixture.hello).
	scope string
}

func (f *fixture) dial(t testing.TB, app string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, f.wsURL(app), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	cl := &client{t: t, c: c, frames: make(chan *protocol.Frame, 1024), done: make(chan struct{})}
	go cl.read()
	t.Cleanup(func() { c.CloseNow() })
	return cl
}

func (cl *client) read() {
	defer close(cl.done)
	defer close(cl.frames)
	for {
		_, data, err := cl.c.Read(context.Background())
		if err != nil {
			cl.closeCode, cl.readErr = websocket.CloseStatus(err), err
			return
		}
		f, err := protocol.Decode(data)
		if err != nil {
			cl.t.Errorf("server sent a frame the codec refuses: %v\n%s", err, data)
			continue
		}
		cl.frames <- f
	}
}

func (cl *client) sendRaw(data []byte) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := cl.c.Write(ctx, websocket.MessageText, data); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

func (cl *client) send(typ string, body any) {
	cl.t.Helper()
	b, err := protocol.Encode(typ, body)
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.sendRaw(b)
}

// next returns the next frame, whatever its type.
func (cl *client) next(t testing.TB, timeout time.Duration) *protocol.Frame {
	t.Helper()
	if len(cl.held) > 0 {
		f := cl.held[0]
		cl.held = cl.held[1:]
		return f
	}
	select {
	case f, ok := <-cl.frames:
		if !ok {
			t.Fatalf("connection closed (code %d, %v) while waiting for a frame", cl.closeCode, cl.readErr)
		}
		return f
	case <-time.After(timeout):
		t.Fatalf("no frame within %v", timeout)
	}
	return nil
}

// expectFrame waits for the next frame of type typ, failing on any frame of
// another type in between: the protocol's order is part of what is tested.
func expectFrame(t testing.TB, cl *client, typ string, timeout time.Duration) *protocol.Frame {
	t.Helper()
	f := cl.next(t, timeout)
	if f.Type != typ {
		t.Fatalf("got %s frame %s, want %s", f.Type, mustJSON(f.Body), typ)
	}
	return f
}

// expectClose waits for the server to close with code.
func expectClose(t testing.TB, cl *client, code websocket.StatusCode, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-cl.frames:
			if ok {
				t.Fatalf("got %s frame %s while waiting for close %d", f.Type, mustJSON(f.Body), code)
			}
			if cl.closeCode != code {
				t.Fatalf("closed with %d (%v), want %d", cl.closeCode, cl.readErr, code)
			}
			return
		case <-deadline:
			t.Fatalf("not closed within %v", timeout)
		}
	}
}

// barrier proves every earlier frame has been delivered: it pings and
// returns the frames that arrived before the pong.
func barrier(t testing.TB, cl *client, n uint64) []*protocol.Frame {
	t.Helper()
	cl.send(protocol.TPing, protocol.Ping{N: n})
	var before []*protocol.Frame
	for {
		f := cl.next(t, wait)
		if f.Type == protocol.TPong && f.Body.(*protocol.Ping).N == n {
			return before
		}
		before = append(before, f)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// hello opens an authenticated connection and returns it with its welcome.
func (f *fixture) hello(t testing.TB, a protocol.Auth) (*client, *protocol.Welcome) {
	t.Helper()
	cl := f.dial(t, testApp)
	cl.send(protocol.THello, protocol.Hello{V: protocol.Version, AppID: testApp, Auth: a})
	w := expectFrame(t, cl, protocol.TWelcome, wait).Body.(*protocol.Welcome)
	cl.scope = w.Scope
	return cl, w
}

// writer makes changes as a client replica would.
type writer struct {
	hlc *hlc.Clock
	ids *id.Generator
}

func newWriter(clk clock.Clock, node string) *writer {
	return &writer{hlc: hlc.New(clk, node), ids: id.NewGenerator(clk, nil)}
}

func (w *writer) insert(title, owner string, public bool) *engine.Change {
	return &engine.Change{ID: w.ids.New(), Table: "notes", Row: w.ids.New(), Kind: engine.KindInsert, TS: w.hlc.Now(),
		By: "mallory", Values: map[string]any{"title": title, "owner_id": owner, "public": public}}
}

func (w *writer) update(row string, values map[string]any) *engine.Change {
	return &engine.Change{ID: w.ids.New(), Table: "notes", Row: row, Kind: engine.KindUpdate, TS: w.hlc.Now(), By: "mallory", Values: values}
}

func (w *writer) delete(row string) *engine.Change {
	return &engine.Change{ID: w.ids.New(), Table: "notes", Row: row, Kind: engine.KindDelete, TS: w.hlc.Now(), By: "mallory"}
}

// push sends changes and returns the ack. Rows frames may overtake the ack
// (docs/protocol.md allows it); they are held for the caller's next reads.
// Anything else first fails the test.
func push(t testing.TB, cl *client, changes ...*engine.Change) *protocol.Ack {
	t.Helper()
	cl.send(protocol.TPush, protocol.Push{Changes: changes})
	var held []*protocol.Frame
	for {
		f := cl.next(t, wait)
		switch f.Type {
		case protocol.TRows:
			held = append(held, f)
		case protocol.TAck:
			cl.held = append(held, cl.held...)
			return f.Body.(*protocol.Ack)
		default:
			t.Fatalf("got %s frame %s, want ack", f.Type, mustJSON(f.Body))
		}
	}
}

func notesQuery() json.RawMessage { return json.RawMessage(`{"table":"notes"}`) }

// subscribe subscribes and returns the initial (complete) rows frame. A
// cursor is sent with the scope of cl's welcome, as a client that received
// it on a connection of the same session does.
func subscribe(t testing.TB, cl *client, subID string, cursor uint64) *protocol.Rows {
	t.Helper()
	return subscribeIn(t, cl, subID, cursor, cl.scope)
}

// subscribeIn is subscribe with a cursor received under scope.
func subscribeIn(t testing.TB, cl *client, subID string, cursor uint64, scope string) *protocol.Rows {
	t.Helper()
	sc, _ := json.Marshal(scope)
	cl.sendRaw([]byte(`{"t":"sub","id":"` + subID + `","query":` + string(notesQuery()) + `,"cursor":` + jsonUint(cursor) + `,"scope":` + string(sc) + `}`))
	r := expectFrame(t, cl, protocol.TRows, wait).Body.(*protocol.Rows)
	if !r.Complete || r.Sub != subID {
		t.Fatalf("initial rows = %s, want complete for %s", mustJSON(r), subID)
	}
	return r
}

func jsonUint(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// rowIDs lists the ids of states.
func rowIDs(states []engine.RowState) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = s.ID
	}
	return out
}

// health returns the /health seq.
func (f *fixture) seq(t testing.TB) uint64 {
	t.Helper()
	var h struct {
		Status string `json:"status"`
		AppID  string `json:"appId"`
		Seq    uint64 `json:"seq"`
	}
	status, body := f.get(t, "/health", nil)
	if status != 200 {
		t.Fatalf("health: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

func (f *fixture) get(t testing.TB, path string, hdr map[string]string) (int, []byte) {
	return f.do(t, http.MethodGet, path, hdr, nil)
}

func (f *fixture) do(t testing.TB, method, path string, hdr map[string]string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.hs.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
