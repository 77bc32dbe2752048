//go:build js && wasm

// Package jsutil holds the few syscall/js patterns the bridge and the
// IndexedDB store share: counted js.Funcs (so tests can prove nothing
// leaks), awaiting a JS Promise from a goroutine, and waiting for DOM-style
// events.
package jsutil

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall/js"
)

var live atomic.Int64

// FuncOf is js.FuncOf, counted. Every Func made here must be released with
// Release.
func FuncOf(fn func(this js.Value, args []js.Value) any) js.Func {
	live.Add(1)
	return js.FuncOf(fn)
}

// Release releases f and uncounts it.
func Release(f js.Func) {
	live.Add(-1)
	f.Release()
}

// LiveFuncs is how many counted js.Funcs have not been released.
func LiveFuncs() int { return int(live.Load()) }

// Noop is a JS function that ignores its arguments. Boolean is used
// because it has no side effects and needs no Go callback to release.
func Noop() js.Value { return js.Global().Get("Boolean") }

// IsNullish reports whether v is null or undefined.
func IsNullish(v js.Value) bool { return v.IsNull() || v.IsUndefined() }

// JSError is a JavaScript exception or rejection reason seen from Go.
type JSError struct {
	Name, Message string
	Value         js.Value
}

func (e *JSError) Error() string {
	if e.Name == "" {
		return e.Message
	}
	return e.Name + ": " + e.Message
}

// ErrorOf turns a rejection reason or DOMException into an error.
func ErrorOf(v js.Value) error {
	if IsNullish(v) {
		return &JSError{Message: "unknown error", Value: v}
	}
	if v.Type() == js.TypeObject {
		name, msg := v.Get("name"), v.Get("message")
		e := &JSError{Value: v}
		if name.Type() == js.TypeString {
			e.Name = name.String()
		}
		if msg.Type() == js.TypeString {
			e.Message = msg.String()
		} else {
			e.Message = js.Global().Get("String").Invoke(v).String()
		}
		return e
	}
	return &JSError{Message: js.Global().Get("String").Invoke(v).String(), Value: v}
}

// Catch runs fn and turns a JS exception (a panic with js.Error) into an
// error; other panics propagate.
func Catch(fn func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			var je js.Error
			if e, ok := p.(error); ok && errors.As(e, &je) {
				err = ErrorOf(je.Value)
				return
			}
			panic(p)
		}
	}()
	fn()
	return nil
}

// Get reads v[key] where v may be anything a page passed in. js.Value.Get
// lets an exception thrown by a getter or a Proxy escape the Go program;
// through Reflect.get (a call) it becomes an error, as does a v that is
// not an object.
func Get(v js.Value, key string) (js.Value, error) {
	out := js.Undefined()
	err := Catch(func() { out = reflectGet.Invoke(v, key) })
	return out, err
}

// Is reports whether v is a platform object of the class named class (as
// Object.prototype.toString names it, e.g. "IDBDatabase"), without letting
// a hostile v throw into Go.
func Is(v js.Value, class string) bool {
	if v.Type() != js.TypeObject {
		return false
	}
	var tag string
	if Catch(func() { tag = objectToString.Call("call", v).String() }) != nil {
		return false
	}
	return tag == "[object "+class+"]"
}

var (
	reflectGet     = js.Global().Get("Reflect").Get("get")
	objectToString = js.Global().Get("Object").Get("prototype").Get("toString")
)

type settled struct {
	v   js.Value
	err error
}

// Await waits for a Promise (or any thenable; other values are returned as
// is) the way net/http's roundtrip_js does: the then/catch callbacks send on
// a buffered channel, release themselves after their one use, and the wait
// ends early when ctx does (the callbacks are then released when the
// promise settles). It must be called from a goroutine, never from inside
// a js.Func callback.
func Await(ctx context.Context, p js.Value) (js.Value, error) {
	if p.Type() != js.TypeObject || p.Get("then").Type() != js.TypeFunction {
		return p, nil
	}
	ch := make(chan settled, 1)
	var ok, fail js.Func
	ok = FuncOf(func(this js.Value, args []js.Value) any {
		Release(ok)
		Release(fail)
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- settled{v: v}
		return nil
	})
	fail = FuncOf(func(this js.Value, args []js.Value) any {
		Release(ok)
		Release(fail)
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- settled{err: ErrorOf(v)}
		return nil
	})
	if err := Catch(func() { p.Call("then", ok, fail) }); err != nil {
		Release(ok)
		Release(fail)
		return js.Undefined(), err
	}
	select {
	case s := <-ch:
		return s.v, s.err
	case <-ctx.Done():
		return js.Undefined(), ctx.Err()
	}
}

