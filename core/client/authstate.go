package client

import (
	"sync"

	"github.com/jazzgo/jazz-tools/core/session"
)

// AuthError is the reason auth is in trouble, as the server reported it.
type AuthError string

const (
	AuthExpired  AuthError = "expired"
	AuthMissing  AuthError = "missing"
	AuthInvalid  AuthError = "invalid"
	AuthDisabled AuthError = "disabled"
)

// AuthState is the flat auth snapshot apps read: the mode, the last known
// session (kept while Error is set, so user-scoped UI stays stable), and
// Error when the server refused the credentials.
type AuthState struct {
	AuthMode session.AuthMode `json:"authMode"`
	Session  *session.Session `json:"session"`
	Error    AuthError        `json:"error,omitempty"`
}

// authStore holds the current AuthState and notifies listeners of changes.
type authStore struct {
	mu        sync.Mutex
	state     AuthState
	listeners map[int]func(AuthState)
	next      int
}

func (s *authStore) get() AuthState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// set replaces the state via fn and notifies listeners (outside the lock)
// when anything changed.
func (s *authStore) set(fn func(*AuthState)) {
	s.mu.Lock()
	before := s.state
	fn(&s.state)
	after := s.state
	var ls []func(AuthState)
	if before.Error != after.Error || before.Session != after.Session || before.AuthMode != after.AuthMode {
		for _, l := range s.listeners {
			ls = append(ls, l)
		}
	}
	s.mu.Unlock()
	for _, l := range ls {
		l(after)
	}
}

// subscribe adds a listener and returns its stop function (idempotent).
func (s *authStore) subscribe(l func(AuthState)) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listeners == nil {
		s.listeners = map[int]func(AuthState){}
	}
	id := s.next
	s.next++
	s.listeners[id] = l
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.listeners, id)
	}
}
