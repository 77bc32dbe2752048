// Package auth turns the credentials on an incoming request into the session
// every read and write on the sync server is checked against.
//
// It exists as its own package because it is the one place where untrusted
// input (headers, bearer tokens, a remote JWKS document) decides who a caller
// is. Keeping the rules in one small, heavily tested package makes their order
// auditable: backend impersonation first, then external JWTs, then local-first
// tokens, and an anonymous session when nothing was presented. Every failure is
// an *Error with a stable Code so clients can tell "refresh your token" from
// "this server does not accept that kind of token".
package auth

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Code classifies an authentication failure. The values are part of the wire
// format: clients branch on them (for example, refreshing a token on
// CodeExpired but not on CodeInvalid).
type Code string

const (
	// CodeExpired means the credential was genuine but its lifetime is over;
	// presenting a fresh one of the same kind will work.
	CodeExpired Code = "expired"
	// CodeMissing means a credential was started but not completed, such as an
	// empty bearer token or a backend secret without the session to act as.
	CodeMissing Code = "missing"
	// CodeInvalid means the credential was refused: bad signature, wrong
	// audience, malformed, unknown key, and so on.
	CodeInvalid Code = "invalid"
	// CodeDisabled means the server is not configured to accept that kind of
	// credential at all.
	CodeDisabled Code = "disabled"
)

// Error is the structured "unauthenticated" failure. Its Message is meant for
// the caller and therefore never contains the presented token or any secret.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	return "unauthenticated (" + string(e.Code) + "): " + e.Message
}

// wireError fixes the JSON member order so the body is byte-for-byte stable.
type wireError struct {
	Error   string `json:"error"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// MarshalJSON renders {"error":"unauthenticated","code":...,"message":...},
// the body the server sends with a 401.
func (e Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireError{Error: "unauthenticated", Code: e.Code, Message: e.Message})
}

func fail(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Header names read by CredentialsFromRequest.
const (
	HeaderBackendSecret = "X-Jazz-Backend-Secret"
	HeaderSession       = "X-Jazz-Session"
)

// Credentials are the raw, unverified authentication inputs of one request.
type Credentials struct {
	// BackendSecret is the X-Jazz-Backend-Secret header: a trusted backend
	// proving it may act as any user.
	BackendSecret string
	// Session is the X-Jazz-Session header: base64 JSON naming the session a
	// backend acts as. Only meaningful together with BackendSecret.
	Session string
	// Bearer is the token from "Authorization: Bearer <token>".
	Bearer string
	// BearerGiven records that the Bearer scheme was present even if the token
	// after it was empty. Without it an empty token would silently become an
	// anonymous session, hiding a client bug; with it the caller gets
	// CodeMissing.
	BearerGiven bool
	// BadAuthorization says why an Authorization header could not be used:
	// it names a scheme other than Bearer, or it was sent more than once.
	// Such a request is refused with CodeInvalid rather than served as
	// anonymous, so a client sending the wrong credentials learns it at once
	// instead of seeing an empty, read-only app.
	BadAuthorization string
}

// CredentialsFromRequest extracts Credentials from r's headers. The
// Authorization scheme is matched case-insensitively (RFC 7235 section 2.1).
func CredentialsFromRequest(r *http.Request) Credentials {
	c := Credentials{
		BackendSecret: r.Header.Get(HeaderBackendSecret),
		Session:       r.Header.Get(HeaderSession),
	}
	switch values := r.Header.Values("Authorization"); {
	case len(values) > 1:
		c.BadAuthorization = "Authorization header sent more than once"
	case len(values) == 1:
		c.Bearer, c.BearerGiven, c.BadAuthorization = parseAuthorization(values[0])
	}
	return c
}

// parseAuthorization returns the token of a Bearer Authorization value and
// whether the scheme was Bearer at all, or why the value is not usable. An
// empty value counts as no header.
func parseAuthorization(v string) (token string, bearer bool, problem string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", false, ""
	}
	scheme, rest := v, ""
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		scheme, rest = v[:i], v[i:]
	}
	if !strings.EqualFold(scheme, "bearer") {
		return "", false, "Authorization scheme " + quoteShort(scheme) + " is not accepted; send Authorization: Bearer <token>"
	}
	return strings.TrimSpace(rest), true, ""
}
