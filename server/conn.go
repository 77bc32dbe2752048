package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// Close codes the server uses besides those in core/protocol.
const (
	closeNormal        = websocket.StatusNormalClosure // 1000: the client went away first
	closeSlowConsumer  = websocket.StatusPolicyViolation
	closeInternalError = websocket.StatusInternalError // 1011: storage failed; nothing was acked
	closeSchemaChanged = websocket.StatusServiceRestart
	// closeInvalidPayload (1007) answers a text frame that is not UTF-8,
	// as RFC 6455 says.
	closeInvalidPayload = websocket.StatusInvalidFramePayloadData
)

// resolveTimeout bounds one credential check, which may wait for a JWKS fetch.
const resolveTimeout = 15 * time.Second

// conn is one client's WebSocket session. Frames are read and handled on one
// goroutine, in order; everything written goes through out. Engine callbacks
// (live rows) and timers (expiry, heartbeat) run on other goroutines and
// synchronize on mu.
//
// Lock order: mu may be held while reading the engine (State, Get,
// ChangedPage) and while queueing frames, never while calling an engine
// method that delivers callbacks (Subscribe, Submit, Cancel), since a
// callback for this very connection would then wait for mu forever.
type conn struct {
	srv    *Server
	id     string
	log    *slog.Logger
	t      transport
	out    *outbox
	clk    clock.Clock
	ctx    context.Context
	cancel context.CancelFunc
	opened time.Time

	lastRead atomic.Int64 // Clock time (Unix ns) of the last frame received
	framesIn atomic.Int64

	reasonMu sync.Mutex
	reason   string // why the connection ended; the first cause wins

	mu        sync.Mutex
	db        *engine.DB   // bound at welcome; a bundle swap closes the connection
	actor     engine.Actor // who the connection reads and writes as
	scope     string       // readScope(actor): what cursors sent on this connection are valid under
	paused    bool         // the session expired: no rows out, pushes refused until auth
	expiry    clock.Timer
	expiryGen uint64
	heartbeat clock.Timer
	subs      map[string]*sub
	finished  bool
	// work is the line of subscriptions with rows to send, taken one page
	// at a time by runWorker; wake tells it the line grew, stop that the
	// connection is ending, and workerDone that it has returned.
	work       []*sub
	wake       chan struct{}
	stop       chan struct{}
	workerDone chan struct{}
}

// serveConn runs one connection to its end. It returns once the socket is
// closed and the writer has stopped.
func (s *Server) serveConn(t transport, log *slog.Logger, id, pathAppID string) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv: s, id: id, log: log, t: t, out: newOutbox(), clk: s.cfg.Clock,
		ctx: ctx, cancel: cancel, opened: time.Now(), subs: map[string]*sub{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), workerDone: make(chan struct{}),
	}
	if !s.hub.add(c) {
		cancel()
		t.Close(protocol.CloseGoingAway, "server shutting down")
		return
	}
	defer s.hub.remove(c)
	s.metrics.connectionsOpened.Add(1)
	log.Info("connection opened")
	go c.out.run(t, func(err error) { c.noteReason("write failed", err) })
	go c.runWorker()
	c.run(pathAppID)
	c.finish()
}

func (c *conn) run(pathAppID string) {
	if pathAppID != c.srv.cfg.AppID {
		c.closeWith(protocol.CloseWrongApp, "unknown app", encodeFrame(protocol.TError, protocol.Error{
			Error: "not_found", Code: "unknown_app", Message: "this server does not serve that app",
		}), true)
		return
	}
	timeout := c.srv.cfg.HelloTimeout
	hello := c.clk.AfterFunc(timeout, func() {
		c.protocolFail("hello_timeout", "no hello frame within "+timeout.String())
	})
	data, err := c.t.Read(c.ctx)
	hello.Stop()
	if err != nil {
		c.readFailed(err)
		return
	}
	c.touch()
	if !c.handshake(data) {
		return
	}
	c.mu.Lock()
	pace := newPacer(c.clk, float64(c.srv.cfg.Budgets.framesPerSecond(c.actor)))
	c.mu.Unlock()
	for {
		if !pace.wait(c.ctx.Done()) {
			return
		}
		data, err := c.t.Read(c.ctx)
		if err != nil {
			c.readFailed(err)
			return
		}
		c.touch()
		if !c.handle(data) {
			return
		}
	}
}

