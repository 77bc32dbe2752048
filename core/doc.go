// Package core holds the pure-Go packages shared by the wasm client and the
// server: schema, conditions, queries, policies, clocks, ids, storage seams
// and the engine built on them.
//
// No package under core may import syscall/js: core must build and run
// unchanged on the server, and the browser bindings live outside it. Nor may
// core depend on server-only code (net/http, os/exec, bbolt, the server
// packages). core/imports_test.go enforces both rules.
package core
