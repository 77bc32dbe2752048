package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/session"
)

// Resolver decides the session of a request from its Credentials. A Resolver
// is read-only after construction and safe for concurrent use.
type Resolver struct {
	// AppID is the audience local-first tokens must be minted for.
	AppID string
	// BackendSecret lets a trusted backend act as any user by sending it in
	// X-Jazz-Backend-Secret with the target session in X-Jazz-Session. Empty
	// disables impersonation.
	BackendSecret string
	// External verifies identity-provider JWTs (a *JWKS or *StaticKey). Nil
	// means no external auth is configured and such tokens are refused with
	// CodeDisabled.
	External Verifier
	// AllowLocalFirst accepts self-signed local-first tokens.
	AllowLocalFirst bool
	// Clock supplies "now" for local-first token checks. Nil means the system
	// clock. External verifiers carry their own clock in their Options.
	Clock clock.Clock
	// Leeway tolerates clock skew on local-first tokens' exp, nbf and iat.
	// Zero means DefaultLeeway (30s); negative means none.
	Leeway time.Duration
}

// Resolve applies, in order, the first rule that matches:
//
//  1. X-Jazz-Backend-Secret present: backend impersonation of the session in
//     X-Jazz-Session (even if a bearer token is also present).
//  2. X-Jazz-Session present without a backend secret: CodeMissing, since
//     acting as a session needs the secret; silently ignoring it would hand a
//     misconfigured backend an anonymous session instead of an error.
//  3. An Authorization header that is not one Bearer credential (Basic, a
//     made-up scheme, the header twice): CodeInvalid.
//  4. A bearer token that is not local-first: verified by External; its sub
//     must not be in a reserved namespace (session.CheckUserID).
//  5. A local-first bearer token: verified when AllowLocalFirst.
//  6. "Authorization: Bearer" with an empty token: CodeMissing.
//  7. Nothing: a fresh anonymous session.
//
// On failure the session is nil and the error is an *Error.
func (r *Resolver) Resolve(ctx context.Context, c Credentials) (*session.Session, error) {
	s, _, err := r.ResolveWithExpiry(ctx, c)
	return s, err
}

// ResolveWithExpiry is Resolve plus the deadline after which the session
// stops being valid: the token's exp claim (without leeway) for bearer
// tokens, and zero, meaning none, for impersonated and anonymous sessions.
// A server holding a socket open uses it to end the session on time.
func (r *Resolver) ResolveWithExpiry(ctx context.Context, c Credentials) (*session.Session, time.Time, error) {
	s, deadline, e := r.resolve(ctx, c)
	if e != nil {
		return nil, time.Time{}, e
	}
	return s, deadline, nil
}

func (r *Resolver) resolve(ctx context.Context, c Credentials) (*session.Session, time.Time, *Error) {
	switch {
	case c.BackendSecret != "":
		s, e := r.impersonate(c)
		return s, time.Time{}, e
	case c.Session != "":
		return nil, time.Time{}, fail(CodeMissing, "X-Jazz-Session requires X-Jazz-Backend-Secret")
	case c.BadAuthorization != "":
		return nil, time.Time{}, fail(CodeInvalid, c.BadAuthorization)
	case c.Bearer != "" && !identity.IsLocalFirstToken(c.Bearer):
		return r.external(ctx, c.Bearer)
	case c.Bearer != "":
		return r.localFirst(c.Bearer)
	case c.BearerGiven:
		return nil, time.Time{}, fail(CodeMissing, "Authorization header has the Bearer scheme but no token")
	default:
		return anonymous(), time.Time{}, nil
	}
}

// AuthenticateBackend checks a presented backend secret, as impersonation
// does: CodeDisabled when the resolver has none, CodeMissing for an empty
// one, CodeInvalid when it does not match. The comparison is constant-time.
// It is the check behind backend actors that act as the backend itself
// rather than as a session (the WebSocket hello's actAs).
func (r *Resolver) AuthenticateBackend(secret string) error {
	if e := r.checkBackendSecret(secret); e != nil {
		return e
	}
	return nil
}

