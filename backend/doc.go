// Package backend gives trusted server code (API handlers, webhooks, cron
// jobs) access to a jazz app's data through the sync server, acting either
// as a user or as the backend itself. It is the Go form of the
// `jazz-tools/backend` npm entry (bindings/js/src/backend), which runs this
// very package compiled to WebAssembly (through backend/jsapi, its JSON
// form), so both follow one set of rules.
//
// # Context kinds
//
// A *Context is created once per process with New. Each of its methods
// returns a *Handle that reads and writes as one actor:
//
//	ForRequest(r), ForSession(s)      run as that user: the user's permissions
//	                                   (the app's policies) and authorship
//	WithAttribution(userID),           backend permissions (no policies), writes
//	WithAttributionForSession(s),      stamped $createdBy/$updatedBy userID
//	WithAttributionForRequest(r)
//	AsBackend(), DB()                  backend permissions, writes authored
//	                                   "jazz:system"
//
// ForRequest resolves the request's session with the server's own resolver
// (server/auth), in the server's order: backend impersonation headers
// (X-Jazz-Backend-Secret + X-Jazz-Session), then an external JWT
// (Authorization: Bearer, verified against Options.JWKSURL or
// Options.JWTPublicKey), then a local-first JWT (only with
// Options.AllowLocalFirstAuth), then no credentials at all (an anonymous
// session, which may read what policies allow and never write).
//
// On the wire, a user handle connects with the backend secret and the
// session (impersonation); a backend handle with the backend secret and
// actAs "backend" plus the attribution, if any (docs/protocol.md). The
// server decides permissions and stamps authorship; nothing the backend
// sends can change either beyond what its secret allows.
//
// None of the handles own bearer auth: UpdateAuthToken is a documented
// no-op, as the seed page "Authentication" promises.
//
// # Connections
//
// Permissions and authorship are properties of a WebSocket connection, and
// a replica holds only the rows its actor may read, so every distinct actor
// (a session, or the backend with one attribution) gets its own connection
// and in-memory replica. They are opened lazily by the first read or write
// and cached, least recently used first out, up to Options.MaxConnections;
// a connection with live subscriptions, operations in progress or writes
// not yet acknowledged is never evicted (the bound is then exceeded rather
// than data dropped). Close closes them all after flushing pending writes.
//
// The trade-off: a handle for a user already cached costs nothing, and
// reads are then local plus one round trip; the first operation for a new
// actor pays a WebSocket handshake and the initial result of each query. A
// backend that serves many distinct users briefly (one request each) opens
// one connection per user it has not seen recently; raise MaxConnections
// when the same users come back often, lower it to bound memory.
//
// # Consistency
//
// Reads (All, One) register the query with the server, then do a round
// trip (a ping answered in order after the subscription's rows and the
// acks of earlier writes), then read the replica. So a read sees every
// write the server acknowledged before it started, whichever connection
// made it. Writes apply to the replica at once and return; WaitFor, or the
// ...AndWait methods, wait for the server's acknowledgement or its typed
// rejection (a *protocol.RemoteError that unwraps to
// *policy.DeniedError, *policy.AnonymousWriteDeniedError, ...), after which
// the rejected write has been rolled back.
package backend
