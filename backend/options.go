package backend

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/sync"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// Error catalogue. Refused credentials are *AuthError; rejected writes are
// *protocol.RemoteError (unwrapping to the typed policy or schema error).
var (
	// ErrConfig wraps every problem with Options or with the arguments of a
	// context method (an empty user id, a nil session).
	ErrConfig = errors.New("backend: invalid config")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("backend: context is closed")
)

// AuthError is a refused credential, with the server's stable code
// (expired, missing, invalid, disabled): from ForRequest when the request's
// credentials are refused, and from a handle whose connection the server
// refused (a wrong backend secret, for instance).
type AuthError = auth.Error

// Defaults applied by New to zero Options fields.
const (
	DefaultMaxConnections = 32
	DefaultWaitTimeout    = 30 * time.Second
	DefaultCloseTimeout   = 5 * time.Second
)

// Options configures New. AppID, ServerURL and BackendSecret are required.
type Options struct {
	// AppID is the app on the server (the server's APP_ID).
	AppID string
	// ServerURL is the sync server: http(s):// or ws(s)://.
	ServerURL string
	// BackendSecret is the server's --backend-secret. Every handle
	// connects with it: user handles impersonate their session, backend
	// handles act as the backend itself.
	BackendSecret string
	// AdminSecret is the server's --admin-secret. When set and Bundle is
	// nil, New loads the bundle the server enforces (GET
	// /apps/<appId>/admin/bundle) for the schema of the replicas.
	AdminSecret string
	// JWKSURL verifies external JWTs in ForRequest against this key set,
	// as the server's --jwks-url. Not with JWTPublicKey.
	JWKSURL string
	// JWTPublicKey verifies external JWTs in ForRequest against one key: a
	// JWK or PEM, inline or a file path, as the server's --jwt-public-key.
	// Not with JWKSURL.
	JWTPublicKey string
	// JWTAudiences, when not empty, makes ForRequest accept an external JWT
	// only if its aud names one of them, as the server's --jwt-audience.
	JWTAudiences []string
	// JWTIssuer, when set, makes ForRequest accept an external JWT only if
	// its iss is exactly this, as the server's --jwt-issuer.
	JWTIssuer string
	// AllowLocalFirstAuth accepts self-signed local-first tokens in
	// ForRequest, as the server's --allow-local-first-auth.
	AllowLocalFirstAuth bool
	// Production is the server's production mode for this context
	// (jazz-tools/backend sets it from NODE_ENV=production): New then
	// warns (Logger, Context.Warnings) when external JWTs are verified
	// without JWTAudiences, as the server does.
	Production bool
	// Bundle gives the schema of the replicas (its policies are the
	// server's business and are not evaluated locally). Nil: loaded from
	// the server with AdminSecret, else empty until UseSchema adds tables.
	Bundle *bundle.Bundle
	// Store opens the storage of one actor's replica (named by a stable
	// key). Nil keeps replicas in memory, which loses writes not yet
	// acknowledged when the process dies; a persistent store keeps them
	// queued until the next Context for the same actor sends them. The
	// Context closes what it opens.
	Store func(actor string) (storage.Store, error)
	// Logger receives diagnostics (never secrets or tokens); nil discards.
	Logger *slog.Logger

	// MaxConnections bounds the cached per-actor connections (see the
	// package documentation). Zero means DefaultMaxConnections.
	MaxConnections int
	// WaitTimeout bounds how long an operation whose context has no
	// deadline waits for the server: All, One and Subscribe (a connection,
	// the query's result) and the ...AndWait methods (the acknowledgement;
	// on timeout the write stays queued and is still sent). Zero means
	// DefaultWaitTimeout.
	WaitTimeout time.Duration
	// CloseTimeout bounds how long Close waits for unacknowledged writes to
	// reach the server. Zero means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// OnError receives failures with no caller to return them to, such as
	// a write nobody waited for that the server rejected.
	OnError func(error)

	// HTTPClient fetches the JWKS and the bundle; nil means a default
	// client with a 10 s timeout.
	HTTPClient *http.Client
	// Clock is the time source of token checks and replicas; nil means the
	// system clock.
	Clock clock.Clock
	// Transport opens sync connections; nil means WebSocket.
	Transport sync.Transport
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// validate checks o and fills in its defaults.
func (o *Options) validate() error {
	switch {
	case strings.TrimSpace(o.AppID) == "":
		return configErr("AppID is required")
	case o.ServerURL == "":
		return configErr("ServerURL is required")
	case o.BackendSecret == "":
		return configErr("BackendSecret is required: every backend context connects with the server's --backend-secret")
	case o.JWKSURL != "" && o.JWTPublicKey != "":
		return configErr("JWKSURL and JWTPublicKey are alternatives: set one of them, not both (jwksUrl or jwtPublicKey)")
	case (len(o.JWTAudiences) > 0 || o.JWTIssuer != "") && o.JWKSURL == "" && o.JWTPublicKey == "":
		return configErr("JWTAudiences and JWTIssuer check external JWTs: they need JWKSURL or JWTPublicKey (jwtAudience, jwtIssuer)")
	case slices.Contains(o.JWTAudiences, ""):
		return configErr("JWTAudiences must not contain an empty audience (jwtAudience)")
	}
	u, err := url.Parse(o.ServerURL)
	if err != nil || u.Host == "" {
		return configErr("ServerURL %q is not a URL with a host", o.ServerURL)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ws", "wss":
	default:
		return configErr("ServerURL %q must start with http://, https://, ws:// or wss://", o.ServerURL)
	}
	if o.JWKSURL != "" {
		if j, err := url.Parse(o.JWKSURL); err != nil || (j.Scheme != "http" && j.Scheme != "https") || j.Host == "" {
			return configErr("JWKSURL %q must be an http(s) URL", o.JWKSURL)
		}
	}
	if o.MaxConnections < 0 || o.WaitTimeout < 0 || o.CloseTimeout < 0 {
		return configErr("MaxConnections, WaitTimeout and CloseTimeout must not be negative")
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return nil
}

// resolver builds the session resolver ForRequest uses: the server's own,
// configured like the server.
func (o *Options) resolver() (*auth.Resolver, error) {
	r := &auth.Resolver{AppID: o.AppID, BackendSecret: o.BackendSecret, AllowLocalFirst: o.AllowLocalFirstAuth, Clock: o.Clock}
	vo := auth.Options{Clock: o.Clock, HTTPClient: o.HTTPClient, Logger: o.Logger, Issuer: o.JWTIssuer, Audiences: o.JWTAudiences}
	switch {
	case o.JWKSURL != "":
		r.External = auth.NewJWKS(o.JWKSURL, vo)
	case o.JWTPublicKey != "":
		text, err := keyText(o.JWTPublicKey)
		if err != nil {
			return nil, configErr("JWTPublicKey: %v", err)
		}
		k, err := auth.NewStaticKey(text, vo)
		if err != nil {
			return nil, configErr("JWTPublicKey: %v", err)
		}
		r.External = k
	}
	return r, nil
}

// warnings are the risks of a configuration that works but is likely not
// what a deployment wants, as the server warns of them at start.
func (o *Options) warnings() []string {
	var ws []string
	if o.Production && (o.JWKSURL != "" || o.JWTPublicKey != "") && len(o.JWTAudiences) == 0 {
		ws = append(ws, auth.NoAudienceRisk+"; set JWTAudiences (jwtAudience)")
	}
	return ws
}

// keyText returns v itself when it is an inline JWK or PEM, else the
// contents of the file it names (the server's --jwt-public-key rule).
func keyText(v string) (string, error) {
	t := strings.TrimSpace(v)
	if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "-----BEGIN") {
		return t, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", fmt.Errorf("neither an inline JWK or PEM key nor a readable file: %v", err)
	}
	return string(b), nil
}
