//go:build js

package sync

// defaultTransport is nil in the browser build: the wasm bridge passes
// Options.Transport (the browser's WebSocket), see core/sync/websocket.go.
func defaultTransport() Transport { return nil }