func (r *Resolver) checkBackendSecret(secret string) *Error {
	if r.BackendSecret == "" {
		return fail(CodeDisabled, "backend access (impersonation, actAs) is not enabled on this server: it has no backend secret")
	}
	if secret == "" {
		return fail(CodeMissing, "no backend secret given")
	}
	// Hashing first makes the comparison constant-time in the length too, so
	// timing reveals nothing about the configured secret.
	got := sha256.Sum256([]byte(secret))
	want := sha256.Sum256([]byte(r.BackendSecret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return fail(CodeInvalid, "backend secret does not match")
	}
	return nil
}

func (r *Resolver) impersonate(c Credentials) (*session.Session, *Error) {
	if e := r.checkBackendSecret(c.BackendSecret); e != nil {
		return nil, e
	}
	if c.Session == "" {
		return nil, fail(CodeMissing, "backend secret given without X-Jazz-Session")
	}
	s, err := DecodeSessionHeader(c.Session)
	if err != nil {
		return nil, fail(CodeInvalid, "X-Jazz-Session: "+err.Error())
	}
	return s, nil
}

func (r *Resolver) external(ctx context.Context, token string) (*session.Session, time.Time, *Error) {
	if r.External == nil {
		return nil, time.Time{}, fail(CodeDisabled, "external JWT auth is not configured (no JWKS URL or public key configured)")
	}
	var (
		s        *session.Session
		deadline time.Time
		err      error
	)
	if ev, ok := r.External.(ExpiryVerifier); ok {
		s, deadline, err = ev.VerifyWithExpiry(ctx, token)
	} else {
		s, err = r.External.Verify(ctx, token)
		if err == nil && s != nil {
			deadline = expFromClaims(s.Claims)
		}
	}
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return nil, time.Time{}, ae
		}
		// A third-party Verifier broke the contract; its text may hold
		// anything, so it is not forwarded.
		return nil, time.Time{}, fail(CodeInvalid, "token could not be verified")
	}
	if s == nil {
		return nil, time.Time{}, fail(CodeInvalid, "token could not be verified")
	}
	if reason := reservedUserID(s.UserID, session.External); reason != "" {
		return nil, time.Time{}, fail(CodeInvalid, "token sub claim refused: "+reason)
	}
	return s, deadline, nil
}

// reservedUserID is session.CheckUserID's verdict as a message for the
// caller, or "" when userID may be used in mode.
func reservedUserID(userID string, mode session.AuthMode) string {
	var re *session.ReservedUserIDError
	if errors.As(session.CheckUserID(userID, mode), &re) {
		return re.Reason()
	}
	return ""
}

