package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// connState is everything tied to one connection.
type connState struct {
	gen    uint64
	conn   Conn
	ctx    context.Context // canceled when the connection is dropped
	cancel context.CancelFunc
	out    *outQueue
	// inflight holds the changes pushed on this connection and not yet
	// acked or rejected, so a change is never sent twice on it.
	inflight map[string]*engine.Change
	// sent maps each subscription sent on this connection to the version
	// of its registration; progress tracks its result (see subs.go).
	sent     map[string]uint64
	progress map[string]*subProgress
	// authSent is set while an auth frame awaits its answer.
	authSent bool
	// scope is the latest welcome's or authed's: cursors received on this
	// connection are saved with it (protocol.Welcome.Scope).
	scope string
	// writeFailed stops frames from keeping a connection alive that can
	// no longer send: the dead timer then drops it.
	writeFailed bool
	// rtWait maps the ping number of each Roundtrip sent on this
	// connection to its caller.
	rtWait map[uint64]rtWaiter
	// rtPonged holds the Roundtrip calls whose pong came while a result
	// was still streaming (releaseRoundtrips).
	rtPonged []rtWaiter
}

func newConnState(gen uint64, conn Conn, ctx context.Context, cancel context.CancelFunc) *connState {
	return &connState{
		gen: gen, conn: conn, ctx: ctx, cancel: cancel, out: newOutQueue(),
		inflight: map[string]*engine.Change{},
		sent:     map[string]uint64{},
		progress: map[string]*subProgress{},
		rtWait:   map[uint64]rtWaiter{},
	}
}

var errDead = errors.New("sync: no frame from the server in time")

// connect starts a connection attempt. DeadAfter also bounds the dial and
// the handshake: a server that accepts the socket but never welcomes us
// must not hold the client forever.
func (c *Client) connect() {
	c.disarm(tBackoff)
	c.gen++
	gen := c.gen
	// The dial's context becomes the connection's (see onDialed).
	ctx, cancel := context.WithCancel(c.ctx)
	c.dialCtx, c.dialCancel = ctx, cancel
	c.arm(tDead, c.opts.DeadAfter)
	c.setPhase(phDialing)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		conn, err := c.opts.Transport.Dial(ctx, c.url)
		if !c.send(event{kind: evDialed, gen: gen, conn: conn, err: err}) && conn != nil {
			conn.Close(closeNormal, "client closed")
		}
	}()
}

func (c *Client) onDialed(e event) {
	if c.phase != phDialing || e.gen != c.gen {
		if e.conn != nil {
			c.closeAsync(e.conn, closeNormal, "superseded", nil)
		}
		return
	}
	if e.err == nil && e.conn == nil {
		e.err = errors.New("sync: transport returned no connection")
	}
	if e.err != nil {
		c.log.Info("dial failed", "err", e.err)
		c.closeConn(closeNormal, "")
		c.problem(c.dialProblem(e.err))
		c.scheduleRetry()
		return
	}
	cs := newConnState(e.gen, e.conn, c.dialCtx, c.dialCancel)
	c.dialCancel, c.dialCtx = nil, nil
	c.cs = cs
	c.wg.Add(2)
	go c.reader(cs)
	go c.writer(cs)
	c.write(protocol.THello, &protocol.Hello{V: protocol.Version, AppID: c.opts.AppID, Auth: c.credentials()})
	c.setPhase(phHandshake)
}

func (c *Client) credentials() protocol.Auth {
	c.inForeign.Add(1)
	defer c.inForeign.Add(-1)
	return c.opts.Credentials()
}

func (c *Client) reader(cs *connState) {
	defer c.wg.Done()
	for {
		b, err := cs.conn.Read(cs.ctx)
		if err != nil {
			c.send(event{kind: evReadErr, gen: cs.gen, err: err})
			return
		}
		if !c.send(event{kind: evFrame, gen: cs.gen, data: b}) {
			return
		}
	}
}

func (c *Client) writer(cs *connState) {
	defer c.wg.Done()
	for {
		b, ok := cs.out.next(cs.ctx)
		if !ok {
			return
		}
		if err := cs.conn.Write(cs.ctx, b); err != nil {
			c.send(event{kind: evWriteErr, gen: cs.gen, err: err})
			return
		}
	}
}

// write queues one frame on the current connection.
func (c *Client) write(typ string, body any) {
	if c.cs == nil {
		return
	}
	b, err := protocol.Encode(typ, body)
	if err != nil {
		c.log.Error("cannot encode frame", "type", typ, "err", err)
		return
	}
	c.cs.out.push(b)
}

