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
package client
