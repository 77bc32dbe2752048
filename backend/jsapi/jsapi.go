// Package jsapi is package backend as jazz-tools/backend drives it: the
// methods of createBackend's BackendHandle (bindings/js/src/backend/
// contract.ts) with JSON strings in and out and errors carrying the names
// and codes JavaScript expects. It is pure Go and tested natively; the wasm
// build (wasm/bridge/backend.go, tag jazzbackend) only converts JavaScript
// values to and from these calls and supplies Node's adapters (Env).
package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	gosync "sync"
	"time"

	"github.com/jazzgo/jazz-tools/backend"
	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/sync"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// Env is what the host supplies. Every field may be nil natively.
type Env struct {
	// HTTP carries the JWKS and bundle requests. Under Node, Go's net/http
	// does not use fetch (go.dev/issue/57613), so the wasm build passes a
	// fetch adapter. Nil: package backend's default client.
	HTTP http.RoundTripper
	// Transport opens sync connections (the wasm build: the WebSocket
	// adapter). Nil: package backend's default.
	Transport sync.Transport
	// Clock paces subscription deliveries (the wasm build: the end of the
	// JavaScript turn, so one task's writes reach a subscriber as one
	// callback). Nil: the system clock.
	Clock clock.Clock
	// Console receives what has no caller to return to: configuration
	// warnings ("warn"), a useSchema failing in the background and
	// recovered panics ("error"). Nil discards them.
	Console func(level, msg string)
}

// httpTimeout bounds one JWKS or bundle request.
const httpTimeout = 15 * time.Second

// Config is createBackend's configJSON; its field names are the contract
// with bindings/js (contract.ts), and unknown fields are refused.
type Config struct {
	AppID               string   `json:"appId"`
	ServerURL           string   `json:"serverUrl"`
	BackendSecret       string   `json:"backendSecret"`
	AdminSecret         string   `json:"adminSecret,omitempty"`
	JWKSURL             string   `json:"jwksUrl,omitempty"`
	JWTPublicKey        string   `json:"jwtPublicKey,omitempty"` // inline JWK or PEM (the TS side reads files)
	JWTAudience         []string `json:"jwtAudience,omitempty"`
	JWTIssuer           string   `json:"jwtIssuer,omitempty"`
	AllowLocalFirstAuth bool     `json:"allowLocalFirstAuth,omitempty"`
	Production          bool     `json:"production,omitempty"` // NODE_ENV=production
	MaxConnections      int      `json:"maxConnections,omitempty"`
	WaitTimeoutMs       int      `json:"waitTimeoutMs,omitempty"`
}

// actorSpec is the actorJSON every data method takes first.
type actorSpec struct {
	Kind    string           `json:"kind"` // "backend", "attribution" or "session"
	UserID  string           `json:"userId,omitempty"`
	Session *session.Session `json:"session,omitempty"`
}

// ErrClosed is what every call fails with once the handle is closed.
var ErrClosed = jsapi.NewError(jsapi.Closed, "closed", "jazz: the backend context is closed")

// Handle is one BackendHandle: a backend.Context. Its data methods take the
// actor as their first argument rather than living on a value per actor: a
// backend makes a Db per request, and per-actor values handed to
// JavaScript would hold functions nobody releases.
type Handle struct {
	ctx *backend.Context
	env Env

	mu         gosync.Mutex
	schemaDone chan struct{} // closed once the last useSchema reached the Context
	nextID     int
	subs       map[int]*sub
	closed     bool
}

// New is createBackend: it decodes configJSON and connects the Context.
func New(ctx context.Context, configJSON string, env Env) (*Handle, error) {
	var c Config
	if len(configJSON) > jsapi.MaxConfig {
		return nil, Err(fmt.Errorf("%w: config is over %d bytes", backend.ErrConfig, jsapi.MaxConfig))
	}
	if err := jsapi.StrictJSON(configJSON, &c); err != nil {
		return nil, Err(fmt.Errorf("%w: configJSON: %v", backend.ErrConfig, err))
	}
	opts := backend.Options{
		AppID: c.AppID, ServerURL: c.ServerURL, BackendSecret: c.BackendSecret, AdminSecret: c.AdminSecret,
		JWKSURL: c.JWKSURL, JWTPublicKey: c.JWTPublicKey, JWTAudiences: c.JWTAudience, JWTIssuer: c.JWTIssuer,
		AllowLocalFirstAuth: c.AllowLocalFirstAuth, Production: c.Production,
		MaxConnections: c.MaxConnections, WaitTimeout: time.Duration(c.WaitTimeoutMs) * time.Millisecond,
		Transport: env.Transport,
	}
	if env.HTTP != nil {
		opts.HTTPClient = &http.Client{Transport: env.HTTP, Timeout: httpTimeout}
	}
	bctx, err := backend.New(ctx, opts)
	if err != nil {
		return nil, Err(err)
	}
	h := &Handle{ctx: bctx, env: env, schemaDone: make(chan struct{}), subs: map[int]*sub{}}
	close(h.schemaDone)
	for _, w := range bctx.Warnings() {
		h.log("warn", "jazz-tools/backend: "+w)
	}
	return h, nil
}