// closeConn drops the connection or the dial in progress, and the timers
// that belong to it.
func (c *Client) closeConn(code int, reason string) {
	if c.dialCancel != nil {
		c.dialCancel()
		c.dialCancel, c.dialCtx = nil, nil
	}
	if cs := c.cs; cs != nil {
		c.cs = nil
		c.requeueRoundtrips(cs)
		c.closeAsync(cs.conn, code, reason, cs.cancel)
	}
	c.disarm(tPing)
	c.disarm(tDead)
}

// closeAsync closes conn off the loop: a close handshake with an
// unresponsive peer may take a while.
func (c *Client) closeAsync(conn Conn, code int, reason string, then func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		conn.Close(code, reason)
		if then != nil {
			then()
		}
	}()
}

func (c *Client) scheduleRetry() {
	d := backoffDelay(c.attempt, c.opts.MinBackoff, c.opts.MaxBackoff, c.opts.Rand())
	c.attempt++
	c.log.Info("reconnecting later", "in", d, "attempt", c.attempt)
	c.arm(tBackoff, d)
	c.setPhase(phWaiting)
}

// connLost handles the end of a connection; the close code decides what
// comes next.
func (c *Client) connLost(err error) {
	code, reason := -1, ""
	var ce *CloseError
	if errors.As(err, &ce) {
		code, reason = ce.Code, ce.Reason
	}
	wasPaused := c.phase == phPausedOpen
	c.closeConn(closeNormal, "")
	switch {
	case code == protocol.CloseUnauthenticated:
		c.refused(protocol.Error{Error: "unauthenticated", Message: reason}, !wasPaused)
	case code == protocol.CloseWrongApp:
		c.fatal(fmt.Errorf("%w %q (%s): check appId, and that serverUrl is the server that serves this app", ErrUnknownApp, c.opts.AppID, reason))
	case wasPaused:
		// Reconnecting with credentials we know are expired would only be
		// refused; wait for Reauthenticate.
		c.log.Info("connection lost while paused", "err", err)
		c.setPhase(phPausedClosed)
	default:
		if code == protocol.CloseProtocolError {
			c.log.Warn("server closed the connection for a protocol error", "reason", reason)
		} else {
			c.log.Info("connection lost", "err", err)
		}
		c.scheduleRetry()
	}
}

// refused handles credentials refused at the handshake (or a 4401 close).
func (c *Client) refused(e protocol.Error, report bool) {
	if c.reauthPending {
		// Reauthenticate was called while this attempt was under way with
		// the older credentials: try the new ones.
		c.reauthPending = false
		c.scheduleRetry()
	} else {
		c.setPhase(phPausedClosed)
	}
	if report {
		c.authError(e)
	}
}

func (c *Client) authError(e protocol.Error) {
	c.log.Warn("credentials refused", "code", e.Code, "message", e.Message)
	if f := c.opts.OnAuthError; f != nil {
		c.cb.post(func() { f(e) })
	}
}

// dialProblem says, for the application, why a connection attempt failed.
func (c *Client) dialProblem(err error) error {
	var he *HTTPError
	if errors.As(err, &he) && he.Status < 500 && he.Status != 408 && he.Status != 429 {
		return fmt.Errorf("%w: %s (%v); serverUrl should be the server's base address, such as http://localhost:4000, with no path", ErrWrongServer, c.url, he)
	}
	return fmt.Errorf("%w at %s (%v): is the server running, and is serverUrl right? Retrying", ErrUnreachable, c.url, err)
}

// problem reports a reason syncing does not work that retrying may fix
// (Options.OnProblem).
func (c *Client) problem(err error) {
	c.log.Warn("sync problem", "err", err)
	if f := c.opts.OnProblem; f != nil {
		c.cb.post(func() { f(err) })
	}
}

func (c *Client) fatal(err error) {
	c.closeConn(closeNormal, "")
	c.disarm(tBackoff)
	c.log.Error("sync stopped", "err", err)
	c.fatalErr = err
	c.failRoundtrips(err)
	c.setPhase(phFatal)
	if f := c.opts.OnFatal; f != nil {
		c.cb.post(func() { f(err) })
	}
}

// reauthenticate is Reauthenticate on the loop.
func (c *Client) reauthenticate() {
	switch c.phase {
	case phConnected, phPausedOpen:
		c.write(protocol.TAuth, &protocol.AuthMsg{Auth: c.credentials()})
		c.cs.authSent = true
	case phPausedClosed, phWaiting:
		c.attempt = 0
		c.connect()
	case phDialing, phHandshake:
		c.reauthPending = true
	}
}
