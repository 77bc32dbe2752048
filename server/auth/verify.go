package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/session"
)

// Verifier checks an external (identity provider) JWT. Errors are *Error.
type Verifier interface {
	Verify(ctx context.Context, token string) (*session.Session, error)
}

// ExpiryVerifier is a Verifier that can also say when the session it resolved
// stops being valid, so a server holding a long-lived socket can drop it at
// that moment instead of trusting the token forever. StaticKey and JWKS
// implement it; Resolver falls back to the session's "exp" claim for
// verifiers that do not.
type ExpiryVerifier interface {
	Verifier
	// VerifyWithExpiry is Verify plus the token's exp (without leeway).
	VerifyWithExpiry(ctx context.Context, token string) (*session.Session, time.Time, error)
}

// NoAudienceRisk is the warning for verifying external JWTs without
// Audiences, logged at start in production by the server and backend contexts.
const NoAudienceRisk = "external JWTs are accepted without an audience check: a token the same identity provider issued for any other application is accepted here too"

// MaxTokenSize bounds a bearer token before any decoding, so a hostile
// client cannot make us base64- and JSON-decode megabytes per request.
const MaxTokenSize = 16 << 10

// Defaults applied to zero Options fields.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultRefreshInterval    = 10 * time.Minute
	DefaultMinRefetchInterval = 30 * time.Second
	DefaultStaleFor           = 24 * time.Hour
	DefaultFetchTimeout       = 10 * time.Second
)

// Options configures external JWT verification. The zero value is usable.
type Options struct {
	// Issuer, when non-empty, must equal the token's iss claim.
	Issuer string
	// Audiences, when not empty, must share at least one value with the
	// token's aud claim (a string or an array). Without it a token the same
	// identity provider minted for any other application is accepted.
	Audiences []string
	// Leeway tolerates clock skew between the identity provider and us when
	// checking exp and nbf. Zero means DefaultLeeway (30s); a negative value
	// means no leeway at all.
	Leeway time.Duration
	// Clock supplies "now" for exp/nbf and for JWKS cache ages. Nil means the
	// system clock; tests pass a clock.Fake.
	Clock clock.Clock

	// The fields below apply to JWKS only.

	// HTTPClient fetches the JWKS document. Nil means a client with a 10s
	// timeout.
	HTTPClient *http.Client
	// FetchTimeout bounds each JWKS request through its context, so it holds
	// even for an HTTPClient without a Timeout. Zero means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// RefreshInterval is how old the cached key set may get before it is
	// refreshed in the background (verifications keep using the cached keys
	// meanwhile). Zero means DefaultRefreshInterval (10 minutes).
	RefreshInterval time.Duration
	// MinRefetchInterval is the least time between two fetches that were not
	// scheduled refreshes: those triggered by a token with an unknown kid, and
	// retries after a failed fetch. Inside the window an unknown kid is
	// refused without any HTTP request, so a stream of tokens with made-up
	// kids cannot be turned into a flood against the identity provider. Zero
	// means DefaultMinRefetchInterval (30s).
	MinRefetchInterval time.Duration
	// StaleFor is how long after the last successful fetch cached keys keep
	// being used while the endpoint is failing. Past it, verification fails
	// with "JWKS unavailable" rather than trusting keys that may have been
	// revoked. Zero means DefaultStaleFor (24h).
	StaleFor time.Duration
	// Logger receives JWKS fetch failures (never tokens). Nil discards them.
	Logger *slog.Logger
}

// withDefaults returns a copy with every zero field filled in.
func (o Options) withDefaults() Options {
	switch {
	case o.Leeway == 0:
		o.Leeway = DefaultLeeway
	case o.Leeway < 0:
		o.Leeway = 0
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.FetchTimeout}
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.MinRefetchInterval <= 0 {
		o.MinRefetchInterval = DefaultMinRefetchInterval
	}
	if o.StaleFor <= 0 {
		o.StaleFor = DefaultStaleFor
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// prepare builds k's parser from o: algorithms pinned to the key, exp
// required, and time taken from o.Clock.
func (o *Options) prepare(k *verifyKey) *verifyKey {
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(k.algs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(o.Leeway),
		jwt.WithTimeFunc(o.Clock.Now),
	}
	if o.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(o.Issuer))
	}
	// A copy, so a caller reusing its slice cannot change what is accepted.
	audiences := slices.Clone(o.Audiences)
	if len(audiences) > 0 {
		popts = append(popts, jwt.WithAudience(audiences...))
	}
	k.parser = jwt.NewParser(popts...)
	k.issuer, k.audiences = o.Issuer, audiences
	return k
}

// tokenHeader is what we need from the JOSE header before choosing a key.
type tokenHeader struct {
	Alg string
	Kid string
	// HasKid distinguishes an absent kid from one that is present but empty
	// or not a string; only a truly absent kid may fall back to a lone key.
	HasKid bool
}

