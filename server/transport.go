package server

import (
	"context"
	"io"
	"unicode/utf8"

	"nhooyr.io/websocket"
)

// transport is the one socket a connection talks over. It is an interface so
// the connection logic (handshake above all) can be driven without a network,
// by FuzzHandshake and by tests.
//
// Read is called from one goroutine, Write, Close and CloseNow from the
// connection's writer only (CloseNow may also come from Server.Close).
type transport interface {
	// Read returns the next text message, errFrameTooLarge for one over the
	// size limit (without buffering it), errBinaryFrame for a binary one and
	// errInvalidUTF8 for text that is not UTF-8 (the library does not check).
	Read(ctx context.Context) ([]byte, error)
	Write(ctx context.Context, msg []byte) error
	// Close performs the close handshake with code and reason.
	Close(code websocket.StatusCode, reason string) error
	// CloseNow drops the connection without a handshake.
	CloseNow() error
}

// wsTransport is a transport over nhooyr.io/websocket.
type wsTransport struct {
	c   *websocket.Conn
	max int64
}

// newWSTransport enforces max itself rather than through the library's read
// limit: the library answers an oversized message by closing with 1009
// before we can say why, whereas protocol.md promises an error frame
// (frame_too_large) and close 4400. The library limit is set just above ours
// as a backstop that our reads never reach.
func newWSTransport(c *websocket.Conn, max int) *wsTransport {
	c.SetReadLimit(int64(max) + 1)
	return &wsTransport{c: c, max: int64(max)}
}

func (t *wsTransport) Read(ctx context.Context) ([]byte, error) {
	typ, r, err := t.c.Reader(ctx)
	if err != nil {
		return nil, err
	}
	// Reading at most max+1 bytes bounds memory whatever the client sends;
	// the unread rest of an oversized message is discarded by the close
	// handshake that follows.
	b, err := io.ReadAll(io.LimitReader(r, t.max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > t.max {
		return nil, errFrameTooLarge
	}
	if typ != websocket.MessageText {
		return nil, errBinaryFrame
	}
	if !utf8.Valid(b) {
		return nil, errInvalidUTF8
	}
	return b, nil
}

func (t *wsTransport) Write(ctx context.Context, msg []byte) error {
	return t.c.Write(ctx, websocket.MessageText, msg)
}

func (t *wsTransport) Close(code websocket.StatusCode, reason string) error {
	return t.c.Close(code, reason)
}

func (t *wsTransport) CloseNow() error { return t.c.CloseNow() }
