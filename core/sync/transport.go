package sync

import (
	"context"
	"fmt"
)

// Transport opens connections to the server. WebSocket is the real one; Pipe
// is an in-memory one for tests.
type Transport interface {
	Dial(ctx context.Context, url string) (Conn, error)
}

// Conn is one message-oriented connection. Read and Write may be called
// concurrently with each other (one reader, one writer) and with Close.
type Conn interface {
	// Read returns the next message. When the peer closed the connection
	// with a close code, the error is a *CloseError.
	Read(ctx context.Context) ([]byte, error)
	Write(ctx context.Context, data []byte) error
	// Close sends a close frame with code and reason and releases the
	// connection, unblocking Read and Write.
	Close(code int, reason string) error
}

// CloseError is how a Conn reports that the peer closed the connection with
// a close code, so the client can tell a refused handshake (4401) from a
// protocol error (4400) or an unknown app (4404).
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("sync: connection closed with code %d (%q)", e.Code, e.Reason)
}

// Close codes the client sends.
const (
	closeNormal   = 1000
	closeProtocol = 4400 // the server sent something we cannot accept
)

// HTTPError is how a Transport reports that the address answered with HTTP
// but did not open a WebSocket (a wrong path, a web server that is not a
// jazz-tools server). Status is 0 when the platform cannot tell it (a
// browser only learns that an HTTP server is there).
type HTTPError struct {
	Status int
}

func (e *HTTPError) Error() string {
	if e.Status == 0 {
		return "sync: the address answered HTTP but did not open a WebSocket"
	}
	return fmt.Sprintf("sync: the address answered HTTP %d instead of opening a WebSocket", e.Status)
}
