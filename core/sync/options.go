package sync

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// Options configures New. DB, URL and AppID are required.
type Options struct {
	// DB is the local replica, opened with engine.Options.Optimistic so
	// local writes stay pending until the server answers. The client does
	// not close it.
	DB *engine.DB
	// Store keeps subscription cursors (bucket "sync", keys
	// "cursor/<subscription id>"). It may be the DB's own store; the client
	// does not close it. Nil keeps cursors in memory, so every new Client
	// starts its subscriptions from scratch.
	Store storage.Store
	// URL is the server: ws:// or wss://, or http(s):// which is converted.
	// When it has no path, /apps/<AppID>/ws is appended.
	URL string
	// AppID names the app on the server; it is sent in hello.
	AppID string
	// Credentials returns the credentials to present. It is called at every
	// connection attempt and by Reauthenticate, so it can hand out a freshly
	// refreshed token. It runs on the client's goroutine: keep it fast. Nil
	// presents no credentials.
	Credentials func() protocol.Auth
	// Transport opens connections; nil means WebSocket.
	Transport Transport
	// Clock drives backoff, heartbeats and dead-connection detection; nil
	// means the system clock.
	Clock clock.Clock
	// Rand returns numbers in [0, 1) for backoff jitter, e.g. the Float64
	// method of a seeded *rand.Rand in tests. It is only called from the
	// client's goroutine. Nil uses math/rand/v2.
	Rand func() float64
	// HeartbeatInterval is how often a ping is sent (default 15 s).
	HeartbeatInterval time.Duration
	// DeadAfter is how long without any frame from the server (or without
	// a welcome after dialing) before the connection is dropped and
	// redialed (default 30 s).
	DeadAfter time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, which doubles
	// with each failed attempt (defaults 500 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration

	// Callbacks run one at a time, in order, on a goroutine of their own,
	// never while the client holds a lock; they may call any Client method.

	// OnAuthError reports refused credentials. The client is Paused until
	// Reauthenticate is called.
	OnAuthError func(protocol.Error)
	// OnReject reports a local change the server refused and that was
	// rolled back. The error unwraps to the typed error of its kind.
	OnReject func(*engine.Change, *protocol.RemoteError)
	// OnAuthenticated reports that the server accepted the credentials
	// (welcome, or authed after an in-band re-authentication), with the
	// session it resolved.
	OnAuthenticated func(*session.Session)
	// OnStatus reports every status transition.
	OnStatus func(Status)
	// OnError reports a frame from the server that did not decode
	// (ErrUndecodableFrame, wrapping protocol.ErrBadFrame). The client
	// skipped it and kept syncing.
	OnError func(error)
	// OnFatal reports a failure retrying cannot fix: an app id the server
	// does not know (ErrUnknownApp), or a server speaking another protocol
	// version (ErrProtocolVersion). The client stays Offline and stops
	// reconnecting.
	OnFatal func(error)
	// OnProblem reports why syncing is not working while the client keeps
	// trying: the server cannot be reached (ErrUnreachable), the address
	// does not answer as a jazz-tools sync server (ErrWrongServer), or the
	// server has no schema published for the app (ErrNoBundle, reported
	// once connected). It is called at every failed attempt; the problem is
	// over at the next Connected status (ErrNoBundle: unless reported again
	// after it).
	OnProblem func(error)
	// OnAck reports that the server acknowledged pushed changes, after
	// they were merged into the DB.
	OnAck func()
	// Logger receives diagnostics (never credentials); nil discards them.
	Logger Logger
}

// Defaults, from docs/protocol.md.
const (
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultDeadAfter         = 30 * time.Second
	DefaultMinBackoff        = 500 * time.Millisecond
	DefaultMaxBackoff        = 30 * time.Second
)

