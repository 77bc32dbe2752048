//go:build js && wasm

package bridge

import (
	"context"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

var (
	errorCtor   = js.Global().Get("Error")
	promiseCtor = js.Global().Get("Promise")
	console     = js.Global().Get("console")
)

// glue is {wrap, box}: wrap(f) returns a function that throws when f
// returns box(error). Go cannot throw into its JavaScript caller, so sync
// methods that fail return a boxed error and this wrapper throws it. It is
// built with the Function constructor; under a CSP without 'unsafe-eval'
// that fails, and sync methods then return the Error instead of throwing
// (with a console warning once).
var glue js.Value

func initGlue() {
	err := jsutil.Catch(func() {
		glue = js.Global().Get("Function").New(`const S = Symbol("jazz.throw");
return {
  wrap: (f) => function (...a) { const r = f.apply(this, a); if (r !== null && typeof r === "object" && S in r) throw r[S]; return r; },
  box: (e) => ({ [S]: e }),
  once: (f) => { const w = function () { if (!w.done) { w.done = true; f(); } }; w.done = false; return w; },
};`).Invoke()
	})
	if err != nil {
		glue = js.Undefined()
		console.Call("warn", "jazz: cannot create the function wrapper that lets synchronous methods throw ("+err.Error()+"); they will return Error objects instead")
	}
}

// exported is the JS function to expose for f (wrapped so boxed errors throw).
func exported(f js.Func) js.Value {
	if glue.IsUndefined() {
		return f.Value
	}
	return glue.Call("wrap", f)
}

// jsError builds the Error JavaScript sees for b.
// once makes f callable any number of times, reaching Go only the first:
// stop and unsubscribe functions are released after their first call, and
// calling them again must stay harmless.
func once(f js.Func) js.Value {
	if glue.IsUndefined() {
		return f.Value
	}
	return glue.Call("once", f)
}

// stopper is a stop or unsubscribe function handed to JavaScript: a
// once-wrapper around a Go js.Func that its owner releases. release disarms
// the wrapper first, so JavaScript calling it later (a React or Vue cleanup
// after the Db closed) does nothing instead of reaching a released function.
type stopper struct {
	fn js.Func
	js js.Value
}

func newStopper(fn func()) *stopper {
	st := &stopper{}
	st.fn = jsutil.FuncOf(func(js.Value, []js.Value) any {
		fn()
		return nil
	})
	st.js = once(st.fn)
	return st
}

func (st *stopper) release() {
	if st.js.Type() == js.TypeFunction {
		st.js.Set("done", true)
	}
	jsutil.Release(st.fn)
}

func jsError(b jsapi.ErrorBody) js.Value {
	e := errorCtor.New(b.Message)
	e.Set("name", b.Name)
	e.Set("code", b.Code)
	if b.Table != "" {
		e.Set("table", b.Table)
	}
	if b.Operation != "" {
		e.Set("operation", b.Operation)
	}
	if b.Column != "" {
		e.Set("column", b.Column)
	}
	return e
}

func thrown(b jsapi.ErrorBody) any {
	e := jsError(b)
	if glue.IsUndefined() {
		return e
	}
	return glue.Call("box", e)
}

// testHook, when set (tests only), runs at the start of every method's
// work, e.g. to panic on purpose.
var testHook func(method string)

func hook(method string) {
	if testHook != nil {
		testHook(method)
	}
}

func rejected(b jsapi.ErrorBody) js.Value {
	return promiseCtor.Call("reject", jsError(b))
}

// promise runs work on a new goroutine and settles the returned Promise
// with its result. The executor js.Func is released as soon as the
// constructor has called it (synchronously).
func promise(work func(context.Context) (any, error)) js.Value {
	var resolve, reject js.Value
	exec := jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject = args[0], args[1]
		return nil
	})
	p := promiseCtor.New(exec)
	jsutil.Release(exec)
	go func() {
		v, body, failed := runRecovered(work)
		if failed {
			reject.Invoke(jsError(body))
			return
		}
		resolve.Invoke(v)
	}()
	return p
}

