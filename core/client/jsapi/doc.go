// Package jsapi is the Db as the JavaScript package (bindings/js) drives it,
// over the wasm bridge: JSON strings in and out, errors as stable names and
// codes, one handle that survives reopening and is shared among the tabs of
// a browser. It is pure Go and tested natively; wasm/ only converts between
// JavaScript values and these calls and adapts the browser APIs (see Env).
package jsapi
