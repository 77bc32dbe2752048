//go:build !js

// The WebSocket tests need a loopback listener, which js/wasm lacks.

package sync

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// wsServer runs handle for every WebSocket connection on a loopback server
// and returns its http:// URL.
func wsServer(t *testing.T, handle func(r *http.Request, c *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		handle(r, c)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestWebSocket_CloseCodeBecomesCloseError(t *testing.T) {
	for _, code := range []int{protocol.CloseUnauthenticated, protocol.CloseProtocolError, protocol.CloseWrongApp} {
		url := wsServer(t, func(_ *http.Request, c *websocket.Conn) {
			c.Read(context.Background())
			c.Close(websocket.StatusCode(code), "refused")
		})
		conn, err := WebSocket{}.Dial(bg, "ws"+strings.TrimPrefix(url, "http"))
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Write(bg, []byte(`{"t":"ping","n":1}`)); err != nil {
			t.Fatal(err)
		}
		_, err = conn.Read(bg)
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != code || ce.Reason != "refused" {
			t.Fatalf("read error %v, want close %d", err, code)
		}
		conn.Close(closeNormal, "")
	}
}

func TestWebSocket_RefusesFramesOverMaxFrame(t *testing.T) {
	url := wsServer(t, func(_ *http.Request, c *websocket.Conn) {
		c.Write(context.Background(), websocket.MessageText, make([]byte, limits.MaxFrameBytes+1))
		c.Read(context.Background())
	})
	conn, err := WebSocket{}.Dial(bg, "ws"+strings.TrimPrefix(url, "http"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(closeNormal, "")
	if _, err := conn.Read(bg); err == nil {
		t.Fatal("a frame over MaxFrame was accepted")
	}
}

// TestWebSocket_ClientEndToEnd runs the real transport against a small
// scripted server: handshake, push, ack.
func TestWebSocket_ClientEndToEnd(t *testing.T) {
	fake := clock.NewFake(t0)
	srvDB := openDB(t, fake, nil, "server", func(o *engine.Options) { o.Sequenced = true; o.EnforcePolicies = true })
	defer srvDB.Close()
	paths := make(chan string, 4)
	url := wsServer(t, func(r *http.Request, c *websocket.Conn) {
		defer c.CloseNow()
		paths <- r.URL.Path
		ctx := r.Context()
		send := func(typ string, body any) {
			b, _ := protocol.Encode(typ, body)
			c.Write(ctx, websocket.MessageText, b)
		}
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			f, err := protocol.Decode(b)
			if err != nil {
				c.Close(protocol.CloseProtocolError, "bad frame")
				return
			}
			switch body := f.Body.(type) {
			case *protocol.Hello:
				if body.Auth.Bearer != "secret" {
					send(protocol.TError, protocol.Error{Error: "unauthenticated", Code: "invalid"})
					c.Close(protocol.CloseUnauthenticated, "unauthenticated")
					return
				}
				send(protocol.TWelcome, protocol.Welcome{V: 1, Session: aliceSess})
			case *protocol.Push:
				res, err := srvDB.Submit(ctx, alice, body.Changes)
				if err != nil {
					return
				}
				var ack protocol.Ack
				for i, ch := range body.Changes {
					if res[i].Err != nil {
						send(protocol.TReject, protocol.Reject{ID: ch.ID, Error: protocol.ErrorBodyFrom(res[i].Err)})
					} else {
						ack.IDs = append(ack.IDs, ch.ID)
						ack.Stamps = stampOf(ack.Stamps, ch.ID, res[i].Stamp)
					}
				}
				if len(ack.IDs) > 0 {
					send(protocol.TAck, ack)
				}
			}
		}
	})
	db := openDB(t, fake, nil, "client", func(o *engine.Options) { o.Optimistic = true })
	defer db.Close()
	c, err := New(Options{DB: db, Store: storage.NewMemory(), URL: url, AppID: "app1", Clock: fake,
		Credentials: func() protocol.Auth { return protocol.Auth{Bearer: "secret"} }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db.Insert(bg, alice, "todos", map[string]any{"title": "mine", "done": false, "owner_id": "alice"})
	bad, _ := db.Insert(bg, alice, "todos", map[string]any{"title": "forged", "done": false, "owner_id": "bob"})
	pend := db.Pending()
	c.Start()
	if err := <-c.WaitFor(pend[0].ID); err != nil {
		t.Fatalf("first change: %v", err)
	}
	if err := <-c.WaitFor(pend[1].ID); err == nil {
		t.Fatal("forged owner accepted")
	}
	if _, err := db.Get(alice, "todos", bad.ID()); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("rejected row: %v", err)
	}
	if p := <-paths; p != "/apps/app1/ws" {
		t.Fatalf("path %q", p)
	}
	if c.Status() != Connected {
		t.Fatalf("status %v", c.Status())
	}
}