func runRecovered(work func(context.Context) (any, error)) (v any, body jsapi.ErrorBody, failed bool) {
	defer func() {
		if p := recover(); p != nil {
			v, body, failed = nil, jsapi.Panic(p), true
		}
	}()
	v, err := work(context.Background())
	if err != nil {
		return nil, jsapi.Describe(err), true
	}
	return v, jsapi.ErrorBody{}, false
}

// safely runs fn, turning a panic into a console error: for callbacks JS
// calls (events, locks) and Go callbacks that call JS.
func safely(what string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			console.Call("error", fmt.Sprintf("jazz: internal error in %s: %v", what, p))
		}
	}()
	fn()
}

// setTimeout is the page's timer, for afterTask.
var setTimeout = js.Global().Get("setTimeout")

// afterTask runs fn on a new goroutine once the current JavaScript task and
// its microtasks are over (setTimeout 0). A goroutine started with go alone
// runs before Go hands the thread back to JavaScript (Go's wasm scheduler
// returns only when every goroutine waits), so background work started that
// way, such as loading a table or connecting to the server, delays the
// promise callbacks the page is waiting for, among them a reload's first
// query result.
func afterTask(fn func()) {
	var f js.Func
	f = js.FuncOf(func(js.Value, []js.Value) any {
		f.Release()
		go fn()
		return nil
	})
	setTimeout.Invoke(f, 0)
}

// work is an async method's work, run on a new goroutine.
type work = func(context.Context) (any, error)

// argv reads a call's arguments. A wrong one is remembered (the first)
// and the call fails with it before the core is called.
type argv struct {
	v   []js.Value
	err error
}

func (a *argv) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

func (a *argv) arg(i int) js.Value {
	if i < len(a.v) {
		return a.v[i]
	}
	return js.Undefined()
}

func (a *argv) str(i int, name string) string {
	if v := a.arg(i); v.Type() == js.TypeString {
		return v.String()
	}
	a.fail(jsapi.BadArgument("jazz: %s must be a string", name))
	return ""
}

