// Package session defines who is acting: the resolved identity that every read
// and write is checked against, on the client and on the server alike.
package session

import (
	"strings"
)

// AuthMode names how a session was established. The values are part of the wire
// format and of the permissions DSL (session.where({authMode: "anonymous"})).
type AuthMode string

const (
	Anonymous  AuthMode = "anonymous"
	LocalFirst AuthMode = "local-first"
	External   AuthMode = "external"
)

// SystemUser authors writes made with no session and no attribution, such as
// those of a backend acting as itself.
const SystemUser = "jazz:system"

// Valid reports whether m is one of the three known modes.
func (m AuthMode) Valid() bool {
	return m == Anonymous || m == LocalFirst || m == External
}

// Session is the resolved identity of a caller. Claims holds the verified
// token's payload (external) or is empty.
type Session struct {
	UserID   string         `json:"user_id"`
	AuthMode AuthMode       `json:"authMode"`
	Claims   map[string]any `json:"claims"`
}

// IsAnonymous reports whether s may not write at all. A nil session is the
// system itself, not an anonymous caller.
func (s *Session) IsAnonymous() bool { return s != nil && s.AuthMode == Anonymous }

// Field resolves a dotted path against the session, as used by policies:
// "user_id", "authMode", "claims.org.id". The second result is false when any
// segment is missing.
func (s *Session) Field(path string) (any, bool) {
	if s == nil {
		return nil, false
	}
	switch path {
	case "user_id":
		return s.UserID, true
	case "authMode":
		return string(s.AuthMode), true
	}
	rest, ok := strings.CutPrefix(path, "claims.")
	if !ok {
		return nil, false
	}
	var cur any = s.Claims
	for _, seg := range strings.Split(rest, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Author returns the user id that writes by this actor are stamped with:
// attribution, else the session's user, else SystemUser.
func Author(s *Session, attribution string) string {
	switch {
	case attribution != "":
		return attribution
	case s != nil && s.UserID != "":
		return s.UserID
	default:
		return SystemUser
	}
}
