package protocol_test

import (
	"testing"

	"github.com/jazzgo/jazz-tools/core/protocol"
)

// The backend-actor fields are additive: old frames decode as before, and
// the new ones round-trip with their exact wire names.
func TestBackendActorFields_WireForm(t *testing.T) {
	const hello = `{"t":"hello","v":1,"appId":"app","auth":{"backendSecret":"s","actAs":"backend","attribution":"user_123"}}`
	f, err := protocol.Decode([]byte(hello))
	if err != nil {
		t.Fatal(err)
	}
	a := f.Body.(*protocol.Hello).Auth
	if a.ActAs != protocol.ActAsBackend || a.Attribution != "user_123" || a.BackendSecret != "s" {
		t.Fatalf("auth = %+v", a)
	}
	b, err := protocol.Encode(protocol.THello, f.Body)
	if err != nil || string(b) != hello {
		t.Fatalf("re-encoded %s (%v), want %s", b, err, hello)
	}
	w, err := protocol.Encode(protocol.TWelcome, &protocol.Welcome{V: 1, Backend: true, Attribution: "user_123"})
	if err != nil || string(w) != `{"t":"welcome","v":1,"session":null,"backend":true,"attribution":"user_123"}` {
		t.Fatalf("welcome = %s (%v)", w, err)
	}
	if _, err := protocol.Decode(w); err != nil {
		t.Fatalf("a backend welcome does not decode: %v", err)
	}
	// A session welcome is unchanged.
	w, _ = protocol.Encode(protocol.TWelcome, &protocol.Welcome{V: 1})
	if string(w) != `{"t":"welcome","v":1,"session":null}` {
		t.Fatalf("plain welcome = %s", w)
	}
}
