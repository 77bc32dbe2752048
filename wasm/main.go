//go:build js && wasm

// Command wasm is the jazz-tools client core compiled to WebAssembly. It sets
// globalThis.__jazzCore (the JazzCore of bindings/js/src/core.d.ts) and then
// waits forever, serving calls from JavaScript. All of it is in package
// bridge; this file only starts it.
package main

import "github.com/jazzgo/jazz-tools/wasm/bridge"

func main() {
	bridge.Install()
	select {}
}
