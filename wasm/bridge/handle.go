//go:build js && wasm

package bridge

import (
	"context"
	"fmt"
	gosync "sync"
	"syscall/js"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/wasm/idbstore"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
	"github.com/jazzgo/jazz-tools/wasm/jsws"
)

// openTimeout bounds opening IndexedDB: past it the Db runs in memory.
const openTimeout = 10 * time.Second

// handle is one DbHandle object: the JavaScript face of a jsapi.Handle.
type handle struct {
	core       *jsapi.Handle
	obj        js.Value
	methods    map[string]js.Func
	stopOnline func()
}

// handles are the open handles, for tests to find one by its object.
var (
	liveMu  gosync.Mutex
	handles = map[*handle]bool{}
)

// LiveHandles is how many Db handles are open.
func LiveHandles() int { return jsapi.LiveHandles() }

func createDb(ctx context.Context, cfgJSON string, early js.Value) (*handle, error) {
	env := jsapi.Env{
		OpenStore: func(ctx context.Context, name, want string) (storage.Store, string) {
			return openStore(ctx, name, want, early)
		},
		EarlyName:  idbstore.EarlyName(early),
		Transport:  jsws.Transport{},
		Background: afterTask,
		Clock:      turnClock{},
		Log:        func(level, msg string) { console.Call(level, msg) },
		Trace:      hook,
	}
	if idbstore.Available() && tabsAvailable() {
		env.Tabs = browserTabs{}
	}
	core, err := jsapi.Open(ctx, cfgJSON, env)
	if err != nil {
		return nil, err
	}
	h := &handle{core: core, stopOnline: watchOnline(core.Reconnect)}
	h.obj = h.makeObject()
	liveMu.Lock()
	handles[h] = true
	liveMu.Unlock()
	return h, nil
}

// openStore opens the IndexedDB database name, or memory when asked to or
// when IndexedDB cannot be used (Node, some private modes). early is the
// page's guess at the database, opened while the core loaded (see
// idbstore.OpenEarly), or undefined.
func openStore(ctx context.Context, name, want string, early js.Value) (storage.Store, string) {
	if want == jsapi.Memory {
		return storage.NewMemory(), jsapi.Memory
	}
	why := "IndexedDB is not available here"
	if idbstore.Available() {
		octx, cancel := context.WithTimeout(ctx, openTimeout)
		s, err := idbstore.OpenEarly(octx, name, idbstore.DefaultBuckets, early)
		cancel()
		if err == nil {
			return s, jsapi.Persistent
		}
		why = "IndexedDB could not be opened: " + err.Error()
	}
	console.Call("warn", "jazz: "+why+". This Db keeps its data in memory only: it is lost when the page closes, and other tabs do not see it. (storageMode() is \"memory\".)")
	return storage.NewMemory(), jsapi.Memory
}

// makeObject builds the DbHandle: each method reads its arguments and
// calls the core.
func (h *handle) makeObject() js.Value {
	c := h.core
	write := func(kind string) js.Func {
		return asyncMethod(kind, func(a *argv) work {
			table, next, id := a.str(0, "table"), 1, ""
			if kind != "insert" {
				id, next = a.str(1, "id"), 2
			}
			values := ""
			if kind != "delete" {
				values, next = a.str(next, "valuesJSON"), next+1
			}
			change := a.optStr(next) // names the change, for waitBatch
			return func(ctx context.Context) (any, error) { return result(c.Write(ctx, kind, table, id, values, change)) }
		})
	}
	read := func(name string, fn func(context.Context, string) (string, error)) js.Func {
		return asyncMethod(name, func(a *argv) work {
			q := a.str(0, "queryJSON")
			return func(ctx context.Context) (any, error) { return result(fn(ctx, q)) }
		})
	}
	h.methods = map[string]js.Func{
		"useSchema": syncMethod("useSchema", func(a *argv) func() (any, error) {
			s := a.str(0, "schemaJSON")
			return func() (any, error) { return nil, c.UseSchema(s) }
		}),
		"all": read("read", c.All),
		"one": read("read", c.One),
		"loaded": read("loaded", func(ctx context.Context, q string) (string, error) {
			return "", c.Loaded(ctx, q)
		}),
		"insert":  write("insert"),
		"update":  write("update"),
		"delete":  write("delete"),
		"upsert":  write("upsert"),
		"restore": write("restore"),
		"newIds": syncMethod("newIds", func(a *argv) func() (any, error) {
			n := a.num(0, "count")
			return func() (any, error) { return c.NewIDs(int(n)) }
		}),
		"batch": asyncMethod("batch", func(a *argv) work {
			id, ops := a.str(0, "batchId"), a.str(1, "opsJSON")
			return func(ctx context.Context) (any, error) { return result(c.Batch(ctx, id, ops)) }
		}),
		"waitBatch": asyncMethod("waitBatch", func(a *argv) work {
			id := a.str(0, "batchId")
			return func(ctx context.Context) (any, error) { return result("", c.WaitBatch(ctx, id)) }
		}),
		"allStaged": asyncMethod("allStaged", func(a *argv) work {
			q, ops := a.str(0, "queryJSON"), a.str(1, "opsJSON")
			return func(ctx context.Context) (any, error) { return result(c.AllStaged(ctx, q, ops)) }
		}),
		"subscribe": syncMethod("subscribe", func(a *argv) func() (any, error) {
			q, cb := a.str(0, "queryJSON"), a.fn(0+1, "callback")
			return func() (any, error) {
				return stopperFor(func(done func()) (func(), error) { return c.Subscribe(q, invoker(cb), done) })
			}
		}),
		"getAuthState":       syncMethod("getAuthState", noArgs(c.GetAuthState)),
		"getSyncState":       syncMethod("getSyncState", noArgs(c.GetSyncState)),
		"onAuthChanged":      listenMethod(c.OnAuthChanged),
		"onSyncStateChanged": listenMethod(c.OnSyncStateChanged),
		"onError":            listenMethod(c.OnError),
		"updateAuthToken": syncMethod("updateAuthToken", func(a *argv) func() (any, error) {
			var tok *string
			if s, ok := a.strOrNull(0, "jazz: updateAuthToken takes a string or null"); ok {
				tok = &s
			}
			return func() (any, error) { return nil, c.UpdateAuthToken(tok) }
		}),
		"onJWTExpired": syncMethod("onJWTExpired", func(a *argv) func() (any, error) {
			var hook func(context.Context) (string, error)
			if fn, ok := a.fnOrNull(0, "jazz: onJWTExpired takes a function or null"); ok {
				hook = jwtHook(fn)
			}
			return func() (any, error) { return nil, c.OnJWTExpired(hook) }
		}),
		"getLocalFirstIdentityProof": asyncMethod("identityProof", func(a *argv) work {
			ttl, aud := a.num(0, "ttlSeconds"), a.str(1, "audience")
			return func(context.Context) (any, error) {
				return c.IdentityProof(time.Duration(ttl*float64(time.Second)), aud)
			}
		}),
		"storageMode": syncMethod("storageMode", noArgs(func() (string, error) { return c.StorageMode(), nil })),
		"storageName": syncMethod("storageName", noArgs(func() (string, error) { return c.StorageName(), nil })),
		"close":       asyncMethod("close", func(*argv) work { return h.close }),
	}
	obj := js.Global().Get("Object").New()
	for name, f := range h.methods {
		obj.Set(name, exported(f))
	}
	return obj
}

