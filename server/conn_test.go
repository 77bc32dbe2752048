package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// fakeTransport feeds scripted frames to a connection and records what it
// writes, with no network. Reads end with io.EOF, once hold is closed when
// it is not nil; a non-nil gate holds every write until it is closed.
type fakeTransport struct {
	mu        sync.Mutex
	in        [][]byte
	out       [][]byte
	closeCode websocket.StatusCode
	closed    bool
	gate      chan struct{}
	hold      chan struct{}
	drained   chan struct{} // closed when Read reaches the end of in
}

func newFakeTransport(in ...[]byte) *fakeTransport {
	return &fakeTransport{in: in, closeCode: -1, drained: make(chan struct{})}
}

func (f *fakeTransport) Read(ctx context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.in) == 0 {
		select {
		case <-f.drained:
		default:
			close(f.drained)
		}
		if f.hold != nil {
			f.mu.Unlock()
			<-f.hold
			f.mu.Lock()
		}
		return nil, io.EOF
	}
	msg := f.in[0]
	f.in = f.in[1:]
	return msg, nil
}

func (f *fakeTransport) Write(ctx context.Context, msg []byte) error {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("closed")
	}
	f.out = append(f.out, append([]byte(nil), msg...))
	return nil
}

func (f *fakeTransport) Close(code websocket.StatusCode, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed, f.closeCode = true, code
	}
	return nil
}

func (f *fakeTransport) CloseNow() error { return f.Close(-1, "") }

func (f *fakeTransport) written() ([][]byte, websocket.StatusCode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.out...), f.closeCode
}

// newOfflineServer is a server never mounted on a listener, for driving
// connections through fake transports.
func newOfflineServer(t testing.TB, logs io.Writer, opts ...option) *Server {
	t.Helper()
	clk := clock.NewFake(t0)
	cfg := Config{
		AppID: testApp, InMemory: true, Clock: clk,
		Resolver: &auth.Resolver{AllowLocalFirst: true, Clock: clk},
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		Bundle:   mustBundle(t, notesBundle),
		// The clock is never advanced: frames must not wait for it.
		Budgets: Budgets{AnonymousFramesPerSecond: 1 << 20},
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestOutbox_FullQueueRefusesWithoutBlocking(t *testing.T) {
	o := newOutbox()
	for i := range maxQueuedFrames {
		if err := o.push([]byte("x")); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	if err := o.push([]byte("x")); !errors.Is(err, errQueueFull) {
		t.Fatalf("push over the bound = %v", err)
	}
	o.close(closeReq{code: 1000})
	if err := o.push([]byte("x")); !errors.Is(err, errClosing) {
		t.Fatalf("push after close = %v", err)
	}
}

func TestConn_SlowConsumerIsClosedWith1008(t *testing.T) {
	srv := newOfflineServer(t, io.Discard)
	in := [][]byte{[]byte(`{"t":"hello","v":1,"appId":"test-app","auth":{}}`)}
	// Twice the bound: whatever the writer took before blocking, the rest
	// overflows the queue.
	for range 2*maxQueuedFrames + 10 {
		in = append(in, []byte(`{"t":"ping","n":1}`))
	}
	tr := newFakeTransport(in...)
	tr.gate = make(chan struct{}) // the client reads nothing
	done := make(chan struct{})
	go func() {
		srv.serveConn(tr, slog.New(slog.DiscardHandler), "c1", testApp)
		close(done)
	}()
	select {
	case <-tr.drained: // every ping was handled without waiting for the writer
	case <-time.After(wait):
		t.Fatal("the reader blocked on a slow client")
	}
	close(tr.gate)
	<-done
	out, code := tr.written()
	if code != closeSlowConsumer {
		t.Fatalf("close code = %d, want 1008", code)
	}
	if len(out) > 1 { // at most the welcome that was already being written
		t.Fatalf("%d frames written to a slow consumer after it fell behind", len(out))
	}
}

func TestLogs_NeverContainTokensOrSecrets(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	lfToken := f.token(t, alice, time.Minute)
	extToken := f.extToken(t, "ext-user", time.Hour, nil)
	sessHdr, _ := auth.EncodeSessionHeader(&session.Session{UserID: "imp-user", AuthMode: session.External})

	// Every credential, through every path: HTTP, handshake, in-band auth,
	// refusals, admin.
	f.get(t, "/apps/"+testApp+"/session", map[string]string{"Authorization": "Bearer " + lfToken})
	f.get(t, "/apps/"+testApp+"/session", map[string]string{"Authorization": "Bearer " + extToken})
	f.get(t, "/apps/"+testApp+"/session", map[string]string{auth.HeaderBackendSecret: testBackendSecret, auth.HeaderSession: sessHdr})
	f.get(t, "/apps/"+testApp+"/session", map[string]string{auth.HeaderBackendSecret: testBackendSecret + "-wrong", auth.HeaderSession: sessHdr})
	f.do(t, "PUT", "/apps/"+testApp+"/admin/bundle", map[string]string{HeaderAdminSecret: testAdminSecret}, []byte(notesBundle))
	f.do(t, "GET", "/apps/"+testApp+"/admin/bundle", map[string]string{HeaderAdminSecret: testAdminSecret + "-wrong"}, nil)
	cl, _ := f.hello(t, protocol.Auth{Bearer: lfToken})
	subscribe(t, cl, "s", 0)
	push(t, cl, newWriter(f.clk, "c").insert("hi", alice.UserID, false))
	expectFrame(t, cl, protocol.TRows, wait)
	f.clk.Advance(2 * time.Minute)
	expectFrame(t, cl, protocol.TError, wait)
	fresh := f.token(t, alice, time.Hour)
	cl.send(protocol.TAuth, protocol.AuthMsg{Auth: protocol.Auth{Bearer: fresh}})
	expectFrame(t, cl, protocol.TAuthed, wait)
	expectFrame(t, cl, protocol.TRows, wait) // the resumed subscription
	cl.send(protocol.TAuth, protocol.AuthMsg{Auth: protocol.Auth{Bearer: extToken}})
	expectFrame(t, cl, protocol.TError, wait)
	imp, _ := f.hello(t, protocol.Auth{BackendSecret: testBackendSecret, Session: sessHdr})
	barrier(t, imp, 1)
	bad := f.dial(t, testApp)
	bad.send(protocol.THello, protocol.Hello{V: 1, AppID: testApp, Auth: protocol.Auth{Bearer: lfToken + "x"}})
	expectFrame(t, bad, protocol.TError, wait)
	expectClose(t, bad, protocol.CloseUnauthenticated, wait)
	garbage := f.dial(t, testApp)
	garbage.sendRaw([]byte(`{"t":"` + fresh + `"}`))
	expectFrame(t, garbage, protocol.TError, wait)
	expectClose(t, garbage, protocol.CloseProtocolError, wait)
	cl.c.Close(websocket.StatusNormalClosure, "")
	imp.c.Close(websocket.StatusNormalClosure, "")
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}

	logs := f.logs.String()
	for name, secret := range map[string]string{
		"local-first token": lfToken, "fresh token": fresh, "external token": extToken,
		"backend secret": testBackendSecret, "admin secret": testAdminSecret, "session header": sessHdr,
		"token signature": lfToken[strings.LastIndexByte(lfToken, '.')+1:],
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the %s", name)
		}
	}
	// The logs are still useful: they name the user and the close reasons.
	for _, want := range []string{alice.UserID, "session expired", "session renewed", "handshake refused", "protocol error", "admin secret mismatch", "bundle published"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
}
