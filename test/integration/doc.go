// Package integration tests the client Db against the real sync server on
// loopback: real WebSocket, real session resolution, real storage.
package integration
