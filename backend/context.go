package backend

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// Context is a backend's access to one app: it makes the handles of every
// context kind and owns their connections. It is safe for concurrent use.
type Context struct {
	opts     Options
	resolver *auth.Resolver
	warnings []string

	schemaMu  gosync.Mutex
	schema    *schema.Schema // every table the replicas know
	schemaGen uint64         // bumped by every UseSchema that adds tables

	mu     gosync.Mutex
	closed bool
	conns  map[string]*conn
	lru    *list.List // of *conn, most recently used first

	rejMu    gosync.Mutex
	rejected map[string]error // recent rejections, for WaitFor after eviction
	rejOrder []string
}

// New validates opts and returns a Context. It opens no connection (they
// are opened by the first operation of each actor); ctx bounds only the
// loading of the bundle with AdminSecret.
func New(ctx context.Context, opts Options) (*Context, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	r, err := opts.resolver()
	if err != nil {
		return nil, err
	}
	c := &Context{opts: opts, resolver: r, warnings: opts.warnings(), conns: map[string]*conn{}, lru: list.New(), rejected: map[string]error{}}
	for _, w := range c.warnings {
		opts.Logger.Warn(w)
	}
	switch {
	case opts.Bundle != nil:
		c.schema = opts.Bundle.Schema.Clone()
	case opts.AdminSecret != "":
		b, err := c.fetchBundle(ctx)
		if err != nil {
			return nil, err
		}
		c.schema = b.Schema.Clone()
	default:
		c.schema = emptySchema()
	}
	return c, nil
}

// Warnings are the configuration risks New found and logged, such as
// external JWTs verified without an audience in production; a host without
// a Logger (the Node package) shows them its own way.
func (c *Context) Warnings() []string { return slices.Clone(c.warnings) }

