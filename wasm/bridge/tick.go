//go:build js && wasm

package bridge

import (
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

// turnClock is the clock subscription feeds run on in a page. A zero delay
// means "at the end of this turn": a microtask, which JavaScript runs once
// Go has gone idle and the page's current task has finished. Writes the
// page makes in one task (each runs to completion inside its call into Go)
// so reach a subscriber as one callback, with no timer's delay added.
type turnClock struct{}

func (turnClock) Now() time.Time { return time.Now() }

func (turnClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	if d > 0 {
		return time.AfterFunc(d, f)
	}
	t := &turn{}
	var fn js.Func
	fn = jsutil.FuncOf(func(js.Value, []js.Value) any {
		jsutil.Release(fn)
		if t.stopped.CompareAndSwap(false, true) {
			go f() // runs before Go returns to JavaScript
		}
		return nil
	})
	js.Global().Call("queueMicrotask", fn)
	return t
}

// turn is a callback queued for the end of the turn.
type turn struct{ stopped atomic.Bool }

func (t *turn) Stop() bool { return t.stopped.CompareAndSwap(false, true) }
