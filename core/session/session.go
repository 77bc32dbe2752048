// Package session defines who is acting: the resolved identity that every read
// and write is checked against, on the client and on the server alike.
package session

import (
	"errors"
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

// Reserved user id namespaces: ids the project gives out itself. A session
// from outside (an identity provider's sub, a backend's X-Jazz-Session) that
// could take one of them would pass for the system in $createdBy, or for an
// anonymous visitor that policies treat as harmless.
const (
	// SystemNamespace holds SystemUser and any later id of the project's own.
	SystemNamespace = "jazz:"
	// AnonymousNamespace holds the random ids of anonymous sessions.
	AnonymousNamespace = "anonymous:"
)

// ErrReservedUserID matches every *ReservedUserIDError.
var ErrReservedUserID = errors.New("session: user id in a reserved namespace")

// ReservedUserIDError is a user id in a reserved namespace where the session
// may not have one. It does not carry the id itself: the message may reach
// the caller who presented it.
type ReservedUserIDError struct {
	Namespace string
	Mode      AuthMode
}

func (e *ReservedUserIDError) Error() string { return "session: " + e.Reason() }

// Reason is the message without the package prefix, for callers that
// answer a client in their own words.
func (e *ReservedUserIDError) Reason() string {
	if e.Namespace == AnonymousNamespace {
		return "user ids starting with " + e.Namespace + " are reserved for anonymous sessions, not " + string(e.Mode) + " ones"
	}
	return "user ids starting with " + e.Namespace + " are reserved for the system itself"
}

func (e *ReservedUserIDError) Is(target error) bool { return target == ErrReservedUserID }

// CheckUserID refuses a user id that a session in mode may not carry: none
// may be in SystemNamespace (the system acts without a session), and only an
// anonymous session may be in AnonymousNamespace. Namespaces match without
// regard to case, so "JAZZ:system" cannot be mistaken for the real one by a
// case-insensitive comparison downstream.
func CheckUserID(userID string, mode AuthMode) error {
	switch {
	case hasPrefixFold(userID, SystemNamespace):
		return &ReservedUserIDError{Namespace: SystemNamespace, Mode: mode}
	case hasPrefixFold(userID, AnonymousNamespace) && mode != Anonymous:
		return &ReservedUserIDError{Namespace: AnonymousNamespace, Mode: mode}
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

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
