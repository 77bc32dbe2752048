//go:build js && wasm

package bridge

import (
	"context"
	gosync "sync"
	"syscall/js"

	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

// browserTabs is jsapi.Tabs over BroadcastChannel and Web Locks; the
// protocol itself is jsapi's (tabs.go there).
type browserTabs struct{}

func tabsAvailable() bool {
	g := js.Global()
	if g.Get("BroadcastChannel").Type() != js.TypeFunction {
		return false
	}
	nav := g.Get("navigator")
	if jsutil.IsNullish(nav) {
		return false
	}
	locks := nav.Get("locks")
	return !jsutil.IsNullish(locks) && locks.Get("request").Type() == js.TypeFunction
}

// channel is a BroadcastChannel; messages are strings.
type channel struct {
	ch   js.Value
	recv js.Func
}

func (browserTabs) Channel(name string, recv func([]byte)) (jsapi.Channel, error) {
	c := &channel{}
	if err := jsutil.Catch(func() { c.ch = js.Global().Get("BroadcastChannel").New(name) }); err != nil {
		return nil, err
	}
	c.recv = jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		safely("tab message", func() {
			if data := args[0].Get("data"); data.Type() == js.TypeString {
				recv([]byte(data.String()))
			}
		})
		return nil
	})
	c.ch.Set("onmessage", c.recv)
	return c, nil
}

func (c *channel) Post(msg []byte) {
	_ = jsutil.Catch(func() { c.ch.Call("postMessage", string(msg)) })
}

func (c *channel) Close() {
	_ = jsutil.Catch(func() {
		c.ch.Set("onmessage", js.Null())
		c.ch.Call("close")
	})
	jsutil.Release(c.recv)
}

// webLock is a lock of navigator.locks. A granted lock is held for as long
// as the promise its callback returned is pending: release resolves it.
type webLock struct {
	name string

	mu       gosync.Mutex
	release  js.Value // resolves the promise that holds the granted lock
	abort    js.Value // aborts the queued request
	waitFn   js.Func
	waitLive bool
}

func (browserTabs) Lock(name string) jsapi.Lock {
	return &webLock{name: name, release: js.Undefined(), abort: js.Undefined()}
}

// request calls navigator.locks.request(name, opts, granted).
func (l *webLock) request(opts js.Value, granted js.Func) error {
	return jsutil.Catch(func() {
		p := js.Global().Get("navigator").Get("locks").Call("request", l.name, opts, granted)
		p.Call("catch", jsutil.Noop())
	})
}

// hold returns the promise that keeps a granted lock until Release.
func (l *webLock) hold() js.Value {
	var resolve js.Value
	exec := jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		resolve = args[0]
		return nil
	})
	p := promiseCtor.New(exec)
	jsutil.Release(exec)
	l.mu.Lock()
	l.release = resolve
	l.mu.Unlock()
	return p
}

func (l *webLock) TryAcquire(ctx context.Context) (bool, error) {
	res := make(chan bool, 1)
	var fn js.Func
	fn = jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		jsutil.Release(fn)
		if len(args) == 0 || jsutil.IsNullish(args[0]) {
			res <- false
			return nil
		}
		p := l.hold()
		res <- true
		return p
	})
	opts := js.Global().Get("Object").New()
	opts.Set("ifAvailable", true)
	if err := l.request(opts, fn); err != nil {
		jsutil.Release(fn)
		return false, err
	}
	select {
	case ok := <-res:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (l *webLock) Wait(granted func()) error {
	ac := js.Global().Get("AbortController").New()
	l.mu.Lock()
	l.abort = ac
	l.waitFn = jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		l.mu.Lock()
		if l.waitLive {
			l.waitLive = false
			jsutil.Release(l.waitFn)
		}
		l.abort = js.Undefined()
		l.mu.Unlock()
		p := l.hold()
		granted()
		return p
	})
	l.waitLive = true
	fn := l.waitFn
	l.mu.Unlock()
	opts := js.Global().Get("Object").New()
	opts.Set("signal", ac.Get("signal"))
	return l.request(opts, fn)
}

func (l *webLock) Release() {
	l.mu.Lock()
	r, ac := l.release, l.abort
	l.release, l.abort = js.Undefined(), js.Undefined()
	if l.waitLive {
		l.waitLive = false
		jsutil.Release(l.waitFn)
	}
	l.mu.Unlock()
	if !r.IsUndefined() {
		r.Invoke()
	}
	if !ac.IsUndefined() {
		_ = jsutil.Catch(func() { ac.Call("abort") })
	}
}
