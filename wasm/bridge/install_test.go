//go:build js && wasm

package bridge

import (
	"syscall/js"
	"testing"
)

// setReadyHook installs fn as globalThis[ReadyName] for the test.
func setReadyHook(t *testing.T, fn func(this js.Value, args []js.Value) any) {
	t.Helper()
	f := js.FuncOf(fn)
	js.Global().Set(ReadyName, f)
	t.Cleanup(func() {
		js.Global().Delete(ReadyName)
		f.Release()
	})
}

func TestAnnounce_CallsTheLoadersHookWithTheCore(t *testing.T) {
	var got []js.Value
	setReadyHook(t, func(_ js.Value, args []js.Value) any {
		got = append(got, args...)
		return nil
	})
	announce(jazz())
	if len(got) != 1 || !got[0].Equal(jazz()) {
		t.Fatalf("the hook got %v, want the published core once", got)
	}
}

func TestAnnounce_WithoutAHookOrWithAThrowingOne(t *testing.T) {
	announce(jazz()) // no hook: nothing to do, no panic
	js.Global().Set(ReadyName, "not a function")
	t.Cleanup(func() { js.Global().Delete(ReadyName) })
	announce(jazz())
	thrower := js.Global().Get("Function").New(`throw new Error("loader bug")`)
	js.Global().Set(ReadyName, thrower)
	announce(jazz()) // reported on the console; must not panic
}

func TestInstall_IsIdempotentAndAnnouncesOnlyTheFirstTime(t *testing.T) {
	calls := 0
	setReadyHook(t, func(js.Value, []js.Value) any {
		calls++
		return nil
	})
	if c := Install(); !c.Equal(jazz()) {
		t.Fatal("Install returned another object than the published core")
	}
	if calls != 0 {
		t.Fatalf("a second Install announced the core again (%d calls)", calls)
	}
}
