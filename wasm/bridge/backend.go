//go:build js && wasm && jazzbackend

// The backend entry points (bindings/js/src/backend): JazzCore.createBackend,
// over package backend. They are compiled only into jazz-backend.wasm (build
// tag jazzbackend), which runs in Node: package backend links the server's
// session resolver and JWT verification (server/auth), which the browser
// build must neither ship nor pay for (wasm/internal/depcheck). Without the
// tag, backend_off.go installs nothing.

package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	gosync "sync"
	"syscall/js"
	"time"

	"github.com/jazzgo/jazz-tools/backend"
	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/live"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server/auth"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
	"github.com/jazzgo/jazz-tools/wasm/jsws"
)

// backendConfig is createBackend's configJSON.
type backendConfig struct {
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

// actorSpec is open's actorJSON.
type actorSpec struct {
	Kind    string           `json:"kind"` // "backend", "attribution" or "session"
	UserID  string           `json:"userId,omitempty"`
	Session *session.Session `json:"session,omitempty"`
}

// proofLeeway is the clock skew allowed when verifying identity proofs.
const proofLeeway = 30 * time.Second

func installBackend(core js.Value) {
	// Verifying proofs is a server's job: the browser build does not link
	// signature verification (crypto/ed25519's curve code, ~20 KB brotli).
	core.Set("verifyLocalFirstIdentityProof", exported(syncFunc(func(args []js.Value) (any, error) {
		proof, err := stringArg(args, 0, "proof")
		if err != nil {
			return nil, err
		}
		aud, err := stringArg(args, 1, "audience")
		if err != nil {
			return nil, err
		}
		return identity.VerifyProof(proof, aud, time.Now(), proofLeeway)
	})))
	core.Set("createBackend", exported(asyncFunc(func(args []js.Value) (func(context.Context) (any, error), error) {
		cfg, err := stringArg(args, 0, "configJSON")
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) {
			b, err := createBackend(ctx, cfg)
			if err != nil {
				return nil, backendErr(err)
			}
			return b.obj, nil
		}, nil
	})))
}

// backendHandle is one BackendHandle: a backend.Context. Its data methods
// take the actor as their first argument (actorJSON, see actorSpec) rather
// than living on an object per actor: a backend makes a Db per request, and
// per-actor objects would hold js.Funcs nobody releases.
type backendHandle struct {
	ctx     *backend.Context
	obj     js.Value
	methods []js.Func

	mu         gosync.Mutex
	schemaDone chan struct{} // closed once the last useSchema reached the Context
	nextID     int
	subs       map[int]*backendSub
	closed     bool
}

func createBackend(ctx context.Context, cfgJSON string) (*backendHandle, error) {
	var c backendConfig
	if len(cfgJSON) > jsapi.MaxConfig {
		return nil, fmt.Errorf("%w: config is over %d bytes", backend.ErrConfig, jsapi.MaxConfig)
	}
	if err := jsapi.StrictJSON(cfgJSON, &c); err != nil {
		return nil, fmt.Errorf("%w: configJSON: %v", backend.ErrConfig, err)
	}
	opts := backend.Options{
		AppID: c.AppID, ServerURL: c.ServerURL, BackendSecret: c.BackendSecret, AdminSecret: c.AdminSecret,
		JWKSURL: c.JWKSURL, JWTPublicKey: c.JWTPublicKey, JWTAudiences: c.JWTAudience, JWTIssuer: c.JWTIssuer,
		AllowLocalFirstAuth: c.AllowLocalFirstAuth, Production: c.Production,
		MaxConnections: c.MaxConnections, WaitTimeout: time.Duration(c.WaitTimeoutMs) * time.Millisecond,
		// Go's net/http does not use fetch under Node; JWKS and bundle
		// requests go through it explicitly.
		HTTPClient: &http.Client{Transport: fetchTransport{}, Timeout: 15 * time.Second},
		Transport:  jsws.Transport{},
	}
	bctx, err := backend.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	for _, w := range bctx.Warnings() {
		console.Call("warn", "jazz-tools/backend: "+w)
	}
	done := make(chan struct{})
	close(done)
	b := &backendHandle{ctx: bctx, schemaDone: done, subs: map[int]*backendSub{}}
	b.obj = js.Global().Get("Object").New()
	add := func(name string, f js.Func) {
		b.methods = append(b.methods, f)
		b.obj.Set(name, exported(f))
	}
	add("resolveRequest", asyncFunc(b.resolveRequest))
	add("useSchema", syncFunc(b.useSchema))
	add("all", asyncFunc(b.read(false)))
	add("one", asyncFunc(b.read(true)))
	add("insert", asyncFunc(b.write("insert")))
	add("update", asyncFunc(b.write("update")))
	add("delete", asyncFunc(b.write("delete")))
	add("upsert", asyncFunc(b.write("upsert")))
	add("restore", asyncFunc(b.write("restore")))
	add("batch", asyncFunc(b.batch))
	add("allStaged", asyncFunc(b.allStaged))
	add("subscribe", syncFunc(b.subscribe))
	add("close", asyncFunc(func([]js.Value) (func(context.Context) (any, error), error) { return b.close, nil }))
	return b, nil
}