// handshake answers the first frame: welcome, or an error and a close.
func (c *conn) handshake(data []byte) bool {
	f, err := protocol.Decode(data)
	if errors.Is(err, protocol.ErrVersion) {
		c.protocolFail(protocol.CodeUnsupportedVersion, err.Error())
		return false
	}
	if err != nil {
		c.protocolFail("bad_frame", err.Error())
		return false
	}
	h, ok := f.Body.(*protocol.Hello)
	if !ok {
		c.protocolFail("bad_frame", "the first frame must be hello")
		return false
	}
	if h.AppID != c.srv.cfg.AppID {
		c.closeWith(protocol.CloseWrongApp, "unknown app", encodeFrame(protocol.TError, protocol.Error{
			Error: "not_found", Code: "unknown_app", Message: "this server does not serve that app",
		}), true)
		return false
	}
	actor, deadline, ae := c.resolve(h.Auth)
	if ae != nil {
		c.log.Info("handshake refused", "code", string(ae.Code))
		c.closeWith(protocol.CloseUnauthenticated, "unauthenticated", encodeFrame(protocol.TError, authErrorBody(ae)), true)
		return false
	}
	err = c.srv.app.bind(func(db *engine.DB) {
		c.mu.Lock()
		c.db, c.actor, c.scope = db, actor, readScope(actor)
		c.mu.Unlock()
	})
	if err != nil {
		c.closeWith(protocol.CloseGoingAway, "server shutting down", nil, true)
		return false
	}
	c.mu.Lock()
	c.scheduleExpiryLocked(deadline)
	c.armHeartbeatLocked(c.srv.cfg.HeartbeatTimeout)
	// Queued under mu so that an expiry firing at once still follows it.
	c.send(protocol.TWelcome, protocol.Welcome{V: protocol.Version, Session: actor.Session, ExpiresAt: unixMilli(deadline),
		Backend: actor.Backend, Attribution: actor.Attribution, Scope: c.scope})
	if c.srv.app.bundle() == nil {
		c.send(protocol.TError, protocol.Error{Error: protocol.ErrorNoBundle, Code: protocol.ErrorNoBundle,
			Message: "no schema has been published for this app: deploy it; until then every query and write is refused"})
	}
	c.mu.Unlock()
	if actor.Backend {
		c.log.Info("session started", "backend", true, "author", actor.Author())
	} else {
		c.log.Info("session started", "user_id", actor.Session.UserID, "auth_mode", string(actor.Session.AuthMode), "expires_at", unixMilli(deadline))
	}
	return true
}

// resolve applies the server's session rules to credentials from a frame,
// exactly as for the equivalent HTTP headers, and returns the actor the
// connection then reads and writes as: the resolved session, or, for actAs,
// the backend itself (see resolveBackendActor).
func (c *conn) resolve(a protocol.Auth) (engine.Actor, time.Time, *auth.Error) {
	if a.ActAs != "" || a.Attribution != "" {
		actor, ae := resolveBackendActor(c.srv.cfg.Resolver, a)
		return actor, time.Time{}, ae
	}
	ctx, cancel := context.WithTimeout(c.ctx, resolveTimeout)
	defer cancel()
	// A present but blank bearer is "missing", as "Authorization: Bearer "
	// is over HTTP, rather than an anonymous session hiding a client bug.
	creds := auth.Credentials{BackendSecret: a.BackendSecret, Session: a.Session,
		Bearer: strings.TrimSpace(a.Bearer), BearerGiven: a.Bearer != ""}
	sess, deadline, err := c.srv.cfg.Resolver.ResolveWithExpiry(ctx, creds)
	if err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) {
			ae = &auth.Error{Code: auth.CodeInvalid, Message: "credentials could not be verified"}
		}
		return engine.Actor{}, time.Time{}, ae
	}
	return engine.Actor{Session: sess}, deadline, nil
}

