package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	stdsync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/storage"
)

const testBundle = `{
  "version": 1,
  "schema": {"tables": [
    {"name": "todos", "columns": [
      {"name": "title", "type": "string"},
      {"name": "done", "type": "boolean"},
      {"name": "owner_id", "type": "string"},
      {"name": "meta", "type": "json", "optional": true}]}]},
  "policies": {
    "todos": {
      "read": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
      "insert": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
      "updateOld": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
      "updateNew": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
      "delete": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]}
    }
  }
}`

var (
	bg          = context.Background()
	t0          = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	aliceSess   = &session.Session{UserID: "alice", AuthMode: session.LocalFirst}
	alice       = engine.Actor{Session: aliceSess}
	waitTimeout = 10 * time.Second
)

func mustBundle(t testing.TB) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Decode([]byte(testBundle))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openDB(t testing.TB, clk clock.Clock, store storage.Store, node string, mod func(*engine.Options)) *engine.DB {
	t.Helper()
	opts := engine.Options{Bundle: mustBundle(t), Store: store, Clock: clk, Node: node}
	if mod != nil {
		mod(&opts)
	}
	db, err := engine.Open(bg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// recClock records every delay scheduled on a fake clock, so tests can
// inspect backoff delays.
type recClock struct {
	*clock.Fake
	mu     stdsync.Mutex
	delays []time.Duration
}

func (r *recClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return r.Fake.AfterFunc(d, f)
}

func (r *recClock) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}

// env is one client with its DB, a Pipe to play the server on, and a
// server-side engine to produce realistic acks and row states.
type env struct {
	t     *testing.T
	clock *recClock
	pipe  *Pipe
	store storage.Store
	db    *engine.DB
	srv   *engine.DB
	c     *Client

	mu       stdsync.Mutex
	tokens   int
	authErrs []protocol.Error
	rejects  []string
	fatals   []error
	statuses []Status
}

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, clock: &recClock{Fake: clock.NewFake(t0)}, pipe: NewPipe(), store: storage.NewMemory()}
	e.db = openDB(t, e.clock.Fake, e.store, "client", func(o *engine.Options) { o.Optimistic = true })
	e.srv = openDB(t, e.clock.Fake, nil, "server", func(o *engine.Options) { o.Sequenced = true; o.EnforcePolicies = true })
	opts := Options{
		DB: e.db, Store: e.store, URL: "http://jazz.test", AppID: "app1",
		Transport: e.pipe, Clock: e.clock, Rand: rand.New(rand.NewPCG(1, 2)).Float64,
		Credentials: func() protocol.Auth {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.tokens++
			return protocol.Auth{Bearer: fmt.Sprintf("tok-%d", e.tokens)}
		},
		OnAuthError: func(err protocol.Error) { e.mu.Lock(); e.authErrs = append(e.authErrs, err); e.mu.Unlock() },
		OnReject: func(c *engine.Change, _ *protocol.RemoteError) {
			e.mu.Lock()
			e.rejects = append(e.rejects, c.ID)
			e.mu.Unlock()
		},
		OnFatal:  func(err error) { e.mu.Lock(); e.fatals = append(e.fatals, err); e.mu.Unlock() },
		OnStatus: func(s Status) { e.mu.Lock(); e.statuses = append(e.statuses, s); e.mu.Unlock() },
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	t.Cleanup(func() {
		c.Close()
		e.db.Close()
		e.srv.Close()
	})
	return e
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) waitStatus(s Status) {
	e.t.Helper()
	eventually(e.t, "status "+s.String(), func() bool { return e.c.Status() == s })
}

// barrier returns once the loop has handled everything queued before it.
func (e *env) barrier() {
	e.t.Helper()
	if !e.c.do(func() {}) {
		e.t.Fatal("client loop is not running")
	}
}

func (e *env) authErrors() []protocol.Error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]protocol.Error(nil), e.authErrs...)
}