var errBackendClosed = jsapi.NewError(jsapi.Closed, "closed", "jazz: the backend context is closed")

func (b *backendHandle) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// resolveRequest(headersJSON, forAttribution) takes {"Header-Name":
// ["value", ...]} and resolves to the session JSON, or rejects with
// AuthError {code: expired|missing|invalid|disabled}. forAttribution refuses
// a request without credentials (withAttributionForRequest).
func (b *backendHandle) resolveRequest(args []js.Value) (func(context.Context) (any, error), error) {
	hs, err := stringArg(args, 0, "headersJSON")
	if err != nil {
		return nil, err
	}
	var raw map[string][]string
	if err := json.Unmarshal([]byte(hs), &raw); err != nil {
		return nil, jsapi.BadArgument("jazz: headersJSON must be an object of string arrays")
	}
	h := http.Header{}
	for k, vs := range raw {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	forAttribution := len(args) > 1 && args[1].Truthy()
	return func(ctx context.Context) (any, error) {
		resolve := b.ctx.ResolveHeaders
		if forAttribution {
			resolve = b.ctx.ResolveHeadersForAttribution
		}
		s, err := resolve(ctx, h)
		if err != nil {
			return nil, backendErr(err)
		}
		out, err := json.Marshal(s)
		return string(out), err
	}, nil
}

// actor decodes an actorJSON argument into the handle it names.
func (b *backendHandle) actor(args []js.Value) (*backend.Handle, error) {
	s, err := stringArg(args, 0, "actorJSON")
	if err != nil {
		return nil, err
	}
	var spec actorSpec
	if err := jsapi.StrictJSON(s, &spec); err != nil {
		return nil, jsapi.BadArgument("jazz: actorJSON: %v", err)
	}
	var h *backend.Handle
	switch spec.Kind {
	case "backend":
		h = b.ctx.AsBackend()
	case "attribution":
		h = b.ctx.WithAttribution(spec.UserID)
	case "session":
		h = b.ctx.ForSession(spec.Session)
	default:
		return nil, jsapi.BadArgument("jazz: actor kind must be backend, attribution or session")
	}
	if err := h.Err(); err != nil {
		return nil, backendErr(err)
	}
	return h, nil
}

// useSchema hands the tables to the Context on a goroutine (extending live
// replicas takes their locks); operations wait for it (schemaReady).
func (b *backendHandle) useSchema(args []js.Value) (any, error) {
	s, err := stringArg(args, 0, "schemaJSON")
	if err != nil {
		return nil, err
	}
	sc, err := jsapi.DecodeSchema(s)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errBackendClosed
	}
	prev := b.schemaDone
	done := make(chan struct{})
	b.schemaDone = done
	b.mu.Unlock()
	// Checked against the tables known so far at once, so a conflicting
	// declaration throws here rather than failing later operations.
	if _, _, err := schema.Merge(b.ctx.Schema(), sc); err != nil {
		close(done)
		return nil, err
	}
	go func() {
		defer close(done)
		<-prev
		safely("useSchema", func() {
			if err := b.ctx.UseSchema(context.Background(), sc); err != nil {
				console.Call("error", "jazz: backend useSchema: "+err.Error())
			}
		})
	}()
	return nil, nil
}