// Event is one event a Wait saw.
type Event struct {
	Type  string
	Event js.Value
}

// Wait sets target.on<type> for each of types, waits for the first to fire
// (or ctx), then clears the handlers and releases them. Handlers run as JS
// events and only send on a buffered channel, so they never block.
func Wait(ctx context.Context, target js.Value, types ...string) (Event, error) {
	ch := make(chan Event, len(types))
	fns := make([]js.Func, len(types))
	for i, typ := range types {
		typ := typ
		fns[i] = FuncOf(func(this js.Value, args []js.Value) any {
			ev := js.Undefined()
			if len(args) > 0 {
				ev = args[0]
			}
			select {
			case ch <- Event{Type: typ, Event: ev}:
			default:
			}
			return nil
		})
		target.Set("on"+typ, fns[i])
	}
	defer func() {
		for i, typ := range types {
			target.Set("on"+typ, js.Null())
			Release(fns[i])
		}
	}()
	select {
	case ev := <-ch:
		return ev, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Bytes copies a Uint8Array (or ArrayBuffer) into a new Go slice.
func Bytes(v js.Value) ([]byte, error) {
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		v = uint8Array.New(v)
	}
	if !v.InstanceOf(uint8Array) {
		return nil, fmt.Errorf("jsutil: want a Uint8Array, got %s", v.Type())
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}

var uint8Array = js.Global().Get("Uint8Array")

// BytesArray copies every item of arr (a JS array of Uint8Arrays or
// ArrayBuffers, as IndexedDB's getAll and getAllKeys return) into Go.
//
// Item by item, that is several calls across the boundary per item plus a
// finalizer for each js.Value, which for a scan of 10k rows costs more
// than IndexedDB's own read. When the page has the package's host helper
// (globalThis.__jazzHost.pack, see bindings/js/src/host.ts), the items are
// concatenated on the JavaScript side and copied in one call instead; the
// returned slices then share one buffer (each capped at its own length).
// Without the helper (Go's wasm test runners) it copies item by item.
func BytesArray(arr js.Value) ([][]byte, error) {
	if host := js.Global().Get("__jazzHost"); host.Type() == js.TypeObject && host.Get("pack").Type() == js.TypeFunction {
		var packed js.Value
		if err := Catch(func() { packed = host.Call("pack", arr) }); err != nil {
			return nil, fmt.Errorf("jsutil: packing byte arrays: %w", err)
		}
		buf, err := Bytes(packed)
		if err != nil {
			return nil, err
		}
		return Unpack(buf, arr.Get("length").Int())
	}
	out := make([][]byte, arr.Get("length").Int())
	for i := range out {
		b, err := Bytes(arr.Index(i))
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out[i] = b
	}
	return out, nil
}

// Unpack splits what the host's pack produced ([u32 little-endian
// length][bytes] records) into n slices of buf. It refuses anything but
// exactly n well-formed records, and allocates nothing from the lengths it
// reads.
func Unpack(buf []byte, n int) ([][]byte, error) {
	if n < 0 || n > len(buf)/4 {
		return nil, fmt.Errorf("jsutil: %d packed items cannot fit in %d bytes", n, len(buf))
	}
	out := make([][]byte, n)
	at := 0
	for i := range out {
		if len(buf)-at < 4 {
			return nil, fmt.Errorf("jsutil: packed item %d: truncated length", i)
		}
		size := uint64(buf[at]) | uint64(buf[at+1])<<8 | uint64(buf[at+2])<<16 | uint64(buf[at+3])<<24
		at += 4
		if size > uint64(len(buf)-at) {
			return nil, fmt.Errorf("jsutil: packed item %d: %d bytes, %d left", i, size, len(buf)-at)
		}
		end := at + int(size)
		out[i] = buf[at:end:end]
		at = end
	}
	if at != len(buf) {
		return nil, fmt.Errorf("jsutil: %d bytes after the %d packed items", len(buf)-at, n)
	}
	return out, nil
}

// Uint8Array copies b into a new JS Uint8Array.
func Uint8Array(b []byte) js.Value {
	a := uint8Array.New(len(b))
	if len(b) > 0 {
		js.CopyBytesToJS(a, b)
	}
	return a
}
