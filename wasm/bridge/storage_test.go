//go:build js && wasm

package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

// When IndexedDB stops taking writes (the disk is full, say), writes still
// resolve and show, the Db says it now keeps data in memory only, and
// onError hears a StorageError. Simulated by making every readwrite
// transaction fail to start, as a full or broken disk would.
func TestStorage_IndexedDBFailureContinuesInMemoryAndSaysSo(t *testing.T) {
	needBrowser(t)
	db := openDb(t, map[string]any{"appId": freshApp(t), "secret": newSecret(t)})
	useSchema(t, db, todosSchema)
	if v, _ := callSync(db, "storageMode"); v.String() != "indexeddb" {
		t.Fatalf("storageMode = %v", v)
	}
	mustAwait(t, db.Call("insert", "todos", `{"title":"before","done":false}`))

	errs := newRecorder(t)
	if _, err := callSync(db, "onError", errs.fn); err != nil {
		t.Fatal(err)
	}
	proto := js.Global().Get("IDBDatabase").Get("prototype")
	orig := proto.Get("transaction")
	broken := js.Global().Get("Function").New("orig", `return function (names, mode, opts) {
		if (mode === "readwrite") throw new DOMException("the disk is full (test)", "QuotaExceededError");
		return orig.call(this, names, mode, opts);
	}`).Invoke(orig)
	proto.Set("transaction", broken)
	t.Cleanup(func() { proto.Set("transaction", orig) })

	mustAwait(t, db.Call("insert", "todos", `{"title":"after","done":false}`))
	var body map[string]any
	if err := json.Unmarshal([]byte(errs.next(t)), &body); err != nil {
		t.Fatal(err)
	}
	if body["name"] != "StorageError" || body["code"] != "storage_failed" {
		t.Fatalf("onError got %v, want StorageError/storage_failed", body)
	}
	if v, _ := callSync(db, "storageMode"); v.String() != "memory" {
		t.Fatalf("storageMode after the failure = %v, want memory", v)
	}
	if got := allTitles(t, db); !got["before"] || !got["after"] {
		t.Fatalf("rows after the failure = %v, want both writes", got)
	}
	mustAwait(t, db.Call("insert", "todos", `{"title":"later","done":false}`))
	if got := allTitles(t, db); !got["later"] {
		t.Fatalf("a write after the failure is missing: %v", got)
	}
	errs.quiet(t, 100e6) // reported once
}

// The page opens the database it remembers while the core loads (loader:
// early-open.ts) and passes the attempt to createDb: the core takes that
// connection when it names the database the config does, and leaves any
// other alone. storageName is what the page remembers.
func TestStorage_CreateDbTakesThePagesEarlyConnection(t *testing.T) {
	needBrowser(t)
	cfg := map[string]any{"appId": freshApp(t), "secret": newSecret(t)}
	a := openDb(t, cfg)
	useSchema(t, a, todosSchema)
	mustAwait(t, a.Call("insert", "todos", `{"title":"kept","done":false}`))
	v, _ := callSync(a, "storageName")
	name := v.String()
	if !strings.HasPrefix(name, "jazz:"+cfg["appId"].(string)+":") || strings.HasSuffix(name, ":anonymous") {
		t.Fatalf("storageName = %q, want jazz:<appId>:<user id>", name)
	}
	mustAwait(t, a.Call("close"))

	for _, tc := range []struct {
		early     string
		wantTakes int
	}{{name, 1}, {name + "-other", 0}} {
		early, takes := earlyConnection(t, tc.early)
		b := mustAwait(t, jazz().Call("createDb", cfgJSON(t, cfg), early))
		useSchema(t, b, todosSchema)
		rows := mustAwait(t, b.Call("all", `{"table":"todos"}`)).String()
		// The tab lock is asked for the early name first; a wrong guess
		// must not keep it.
		held := mustAwait(t, js.Global().Get("navigator").Get("locks").Call("query")).Get("held")
		var locks []string
		for i := 0; i < held.Length(); i++ {
			locks = append(locks, held.Index(i).Get("name").String())
		}
		if want := []string{name}; fmt.Sprint(locks) != fmt.Sprint(want) {
			t.Errorf("early open of %q: locks held %v, want %v", tc.early, locks, want)
		}
		mustAwait(t, b.Call("close"))
		if *takes != tc.wantTakes {
			t.Errorf("early open of %q: taken %d times, want %d", tc.early, *takes, tc.wantTakes)
		}
		if !strings.Contains(rows, `"kept"`) {
			t.Errorf("early open of %q: rows = %s", tc.early, rows)
		}
	}
}