func (b *backendHandle) schemaReady(ctx context.Context) error {
	b.mu.Lock()
	done := b.schemaDone
	b.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batch(actor, batchId, opsJSON) writes one batch as the actor and
// resolves, once the server acknowledged it, to the rows after it (JSON,
// null for a delete); it rejects with the server's typed rejection, the
// batch rolled back. Like every backend write, it settles at the edge.
func (b *backendHandle) batch(args []js.Value) (func(context.Context) (any, error), error) {
	h, err := b.actor(args)
	if err != nil {
		return nil, err
	}
	id, err := stringArg(args, 1, "batchId")
	if err != nil {
		return nil, err
	}
	opsJSON, err := stringArg(args, 2, "opsJSON")
	if err != nil {
		return nil, err
	}
	ops, err := jsapi.DecodeOps(opsJSON)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (any, error) {
		if err := b.schemaReady(ctx); err != nil {
			return nil, err
		}
		res, err := h.BatchWithIDAndWait(ctx, id, ops)
		if err != nil {
			return nil, backendErr(err)
		}
		j, err := json.Marshal(res.Rows)
		return string(j), err
	}, nil
}

// allStaged(actor, queryJSON, opsJSON) reads as a transaction does: the
// rows as the server has them, as they would be after its writes.
func (b *backendHandle) allStaged(args []js.Value) (func(context.Context) (any, error), error) {
	h, err := b.actor(args)
	if err != nil {
		return nil, err
	}
	qs, err := stringArg(args, 1, "queryJSON")
	if err != nil {
		return nil, err
	}
	q, err := query.Decode([]byte(qs))
	if err != nil {
		return nil, err
	}
	opsJSON, err := stringArg(args, 2, "opsJSON")
	if err != nil {
		return nil, err
	}
	ops, err := jsapi.DecodeOps(opsJSON)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (any, error) {
		if err := b.schemaReady(ctx); err != nil {
			return nil, err
		}
		rs, err := h.AllStaged(ctx, q, ops)
		if err != nil {
			return nil, backendErr(err)
		}
		if rs == nil {
			rs = []engine.Row{}
		}
		j, err := json.Marshal(rs)
		return string(j), err
	}, nil
}

func (b *backendHandle) read(one bool) func([]js.Value) (func(context.Context) (any, error), error) {
	return func(args []js.Value) (func(context.Context) (any, error), error) {
		h, err := b.actor(args)
		if err != nil {
			return nil, err
		}
		qs, err := stringArg(args, 1, "queryJSON")
		if err != nil {
			return nil, err
		}
		q, err := query.Decode([]byte(qs))
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) {
			if err := b.schemaReady(ctx); err != nil {
				return nil, err
			}
			var out any
			if one {
				r, err := h.One(ctx, q)
				if err != nil {
					return nil, backendErr(err)
				}
				out = r
			} else {
				rs, err := h.All(ctx, q)
				if err != nil {
					return nil, backendErr(err)
				}
				if rs == nil {
					rs = []engine.Row{}
				}
				out = rs
			}
			j, err := json.Marshal(out)
			return string(j), err
		}, nil
	}
}

// write performs a write and waits for the server's verdict: a backend
// wants to know whether the write stood.
func (b *backendHandle) write(kind string) func([]js.Value) (func(context.Context) (any, error), error) {
	return func(args []js.Value) (func(context.Context) (any, error), error) {
		h, err := b.actor(args)
		if err != nil {
			return nil, err
		}
		table, err := stringArg(args, 1, "table")
		if err != nil {
			return nil, err
		}
		var id string
		next := 2
		if kind != "insert" {
			if id, err = stringArg(args, 2, "id"); err != nil {
				return nil, err
			}
			next = 3
		}
		var vals map[string]any
		if kind != "delete" {
			vs, err := stringArg(args, next, "valuesJSON")
			if err != nil {
				return nil, err
			}
			if vals, err = jsapi.DecodeValues(vs); err != nil {
				return nil, err
			}
		}
		return func(ctx context.Context) (any, error) {
			if err := b.schemaReady(ctx); err != nil {
				return nil, err
			}
			var (
				row engine.Row
				err error
			)
			switch kind {
			case "insert":
				row, err = h.InsertAndWait(ctx, table, vals)
			case "update":
				row, err = h.UpdateAndWait(ctx, table, id, vals)
			case "delete":
				err = h.DeleteAndWait(ctx, table, id)
			case "upsert":
				row, err = h.UpsertAndWait(ctx, table, id, vals)
			case "restore":
				row, err = h.RestoreAndWait(ctx, table, id, vals)
			}
			if err != nil {
				return nil, backendErr(err)
			}
			if kind == "delete" {
				return js.Undefined(), nil
			}
			j, err := json.Marshal(row)
			return string(j), err
		}, nil
	}
}

// backendSub is one live query; cb and onError belong to JavaScript.
type backendSub struct {
	unsub *stopper
	feed  *live.Feed // turns engine updates into the deltas cb gets

	mu     gosync.Mutex
	dead   bool
	cancel func()
}

