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
	core.Set("verifyLocalFirstIdentityProof", exported(syncMethod("verifyLocalFirstIdentityProof", func(a *argv) func() (any, error) {
		proof, aud := a.str(0, "proof"), a.str(1, "audience")
		return func() (any, error) { return identity.VerifyProof(proof, aud, time.Now(), proofLeeway) }
	})))
	core.Set("createBackend", exported(asyncMethod("createBackend", func(a *argv) work {
		cfg := a.str(0, "configJSON")
		return func(ctx context.Context) (any, error) {
			h, err := backendapi.New(ctx, cfg, backendEnv)
			if err != nil {
				return nil, err
			}
			return newBackendObject(h), nil
		}
	})))
}

// newBackendObject is the BackendHandle JavaScript holds. Its data methods
// take the actor (actorJSON) first.
func newBackendObject(h *backendapi.Handle) js.Value {
	o := &object{obj: js.Global().Get("Object").New()}
	o.async("resolveRequest", func(a *argv) work {
		hs, forAttribution := a.str(0, "headersJSON"), a.arg(1).Truthy()
		return func(ctx context.Context) (any, error) { return result(h.ResolveRequest(ctx, hs, forAttribution)) }
	})
	o.sync("useSchema", func(a *argv) func() (any, error) {
		s := a.str(0, "schemaJSON")
		return func() (any, error) { return nil, h.UseSchema(s) }
	})
	// call adds a method taking the actor and the strings named.
	call := func(name string, fn func(ctx context.Context, actor string, s []string) (string, error), names ...string) {
		o.async(name, func(a *argv) work {
			actor, s := a.str(0, "actorJSON"), make([]string, len(names))
			for i, n := range names {
				s[i] = a.str(i+1, n)
			}
			return func(ctx context.Context) (any, error) { return result(fn(ctx, actor, s)) }
		})
	}
	call("all", func(ctx context.Context, ac string, s []string) (string, error) { return h.All(ctx, ac, s[0]) }, "queryJSON")
	call("one", func(ctx context.Context, ac string, s []string) (string, error) { return h.One(ctx, ac, s[0]) }, "queryJSON")
	call("insert", func(ctx context.Context, ac string, s []string) (string, error) { return h.Insert(ctx, ac, s[0], s[1]) }, "table", "valuesJSON")
	call("update", func(ctx context.Context, ac string, s []string) (string, error) {
		return h.Update(ctx, ac, s[0], s[1], s[2])
	}, "table", "id", "valuesJSON")
	call("delete", func(ctx context.Context, ac string, s []string) (string, error) {
		return "", h.Delete(ctx, ac, s[0], s[1])
	}, "table", "id")
	call("upsert", func(ctx context.Context, ac string, s []string) (string, error) {
		return h.Upsert(ctx, ac, s[0], s[1], s[2])
	}, "table", "id", "valuesJSON")
	call("restore", func(ctx context.Context, ac string, s []string) (string, error) {
		return h.Restore(ctx, ac, s[0], s[1], s[2])
	}, "table", "id", "valuesJSON")
	call("batch", func(ctx context.Context, ac string, s []string) (string, error) { return h.Batch(ctx, ac, s[0], s[1]) }, "batchId", "opsJSON")
	call("allStaged", func(ctx context.Context, ac string, s []string) (string, error) {
		return h.AllStaged(ctx, ac, s[0], s[1])
	}, "queryJSON", "opsJSON")
	o.sync("subscribe", func(a *argv) func() (any, error) {
		actor, q, cb, onErr := a.str(0, "actorJSON"), a.str(1, "queryJSON"), a.fn(2, "callback"), a.fn(3, "onError")
		return func() (any, error) {
			return stopperFor(func(done func()) (func(), error) { return h.Subscribe(actor, q, invoker(cb), invoker(onErr), done) })
		}
	})
	o.async("close", func(*argv) work {
		return func(context.Context) (any, error) {
			err := h.Close()
			if o.methods != nil { // not closed by a concurrent close
				o.close(backendapi.ErrClosed)
			}
			return js.Undefined(), err
		}
	})
	return o.obj
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