// peekHeader size-checks token and decodes its header without trusting it.
func peekHeader(token string) (tokenHeader, *Error) {
	if len(token) > MaxTokenSize {
		return tokenHeader{}, fail(CodeInvalid, "token too large")
	}
	head, _, ok := strings.Cut(token, ".")
	if !ok || strings.Count(token, ".") != 2 {
		return tokenHeader{}, fail(CodeInvalid, "malformed token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return tokenHeader{}, fail(CodeInvalid, "malformed token header")
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil || h == nil {
		return tokenHeader{}, fail(CodeInvalid, "malformed token header")
	}
	var th tokenHeader
	th.Alg, _ = h["alg"].(string)
	if v, present := h["kid"]; present {
		th.HasKid = true
		th.Kid, _ = v.(string)
	}
	return th, nil
}

// verifyWith checks token against one key and maps the outcome to a session.
func verifyWith(k *verifyKey, th tokenHeader, token string) (*session.Session, time.Time, error) {
	if !k.allows(th.Alg) {
		// WithValidMethods would refuse it too; checking here first gives a
		// clearer message and keeps "none"/HS* away from the parser entirely.
		return nil, time.Time{}, fail(CodeInvalid, "signing algorithm not accepted for this key")
	}
	claims := jwt.MapClaims{}
	_, err := k.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return k.pub, nil })
	sub, subErr := claims.GetSubject()
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) && onlyExpired(err) && subErr == nil && sub != "" {
			return nil, time.Time{}, fail(CodeExpired, "token expired")
		}
		return nil, time.Time{}, classify(err, k.missingClaim(claims))
	}
	if subErr != nil || sub == "" {
		return nil, time.Time{}, fail(CodeInvalid, "token has no sub claim")
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, time.Time{}, fail(CodeInvalid, "token has no valid exp claim")
	}
	return &session.Session{UserID: sub, AuthMode: session.External, Claims: map[string]any(claims)}, exp.Time, nil
}

// onlyExpired reports whether expiry is the sole claim problem. A token that
// is expired and also for another issuer or audience must be CodeInvalid:
// CodeExpired tells the client a refreshed token will work, and it would not.
func onlyExpired(err error) bool {
	for _, other := range []error{
		jwt.ErrTokenNotValidYet, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience,
		jwt.ErrTokenRequiredClaimMissing, jwt.ErrInvalidType, jwt.ErrTokenUsedBeforeIssued,
		jwt.ErrTokenSignatureInvalid, jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable,
	} {
		if errors.Is(err, other) {
			return false
		}
	}
	return true
}

// missingClaim names the required claim claims lacks (exp, and iss or aud
// when k expects them), for a message that says which one.
func (k *verifyKey) missingClaim(claims jwt.MapClaims) string {
	absent := func(name string) bool { v, ok := claims[name]; return !ok || v == nil || v == "" }
	switch {
	case absent("exp"):
		return "exp"
	case k.issuer != "" && absent("iss"):
		return "iss"
	case len(k.audiences) > 0:
		return "aud"
	}
	return "exp"
}

// classify maps a golang-jwt error to a fixed message. The library's own text
// is not forwarded: the message goes to an untrusted client and must stay
// free of token contents. missing names the claim that a
// jwt.ErrTokenRequiredClaimMissing is about.
func classify(err error, missing string) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fail(CodeInvalid, "malformed token")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fail(CodeInvalid, "signature invalid")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fail(CodeInvalid, "token not valid yet")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fail(CodeInvalid, "token iss claim is not the issuer this server accepts")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fail(CodeInvalid, "token aud claim names none of the audiences this server accepts")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fail(CodeInvalid, "token has no "+missing+" claim, which this server requires")
	case errors.Is(err, jwt.ErrInvalidType):
		return fail(CodeInvalid, "token has a claim of the wrong type")
	case errors.Is(err, jwt.ErrTokenExpired):
		return fail(CodeInvalid, "token expired and otherwise invalid")
	default:
		return fail(CodeInvalid, "token could not be verified")
	}
}

// StaticKey verifies external JWTs against one configured public key. The
// token's kid is ignored: with a single key there is nothing to choose.
type StaticKey struct {
	key *verifyKey
}

// NewStaticKey parses text as a JWK (kty RSA, EC or OKP) or as PEM (a PKIX
// "PUBLIC KEY", a PKCS#1 "RSA PUBLIC KEY", or a "CERTIFICATE"). Private keys
// and symmetric ("oct") keys are refused with a *KeyError. Only the claim and
// clock fields of opts apply.
func NewStaticKey(text string, opts Options) (*StaticKey, error) {
	k, err := parseKeyText(text)
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	return &StaticKey{key: o.prepare(k)}, nil
}

// Algorithms lists the signing algorithms this key accepts.
func (s *StaticKey) Algorithms() []string { return append([]string(nil), s.key.algs...) }

// Verify implements Verifier.
func (s *StaticKey) Verify(ctx context.Context, token string) (*session.Session, error) {
	sess, _, err := s.VerifyWithExpiry(ctx, token)
	return sess, err
}

// VerifyWithExpiry implements ExpiryVerifier.
func (s *StaticKey) VerifyWithExpiry(_ context.Context, token string) (*session.Session, time.Time, error) {
	th, e := peekHeader(token)
	if e != nil {
		return nil, time.Time{}, e
	}
	return verifyWith(s.key, th, token)
}