// resolveBackendActor handles credentials with actAs or attribution, which
// only a backend may present. The checks run in this order, so nothing but
// the actAs value is judged before the secret:
//
//  1. actAs other than "backend": invalid (unknown to this server);
//  2. no backend secret: missing; then the secret itself, as for
//     impersonation (disabled when none is configured, invalid on mismatch);
//  3. attribution together with a session (impersonation): invalid, since
//     an impersonated session already stamps its own user as the author;
//  4. actAs together with a session: invalid, they are alternatives;
//  5. attribution without actAs: invalid;
//  6. attribution longer than protocol.MaxAttributionLen characters, or
//     holding control characters: invalid.
//
// The result acts as the backend: no session, policies skipped, writes
// stamped with the attribution or session.SystemUser. A backend actor's
// credentials do not expire.
func resolveBackendActor(r *auth.Resolver, a protocol.Auth) (engine.Actor, *auth.Error) {
	bad := func(code auth.Code, msg string) (engine.Actor, *auth.Error) {
		return engine.Actor{}, &auth.Error{Code: code, Message: msg}
	}
	if a.ActAs != "" && a.ActAs != protocol.ActAsBackend {
		return bad(auth.CodeInvalid, `actAs must be "backend"`)
	}
	if a.BackendSecret == "" {
		return bad(auth.CodeMissing, "actAs and attribution require backendSecret")
	}
	if err := r.AuthenticateBackend(a.BackendSecret); err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) {
			ae = &auth.Error{Code: auth.CodeInvalid, Message: "backend secret could not be checked"}
		}
		return engine.Actor{}, ae
	}
	switch {
	case a.Session != "" && a.Attribution != "":
		return bad(auth.CodeInvalid, "attribution cannot be combined with session: an impersonated session is already the author of its writes")
	case a.Session != "":
		return bad(auth.CodeInvalid, `actAs "backend" and session (impersonation) are alternatives: send one`)
	case a.ActAs == "":
		return bad(auth.CodeInvalid, `attribution requires actAs "backend"`)
	}
	if a.Attribution != "" {
		if n := utf8.RuneCountInString(a.Attribution); n > protocol.MaxAttributionLen || !utf8.ValidString(a.Attribution) {
			return bad(auth.CodeInvalid, fmt.Sprintf("attribution must be valid UTF-8 of at most %d characters", protocol.MaxAttributionLen))
		}
		for _, r := range a.Attribution {
			if unicode.IsControl(r) {
				return bad(auth.CodeInvalid, "attribution must not contain control characters")
			}
		}
	}
	return engine.Actor{Backend: true, Attribution: a.Attribution}, nil
}

// samePrincipal reports whether an in-band re-authentication keeps the
// connection's principal: the same user and mode for a session, the same
// attribution for a backend actor.
func samePrincipal(a, b engine.Actor) bool {
	if a.Backend || b.Backend {
		return a.Backend == b.Backend && a.Session == nil && b.Session == nil && a.Attribution == b.Attribution
	}
	return a.Session != nil && b.Session != nil && a.Session.UserID == b.Session.UserID && a.Session.AuthMode == b.Session.AuthMode
}

// logUser is how the logs name who a connection acts as.
func logUser(a engine.Actor) string {
	if a.Session != nil {
		return a.Session.UserID
	}
	if a.Backend {
		return "backend:" + a.Author()
	}
	return ""
}

// handle processes one frame after the handshake; false ends the connection.
func (c *conn) handle(data []byte) bool {
	f, err := protocol.Decode(data)
	if err != nil {
		c.protocolFail("bad_frame", err.Error())
		return false
	}
	switch f.Type {
	case protocol.TAuth:
		c.onAuth(f.Body.(*protocol.AuthMsg))
	case protocol.TSub:
		c.onSub(f.Body.(*protocol.Sub))
	case protocol.TUnsub:
		c.onUnsub(f.Body.(*protocol.Unsub))
	case protocol.TPush:
		return c.onPush(f.Body.(*protocol.Push))
	case protocol.TPing:
		c.answerPing(f.Body.(*protocol.Ping))
	case protocol.THello:
		c.protocolFail("bad_frame", "hello was already received")
		return false
	default:
		c.protocolFail("bad_frame", fmt.Sprintf("%q frames go from server to client", f.Type))
		return false
	}
	return true
}