func (e *env) insert(title string) engine.Row {
	e.t.Helper()
	r, err := e.db.Insert(bg, alice, "todos", map[string]any{"title": title, "done": false, "owner_id": "alice"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.c.Notify()
	return r
}

func (e *env) pendingIDs() []string {
	var out []string
	for _, c := range e.db.Pending() {
		out = append(out, c.ID)
	}
	return out
}

// sconn is the server end of one client connection, driven by the test.
type sconn struct {
	e *env
	c *PipeConn
}

func (e *env) accept() *sconn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	c, err := e.pipe.Accept(ctx)
	if err != nil {
		e.t.Fatalf("no connection: %v", err)
	}
	return &sconn{e: e, c: c}
}

// next returns the next frame the client sent.
func (s *sconn) next() *protocol.Frame {
	s.e.t.Helper()
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	b, err := s.c.Read(ctx)
	if err != nil {
		s.e.t.Fatalf("reading a client frame: %v", err)
	}
	f, err := protocol.Decode(b)
	if err != nil {
		s.e.t.Fatalf("client sent a bad frame: %v (%s)", err, b)
	}
	return f
}

func (s *sconn) expect(typ string) any {
	s.e.t.Helper()
	f := s.next()
	if f.Type != typ {
		s.e.t.Fatalf("client sent %q, want %q (%+v)", f.Type, typ, f.Body)
	}
	return f.Body
}

// readErr reads until the connection ends and returns why.
func (s *sconn) readErr() error {
	s.e.t.Helper()
	ctx, cancel := context.WithTimeout(bg, waitTimeout)
	defer cancel()
	for {
		if _, err := s.c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				s.e.t.Fatal("the client did not close the connection")
			}
			return err
		}
	}
}

func (s *sconn) send(typ string, body any) {
	s.e.t.Helper()
	b, err := protocol.Encode(typ, body)
	if err != nil {
		s.e.t.Fatal(err)
	}
	if err := s.c.Write(bg, b); err != nil {
		s.e.t.Fatal(err)
	}
}

// handshake accepts the hello and welcomes the client.
func (s *sconn) handshake() *protocol.Hello {
	s.e.t.Helper()
	h := s.expect(protocol.THello).(*protocol.Hello)
	s.send(protocol.TWelcome, &protocol.Welcome{V: protocol.Version, Session: aliceSess})
	return h
}

func (e *env) connect() *sconn {
	e.t.Helper()
	s := e.accept()
	s.handshake()
	e.waitStatus(Connected)
	return s
}

// serve applies a push to the server replica and answers it as the real
// server would: ack for the applied changes with their row states, reject
// for the refused ones.
func (s *sconn) serve(p *protocol.Push) {
	s.e.t.Helper()
	// Decoded changes carry json.Number values; the engine normalizes them.
	res, err := s.e.srv.Submit(bg, alice, p.Changes)
	if err != nil {
		s.e.t.Fatal(err)
	}
	var ack protocol.Ack
	for i, c := range p.Changes {
		if res[i].Err != nil {
			s.send(protocol.TReject, &protocol.Reject{ID: c.ID, Error: protocol.ErrorBodyFrom(res[i].Err)})
			continue
		}
		ack.IDs = append(ack.IDs, c.ID)
		ack.Stamps = stampOf(ack.Stamps, c.ID, res[i].Stamp)
		if st, ok := s.e.srv.State(c.Table, c.Row); ok {
			ack.Rows = append(ack.Rows, st)
		}
	}
	if len(ack.IDs) > 0 {
		s.send(protocol.TAck, &ack)
	}
}

// stampOf records the stamp the server gave change id, as the real server's
// ack does (none for a resend it had applied before).
func stampOf(m map[string]hlc.Timestamp, id string, st hlc.Timestamp) map[string]hlc.Timestamp {
	if st.IsZero() {
		return m
	}
	if m == nil {
		m = map[string]hlc.Timestamp{}
	}
	m[id] = st
	return m
}

func changeIDs(p *protocol.Push) []string {
	out := make([]string, len(p.Changes))
	for i, c := range p.Changes {
		out[i] = c.ID
	}
	return out
}

func mustQuery(t testing.TB, js string) *query.Query {
	t.Helper()
	q, err := query.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func storedCursorOf(t testing.TB, st storage.Store, id string) (storedCursor, bool) {
	t.Helper()
	v, ok, err := st.Get(bg, bucketSync, cursorKey(id))
	if err != nil {
		t.Fatal(err)
	}
	var sc storedCursor
	if ok {
		if err := json.Unmarshal(v, &sc); err != nil {
			t.Fatal(err)
		}
	}
	return sc, ok
}
