package server

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultHeartbeatTimeout matches docs/protocol.md: clients ping every
	// 15 s, so three missed pings mean the connection is dead.
	DefaultHeartbeatTimeout = 45 * time.Second
	// DefaultHelloTimeout bounds how long an upgraded socket may stay open
	// without saying who it is, so idle sockets cannot pile up.
	DefaultHelloTimeout = 10 * time.Second
	// DefaultAppliedFor is how long a change's id is kept to accept its
	// resend once (engine.Options.AppliedFor): far longer than a client
	// waits for an ack, short enough that the log of ids, read into memory
	// at every start, does not grow with every change ever made.
	DefaultAppliedFor = 30 * 24 * time.Hour
)

// DefaultAllowedOrigins lets pages served from this machine (any port) open
// sockets, which is what local development needs and nothing more.
var DefaultAllowedOrigins = []string{"localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[::1]:*"}

// Config configures New. AppID and one of DataDir, DatabaseURL or InMemory are required;
// every other field has a usable zero value.
type Config struct {
	// AppID is the one app this server serves. It names the data file and
	// must match the app id in every request path and WebSocket hello.
	// Letters, digits, '.', '_' and '-' only, so it is safe as a file name.
	AppID string

	// DataDir is the directory holding <AppID>.db, the bbolt file with rows,
	// the applied-change log and the published bundle. It is created if
	// missing. Empty requires InMemory.
	DataDir string

	// DatabaseURL, instead of DataDir, keeps the app in the PostgreSQL
	// database at this URL (postgres://...), where several servers may
	// serve it at once (docs/server.md, "Running several servers").
	DatabaseURL string

	// InMemory keeps everything in process memory and loses it on exit. It
	// exists for tests and throw-away dev servers; it cannot be combined with
	// DataDir so that a typo never silently discards data.
	InMemory bool

	// Resolver decides the session of every request and WebSocket hello.
	// Nil accepts only anonymous sessions (every other credential is refused
	// with code "disabled"). Its AppID, when set, must equal AppID; when
	// empty, a copy with AppID filled in is used.
	Resolver *auth.Resolver

	// AdminSecret guards the admin routes (bundle publishing). Empty
	// disables them: they answer 403 admin_disabled.
	AdminSecret string

	// MaxFrameBytes is the largest WebSocket frame a client may send. Zero
	// means limits.MaxFrameBytes (1 MiB); larger values are refused because
	// the protocol codec never accepts more than that.
	MaxFrameBytes int

	// AllowedOrigins are the browser origins allowed to open sockets, as
	// host patterns (path.Match syntax, e.g. "app.example.com",
	// "*.example.com", "localhost:*"); full origins such as
	// "https://app.example.com" are reduced to their host. Brackets are
	// literal, as in IPv6 hosts ("[::1]:*"), not character classes. "*"
	// allows any origin. Requests without an Origin header (non-browser clients) and
	// same-origin pages are always allowed. Nil means DefaultAllowedOrigins.
	AllowedOrigins []string

	// Logger receives structured logs. Nil means JSON lines on stderr.
	Logger *slog.Logger

	// Version names the running build in the start-up log line and in the
	// jazz_build_info metric. Empty means "unknown".
	Version string

	// Clock drives heartbeats, hello and session-expiry timers and the
	// engine's timestamps. Nil means the system clock; tests pass a
	// clock.Fake to expire tokens without sleeping.
	Clock clock.Clock

	// Bundle, when non-nil, is published at start exactly as an admin PUT
	// would: it replaces any stored bundle and is persisted. When nil, the
	// stored bundle is loaded; with none stored yet, the app starts with an
	// empty schema and every query or write fails until one is published.
	Bundle *bundle.Bundle

	// HeartbeatTimeout closes a connection that sent nothing for this long.
	// Zero means DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// HelloTimeout closes an upgraded socket that has not said who it is
	// after this long. Zero means DefaultHelloTimeout.
	HelloTimeout time.Duration

	// AppliedFor is how long the id of an accepted change is kept, so that
	// a client resending it (its ack was lost) gets an ack and the change
	// is not applied twice. A resend after that is judged as a new change
	// (an insert is then refused as a conflict; the client shows the
	// server's row). Zero means DefaultAppliedFor.
	AppliedFor time.Duration

	// Budgets bound what one client can make the server do (subscriptions
	// per connection, per session and for all anonymous sessions, rows in
	// flight, concurrent anonymous work). Zero fields take DefaultBudgets.
	Budgets Budgets

	// store replaces the in-memory store (InMemory only); tests inject
	// faults through it.
	store storage.Store
}

var appIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// AppIDRule says what ValidAppID accepts, for messages.
const AppIDRule = "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"

// ValidAppID reports whether id may name an app. The rule keeps it safe as a
// file name (no "..", no separators), since it names the data file.
func ValidAppID(id string) bool { return appIDRe.MatchString(id) }

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	bad := func(field, problem string) (Config, error) {
		return Config{}, &ConfigError{Field: field, Problem: problem}
	}
	if !ValidAppID(c.AppID) {
		return bad("AppID", "must be "+AppIDRule)
	}
	switch {
	case c.DataDir == "" && c.DatabaseURL == "" && !c.InMemory:
		return bad("DataDir", "a data directory or a database URL is required unless InMemory is set")
	case c.DataDir != "" && c.InMemory:
		return bad("InMemory", "cannot be combined with a data directory")
	case c.DatabaseURL != "" && c.InMemory:
		return bad("InMemory", "cannot be combined with a database URL")
	case c.DataDir != "" && c.DatabaseURL != "":
		return bad("DatabaseURL", "cannot be combined with a data directory: choose PostgreSQL or the embedded store")
	}
	switch {
	case c.MaxFrameBytes == 0:
		c.MaxFrameBytes = limits.MaxFrameBytes
	case c.MaxFrameBytes < 1024 || c.MaxFrameBytes > limits.MaxFrameBytes:
		return bad("MaxFrameBytes", fmt.Sprintf("must be between 1024 and %d", limits.MaxFrameBytes))
	}
	if c.HeartbeatTimeout < 0 {
		return bad("HeartbeatTimeout", "must not be negative")
	}
	if c.HelloTimeout < 0 {
		return bad("HelloTimeout", "must not be negative")
	}
	if c.HelloTimeout == 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.AppliedFor < 0 {
		return bad("AppliedFor", "must not be negative")
	}
	if c.AppliedFor == 0 {
		c.AppliedFor = DefaultAppliedFor
	}
	budgets, err := c.Budgets.withDefaults()
	if err != nil {
		return Config{}, err
	}
	c.Budgets = budgets
	if c.Version == "" {
		c.Version = "unknown"
	}
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if c.Resolver == nil {
		c.Resolver = &auth.Resolver{AppID: c.AppID, Clock: c.Clock}
	} else {
		if c.Resolver.AppID != "" && c.Resolver.AppID != c.AppID {
			return bad("Resolver", fmt.Sprintf("resolver is for app %q, server for %q", c.Resolver.AppID, c.AppID))
		}
		r := *c.Resolver
		r.AppID = c.AppID
		c.Resolver = &r
	}
	if c.AllowedOrigins == nil {
		c.AllowedOrigins = DefaultAllowedOrigins
	}
	origins := make([]string, 0, len(c.AllowedOrigins))
	for _, o := range c.AllowedOrigins {
		o = originPattern(o)
		if o == "" {
			continue
		}
		origins = append(origins, o)
	}
	c.AllowedOrigins = origins
	return c, nil
}

// originPattern reduces "https://app.example.com:8443/" to
// "app.example.com:8443", the form the websocket library matches against,
// and escapes brackets: the library uses path.Match, where "[::1]" is a
// character class matching ':' or '1' (so the IPv6 loopback was refused
// and the host "1:5173" allowed), while in a host they only enclose an
// IPv6 address.
func originPattern(o string) string {
	o = strings.TrimSpace(o)
	if _, rest, ok := strings.Cut(o, "://"); ok {
		o = rest
	}
	o, _, _ = strings.Cut(o, "/")
	return bracketEscaper.Replace(o)
}

var bracketEscaper = strings.NewReplacer("[", `\[`, "]", `\]`)
