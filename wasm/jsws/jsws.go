//go:build js && wasm

// Package jsws is the browser's own WebSocket behind the sync client's
// Transport seam. The native transport (nhooyr.io/websocket) reaches
// net/http, which links TLS, x509 and RSA into the wasm even though a
// browser does all of that itself; going straight to globalThis.WebSocket
// keeps the client download small.
package jsws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/hack-pad/safejs"

	"github.com/jazzgo/jazz-tools/core/limits"
	coresync "github.com/jazzgo/jazz-tools/core/sync"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

// Transport dials with globalThis.WebSocket.
type Transport struct{}

var _ coresync.Transport = Transport{}

// ErrNoWebSocket is returned when the JavaScript environment has no
// WebSocket (Node 20 without --experimental-websocket or a polyfill).
var ErrNoWebSocket = errors.New("jsws: this JavaScript environment has no WebSocket; in Node 20 run with --experimental-websocket or set globalThis.WebSocket")

// queueLimit bounds messages received but not yet read; a server flooding a
// stalled reader is cut off instead of exhausting memory.
const queueLimit = 4096

type conn struct {
	// ws is held as a safejs.Value: every call on a browser WebSocket can
	// throw (a closed socket, a bad code), and safejs turns those into
	// errors instead of Go panics.
	ws safejs.Value

	mu     sync.Mutex
	queue  [][]byte
	closed error // set once: the *CloseError or failure that ended the socket
	wake   chan struct{}
	ended  chan struct{} // closed with closed
	funcs  []js.Func
}

// Dial opens a WebSocket and waits for it to open (or fail, or ctx).
func (Transport) Dial(ctx context.Context, url string) (coresync.Conn, error) {
	ctor, err := safejs.Global().Get("WebSocket")
	if err != nil || ctor.IsUndefined() || ctor.IsNull() {
		return nil, ErrNoWebSocket
	}
	ws, err := ctor.New(url)
	if err != nil {
		return nil, fmt.Errorf("jsws: dialing %s: %w", url, err)
	}
	c := &conn{ws: ws, wake: make(chan struct{}, 1), ended: make(chan struct{})}
	opened := make(chan struct{})
	var openOnce sync.Once
	c.on("open", func(js.Value) { openOnce.Do(func() { close(opened) }) })
	c.on("message", func(ev js.Value) { c.received(ev.Get("data")) })
	c.on("close", func(ev js.Value) {
		c.finish(&coresync.CloseError{Code: ev.Get("code").Int(), Reason: ev.Get("reason").String()})
		// No event fires after close, so the listeners can go now (Go
		// allows releasing a Func while it runs).
		c.release()
	})
	c.on("error", func(js.Value) { c.finish(errors.New("jsws: the WebSocket failed")) })
	select {
	case <-opened:
		return c, nil
	case <-c.ended:
		select {
		case <-opened:
			// It opened, then ended before this goroutine ran (a server
			// that answers hello-less with an error and a close, as for an
			// unknown app): Read gives the messages, then the close.
			return c, nil
		default:
		}
		err := fmt.Errorf("jsws: dialing %s: %w", url, c.err())
		if status, ok := probe(ctx, url); ok {
			// Something answers HTTP there, yet no WebSocket opened.
			return nil, &coresync.HTTPError{Status: status}
		}
		return nil, err
	case <-ctx.Done():
		c.Close(1000, "")
		return nil, ctx.Err()
	}
}

// probe tells whether an HTTP server answers at the WebSocket's address. A
// browser says nothing about why a WebSocket failed, but a failed dial to
// a live web server (a serverUrl with a wrong path, a server that is not a
// jazz-tools server) is the user's to fix, while one to nothing is an
// outage. The request is "no-cors": in a browser its answer is opaque
// (status 0), but that it came is what matters; Node gives the status.
func probe(ctx context.Context, url string) (status int, ok bool) {
	fetch, err := safejs.Global().Get("fetch")
	if err != nil || fetch.Type() != safejs.TypeFunction {
		return 0, false
	}
	opts := js.Global().Get("Object").New()
	opts.Set("mode", "no-cors")
	opts.Set("cache", "no-store")
	p, err := fetch.Invoke("http"+strings.TrimPrefix(url, "ws"), safejs.Safe(opts))
	if err != nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	res, err := jsutil.Await(ctx, safejs.Unsafe(p))
	if err != nil {
		return 0, false
	}
	if st := res.Get("status"); st.Type() == js.TypeNumber {
		status = st.Int()
	}
	return status, true
}

// probeTimeout bounds probe: a server that takes longer counts as absent.
const probeTimeout = 5 * time.Second

// on registers a listener whose js.Func the conn releases when it ends.
func (c *conn) on(event string, fn func(js.Value)) {
	f := jsutil.FuncOf(func(_ js.Value, args []js.Value) any {
		fn(args[0])
		return nil
	})
	c.funcs = append(c.funcs, f)
	if _, err := c.ws.Call("addEventListener", event, f); err != nil {
		c.finish(fmt.Errorf("jsws: listening for %s: %w", event, err))
	}
}

func (c *conn) received(data js.Value) {
	var msg []byte
	if data.Type() == js.TypeString {
		msg = []byte(data.String())
	} else {
		b, err := jsutil.Bytes(data)
		if err != nil {
			c.finish(fmt.Errorf("jsws: unreadable message: %w", err))
			return
		}
		msg = b
	}
	c.mu.Lock()
	switch {
	case c.closed != nil:
	case len(msg) > limits.MaxFrameBytes:
		c.mu.Unlock()
		c.Close(1009, "frame too large")
		c.finish(fmt.Errorf("jsws: a %d byte message is over the %d byte limit", len(msg), limits.MaxFrameBytes))
		return
	case len(c.queue) >= queueLimit:
		c.mu.Unlock()
		c.Close(1008, "reader too slow")
		c.finish(errors.New("jsws: too many unread messages"))
		return
	default:
		c.queue = append(c.queue, msg)
	}
	c.mu.Unlock()
	c.signal()
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// finish records why the socket ended (first reason wins) and wakes readers.
func (c *conn) finish(err error) {
	c.mu.Lock()
	if c.closed == nil {
		c.closed = err
		close(c.ended)
	}
	c.mu.Unlock()
}

func (c *conn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Read returns queued messages first, then the reason the socket ended.
func (c *conn) Read(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			msg := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return msg, nil
		}
		if c.closed != nil {
			err := c.closed
			c.mu.Unlock()
			return nil, err
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-c.ended:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Write sends one text frame. The browser buffers it; a closed socket is an
// error rather than a silent drop.
func (c *conn) Write(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.err(); err != nil {
		return err
	}
	state, err := c.ws.Get("readyState")
	if err != nil {
		return err
	}
	if n, err := state.Int(); err != nil || n != 1 {
		return errors.New("jsws: the WebSocket is not open")
	}
	_, err = c.ws.Call("send", string(data))
	return err
}

// Close starts the close handshake; Read returns once the browser reports
// the socket closed.
func (c *conn) Close(code int, reason string) error {
	if code != 1000 && (code < 3000 || code > 4999) {
		// Browsers only let scripts send 1000 and 3000-4999.
		code = 1000
	}
	_, err := c.ws.Call("close", code, reason)
	c.finish(&coresync.CloseError{Code: code, Reason: reason})
	return err
}

func (c *conn) release() {
	c.mu.Lock()
	fs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for _, f := range fs {
		jsutil.Release(f)
	}
}
