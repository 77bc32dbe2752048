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
	object
	core       *jsapi.Handle
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
	h.makeObject()
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
	h.obj = js.Global().Get("Object").New()
	h.sync("useSchema", func(a *argv) func() (any, error) {
		s := a.str(0, "schemaJSON")
		return func() (any, error) { return nil, c.UseSchema(s) }
	})
	h.read("all", c.All)
	h.read("one", c.One)
	h.read("loaded", func(ctx context.Context, q string) (string, error) { return "", c.Loaded(ctx, q) })
	for _, kind := range []string{"insert", "update", "delete", "upsert", "restore"} {
		h.write(kind)
	}
	h.sync("newIds", func(a *argv) func() (any, error) {
		n := a.num(0, "count")
		return func() (any, error) { return c.NewIDs(int(n)) }
	})
	h.async("batch", func(a *argv) work {
		id, ops := a.str(0, "batchId"), a.str(1, "opsJSON")
		return func(ctx context.Context) (any, error) { return result(c.Batch(ctx, id, ops)) }
	})
	h.async("waitBatch", func(a *argv) work {
		id := a.str(0, "batchId")
		return func(ctx context.Context) (any, error) { return result("", c.WaitBatch(ctx, id)) }
	})
	h.async("allStaged", func(a *argv) work {
		q, ops := a.str(0, "queryJSON"), a.str(1, "opsJSON")
		return func(ctx context.Context) (any, error) { return result(c.AllStaged(ctx, q, ops)) }
	})
	h.sync("subscribe", func(a *argv) func() (any, error) {
		q, cb := a.str(0, "queryJSON"), a.fn(1, "callback")
		return func() (any, error) {
			return stopperFor(func(done func()) (func(), error) { return c.Subscribe(q, invoker(cb), done) })
		}
	})
	h.sync("getAuthState", noArgs(c.GetAuthState))
	h.sync("getSyncState", noArgs(c.GetSyncState))
	h.listen("onAuthChanged", c.OnAuthChanged)
	h.listen("onSyncStateChanged", c.OnSyncStateChanged)
	h.listen("onError", c.OnError)
	h.sync("updateAuthToken", func(a *argv) func() (any, error) {
		var tok *string
		if s, ok := a.strOrNull(0, "jazz: updateAuthToken takes a string or null"); ok {
			tok = &s
		}
		return func() (any, error) { return nil, c.UpdateAuthToken(tok) }
	})
	h.sync("onJWTExpired", func(a *argv) func() (any, error) {
		var hook func(context.Context) (string, error)
		if fn, ok := a.fnOrNull(0, "jazz: onJWTExpired takes a function or null"); ok {
			hook = jwtHook(fn)
		}
		return func() (any, error) { return nil, c.OnJWTExpired(hook) }
	})
	h.async("getLocalFirstIdentityProof", func(a *argv) work {
		ttl, aud := a.num(0, "ttlSeconds"), a.str(1, "audience")
		return func(context.Context) (any, error) {
			return c.IdentityProof(time.Duration(ttl*float64(time.Second)), aud)
		}
	})
	h.sync("storageMode", noArgs(func() (string, error) { return c.StorageMode(), nil }))
	h.sync("storageName", noArgs(func() (string, error) { return c.StorageName(), nil }))
	h.async("close", func(*argv) work { return h.close })
	return h.obj
}

func (h *handle) read(name string, fn func(context.Context, string) (string, error)) {
	h.async(name, func(a *argv) work {
		q := a.str(0, "queryJSON")
		return func(ctx context.Context) (any, error) { return result(fn(ctx, q)) }
	})
}

// write adds insert, update, delete, upsert or restore: (table, id?,
// valuesJSON?, changeId?), the optional change id naming the change for
// waitBatch.
func (h *handle) write(kind string) {
	h.async(kind, func(a *argv) work {
		table, next, id := a.str(0, "table"), 1, ""
		if kind != "insert" {
			id, next = a.str(1, "id"), 2
		}
		values := ""
		if kind != "delete" {
			values, next = a.str(next, "valuesJSON"), next+1
		}
		change := a.optStr(next)
		return func(ctx context.Context) (any, error) {
			return result(h.core.Write(ctx, kind, table, id, values, change))
		}
	})
}

// listen adds onAuthChanged, onSyncStateChanged or onError.
func (h *handle) listen(name string, listen func(cb func(string), done func()) (func(), error)) {
	h.sync(name, func(a *argv) func() (any, error) {
		cb := a.fn(0, "callback")
		return func() (any, error) {
			return stopperFor(func(done func()) (func(), error) { return listen(invoker(cb), done) })
		}
	})
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

// close closes the core and then the object (see object.close).
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
	h.object.close(client.ErrClosed)
	return js.Undefined(), err
}