// subscribe(actorJSON, queryJSON, cb, onError) starts a live query and
// returns its unsubscribe function. cb receives the update JSON (as for
// DbHandle.subscribe); onError the {name, code, message} of a failure to
// start it.
func (b *backendHandle) subscribe(args []js.Value) (any, error) {
	h, err := b.actor(args)
	if err != nil {
		return nil, err
	}
	qs, err := stringArg(args, 1, "queryJSON")
	if err != nil {
		return nil, err
	}
	cb, err := funcArg(args, 2, "callback")
	if err != nil {
		return nil, err
	}
	onErr, err := funcArg(args, 3, "onError")
	if err != nil {
		return nil, err
	}
	q, err := query.Decode([]byte(qs))
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errBackendClosed
	}
	id := b.nextID
	b.nextID++
	s := &backendSub{}
	report := func(err error) {
		j, _ := json.Marshal(jsapi.Describe(backendErr(err)))
		safely("onError", func() { onErr.Invoke(string(j)) })
	}
	s.feed = live.New(live.Options{Clock: turnClock{}, Deliver: func(d live.Delta) {
		j, err := d.AppendJSON(nil)
		if err != nil {
			report(err)
			return
		}
		if !s.isDead() {
			safely("subscription callback", func() { cb.Invoke(string(j)) })
		}
	}})
	s.feed.Attach(1)
	b.subs[id] = s
	b.mu.Unlock()
	s.unsub = newStopper(func() {
		safely("unsubscribe", func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
			s.stop()
		})
	})
	go safely("subscribe", func() {
		ctx := context.Background()
		if err := b.schemaReady(ctx); err != nil {
			return
		}
		cancel, err := h.Subscribe(ctx, q, func(u engine.Update) { s.feed.Push(1, u) })
		if err != nil {
			if !s.isDead() {
				report(err)
			}
			return
		}
		s.mu.Lock()
		if s.dead {
			s.mu.Unlock()
			cancel()
			return
		}
		s.cancel = cancel
		s.mu.Unlock()
	})
	return s.unsub.js, nil
}

func (s *backendSub) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

func (s *backendSub) stop() {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead = true
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	s.unsub.release()
	s.feed.Stop()
	if cancel != nil {
		go safely("unsubscribe", cancel)
	}
}

// close ends every subscription, closes the Context (flushing writes) and
// releases the methods; later calls reject with ClosedError.
func (b *backendHandle) close(ctx context.Context) (any, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return js.Undefined(), nil
	}
	b.closed = true
	subs := b.subs
	b.subs = map[int]*backendSub{}
	b.mu.Unlock()
	for _, s := range subs {
		s.stop()
	}
	err := b.ctx.Close()
	closedErr := jsapi.Describe(errBackendClosed)
	closed := exported(jsutil.FuncOf(func(js.Value, []js.Value) any { return rejected(closedErr) }))
	for _, name := range []string{"resolveRequest", "useSchema", "all", "one", "insert", "update", "delete", "upsert", "restore", "batch", "allStaged", "subscribe"} {
		b.obj.Set(name, closed)
	}
	b.obj.Set("close", exported(jsutil.FuncOf(func(js.Value, []js.Value) any { return promiseCtor.Call("resolve", js.Undefined()) })))
	for _, f := range b.methods {
		jsutil.Release(f)
	}
	b.methods = nil
	return js.Undefined(), backendErr(err)
}

// backendErr gives package backend's errors the names and codes
// JavaScript expects (core.d.ts); everything else is jsapi.Describe's.
func backendErr(err error) error {
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

// fetchTransport is an http.RoundTripper over the JS fetch API. Go's own
// net/http does not use fetch when it detects Node (go.dev/issue/57613).
type fetchTransport struct{}

func (fetchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	headers := js.Global().Get("Object").New()
	for k, vs := range req.Header {
		for _, v := range vs {
			headers.Set(k, v)
		}
	}
	init := js.Global().Get("Object").New()
	init.Set("method", req.Method)
	init.Set("headers", headers)
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(b) > 0 {
			init.Set("body", jsutil.Uint8Array(b))
		}
	}
	var p js.Value
	if err := jsutil.Catch(func() { p = js.Global().Call("fetch", req.URL.String(), init) }); err != nil {
		return nil, err
	}
	res, err := jsutil.Await(req.Context(), p)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", req.URL.Redacted(), err)
	}
	buf, err := jsutil.Await(req.Context(), res.Call("arrayBuffer"))
	if err != nil {
		return nil, err
	}
	body, err := jsutil.Bytes(buf)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	var each js.Func
	each = jsutil.FuncOf(func(_ js.Value, a []js.Value) any {
		if len(a) >= 2 {
			h.Add(a[1].String(), a[0].String())
		}
		return nil
	})
	res.Get("headers").Call("forEach", each)
	jsutil.Release(each)
	status := res.Get("status").Int()
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, res.Get("statusText").String()), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}, nil
}