// Error catalogue.
var (
	// ErrClosed is what WaitFor reports for changes still pending at Close.
	ErrClosed = errors.New("sync: client closed")
	// ErrUnknownApp is the fatal error for an app id the server does not know.
	ErrUnknownApp = errors.New("sync: the server does not know this app")
	// ErrSubscriptionRefused is wrapped by every SubscriptionError.
	ErrSubscriptionRefused = errors.New("sync: the server refused a subscription")
	// ErrUnreachable is what OnProblem reports when a connection attempt
	// failed without an answer from a server.
	ErrUnreachable = errors.New("sync: cannot reach the server")
	// ErrWrongServer is what OnProblem reports when the address answered,
	// but not as a jazz-tools sync server: an HTTP answer instead of a
	// WebSocket (a URL with a wrong path, another web server), or a socket
	// that never says welcome.
	ErrWrongServer = errors.New("sync: the server at this address is not a jazz-tools sync server")
	// ErrProtocolVersion is the fatal error for a server that speaks
	// another version of the sync protocol.
	ErrProtocolVersion = errors.New("sync: the server speaks another version of the sync protocol")
	// ErrNoBundle is what OnProblem reports when the server has no schema
	// published for the app, so it refuses every query and write.
	ErrNoBundle = errors.New("sync: the server has no schema published for this app")
	// ErrUndecodableFrame is what OnError reports for a frame from the
	// server that did not decode and was skipped.
	ErrUndecodableFrame = errors.New("sync: skipped a frame from the server that does not decode")
)

func (o *Options) normalize() (string, error) {
	if o.DB == nil {
		return "", errors.New("sync: Options.DB is required")
	}
	if o.AppID == "" {
		return "", errors.New("sync: Options.AppID is required")
	}
	u, err := endpoint(o.URL, o.AppID)
	if err != nil {
		return "", err
	}
	if o.Store == nil {
		o.Store = storage.NewMemory()
	}
	if o.Credentials == nil {
		o.Credentials = func() protocol.Auth { return protocol.Auth{} }
	}
	if o.Transport == nil {
		o.Transport = defaultTransport()
	}
	if o.Transport == nil {
		return "", errors.New("sync: Options.Transport is required in the browser build (the wasm bridge passes one)")
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&o.DeadAfter, DefaultDeadAfter)
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Logger == nil {
		o.Logger = Discard
	}
	return u, nil
}

// endpoint turns the configured URL into the WebSocket address: http(s)
// becomes ws(s), and a URL with no path gets the app's endpoint path.
//
// It is parsed by hand rather than with net/url, which with net/netip and
// unique behind it was 0.18 MB of the 6.16 MB browser build, compiled and
// initialised at every page load for this one call. The browser's
// WebSocket checks the rest of the address.
func endpoint(raw, appID string) (string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", fmt.Errorf("sync: URL %q must be ws(s):// or http(s)://", raw)
	}
	switch strings.ToLower(scheme) {
	case "ws", "http":
		scheme = "ws"
	case "wss", "https":
		scheme = "wss"
	default:
		return "", fmt.Errorf("sync: URL %q must be ws(s):// or http(s)://", raw)
	}
	if strings.ContainsAny(rest, "#\\") || strings.ContainsFunc(rest, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", fmt.Errorf("sync: URL %q has a fragment, a backslash, a space or a control character", raw)
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	host, path := rest[:end], rest[end:]
	if host == "" {
		return "", fmt.Errorf("sync: URL %q has no host", raw)
	}
	if path == "" || path == "/" || path[0] == '?' || strings.HasPrefix(path, "/?") {
		path = "/apps/" + escapeSegment(appID) + "/ws" + path[strings.IndexByte(path+"?", '?'):]
	}
	return scheme + "://" + host + path, nil
}

// escapeSegment percent-encodes s as one path segment, keeping what RFC 3986
// allows there unencoded (as net/url.PathEscape does).
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~$&+,:;=@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// SubscriptionError is a subscription the server refused, reported through
// OnError: its query is one the server cannot run (Code "bad_query"), or it
// is over one of the server's budgets (Code "budget_exceeded", naming the
// Budget and its Limit). Its rows will not come; the connection goes on.
type SubscriptionError struct {
	Sub     string
	Code    string
	Budget  string
	Limit   int
	Message string
}

func (e *SubscriptionError) Error() string {
	return "sync: the server refused subscription " + e.Sub + " (" + e.Code + "): " + e.Message
}

func (e *SubscriptionError) Unwrap() error { return ErrSubscriptionRefused }