// earlyConnection opens the IndexedDB database name the way the page does
// before the core loads, as {name, ready, take}; *takes counts the takes.
// What is not taken is closed at the end of the test.
func earlyConnection(t *testing.T, name string) (js.Value, *int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := js.Global().Get("indexedDB").Call("open", name)
	if ev, err := jsutil.Wait(ctx, req, "success", "error"); err != nil || ev.Type != "success" {
		t.Fatalf("opening %s: %v %v", name, ev.Type, err)
	}
	db := req.Get("result")
	takes := new(int)
	take := jsutil.FuncOf(func(js.Value, []js.Value) any {
		*takes++
		d := db
		db = js.Null()
		return d
	})
	o := js.Global().Get("Object").New()
	o.Set("name", name)
	o.Set("ready", js.Global().Get("Promise").Call("resolve"))
	o.Set("take", take)
	t.Cleanup(func() {
		jsutil.Release(take)
		if !db.IsNull() {
			db.Call("close")
		}
	})
	return o, takes
}

// Rows written past a compaction are read back from the packs and the tail
// in a real IndexedDB, also by a database created before the packs bucket
// existed (the compaction's write upgrades it).
func TestStorage_PackedRowsReadBackAfterReopen(t *testing.T) {
	needBrowser(t)
	cfg := map[string]any{"appId": freshApp(t), "secret": newSecret(t)}
	first := openDb(t, cfg)
	v, _ := callSync(first, "storageName")
	name := v.String()
	mustAwait(t, first.Call("close"))
	// The database as versions before the packs bucket made it.
	mustAwait(t, js.Global().Get("Function").New("name", `return new Promise((resolve, reject) => {
		const del = indexedDB.deleteDatabase(name);
		del.onerror = () => reject(del.error);
		del.onsuccess = () => {
			const req = indexedDB.open(name, 1);
			req.onupgradeneeded = () => { for (const s of ["rows", "applied", "outbox", "meta", "sync"]) req.result.createObjectStore(s); };
			req.onerror = () => reject(req.error);
			req.onsuccess = () => { req.result.close(); resolve(); };
		};
	})`).Invoke(name))

	db := openDb(t, cfg)
	useSchema(t, db, todosSchema)
	const n = 1300
	for i := 0; i < n; i += 100 {
		var batch []any
		for j := i; j < i+100; j++ {
			batch = append(batch, db.Call("insert", "todos", fmt.Sprintf(`{"title":"row %d","done":false}`, j)))
		}
		mustAwait(t, js.Global().Get("Promise").Call("all", js.ValueOf(batch)))
	}
	rows := rowsOf(t, mustAwait(t, db.Call("all", `{"table":"todos","where":{"eq":[{"col":"title"},{"value":"row 7"}]}}`)).String())
	if len(rows) != 1 {
		t.Fatalf("row 7: %v", rows)
	}
	mustAwait(t, db.Call("update", "todos", rows[0]["id"], `{"title":"row 7, updated"}`))
	mustAwait(t, db.Call("close"))

	counts := mustAwait(t, js.Global().Get("Function").New("name", `return new Promise((resolve, reject) => {
		const req = indexedDB.open(name);
		req.onerror = () => reject(req.error);
		req.onsuccess = () => {
			const db = req.result, tx = db.transaction(["rows", "packs"]), out = {};
			for (const s of ["rows", "packs"]) tx.objectStore(s).count().onsuccess = (e) => (out[s] = e.target.result);
			tx.oncomplete = () => { db.close(); resolve(out); };
			tx.onerror = () => reject(tx.error);
		};
	})`).Invoke(name))
	if tail, packs := counts.Get("rows").Int(), counts.Get("packs").Int(); packs == 0 || tail == 0 || tail >= 512 {
		t.Fatalf("stored: %d packs and a tail of %d rows; want packs and a tail under 512", packs, tail)
	}

	again := openDb(t, cfg)
	useSchema(t, again, todosSchema)
	got := allTitles(t, again)
	if len(got) != n || !got["row 7, updated"] || got["row 7"] || !got["row 0"] || !got[fmt.Sprint("row ", n-1)] {
		t.Fatalf("reopened: %d titles (row 7 updated: %v, stale: %v)", len(got), got["row 7, updated"], got["row 7"])
	}
}
