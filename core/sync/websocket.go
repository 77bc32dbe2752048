//go:build !js

package sync

import (
	"context"
	"errors"
	"time"

	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/limits"
)

// WebSocket is the native Transport. It is not built for js: in the browser
// the bridge passes a Transport over the browser's own WebSocket, because
// this library reaches net/http, which would link TLS, x509 and RSA into the
// wasm for nothing.
type WebSocket struct{}

// closeGrace bounds how long Close waits for the peer to answer the close
// handshake before tearing the socket down; a dead peer must not hold up a
// reconnect or Client.Close for the library's own 10 s of timeouts.
const closeGrace = 2 * time.Second

// Dial opens a WebSocket. Frames over limits.MaxFrameBytes are refused by the
// reader, mirroring the server's own limit.
func (WebSocket) Dial(ctx context.Context, url string) (Conn, error) {
	c, resp, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		if resp != nil && resp.StatusCode != 101 { // 101: Switching Protocols
			return nil, &HTTPError{Status: resp.StatusCode}
		}
		return nil, err
	}
	c.SetReadLimit(limits.MaxFrameBytes)
	dead, kill := context.WithCancel(context.Background())
	return &wsConn{c: c, dead: dead, kill: kill}, nil
}

type wsConn struct {
	c *websocket.Conn
	// dead is canceled when Close gives up on the handshake: canceling a
	// Read's context makes the library drop the socket.
	dead context.Context
	kill context.CancelFunc
}

func (w *wsConn) Read(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(w.dead, cancel)
	defer stop()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		return nil, wsError(err)
	}
	return b, nil
}

func (w *wsConn) Write(ctx context.Context, data []byte) error {
	return wsError(w.c.Write(ctx, websocket.MessageText, data))
}

func (w *wsConn) Close(code int, reason string) error {
	done := make(chan error, 1)
	go func() { done <- w.c.Close(websocket.StatusCode(code), reason) }()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case err := <-done:
		w.kill()
		return err
	case <-t.C:
		w.kill()
		return <-done
	}
}

// wsError turns the library's close status into a *CloseError so callers
// need not import the library to read it.
func wsError(err error) error {
	if err == nil {
		return nil
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: int(ce.Code), Reason: ce.Reason}
	}
	return err
}

func defaultTransport() Transport { return WebSocket{} }
