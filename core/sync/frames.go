package sync

import (
	"errors"
	"fmt"

	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/session"
)

// errUnexpected is a well-formed frame that makes no sense in the current
// state, a protocol violation by the server.
var errUnexpected = errors.New("sync: unexpected frame")

const closeInternal = 1011 // a local failure, e.g. the DB could not merge

// onFrame handles one frame from the current connection. A frame that does
// not decode is reported (OnError) and skipped: the server would send the
// same frame again after a reconnect, so dropping the connection for it
// would cut the client off for good, acknowledgements included. Anything
// else it cannot make sense of drops the connection and reconnects with
// backoff: a fresh connection resynchronizes everything, since pending
// changes are resent and subscriptions resume from their stored cursors.
func (c *Client) onFrame(data []byte) {
	if !c.cs.writeFailed {
		c.arm(tDead, c.opts.DeadAfter)
	}
	f, err := protocol.Decode(data)
	if err != nil && c.phase == phHandshake {
		// Before welcome, a frame we cannot read means the peer is not a
		// jazz-tools server at all (an echo server, another app's socket).
		c.closeConn(closeProtocol, "not a jazz-tools server")
		c.problem(fmt.Errorf("%w: %s sent a message that is not part of the sync protocol (%v); check serverUrl", ErrWrongServer, c.url, err))
		c.scheduleRetry()
		return
	}
	if err != nil {
		c.log.Warn("skipping a frame that does not decode", "err", err)
		if report := c.opts.OnError; report != nil {
			c.cb.post(func() { report(fmt.Errorf("%w: %w", ErrUndecodableFrame, err)) })
		}
		return
	}
	if err := c.handleFrame(f); err != nil {
		code := closeInternal
		if errors.Is(err, errUnexpected) {
			code = closeProtocol
		}
		c.log.Warn("dropping the connection", "err", err)
		c.closeConn(code, "client could not handle a frame")
		c.scheduleRetry()
	}
}

// handleFrame dispatches one decoded frame. A non-nil error means the
// connection must be dropped; handlers that change the connection state
// themselves (pause, fatal) return nil.
func (c *Client) handleFrame(f *protocol.Frame) error {
	if c.phase == phHandshake {
		switch f.Type {
		case protocol.TWelcome:
			c.onWelcome(f.Body.(*protocol.Welcome))
			return nil
		case protocol.TError:
			c.onError(*f.Body.(*protocol.Error))
			return nil
		case protocol.TPong:
			c.onPong(f.Body.(*protocol.Ping))
			return nil
		}
		return fmt.Errorf("%w: %q before welcome", errUnexpected, f.Type)
	}
	switch f.Type {
	case protocol.TAuthed:
		c.onAuthed(f.Body.(*protocol.Authed))
		return nil
	case protocol.TRows:
		return c.onRows(f.Body.(*protocol.Rows))
	case protocol.TAck:
		return c.onAck(f.Body.(*protocol.Ack))
	case protocol.TReject:
		return c.onReject(f.Body.(*protocol.Reject))
	case protocol.TPong:
		c.onPong(f.Body.(*protocol.Ping))
		return nil
	case protocol.TError:
		c.onError(*f.Body.(*protocol.Error))
		return nil
	}
	return fmt.Errorf("%w: %q", errUnexpected, f.Type)
}

func (c *Client) onWelcome(w *protocol.Welcome) {
	if w.V != protocol.Version {
		c.fatal(versionError(fmt.Sprintf("the server speaks version %d, this client %d", w.V, protocol.Version)))
		return
	}
	c.attempt = 0
	c.reauthPending = false
	c.cs.scope = w.Scope
	c.sess.Store(w.Session)
	c.authenticated(w.Session)
	c.arm(tPing, c.opts.HeartbeatInterval)
	c.phase = phConnected
	c.sync()
	c.flushRoundtrips()
	c.publish(Connected)
}

func (c *Client) onAuthed(a *protocol.Authed) {
	c.cs.authSent = false
	if a.Scope != c.cs.scope {
		// The claims changed: the server sends every subscription's result
		// again from the start, with cursors lower than those saved under
		// the old claims, which must not stop them being saved.
		c.cs.scope = a.Scope
		for _, p := range c.cs.progress {
			p.persisted = 0
		}
	}
	c.sess.Store(a.Session)
	c.authenticated(a.Session)
	if c.phase != phPausedOpen {
		return // a proactive refresh while connected: nothing was held back
	}
	// While paused the server answered pushes with errors, not acks: none
	// of them is in flight anymore.
	clear(c.cs.inflight)
	c.phase = phConnected
	c.sync()
	c.flushRoundtrips()
	c.publish(Connected)
}

func (c *Client) onError(e protocol.Error) {
	switch e.Error {
	case "unauthenticated":
		switch c.phase {
		case phHandshake:
			// The server closes with 4401 next; closing first makes the
			// outcome independent of which of the two we see.
			c.closeConn(closeNormal, "")
			c.refused(e, true)
		case phConnected:
			// Expiry: the server keeps the socket and our subscriptions,
			// and holds back rows, so we stop pushing and wait.
			c.cs.authSent = false
			c.setPhase(phPausedOpen)
			c.authError(e)
		case phPausedOpen:
			// Either the answer to our auth frame (report it), or the same
			// expiry repeated for a push that was in flight (do not).
			if c.cs.authSent {
				c.cs.authSent = false
				c.authError(e)
			}
		}
	case "not_found":
		c.fatal(fmt.Errorf("%w %q (%s): check appId, and that serverUrl is the server that serves this app", ErrUnknownApp, c.opts.AppID, e.Message))
	case protocol.ErrorNoBundle:
		c.problem(fmt.Errorf("%w %q: deploy the app's schema to the server (see the deploy command in the README); until then every query and write is refused", ErrNoBundle, c.opts.AppID))
	case "protocol":
		if e.Code == protocol.CodeUnsupportedVersion {
			c.fatal(versionError(e.Message))
			return
		}
		c.otherError(e)
	default:
		c.otherError(e)
	}
}

// otherError handles the remaining error frames: protocol errors, followed
// by a 4400 close that triggers the reconnect, and refused subscriptions
// (budget_exceeded, bad_query), which keep the connection.
func (c *Client) otherError(e protocol.Error) {
	c.log.Warn("server reported an error", "error", e.Error, "code", e.Code, "message", e.Message)
	if e.Sub != "" {
		c.subRefused(e)
	}
}

func (c *Client) authenticated(s *session.Session) {
	if f := c.opts.OnAuthenticated; f != nil {
		c.cb.post(func() { f(s) })
	}
}

func versionError(detail string) error {
	return fmt.Errorf("%w (%s): use the same jazz-tools version for the package and the server", ErrProtocolVersion, detail)
}
