// Package client is the Db apps use: the engine, scoped to one session, kept
// in sync with a server, with the auth lifecycle the docs promise.
//
// The auth mode follows the config: nothing is anonymous (reads only), a
// secret is local-first (a stable identity derived from a device secret, with
// self-minted short-lived tokens renewed before they expire), a jwtToken is
// external (the session is read from the token; the server verifies it).
//
// When the server refuses the credentials the Db sets AuthState.Error, keeps
// the last known session, stops syncing (no reconnect storm) and keeps
// serving local reads and queuing writes; UpdateAuthToken with a token for the
// same user, or a token from the onJWTExpired hook, resumes sync and delivers
// every queued write. Switching users needs a new Db.
//
// SyncState is what the app shows about syncing: the connection, the writes
// waiting for the server, the last acknowledgement, and why syncing does not
// work when it does not (an unreachable server, an address that is not a
// jazz-tools server, no schema published, an unknown app, another protocol
// version: the typed errors of core/sync). Each new problem also goes to
// OnError once, not at every retry.
package client
