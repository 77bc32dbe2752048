package sync

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

type nopConn struct{}

func (nopConn) Read(ctx context.Context) ([]byte, error) { <-ctx.Done(); return nil, ctx.Err() }
func (nopConn) Write(context.Context, []byte) error      { return nil }
func (nopConn) Close(int, string) error                  { return nil }

// FuzzClientFrames feeds arbitrary bytes to the frame handler, as if the
// server had sent them, in the handshake and in the connected state. The
// handler must never panic, whatever the server says.
func FuzzClientFrames(f *testing.F) {
	fake := clock.NewFake(t0)
	db := openDB(f, fake, nil, "client", func(o *engine.Options) { o.Optimistic = true })
	srv := openDB(f, fake, nil, "server", func(o *engine.Options) { o.Sequenced = true })
	r, _ := srv.Insert(bg, alice, "todos", map[string]any{"title": "x", "done": false, "owner_id": "alice", "meta": map[string]any{"k": []any{1, "2"}}})
	st, _ := srv.State("todos", r.ID())
	seed := func(typ string, body any) {
		b, err := protocol.Encode(typ, body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// A valid frame of every type the server sends, in each of its forms,
	// so the fuzzer starts past the decoder inside every handler.
	seed(protocol.TWelcome, &protocol.Welcome{V: 1, Session: aliceSess})
	seed(protocol.TWelcome, &protocol.Welcome{V: 1, Session: aliceSess, ExpiresAt: t0.Add(time.Hour).UnixMilli(), Scope: "scope-1"})
	seed(protocol.TWelcome, &protocol.Welcome{V: 1, Backend: true, Attribution: "alice", Scope: "backend"})
	seed(protocol.TAuthed, &protocol.Authed{Session: aliceSess, ExpiresAt: 5})
	seed(protocol.TAuthed, &protocol.Authed{Session: aliceSess, ExpiresAt: t0.Add(time.Hour).UnixMilli(), Scope: "scope-2"})
	seed(protocol.TRows, &protocol.Rows{Sub: "s", Rows: []engine.RowState{st}, Cursor: 4, Complete: true})
	seed(protocol.TRows, &protocol.Rows{Sub: "s", Rows: []engine.RowState{st}, Cursor: 5})
	seed(protocol.TRows, &protocol.Rows{Sub: "unknown", Cursor: 6, Complete: true})
	seed(protocol.TAck, &protocol.Ack{IDs: []string{"PENDING", "x"}, Rows: []engine.RowState{st}})
	seed(protocol.TAck, &protocol.Ack{IDs: []string{"PENDING"}})
	for _, name := range []string{protocol.NameAnonymousWriteDenied, protocol.NamePermissionDenied, protocol.NameValidation,
		protocol.NameNotFound, protocol.NameConflict, protocol.NameBadChange, protocol.NameInternal} {
		seed(protocol.TReject, &protocol.Reject{ID: "PENDING", Error: protocol.ErrorBody{Name: name, Code: "c", Message: "m", Table: "todos", Operation: "insert", Column: "title"}})
	}
	seed(protocol.TPong, &protocol.Ping{N: 3})
	for _, e := range []struct{ err, code string }{
		{"unauthenticated", "expired"}, {"unauthenticated", "missing"}, {"unauthenticated", "invalid"}, {"unauthenticated", "disabled"},
		{"not_found", "unknown_app"}, {"protocol", "bad_frame"}, {"protocol", "frame_too_large"},
		{"protocol", "budget_exceeded"}, {"other", "expired"},
	} {
		seed(protocol.TError, &protocol.Error{Error: e.err, Code: e.code, Message: "m"})
	}
	// Frames only a client sends, which a server never should.
	seed(protocol.THello, &protocol.Hello{V: 1, AppID: "a"})
	seed(protocol.TAuth, &protocol.AuthMsg{Auth: protocol.Auth{Bearer: "x"}})
	seed(protocol.TSub, &protocol.Sub{ID: "s", Query: mustQuery(f, `{"table":"todos"}`)})
	seed(protocol.TUnsub, &protocol.Unsub{ID: "s"})
	seed(protocol.TPing, &protocol.Ping{N: 1})
	f.Add([]byte(`{"t":"rows","sub":"s","rows":[{"table":"todos","id":"","cells":{"title":{"v":1,"t":"zz"}}}],"cursor":1}`))
	f.Add([]byte(`{"t":"ack","ids":[],"rows":[{"table":"todos","id":"a","cells":null}]}`))
	f.Add([]byte(`{"t":"push","changes":[]}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"t":"ack","ids":["PENDING"],"ids":[]}`))
	f.Add([]byte("{\"t\":\"ack\",\"ids\":[\"\xff\"]}"))
	f.Add([]byte(`{"t":"rows","sub":"s","rows":[{"table":"todos","id":"x","cells":{"meta":{"v":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}}}],"cursor":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A pending change for ack and reject frames to act on.
		// "PENDING" in the input names it, so acks and rejects hit.
		if len(db.Pending()) == 0 {
			db.Insert(bg, alice, "todos", map[string]any{"title": "p", "done": false, "owner_id": "alice"})
		}
		if p := db.Pending(); len(p) > 0 {
			data = bytes.ReplaceAll(data, []byte("PENDING"), []byte(p[0].ID))
		}
		for _, ph := range []phase{phHandshake, phConnected, phPausedOpen} {
			c, err := New(Options{DB: db, URL: "ws://x", AppID: "a", Transport: NewPipe(), Clock: clock.NewFake(t0)})
			if err != nil {
				t.Fatal(err)
			}
			c.Subscribe("s", mustQuery(t, `{"table":"todos"}`))
			ctx, cancel := context.WithCancel(c.ctx)
			c.cs = newConnState(1, nopConn{}, ctx, cancel)
			c.phase = ph
			c.reconcileSubs()
			c.pushPending()
			c.onFrame(data)
			if c.cs != nil {
				c.onFrame(data) // again, in whatever state the first left
			}
			c.Close()
			c.wg.Wait()
		}
	})
}
