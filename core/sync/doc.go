// Package sync is the Go sync client: it keeps an optimistic engine.DB (opened
// with Options.Optimistic) in step with a jazz sync server over one WebSocket,
// speaking the protocol of docs/protocol.md.
//
// # What it does
//
// Local writes land in the DB's outbox and are visible at once; the client
// pushes them, oldest first, and settles each with the server's answer: an
// ack folds the server's row state into the confirmed base (DB.Merge), a
// reject rolls the write back (DB.Reject) and reports a typed error. Live
// queries registered with Subscribe bring confirmed row states down; each
// subscription's cursor is stored so a reconnect resumes instead of
// replaying.
//
// # States
//
//	Offline    not connected. Either a reconnect is scheduled (backoff), or,
//	           after a fatal error such as an unknown app, nothing is.
//	Connecting dialing, or waiting for welcome after hello.
//	Connected  welcomed: subscriptions and pending writes flow.
//	Paused     the server refused our credentials. Nothing is pushed and the
//	           client never reconnects by itself, because retrying the same
//	           credentials can only fail again (a reconnect storm against the
//	           auth service). Reauthenticate resumes: in-band with an auth
//	           frame if the socket is still open (token expiry, where the
//	           server keeps the connection), by reconnecting otherwise.
//	Closed     Close was called.
//
// In every state the DB stays fully usable: reads and writes are local, the
// client only stops syncing.
//
// # Why it is built this way
//
// One goroutine (the loop) owns all connection state and handles every event
// in order: frames, dial results, timer ticks, Notify and Reauthenticate. That
// makes the protocol logic sequential code without locks, and it is why the
// frame handler can be fuzzed without a network. I/O happens on helper
// goroutines (a reader and a writer per connection) so the loop never blocks
// on the network, and user callbacks run on a separate dispatcher goroutine
// so a slow or re-entrant callback cannot stall or deadlock syncing.
//
// All timers (backoff, heartbeats, dead-connection detection) go through
// Options.Clock, so tests drive them with clock.Fake instead of sleeping.
//
// Delivery is at least once: a change stays pending until acked or rejected
// and is pushed again on every new connection (the server deduplicates by
// change id); within one connection a change is never sent twice while it is
// in flight.
package sync