// jwtHook is the onJWTExpired hook fn as the core calls it: it awaits the
// Promise fn returns; the core's timeout cancels ctx, which ends the wait.
func jwtHook(fn js.Value) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		var p js.Value
		if err := jsutil.Catch(func() { p = fn.Invoke() }); err != nil {
			return "", fmt.Errorf("jazz: onJWTExpired threw: %w", err)
		}
		v, err := jsutil.Await(ctx, p)
		if err != nil {
			return "", fmt.Errorf("jazz: onJWTExpired: %w", err)
		}
		if jsutil.IsNullish(v) {
			return "", nil
		}
		if v.Type() != js.TypeString {
			return "", fmt.Errorf("jazz: onJWTExpired must resolve to a JWT string, null or undefined (got %s)", v.Type())
		}
		return v.String(), nil
	}
}

// close closes the core, then swaps the methods for shared ones that
// throw or reject ClosedError and releases its own.
func (h *handle) close(ctx context.Context) (any, error) {
	liveMu.Lock()
	open := handles[h]
	delete(handles, h)
	liveMu.Unlock()
	if !open {
		return js.Undefined(), nil
	}
	h.stopOnline()
	err := h.core.Close(ctx)
	closedOnce.Do(initClosedMethods)
	for name, f := range h.methods {
		if c, ok := closedMethods[name]; ok {
			h.obj.Set(name, c)
		}
		jsutil.Release(f)
	}
	h.methods = nil
	return js.Undefined(), err
}

// closedMethods answer every call on a closed handle; they live as long as
// the page and are shared by every closed handle. They are made at the
// first close, not at start: a page that never closes a Db never pays for
// them, and every page load pays for what Install does. Three plain
// js.Funcs serve every name; they are not counted by LiveFuncs, so a count
// taken before the first close still balances after it.
var (
	closedOnce    gosync.Once
	closedMethods map[string]js.Value
)

func initClosedMethods() {
	closedErr := jsapi.Describe(client.ErrClosed)
	throws := exported(js.FuncOf(func(js.Value, []js.Value) any { return thrown(closedErr) }))
	rejects := exported(js.FuncOf(func(js.Value, []js.Value) any { return rejected(closedErr) }))
	closedMethods = map[string]js.Value{
		"close": exported(js.FuncOf(func(js.Value, []js.Value) any { return promiseCtor.Call("resolve", js.Undefined()) })),
	}
	for _, name := range []string{"useSchema", "subscribe", "getAuthState", "onAuthChanged", "getSyncState", "onSyncStateChanged", "updateAuthToken", "onJWTExpired", "onError", "storageMode", "storageName", "newIds"} {
		closedMethods[name] = throws
	}
	for _, name := range []string{"all", "one", "insert", "update", "delete", "upsert", "restore", "getLocalFirstIdentityProof", "batch", "waitBatch", "allStaged", "loaded"} {
		closedMethods[name] = rejects
	}
}