// onAuth re-authenticates in-band: a token refresh, or the way out of a
// pause after expiry. Only the same principal is accepted, because a live
// connection's subscriptions and queued writes belong to one user.
func (c *conn) onAuth(m *protocol.AuthMsg) {
	actor, deadline, ae := c.resolve(m.Auth)
	if ae != nil {
		c.send(protocol.TError, authErrorBody(ae))
		return
	}
	c.mu.Lock()
	if !samePrincipal(actor, c.actor) {
		user := logUser(c.actor)
		c.mu.Unlock()
		c.log.Info("auth for another principal refused", "user_id", user)
		c.send(protocol.TError, protocol.Error{Error: "unauthenticated", Code: string(auth.CodeInvalid),
			Message: "auth must be for the same user_id and authMode; open a new connection to switch users"})
		return
	}
	wasPaused := c.paused
	scope := readScope(actor)
	rescoped := scope != c.scope
	c.actor, c.scope, c.paused = actor, scope, false
	c.scheduleExpiryLocked(deadline)
	c.send(protocol.TAuthed, protocol.Authed{Session: actor.Session, ExpiresAt: unixMilli(deadline),
		Backend: actor.Backend, Attribution: actor.Attribution, Scope: scope})
	var resync []*sub
	if wasPaused || rescoped {
		for _, s := range c.subs {
			if rescoped {
				// The new claims may show rows the old ones hid, changed
				// at any time: start over. Until startSub has the new
				// result queued, nothing else goes out for s (gen).
				s.gen++
				s.cursor = 0
			}
			resync = append(resync, s)
		}
	}
	c.mu.Unlock()
	c.log.Info("session renewed", "user_id", logUser(actor), "was_paused", wasPaused, "claims_changed", rescoped, "expires_at", unixMilli(deadline))
	// Every subscription missed whatever happened while paused: resume each
	// from the last cursor it was sent (0 under new claims), under the
	// renewed session.
	for _, s := range resync {
		c.startSub(s)
	}
}

