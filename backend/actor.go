package backend

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// actor is who one handle acts as: a user session (impersonation, the
// user's permissions), or the backend itself with an optional attribution
// (backend permissions).
type actor struct {
	session     *session.Session // nil for the backend
	header      string           // the session as X-Jazz-Session (impersonation)
	attribution string           // backend only
}

func backendActor(attribution string) (actor, error) {
	if err := checkAttribution(attribution); err != nil {
		return actor{}, err
	}
	return actor{attribution: attribution}, nil
}

func sessionActor(s *session.Session) (actor, error) {
	if s == nil {
		return actor{}, configErr("a session is required")
	}
	if s.UserID == "" {
		return actor{}, configErr("the session has no user_id")
	}
	if !utf8.ValidString(s.UserID) {
		// JSON would turn it into another user id on the way to the server.
		return actor{}, configErr("the session's user_id is not valid UTF-8")
	}
	if !s.AuthMode.Valid() {
		return actor{}, configErr("the session's authMode %q is not anonymous, local-first or external", s.AuthMode)
	}
	claims := s.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	cp := &session.Session{UserID: s.UserID, AuthMode: s.AuthMode, Claims: claims}
	h, err := auth.EncodeSessionHeader(cp)
	if err != nil {
		return actor{}, configErr("the session cannot be encoded: %v", err)
	}
	if len(h) > 16<<10 {
		return actor{}, configErr("the session is over 16 KiB encoded")
	}
	// Decoded back, so the replica works with exactly what the server will,
	// and encoded again, so one session has one header (claims 1.50 and 1.5
	// are one claim) and so one connection.
	dec, err := auth.DecodeSessionHeader(h)
	if err != nil {
		return actor{}, configErr("the session: %v", err)
	}
	if h, err = auth.EncodeSessionHeader(dec); err != nil {
		return actor{}, configErr("the session cannot be encoded: %v", err)
	}
	return actor{session: dec, header: h}, nil
}

// checkAttribution applies the server's rules to an attribution up front,
// so a bad user id fails at once rather than at the handshake.
func checkAttribution(a string) error {
	if !utf8.ValidString(a) || utf8.RuneCountInString(a) > protocol.MaxAttributionLen {
		return configErr("an attribution must be valid UTF-8 of at most %d characters", protocol.MaxAttributionLen)
	}
	for _, r := range a {
		if unicode.IsControl(r) {
			return configErr("an attribution must not contain control characters")
		}
	}
	return nil
}

// key names the actor's connection in the cache: one per distinct session
// (claims included, since policies may read them) or attribution.
func (a actor) key() string {
	if a.session != nil {
		return "session:" + a.header
	}
	return "backend:" + a.attribution
}

// credentials are what its connection presents.
func (a actor) credentials(secret string) protocol.Auth {
	if a.session != nil {
		return protocol.Auth{BackendSecret: secret, Session: a.header}
	}
	return protocol.Auth{BackendSecret: secret, ActAs: protocol.ActAsBackend, Attribution: a.attribution}
}

// engine is the actor for local writes, so the optimistic row carries the
// author the server will stamp.
func (a actor) engine() engine.Actor {
	if a.session != nil {
		return engine.Actor{Session: a.session}
	}
	return engine.Actor{Backend: true, Attribution: a.attribution}
}

func (a actor) String() string {
	if a.session != nil {
		return fmt.Sprintf("session %s (%s)", a.session.UserID, a.session.AuthMode)
	}
	if a.attribution != "" {
		return "backend attributed to " + a.attribution
	}
	return "backend"
}