func (h *Handle) log(level, msg string) {
	if h.env.Console != nil {
		h.env.Console(level, msg)
	}
}

// recovered logs a panic of a goroutine the handle started: the handle
// keeps working, as it does when a call panics.
func (h *Handle) recovered(what string) {
	if p := recover(); p != nil {
		h.log("error", fmt.Sprintf("jazz: internal error in %s: %v", what, p))
	}
}

// ResolveRequest takes headersJSON, {"Header-Name": ["value", ...]}, and
// returns the session JSON, or fails with AuthError {code: expired|
// missing|invalid|disabled}. forAttribution refuses a request without
// credentials (withAttributionForRequest).
func (h *Handle) ResolveRequest(ctx context.Context, headersJSON string, forAttribution bool) (string, error) {
	if _, err := h.ready(); err != nil {
		return "", err
	}
	var raw map[string][]string
	if err := json.Unmarshal([]byte(headersJSON), &raw); err != nil {
		return "", jsapi.BadArgument("jazz: headersJSON must be an object of string arrays")
	}
	hdr := http.Header{}
	for k, vs := range raw {
		for _, v := range vs {
			hdr.Add(k, v)
		}
	}
	resolve := h.ctx.ResolveHeaders
	if forAttribution {
		resolve = h.ctx.ResolveHeadersForAttribution
	}
	s, err := resolve(ctx, hdr)
	if err != nil {
		return "", Err(err)
	}
	return jsapi.Marshal(s)
}

// UseSchema hands the tables to the Context in the background (extending
// live replicas takes their locks); every later operation waits for it. A
// declaration conflicting with the tables known so far fails at once rather
// than failing those operations.
func (h *Handle) UseSchema(schemaJSON string) error {
	sc, err := jsapi.DecodeSchema(schemaJSON)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	prev := h.schemaDone
	done := make(chan struct{})
	h.schemaDone = done
	h.mu.Unlock()
	if _, _, err := schema.Merge(h.ctx.Schema(), sc); err != nil {
		close(done)
		return err
	}
	go func() {
		defer close(done)
		defer h.recovered("useSchema")
		<-prev
		if err := h.ctx.UseSchema(context.Background(), sc); err != nil {
			h.log("error", "jazz: backend useSchema: "+err.Error())
		}
	}()
	return nil
}

// ready returns the last useSchema to wait for, or ErrClosed.
func (h *Handle) ready() (<-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	return h.schemaDone, nil
}

// actor decodes an actorJSON into the handle it names.
func (h *Handle) actor(actorJSON string) (*backend.Handle, error) {
	if _, err := h.ready(); err != nil {
		return nil, err
	}
	var spec actorSpec
	if err := jsapi.StrictJSON(actorJSON, &spec); err != nil {
		return nil, jsapi.BadArgument("jazz: actorJSON: %v", err)
	}
	var a *backend.Handle
	switch spec.Kind {
	case "backend":
		a = h.ctx.AsBackend()
	case "attribution":
		a = h.ctx.WithAttribution(spec.UserID)
	case "session":
		a = h.ctx.ForSession(spec.Session)
	default:
		return nil, jsapi.BadArgument("jazz: actor kind must be backend, attribution or session")
	}
	if err := a.Err(); err != nil {
		return nil, Err(err)
	}
	return a, nil
}

// run waits for the schema, calls op and returns its result as JSON.
func (h *Handle) run(ctx context.Context, op func(context.Context) (any, error)) (string, error) {
	done, err := h.ready()
	if err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	v, err := op(ctx)
	if err != nil {
		return "", Err(err)
	}
	return jsapi.Marshal(v)
}

// rows is rs with nil as [] (JavaScript gets an array).
func rows(rs []engine.Row, err error) (any, error) {
	if rs == nil {
		rs = []engine.Row{}
	}
	return rs, err
}

// All returns the rows of queryJSON as the actor sees them, as a JSON array.
func (h *Handle) All(ctx context.Context, actorJSON, queryJSON string) (string, error) {
	a, q, err := h.actorQuery(actorJSON, queryJSON)
	if err != nil {
		return "", err
	}
	return h.run(ctx, func(ctx context.Context) (any, error) { return rows(a.All(ctx, q)) })
}

// One returns the first row of queryJSON, or null.
func (h *Handle) One(ctx context.Context, actorJSON, queryJSON string) (string, error) {
	a, q, err := h.actorQuery(actorJSON, queryJSON)
	if err != nil {
		return "", err
	}
	return h.run(ctx, func(ctx context.Context) (any, error) { return a.One(ctx, q) })
}