// optStr is argument i if it is a string, else "".
func (a *argv) optStr(i int) string {
	if v := a.arg(i); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

func (a *argv) num(i int, name string) float64 {
	if v := a.arg(i); v.Type() == js.TypeNumber {
		return v.Float()
	}
	a.fail(jsapi.BadArgument("jazz: %s must be a number", name))
	return 0
}

func (a *argv) fn(i int, name string) js.Value {
	v := a.arg(i)
	if v.Type() != js.TypeFunction {
		a.fail(jsapi.BadArgument("jazz: %s must be a function", name))
	}
	return v
}

// strOrNull is argument i as a string (ok), or nothing for null or
// undefined; anything else fails with msg.
func (a *argv) strOrNull(i int, msg string) (string, bool) {
	v := a.arg(i)
	if v.Type() == js.TypeString {
		return v.String(), true
	}
	if !jsutil.IsNullish(v) {
		a.fail(jsapi.BadArgument("%s", msg))
	}
	return "", false
}

// fnOrNull is strOrNull for a function.
func (a *argv) fnOrNull(i int, msg string) (js.Value, bool) {
	v := a.arg(i)
	if v.Type() == js.TypeFunction {
		return v, true
	}
	if !jsutil.IsNullish(v) {
		a.fail(jsapi.BadArgument("%s", msg))
	}
	return v, false
}

// syncMethod makes a synchronous method: read reads the arguments and
// returns the call, made only if they were right. An error is thrown, a
// panic becomes a thrown InternalError. Not inlined: inlined, each method
// got its own copy of this code in the wasm.
//
//go:noinline
func syncMethod(name string, read func(a *argv) func() (any, error)) js.Func {
	return jsutil.FuncOf(func(this js.Value, args []js.Value) (ret any) {
		defer func() {
			if p := recover(); p != nil {
				ret = thrown(jsapi.Panic(p))
			}
		}()
		hook(name)
		a := &argv{v: args}
		call := read(a)
		if a.err != nil {
			return thrown(jsapi.Describe(a.err))
		}
		v, err := call()
		if err != nil {
			return thrown(jsapi.Describe(err))
		}
		return v
	})
}

// asyncMethod makes a method returning a Promise: read reads the
// arguments (a wrong one rejects it) and returns the work, which runs on a
// new goroutine. Not inlined, like syncMethod.
//
//go:noinline
func asyncMethod(name string, read func(a *argv) work) js.Func {
	return jsutil.FuncOf(func(this js.Value, args []js.Value) (ret any) {
		defer func() {
			if p := recover(); p != nil {
				ret = rejected(jsapi.Panic(p))
			}
		}()
		a := &argv{v: args}
		w := read(a)
		if a.err != nil {
			return rejected(jsapi.Describe(a.err))
		}
		return promise(func(ctx context.Context) (any, error) {
			hook(name)
			return w(ctx)
		})
	})
}

// result is what a Promise resolves to: the core's JSON, or undefined
// where it returns none.
func result(s string, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if s == "" {
		return js.Undefined(), nil
	}
	return s, nil
}

func noArgs(fn func() (string, error)) func(*argv) func() (any, error) {
	return func(*argv) func() (any, error) {
		return func() (any, error) { return fn() }
	}
}

// invoker calls the JavaScript function f with a JSON string; what it
// throws goes to the console.
func invoker(f js.Value) func(string) {
	return func(s string) { safely("callback", func() { f.Invoke(s) }) }
}

// stopperFor registers something the core stops later (a subscription, a
// listener) and returns the JavaScript function that stops it. The core
// calls done once it has ended, however it ended, which releases the
// function.
func stopperFor(start func(done func()) (stop func(), err error)) (any, error) {
	var stop func()
	st := newStopper(func() { safely("stop", stop) })
	s, err := start(st.release)
	if err != nil {
		st.release()
		return nil, err
	}
	stop = s
	return st.js, nil
}

// object is a JavaScript object whose methods are Go functions, which it
// owns: close swaps them for shared ones that fail and releases them.
type object struct {
	obj     js.Value
	methods []method
}

type method struct {
	name  string
	f     js.Func
	async bool
}

func (o *object) add(name string, f js.Func, async bool) {
	o.methods = append(o.methods, method{name, f, async})
	o.obj.Set(name, exported(f))
}

func (o *object) sync(name string, read func(a *argv) func() (any, error)) {
	o.add(name, syncMethod(name, read), false)
}

func (o *object) async(name string, read func(a *argv) work) {
	o.add(name, asyncMethod(name, read), true)
}

// close makes every method throw (or reject, if async) err from now on,
// and close resolve, then releases the methods.
func (o *object) close(err error) {
	stubs := closedStubs(err)
	for _, m := range o.methods {
		switch {
		case m.name == "close":
			o.obj.Set(m.name, stubs[2])
		case m.async:
			o.obj.Set(m.name, stubs[1])
		default:
			o.obj.Set(m.name, stubs[0])
		}
		jsutil.Release(m.f)
	}
	o.methods = nil
}

// closedStubs are the methods of closed objects, one set per error: they
// live as long as the page, shared by every closed object. A page that
// never closes anything never makes them, and they are not counted by
// LiveFuncs, so a count taken before a close still balances after it.
var (
	stubsMu sync.Mutex
	stubs   = map[string][3]js.Value{}
)

func closedStubs(err error) [3]js.Value {
	stubsMu.Lock()
	defer stubsMu.Unlock()
	b := jsapi.Describe(err)
	s, ok := stubs[b.Message]
	if !ok {
		s = [3]js.Value{
			exported(js.FuncOf(func(js.Value, []js.Value) any { return thrown(b) })),
			exported(js.FuncOf(func(js.Value, []js.Value) any { return rejected(b) })),
			exported(js.FuncOf(func(js.Value, []js.Value) any { return promiseCtor.Call("resolve", js.Undefined()) })),
		}
		stubs[b.Message] = s
	}
	return s
}
