//go:build js && wasm

package bridge

import (
	"syscall/js"

	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

// watchOnline makes the page's online event call reconnect at once: a sync
// client that failed through a long outage waits up to its longest
// reconnect delay, 30 s, and the writes the user made offline would wait
// with it. Where the global object has no addEventListener (Node), there
// is no such event, and nothing to do. The returned function removes the
// listener and releases it.
func watchOnline(reconnect func()) (stop func()) {
	add, err := jsutil.Get(js.Global(), "addEventListener")
	if err != nil || add.Type() != js.TypeFunction {
		return func() {}
	}
	f := jsutil.FuncOf(func(js.Value, []js.Value) any {
		reconnect() // does not block
		return nil
	})
	if err := jsutil.Catch(func() { js.Global().Call("addEventListener", "online", f) }); err != nil {
		jsutil.Release(f)
		return func() {}
	}
	return func() {
		_ = jsutil.Catch(func() { js.Global().Call("removeEventListener", "online", f) })
		jsutil.Release(f)
	}
}