// AllStaged reads as a transaction does: the rows as the server has them,
// as they would be after opsJSON's writes.
func (h *Handle) AllStaged(ctx context.Context, actorJSON, queryJSON, opsJSON string) (string, error) {
	a, q, err := h.actorQuery(actorJSON, queryJSON)
	if err != nil {
		return "", err
	}
	ops, err := jsapi.DecodeOps(opsJSON)
	if err != nil {
		return "", err
	}
	return h.run(ctx, func(ctx context.Context) (any, error) { return rows(a.AllStaged(ctx, q, ops)) })
}

func (h *Handle) actorQuery(actorJSON, queryJSON string) (*backend.Handle, *query.Query, error) {
	a, err := h.actor(actorJSON)
	if err != nil {
		return nil, nil, err
	}
	q, err := query.Decode([]byte(queryJSON))
	return a, q, err
}

// Batch writes opsJSON as one batch named batchID and returns, once the
// server acknowledged it, the rows after it (null for a delete); a
// rejection is the server's typed error, the batch rolled back.
func (h *Handle) Batch(ctx context.Context, actorJSON, batchID, opsJSON string) (string, error) {
	a, err := h.actor(actorJSON)
	if err != nil {
		return "", err
	}
	ops, err := jsapi.DecodeOps(opsJSON)
	if err != nil {
		return "", err
	}
	return h.run(ctx, func(ctx context.Context) (any, error) {
		res, err := a.BatchWithIDAndWait(ctx, batchID, ops)
		if err != nil {
			return nil, err
		}
		return res.Rows, nil
	})
}

// The single writes wait for the server's verdict, as every backend write
// does: a backend wants to know whether the write stood. They return the
// row after the write as JSON.

// Insert inserts valuesJSON into table.
func (h *Handle) Insert(ctx context.Context, actorJSON, table, valuesJSON string) (string, error) {
	return h.write(ctx, actorJSON, valuesJSON, func(ctx context.Context, a *backend.Handle, v map[string]any) (engine.Row, error) {
		return a.InsertAndWait(ctx, table, v)
	})
}

// Update applies patchJSON to row id.
func (h *Handle) Update(ctx context.Context, actorJSON, table, id, patchJSON string) (string, error) {
	return h.write(ctx, actorJSON, patchJSON, func(ctx context.Context, a *backend.Handle, v map[string]any) (engine.Row, error) {
		return a.UpdateAndWait(ctx, table, id, v)
	})
}

// Upsert writes row id with valuesJSON, inserting it if it does not exist.
func (h *Handle) Upsert(ctx context.Context, actorJSON, table, id, valuesJSON string) (string, error) {
	return h.write(ctx, actorJSON, valuesJSON, func(ctx context.Context, a *backend.Handle, v map[string]any) (engine.Row, error) {
		return a.UpsertAndWait(ctx, table, id, v)
	})
}

// Restore brings back deleted row id with valuesJSON.
func (h *Handle) Restore(ctx context.Context, actorJSON, table, id, valuesJSON string) (string, error) {
	return h.write(ctx, actorJSON, valuesJSON, func(ctx context.Context, a *backend.Handle, v map[string]any) (engine.Row, error) {
		return a.RestoreAndWait(ctx, table, id, v)
	})
}

// Delete deletes row id; there is no row to return.
func (h *Handle) Delete(ctx context.Context, actorJSON, table, id string) error {
	a, err := h.actor(actorJSON)
	if err != nil {
		return err
	}
	_, err = h.run(ctx, func(ctx context.Context) (any, error) { return nil, a.DeleteAndWait(ctx, table, id) })
	return err
}

func (h *Handle) write(ctx context.Context, actorJSON, valuesJSON string, op func(context.Context, *backend.Handle, map[string]any) (engine.Row, error)) (string, error) {
	a, err := h.actor(actorJSON)
	if err != nil {
		return "", err
	}
	vals, err := jsapi.DecodeValues(valuesJSON)
	if err != nil {
		return "", err
	}
	return h.run(ctx, func(ctx context.Context) (any, error) { return op(ctx, a, vals) })
}

// Close ends every subscription and closes the Context (flushing writes);
// every later call fails with ErrClosed, and closing again does nothing.
func (h *Handle) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	subs := h.subs
	h.subs = map[int]*sub{}
	h.mu.Unlock()
	for _, s := range subs {
		s.stop(h)
	}
	return Err(h.ctx.Close())
}

// Err gives package backend's errors and server/auth's refusals the names
// and codes JavaScript expects (core.d.ts); every other error is left to
// jsapi.Describe.
func Err(err error) error {
	if err == nil {
		return nil
	}
	var ae *auth.Error
	switch {
	case errors.As(err, &ae):
		return jsapi.NewError(jsapi.Auth, string(ae.Code), "%s", ae.Error())
	case errors.Is(err, backend.ErrConfig):
		return jsapi.NewError(jsapi.Config, "invalid_config", "%s", err.Error())
	case errors.Is(err, backend.ErrClosed):
		return jsapi.NewError(jsapi.Closed, "closed", "%s", err.Error())
	}
	return err
}