// fetchBundle loads the bundle the server enforces, with the admin secret.
// A server with no bundle yet gives an empty schema.
func (c *Context) fetchBundle(ctx context.Context) (*bundle.Bundle, error) {
	u, _ := url.Parse(c.opts.ServerURL)
	switch strings.ToLower(u.Scheme) {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/apps/" + url.PathEscape(c.opts.AppID) + "/admin/bundle"
	u.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Jazz-Admin-Secret", c.opts.AdminSecret)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("backend: loading the app's bundle from the server: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, bundle.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("backend: loading the app's bundle from the server: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		b, err := bundle.Decode(body)
		if err != nil {
			return nil, fmt.Errorf("backend: the server's bundle: %w", err)
		}
		return b, nil
	case http.StatusNotFound:
		if strings.Contains(string(body), "no_bundle") {
			return &bundle.Bundle{Version: bundle.Version, Schema: emptySchema()}, nil
		}
		return nil, configErr("the server does not serve app %q (404)", c.opts.AppID)
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, configErr("the server refused AdminSecret when loading the bundle (%d %s)", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil, fmt.Errorf("backend: loading the app's bundle: HTTP %d", resp.StatusCode)
}

// DB is AsBackend: the unscoped handle.
func (c *Context) DB() *Handle { return c.AsBackend() }

// AsBackend acts as the backend itself: backend permissions (policies do
// not apply) and writes authored "jazz:system".
func (c *Context) AsBackend() *Handle { return &Handle{c: c, actor: actor{}} }

// WithAttribution keeps backend permissions but stamps writes
// ($createdBy, $updatedBy) with userID. An empty userID is refused (every
// operation of the handle fails with ErrConfig): use AsBackend to write as
// "jazz:system".
func (c *Context) WithAttribution(userID string) *Handle {
	if userID == "" {
		return &Handle{c: c, err: configErr("WithAttribution needs a user id (AsBackend writes as jazz:system)")}
	}
	a, err := backendActor(userID)
	return &Handle{c: c, actor: a, err: err}
}

// WithAttributionForSession is WithAttribution(s.UserID).
func (c *Context) WithAttributionForSession(s *session.Session) *Handle {
	if s == nil || s.UserID == "" {
		return &Handle{c: c, err: configErr("WithAttributionForSession needs a session with a user_id")}
	}
	return c.WithAttribution(s.UserID)
}

// WithAttributionForRequest resolves r's session (as ForRequest) and
// attributes writes to its user, with backend permissions. A request with
// no credentials is refused (an *AuthError with code "missing"): an
// anonymous id would attribute writes to nobody in particular.
func (c *Context) WithAttributionForRequest(r *http.Request) (*Handle, error) {
	if r == nil {
		return nil, configErr("a request is required")
	}
	s, err := c.ResolveHeadersForAttribution(r.Context(), r.Header)
	if err != nil {
		return nil, err
	}
	return c.WithAttributionForSession(s), nil
}

// ResolveHeadersForAttribution is ResolveHeaders for
// WithAttributionForRequest: a request without credentials (an anonymous
// session) is refused with an *AuthError of code "missing".
func (c *Context) ResolveHeadersForAttribution(ctx context.Context, h http.Header) (*session.Session, error) {
	s, err := c.ResolveHeaders(ctx, h)
	if err != nil {
		return nil, err
	}
	if s.AuthMode == session.Anonymous {
		return nil, &AuthError{Code: auth.CodeMissing, Message: "withAttributionForRequest needs an authenticated request (Authorization: Bearer, or impersonation headers); use asBackend for anonymous ones"}
	}
	return s, nil
}

// ForSession acts as s: its permissions (the app's policies) and its
// authorship, exactly as if the user had connected. The server receives s
// through backend impersonation.
func (c *Context) ForSession(s *session.Session) *Handle {
	a, err := sessionActor(s)
	return &Handle{c: c, actor: a, err: err}
}

// ForRequest resolves r's session by the server's rules (see the package
// documentation) and acts as it. Refused credentials are an *AuthError
// with the code the server would answer (expired, missing, invalid,
// disabled). A request without credentials acts as an anonymous session.
func (c *Context) ForRequest(r *http.Request) (*Handle, error) {
	s, err := c.SessionForRequest(r)
	if err != nil {
		return nil, err
	}
	return c.ForSession(s), nil
}

// SessionForRequest resolves r's session without making a handle.
func (c *Context) SessionForRequest(r *http.Request) (*session.Session, error) {
	if r == nil {
		return nil, configErr("a request is required")
	}
	return c.ResolveHeaders(r.Context(), r.Header)
}

// ResolveHeaders resolves the session of a request with headers h: what
// ForRequest does, for callers that hold the headers only (the Node
// backend sends them across the wasm boundary).
func (c *Context) ResolveHeaders(ctx context.Context, h http.Header) (*session.Session, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	s, err := c.resolver.Resolve(ctx, auth.CredentialsFromRequest(&http.Request{Header: h}))
	if err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, err
	}
	return s, nil
}

// UseSchema adds tables to every replica, present and future. A table
// already known must be declared identically.
func (c *Context) UseSchema(ctx context.Context, s *schema.Schema) error {
	if s == nil {
		return nil
	}
	add := s.Clone()
	if err := add.Init(); err != nil {
		return err
	}
	c.schemaMu.Lock()
	merged, added, err := schema.Merge(c.schema, add)
	if err != nil || len(added) == 0 {
		c.schemaMu.Unlock()
		return err
	}
	merged = merged.Clone()
	c.schema = merged
	c.schemaGen++
	c.mu.Lock()
	live := make([]*conn, 0, len(c.conns))
	for _, cn := range c.conns {
		live = append(live, cn)
	}
	c.mu.Unlock()
	var errs []error
	for _, cn := range live {
		if err := cn.eng.Extend(ctx, merged.Clone()); err != nil {
			errs = append(errs, err)
		}
	}
	c.schemaMu.Unlock()
	return errors.Join(errs...)
}

// Schema returns a copy of the schema the replicas use.
func (c *Context) Schema() *schema.Schema {
	c.schemaMu.Lock()
	defer c.schemaMu.Unlock()
	return c.schema.Clone()
}

// Connections is how many actor connections are open (for monitoring).
func (c *Context) Connections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// Close closes every connection, after giving unacknowledged writes up to
// Options.CloseTimeout to reach the server. Handles fail with ErrClosed
// afterwards. Calling it again does nothing.
func (c *Context) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	all := make([]*conn, 0, len(c.conns))
	for _, cn := range c.conns {
		all = append(all, cn)
	}
	c.conns = map[string]*conn{}
	c.lru.Init()
	c.mu.Unlock()
	var wg gosync.WaitGroup
	for _, cn := range all {
		wg.Add(1)
		go func() { defer wg.Done(); cn.close() }()
	}
	wg.Wait()
	return nil
}

func (c *Context) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Context) report(err error) {
	c.opts.Logger.Warn("background failure", "err", err)
	if c.opts.OnError != nil {
		c.opts.OnError(err)
	}
}

const maxRejections = 1024

func (c *Context) rememberRejection(id string, err error) {
	c.rejMu.Lock()
	defer c.rejMu.Unlock()
	if _, ok := c.rejected[id]; !ok {
		c.rejOrder = append(c.rejOrder, id)
	}
	c.rejected[id] = err
	for len(c.rejOrder) > maxRejections {
		delete(c.rejected, c.rejOrder[0])
		c.rejOrder = c.rejOrder[1:]
	}
}

func (c *Context) rejection(id string) error {
	c.rejMu.Lock()
	defer c.rejMu.Unlock()
	return c.rejected[id]
}

// waitContext applies Options.WaitTimeout to a ctx without a deadline.
func (c *Context) waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.WaitTimeout)
}

// VerifyLocalFirstIdentityProof checks a proof made by a local-first
// client's getLocalFirstIdentityProof for audience (your auth service's
// URL, say) against the current time, and returns the user id it proves.
// An auth provider that verifies it can issue JWTs with that id as sub:
// the user signs up and keeps their identity and data.
func VerifyLocalFirstIdentityProof(proof, audience string) (string, error) {
	return identity.VerifyProof(proof, audience, time.Now(), proofLeeway)
}

// proofLeeway is the clock skew allowed on proofs, as in the browser core.
const proofLeeway = 30 * time.Second

func emptySchema() *schema.Schema {
	s, _ := schema.New()
	return s
}
