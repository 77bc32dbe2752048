//go:build js && wasm && jazzbackend

// The backend entry points (bindings/js/src/backend): JazzCore.createBackend
// over package backend/jsapi, which holds their behaviour; this file only
// converts JavaScript values and adapts Node's fetch. They are compiled only
// into jazz-backend.wasm (build tag jazzbackend), which runs in Node:
// package backend links the server's session resolver and JWT verification
// (server/auth), which the browser build must neither ship nor pay for
// (wasm/internal/depcheck). Without the tag, backend_off.go installs nothing.

package bridge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"syscall/js"
	"time"

	backendapi "github.com/jazzgo/jazz-tools/backend/jsapi"
	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
	"github.com/jazzgo/jazz-tools/wasm/jsws"
)

// proofLeeway is the clock skew allowed when verifying identity proofs.
const proofLeeway = 30 * time.Second

// backendEnv is what Node supplies a backend: fetch for HTTP, its WebSocket,
// the turn clock and the console.
var backendEnv = backendapi.Env{
	HTTP: fetchTransport{}, Transport: jsws.Transport{}, Clock: turnClock{},
	Console: func(level, msg string) { console.Call(level, msg) },
}

func installBackend(core js.Value) {
	// Verifying proofs is a server's job: the browser build does not link
	// signature verification (crypto/ed25519's curve code, ~20 KB brotli).
	core.Set("verifyLocalFirstIdentityProof", exported(syncFunc(func(args []js.Value) (any, error) {
		a, err := stringArgs(args, "proof", "audience")
		if err != nil {
			return nil, err
		}
		return identity.VerifyProof(a[0], a[1], time.Now(), proofLeeway)
	})))
	core.Set("createBackend", exported(asyncFunc(func(args []js.Value) (func(context.Context) (any, error), error) {
		cfg, err := stringArg(args, 0, "configJSON")
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) {
			h, err := backendapi.New(ctx, cfg, backendEnv)
			if err != nil {
				return nil, err
			}
			return newBackendObject(h), nil
		}, nil
	})))
}

// stringArgs reads the leading arguments, all strings, in order.
func stringArgs(args []js.Value, names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		s, err := stringArg(args, i, n)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// backendObject is the BackendHandle JavaScript holds: the js.Funcs of
// its methods, released on close.
type backendObject struct {
	obj     js.Value
	names   []string
	methods []js.Func
}

func newBackendObject(h *backendapi.Handle) js.Value {
	b := &backendObject{obj: js.Global().Get("Object").New()}
	b.add("resolveRequest", asyncFunc(func(args []js.Value) (func(context.Context) (any, error), error) {
		hs, err := stringArg(args, 0, "headersJSON")
		if err != nil {
			return nil, err
		}
		forAttribution := len(args) > 1 && args[1].Truthy()
		return func(ctx context.Context) (any, error) { return settle(h.ResolveRequest(ctx, hs, forAttribution)) }, nil
	}))
	b.add("useSchema", syncFunc(func(args []js.Value) (any, error) {
		s, err := stringArg(args, 0, "schemaJSON")
		if err != nil {
			return nil, err
		}
		return nil, h.UseSchema(s)
	}))
	async(b, "all", func(ctx context.Context, a []string) (string, error) { return h.All(ctx, a[0], a[1]) }, "actorJSON", "queryJSON")
	async(b, "one", func(ctx context.Context, a []string) (string, error) { return h.One(ctx, a[0], a[1]) }, "actorJSON", "queryJSON")
	async(b, "insert", func(ctx context.Context, a []string) (string, error) { return h.Insert(ctx, a[0], a[1], a[2]) }, "actorJSON", "table", "valuesJSON")
	async(b, "update", func(ctx context.Context, a []string) (string, error) { return h.Update(ctx, a[0], a[1], a[2], a[3]) }, "actorJSON", "table", "id", "valuesJSON")
	async(b, "delete", func(ctx context.Context, a []string) (js.Value, error) {
		return js.Undefined(), h.Delete(ctx, a[0], a[1], a[2])
	}, "actorJSON", "table", "id")
	async(b, "upsert", func(ctx context.Context, a []string) (string, error) { return h.Upsert(ctx, a[0], a[1], a[2], a[3]) }, "actorJSON", "table", "id", "valuesJSON")
	async(b, "restore", func(ctx context.Context, a []string) (string, error) { return h.Restore(ctx, a[0], a[1], a[2], a[3]) }, "actorJSON", "table", "id", "valuesJSON")
	async(b, "batch", func(ctx context.Context, a []string) (string, error) { return h.Batch(ctx, a[0], a[1], a[2]) }, "actorJSON", "batchId", "opsJSON")
	async(b, "allStaged", func(ctx context.Context, a []string) (string, error) { return h.AllStaged(ctx, a[0], a[1], a[2]) }, "actorJSON", "queryJSON", "opsJSON")
	b.add("subscribe", syncFunc(b.subscribe(h)))
	async(b, "close", func(context.Context, []string) (js.Value, error) {
		err := h.Close()
		b.release()
		return js.Undefined(), err
	})
	return b.obj
}

func (b *backendObject) add(name string, f js.Func) {
	b.names = append(b.names, name)
	b.methods = append(b.methods, f)
	b.obj.Set(name, exported(f))
}

// async adds a method whose arguments are the strings named; call's
// result resolves its Promise.
func async[T any](b *backendObject, name string, call func(context.Context, []string) (T, error), names ...string) {
	b.add(name, asyncFunc(func(args []js.Value) (func(context.Context) (any, error), error) {
		a, err := stringArgs(args, names...)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) { return settle(call(ctx, a)) }, nil
	}))
}

// settle is a call's result as asyncFunc's work returns it.
func settle[T any](v T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// subscribe(actorJSON, queryJSON, cb, onError) returns the unsubscribe
// function, released when the subscription ends (by it or by close).
func (b *backendObject) subscribe(h *backendapi.Handle) func([]js.Value) (any, error) {
	return func(args []js.Value) (any, error) {
		a, err := stringArgs(args, "actorJSON", "queryJSON")
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
		var stop func()
		st := newStopper(func() { safely("unsubscribe", stop) })
		stop, err = h.Subscribe(a[0], a[1],
			func(j string) { safely("subscription callback", func() { cb.Invoke(j) }) },
			func(j string) { safely("onError", func() { onErr.Invoke(j) }) },
			st.release)
		if err != nil {
			st.release()
			return nil, err
		}
		return st.js, nil
	}
}

// release swaps every method for one rejecting with ClosedError (close
// for one resolving) and releases the methods' js.Funcs.
func (b *backendObject) release() {
	if b.methods == nil {
		return // a concurrent close did it
	}
	closedErr := jsapi.Describe(backendapi.ErrClosed)
	closed := exported(jsutil.FuncOf(func(js.Value, []js.Value) any { return rejected(closedErr) }))
	for _, name := range b.names {
		b.obj.Set(name, closed)
	}
	b.obj.Set("close", exported(jsutil.FuncOf(func(js.Value, []js.Value) any { return promiseCtor.Call("resolve", js.Undefined()) })))
	for _, f := range b.methods {
		jsutil.Release(f)
	}
	b.methods = nil
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
