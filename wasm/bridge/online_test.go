//go:build js && wasm

package bridge

import (
	"syscall/js"
	"testing"
	"time"
)

// The page's online event ends the sync client's reconnect delay: after a
// run of failed dials (the delay then up to 16 s), the event dials within a
// second. (A regression passes only if a random delay of up to 16 s ends in
// that second: under one chance in sixteen.) core/sync's
// TestReconnect_DialsAtOnceWhileWaitingAndOnlyThen checks the same
// deterministically with a fake clock; this checks the page's wiring.
func TestOnline_EventReconnectsAtOnce(t *testing.T) {
	needBrowser(t)
	fake := js.Global().Get("Function").New(`
		const real = globalThis.WebSocket;
		let dials = 0;
		globalThis.WebSocket = function () { dials++; throw new Error("connection refused (test)"); };
		return { dials: () => dials, restore: () => { globalThis.WebSocket = real; } };`).Invoke()
	t.Cleanup(func() { fake.Call("restore") })
	dials := func() int { return fake.Call("dials").Int() }

	db := openDb(t, map[string]any{"appId": freshApp(t), "secret": newSecret(t), "serverUrl": "ws://127.0.0.1:9", "storage": "memory"})
	useSchema(t, db, todosSchema)
	deadline := time.Now().Add(30 * time.Second)
	for dials() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d dials in 30 s", dials())
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := dials()
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("online"))
	for end := time.Now().Add(time.Second); dials() == before; {
		if time.Now().After(end) {
			t.Fatalf("no dial within a second of the online event (%d dials before it)", before)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A closed Db has removed its listener (a released Func still listening
	// would throw) and does not dial.
	mustAwait(t, db.Call("close"))
	before = dials()
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("online"))
	time.Sleep(200 * time.Millisecond)
	if dials() != before {
		t.Fatalf("a closed Db dialed on the online event")
	}
}