// expFromClaims reads a numeric exp claim, for verifiers that do not report
// expiry themselves.
func expFromClaims(claims map[string]any) time.Time {
	var f float64
	switch v := claims["exp"].(type) {
	case float64:
		f = v
	case json.Number:
		var err error
		if f, err = v.Float64(); err != nil {
			return time.Time{}
		}
	default:
		return time.Time{}
	}
	if f <= 0 || f > math.MaxInt64/2 || math.IsNaN(f) {
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
}

func (r *Resolver) localFirst(token string) (*session.Session, time.Time, *Error) {
	if !r.AllowLocalFirst {
		return nil, time.Time{}, fail(CodeDisabled, "local-first auth is not enabled on this server")
	}
	clk := r.Clock
	if clk == nil {
		clk = clock.System{}
	}
	leeway := r.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	claims, err := identity.VerifyToken(token, r.AppID, clk.Now(), leeway)
	switch {
	case err == nil:
	case errors.Is(err, identity.ErrTokenExpired):
		return nil, time.Time{}, fail(CodeExpired, "local-first token expired")
	case errors.Is(err, identity.ErrWrongAudience):
		return nil, time.Time{}, fail(CodeInvalid, "local-first token was minted for another app")
	case errors.Is(err, identity.ErrTokenNotYetValid):
		return nil, time.Time{}, fail(CodeInvalid, "local-first token not valid yet (client clock ahead?)")
	default:
		return nil, time.Time{}, fail(CodeInvalid, "local-first token invalid")
	}
	s := &session.Session{UserID: claims.UserID, AuthMode: session.LocalFirst, Claims: map[string]any{}}
	return s, claims.ExpiresAt, nil
}

// anonymous returns a session with a fresh random id, so two anonymous
// callers never share one another's (read-only) state.
func anonymous() *session.Session {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return &session.Session{UserID: session.AnonymousNamespace + hex.EncodeToString(b[:]), AuthMode: session.Anonymous, Claims: map[string]any{}}
}

// MaxSessionHeaderJSON bounds the decoded X-Jazz-Session payload.
const MaxSessionHeaderJSON = 16 << 10

// SessionHeaderError explains why an X-Jazz-Session value was refused.
type SessionHeaderError struct {
	Reason string
}

func (e *SessionHeaderError) Error() string { return e.Reason }

func badHeader(reason string) *SessionHeaderError { return &SessionHeaderError{Reason: reason} }

// EncodeSessionHeader is the inverse of DecodeSessionHeader, for backends
// written in Go and for tests.
func EncodeSessionHeader(s *session.Session) (string, error) {
	claims := s.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	b, err := json.Marshal(session.Session{UserID: s.UserID, AuthMode: s.AuthMode, Claims: claims})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeSessionHeader parses an X-Jazz-Session value: base64 (standard or URL
// alphabet, padded or not) of {"user_id":..., "authMode":..., "claims":{...}}.
// Decoding is strict because this value grants whatever identity it names:
// member names must match exactly (encoding/json would accept "USER_ID"),
// unknown or duplicate members and trailing data are refused, user_id must be
// non-empty and authMode, defaulting to "external", must be a known mode.
// The user_id must also suit the mode (session.CheckUserID): the backend
// secret lets a backend act as any user, but not as the system (it acts as
// itself with actAs, and "jazz:system" in $createdBy must mean that), nor
// as a writer named like an anonymous visitor.
func DecodeSessionHeader(v string) (*session.Session, error) {
	if len(v) > base64.StdEncoding.EncodedLen(MaxSessionHeaderJSON) {
		return nil, badHeader("larger than 16 KiB")
	}
	raw, err := decodeAnyBase64(v)
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxSessionHeaderJSON {
		return nil, badHeader("larger than 16 KiB")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, badHeader("not a JSON object")
	}
	var (
		s       = &session.Session{AuthMode: session.External}
		seen    = map[string]bool{}
		hasMode bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badHeader("not valid JSON")
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, badHeader("duplicate member " + quoteShort(name))
		}
		seen[name] = true
		switch name {
		case "user_id":
			var id *string
			if err := dec.Decode(&id); err != nil {
				return nil, badHeader("user_id must be a string")
			}
			if id != nil {
				s.UserID = *id
			}
		case "authMode":
			var m *session.AuthMode
			if err := dec.Decode(&m); err != nil {
				return nil, badHeader("authMode must be a string")
			}
			if m != nil {
				s.AuthMode, hasMode = *m, true
			}
		case "claims":
			if err := dec.Decode(&s.Claims); err != nil {
				return nil, badHeader("claims must be a JSON object")
			}
		default:
			return nil, badHeader("unknown member " + quoteShort(name))
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, badHeader("not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badHeader("trailing data after the JSON object")
	}
	if s.UserID == "" {
		return nil, badHeader("user_id is required")
	}
	if hasMode && !s.AuthMode.Valid() {
		return nil, badHeader("authMode must be anonymous, local-first or external")
	}
	if reason := reservedUserID(s.UserID, s.AuthMode); reason != "" {
		return nil, badHeader("user_id refused: " + reason)
	}
	if s.Claims == nil {
		s.Claims = map[string]any{}
	}
	return s, nil
}

// decodeAnyBase64 accepts all four common spellings. The alphabet is chosen
// from the characters present, since '-'/'_' and '+'/'/' never mix in one
// valid encoding.
func decodeAnyBase64(v string) ([]byte, error) {
	enc := base64.RawStdEncoding
	if strings.ContainsAny(v, "-_") {
		enc = base64.RawURLEncoding
	}
	trimmed := strings.TrimRight(v, "=")
	if len(v)-len(trimmed) > 2 || (len(v) != len(trimmed) && len(v)%4 != 0) {
		return nil, badHeader("not valid base64")
	}
	// The decoder skips '\r' and '\n'; refuse them so one value has one meaning.
	if strings.ContainsAny(trimmed, "\r\n") {
		return nil, badHeader("not valid base64")
	}
	raw, err := enc.Strict().DecodeString(trimmed)
	if err != nil {
		return nil, badHeader("not valid base64")
	}
	return raw, nil
}

// quoteShort quotes an attacker-supplied name for an error message, cut so a
// huge member name cannot bloat the response.
func quoteShort(s string) string {
	const limit = 40
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