// readScope names what a can read, for protocol.Welcome.Scope: a digest of
// the session's user, auth mode and claims (policies read nothing else), or
// "backend" for a backend actor, which reads everything. A cursor received
// under one scope is not valid under another. The claims every token of a
// session renews (exp, iat, nbf, jti) are left out, or each refresh would
// start every subscription over.
func readScope(a engine.Actor) string {
	if a.Session == nil {
		return "backend"
	}
	claims := make(map[string]any, len(a.Session.Claims))
	for k, v := range a.Session.Claims {
		switch k {
		case "exp", "iat", "nbf", "jti":
		default:
			claims[k] = v
		}
	}
	b, err := json.Marshal(struct {
		U string         `json:"u"`
		M string         `json:"m"`
		C map[string]any `json:"c"`
	}{a.Session.UserID, string(a.Session.AuthMode), claims})
	if err != nil {
		// Claims came from JSON, so this cannot happen; a scope that
		// matches nothing only costs a full resend.
		return "unencodable"
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// scheduleExpiryLocked replaces the expiry timer; a zero deadline means the
// session does not expire (impersonated and anonymous sessions).
func (c *conn) scheduleExpiryLocked(deadline time.Time) {
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	c.expiryGen++
	if deadline.IsZero() {
		return
	}
	gen := c.expiryGen
	c.expiry = c.clk.AfterFunc(deadline.Sub(c.clk.Now()), func() { c.expire(gen) })
}

// expire pauses the connection at the moment its credentials lapse. The
// socket stays open so the client can send fresh credentials without losing
// its subscriptions or its queued writes.
func (c *conn) expire(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished || gen != c.expiryGen || c.paused {
		return
	}
	c.paused = true
	c.send(protocol.TError, expiredBody())
	c.log.Info("session expired; connection paused", "user_id", logUser(c.actor))
}

func expiredBody() protocol.Error {
	return protocol.Error{Error: "unauthenticated", Code: string(auth.CodeExpired),
		Message: "the session's credentials expired; send an auth frame with fresh credentials for the same user"}
}

func authErrorBody(ae *auth.Error) protocol.Error {
	return protocol.Error{Error: "unauthenticated", Code: string(ae.Code), Message: ae.Message}
}

func (c *conn) touch() {
	c.lastRead.Store(c.clk.Now().UnixNano())
	c.framesIn.Add(1)
}

func (c *conn) armHeartbeatLocked(d time.Duration) {
	c.heartbeat = c.clk.AfterFunc(d, c.checkHeartbeat)
}

// checkHeartbeat closes a connection that has been silent for the timeout,
// else re-arms itself for the moment it would be.
func (c *conn) checkHeartbeat() {
	timeout := c.srv.cfg.HeartbeatTimeout
	idle := c.clk.Now().Sub(time.Unix(0, c.lastRead.Load()))
	if idle >= timeout {
		c.log.Info("heartbeat timeout", "idle", idle)
		c.closeWith(protocol.CloseProtocolError, "heartbeat timeout", encodeFrame(protocol.TError, protocol.Error{
			Error: "protocol", Code: "idle_timeout", Message: "nothing received for " + timeout.String(),
		}), true)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.finished {
		c.armHeartbeatLocked(timeout - idle)
	}
}

// send queues one frame. A client too slow to drain its queue is dropped.
func (c *conn) send(typ string, body any) {
	msg := encodeFrame(typ, body)
	if msg == nil {
		c.log.Error("could not encode an outgoing frame", "type", typ)
		return
	}
	c.push(msg)
}

// sendEncoded queues a frame encoded by the caller.
func (c *conn) sendEncoded(msg []byte, err error) {
	if err != nil {
		c.log.Error("could not encode an outgoing frame", "error", err)
		return
	}
	c.push(msg)
}

// push queues msg, dropping a client that lets too much pile up.
func (c *conn) push(msg []byte) {
	if err := c.out.push(msg); errors.Is(err, errQueueFull) {
		c.log.Warn("client not reading fast enough; disconnecting")
		c.closeWith(closeSlowConsumer, "slow consumer", nil, false)
	}
}

func encodeFrame(typ string, body any) []byte {
	b, err := protocol.Encode(typ, body)
	if err != nil {
		return nil
	}
	return b
}

// protocolFail reports a protocol violation and closes with 4400. The
// frame's message goes to the client only: it may quote what the client
// sent, which must not reach the logs.
func (c *conn) protocolFail(code, message string) {
	c.log.Warn("protocol error", "code", code)
	c.closeWith(protocol.CloseProtocolError, "protocol error: "+code, encodeFrame(protocol.TError, protocol.Error{
		Error: "protocol", Code: code, Message: message,
	}), true)
}

// closeWith ends the connection: frames already queued (when flush), then
// frame, then the close handshake. Only the first call has an effect.
func (c *conn) closeWith(code websocket.StatusCode, reason string, frame []byte, flush bool) {
	c.noteReason(reason, nil)
	c.out.close(closeReq{code: code, reason: reason, frame: frame, flush: flush})
}

func (c *conn) noteReason(reason string, err error) {
	c.reasonMu.Lock()
	defer c.reasonMu.Unlock()
	if c.reason == "" {
		c.reason = reason
		if err != nil {
			c.reason += ": " + err.Error()
		}
	}
}

// readFailed classifies why reading stopped.
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, errFrameTooLarge):
		c.protocolFail("frame_too_large", fmt.Sprintf("frames are limited to %d bytes", c.srv.cfg.MaxFrameBytes))
	case errors.Is(err, errBinaryFrame):
		c.protocolFail("bad_frame", "frames must be UTF-8 text")
	case errors.Is(err, errInvalidUTF8):
		c.log.Warn("protocol error", "code", "invalid_utf8")
		c.closeWith(closeInvalidPayload, "protocol error: invalid_utf8", encodeFrame(protocol.TError, protocol.Error{
			Error: "protocol", Code: "invalid_utf8", Message: "text frames must be valid UTF-8",
		}), true)
	case websocket.CloseStatus(err) != -1:
		c.noteReason(fmt.Sprintf("client closed (%d)", websocket.CloseStatus(err)), nil)
	default:
		// Includes the library's own 1009 ("read limited"), which our limit
		// should always pre-empt, and plain network failures.
		c.noteReason("connection lost", err)
	}
}

// boundTo reports whether the connection uses db.
func (c *conn) boundTo(db *engine.DB) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.db == db
}

// finish releases everything the connection holds and waits for its writer.
func (c *conn) finish() {
	c.mu.Lock()
	c.finished = true
	for _, t := range []clock.Timer{c.expiry, c.heartbeat} {
		if t != nil {
			t.Stop()
		}
	}
	var live []*engine.Subscription
	for _, s := range c.subs {
		if s.es != nil {
			live = append(live, s.es)
		}
	}
	c.srv.subCounts.give(c.actor, len(c.subs))
	c.subs, c.work = nil, nil
	user := logUser(c.actor)
	close(c.stop)
	c.mu.Unlock()
	for _, es := range live {
		es.Cancel()
	}
	c.out.close(closeReq{code: closeNormal, flush: true})
	<-c.out.done
	<-c.workerDone
	c.cancel()
	c.reasonMu.Lock()
	reason := c.reason
	c.reasonMu.Unlock()
	c.log.Info("connection closed", "reason", reason, "user_id", user,
		"frames_in", c.framesIn.Load(), "duration_ms", time.Since(c.opened).Milliseconds())
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
