//go:build js && wasm

// Package bridge exposes core/client/jsapi to JavaScript as
// globalThis.__jazzCore, the JazzCore of bindings/js/src/core.d.ts. It only
// converts (JavaScript arguments to Go strings and funcs, Go errors to Error
// objects with the name and code jsapi.Describe gives them) and adapts the
// browser APIs jsapi.Env asks for. All behaviour lives in core/.
//
// Rules every entry point follows:
//   - Async methods return a Promise whose work runs on a new goroutine: a
//     js.Func that blocks deadlocks the page.
//   - Sync methods never wait on anything that waits on JavaScript (the
//     IndexedDB store, a lock held across a store write): what cannot be
//     done at once (subscribe, useSchema) is checked synchronously and then
//     completed on a goroutine.
//   - A panic is recovered in every entry point and callback: the call
//     rejects (or throws) an InternalError and the instance keeps working.
//   - Every js.Func has an owner that releases it: a Db handle owns its
//     methods, a subscription its unsubscribe function, a listener its stop
//     function; closing the handle releases whatever is left.
package bridge

import (
	"context"
	"crypto/rand"
	"syscall/js"

	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

// Version is JazzCore.version.
const Version = "0.1.0"

// GlobalName is where Install puts the JazzCore.
const GlobalName = "__jazzCore"

// ReadyName is the global function Install calls with the JazzCore once it
// is published, when JavaScript set one: the loader
// (bindings/js/src/loader.ts) learns at once that the core is there instead
// of polling for GlobalName.
const ReadyName = "__jazzCoreReady"

var installed js.Value

// Install creates the JazzCore and sets it as globalThis.__jazzCore. It is
// idempotent and returns the object.
func Install() js.Value {
	if !installed.IsUndefined() && installed.Truthy() {
		return installed
	}
	initGlue()
	core := js.Global().Get("Object").New()
	core.Set("version", Version)
	// These live as long as the page: never released.
	core.Set("createDb", exported(asyncMethod("createDb", func(a *argv) work {
		// The page's early open of the database, if any (loader: early-open.ts).
		cfg, early := a.str(0, "configJSON"), a.arg(1)
		return func(ctx context.Context) (any, error) {
			h, err := createDb(ctx, cfg, early)
			if err != nil {
				return nil, err
			}
			return h.obj, nil
		}
	})))
	core.Set("newSecret", exported(syncMethod("newSecret", func(*argv) func() (any, error) {
		return func() (any, error) { return identity.NewSecret(rand.Reader) }
	})))
	installBackend(core) // createBackend and proof checks, in jazz-backend.wasm only (backend.go)
	js.Global().Set(GlobalName, core)
	installed = core
	announce(core)
	return core
}

// announce calls globalThis[ReadyName](core) if it is a function. A hook
// that throws is reported on the console and otherwise ignored: the core is
// published either way, and a loader that missed the call still finds it.
func announce(core js.Value) {
	hook := js.Global().Get(ReadyName)
	if hook.Type() != js.TypeFunction {
		return
	}
	if err := jsutil.Catch(func() { hook.Invoke(core) }); err != nil {
		console.Call("warn", "jazz: globalThis."+ReadyName+" threw: "+err.Error())
	}
}

// LiveFuncs is how many js.Funcs the bridge made and has not released
// (the page-lifetime ones made at Install included; the closed-handle
// methods, made at the first close, are not counted: see closedMethods).
func LiveFuncs() int { return jsutil.LiveFuncs() }
