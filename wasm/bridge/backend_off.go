//go:build js && wasm && !jazzbackend

package bridge

import "syscall/js"

// installBackend is a no-op in the browser build: the backend entry points
// are compiled only into jazz-backend.wasm (build tag jazzbackend; see
// backend.go), so the browser never links the server's auth code.
func installBackend(js.Value) {}
