package backend

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// FuzzSessionActor feeds arbitrary sessions to ForSession's decoding path
// (sessionActor): a user id, an auth mode and claims as JSON (numbers kept
// exact, as the JavaScript bridge decodes them). A refusal is ErrConfig; an
// accepted session acts as exactly the user, mode and claims asked for, and
// its X-Jazz-Session header decodes, on the server's side, to that session.
func FuzzSessionActor(f *testing.F) {
	f.Add("alice", "external", []byte(`{"org":"acme","teams":["a","b"],"n":1.50,"deep":{"x":[null,true]}}`))
	f.Add("u", "local-first", []byte(`{}`))
	f.Add("anonymous:1", "anonymous", []byte(`null`))
	f.Add("", "external", []byte(`{}`))
	f.Add("u", "admin", []byte(`{}`))
	f.Add("u", "external", []byte(`{"big":1e400}`))
	f.Add("\xff", "external", []byte(`{}`))
	f.Add("u", "external", bytes.Repeat([]byte(`{"a":`), 200))
	f.Fuzz(func(t *testing.T, userID, mode string, claimsJSON []byte) {
		s := &session.Session{UserID: userID, AuthMode: session.AuthMode(mode)}
		dec := json.NewDecoder(bytes.NewReader(claimsJSON))
		dec.UseNumber()
		if dec.Decode(&s.Claims) != nil {
			s.Claims = nil
		}
		a, err := sessionActor(s)
		if err != nil {
			if !errors.Is(err, ErrConfig) || a.session != nil || a.header != "" {
				t.Fatalf("refusal %v with actor %+v, want ErrConfig alone", err, a)
			}
			return
		}
		if a.session.UserID != userID || a.session.AuthMode != s.AuthMode {
			t.Fatalf("asked for %q (%s), acts as %q (%s)", userID, s.AuthMode, a.session.UserID, a.session.AuthMode)
		}
		if want := asJSON(t, s.Claims); !reflect.DeepEqual(asJSON(t, a.session.Claims), want) && !(s.Claims == nil && len(a.session.Claims) == 0) {
			t.Fatalf("claims %v became %v", want, a.session.Claims)
		}
		onServer, err := auth.DecodeSessionHeader(a.header)
		if err != nil || !reflect.DeepEqual(onServer, a.session) {
			t.Fatalf("the server reads the header as %+v (%v), the replica uses %+v", onServer, err, a.session)
		}
		if a.credentials("secret").Session != a.header || a.engine().Session != a.session {
			t.Fatal("the connection or the replica does not use the decoded session")
		}
		if again, err := sessionActor(a.session); err != nil || again.key() != a.key() {
			t.Fatalf("the decoded session names another connection: %v", err)
		}
	})
}

// asJSON is v as encoding/json reads it back, numbers as float64.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
