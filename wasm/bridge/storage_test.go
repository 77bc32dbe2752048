//go:build js && wasm

package bridge

import (
	"encoding/json"
	"syscall/js"
	"testing"
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
