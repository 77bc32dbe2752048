//go:build !(js && wasm)

// Package depcheck holds tests (run natively) that keep the wasm client
// small and browser-safe: what the GOOS=js build of ./wasm may link, which
// files of wasm/ must be js-only, and the size budget of the built wasm.
package depcheck
