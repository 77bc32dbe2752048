package server

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// FuzzHandshake feeds arbitrary bytes as a connection's first frame, with
// no network, and checks the promise the handshake makes to browsers: no
// panic, and exactly one answer, a welcome or a structured error, followed
// by a close with the matching code.
func FuzzHandshake(f *testing.F) {
	u := newUser(f)
	tok, err := u.MintToken(testApp, t0, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	expired, err := u.MintToken(testApp, t0.Add(-2*time.Hour), time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	elsewhere, err := u.MintToken("other-app", t0, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	ext := func(sub string, exp time.Time) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": sub, "iat": t0.Unix(), "exp": exp.Unix(), "org": "acme"}).SignedString(extKey)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	carol, err := auth.EncodeSessionHeader(&session.Session{UserID: "carol", AuthMode: session.External, Claims: map[string]any{"role": "admin"}})
	if err != nil {
		f.Fatal(err)
	}
	hello := func(a protocol.Auth) string {
		b, err := protocol.Encode(protocol.THello, protocol.Hello{V: protocol.Version, AppID: testApp, Auth: a})
		if err != nil {
			f.Fatal(err)
		}
		return string(b)
	}
	// Every way of signing in, accepted and refused, so the fuzzer starts
	// inside each branch of session resolution.
	for _, a := range []protocol.Auth{
		{Bearer: ext("ext-1", t0.Add(time.Hour))},
		{Bearer: ext("ext-1", t0.Add(-time.Hour))},
		{Bearer: ext("", t0.Add(time.Hour))},
		{Bearer: expired},
		{Bearer: elsewhere},
		{BackendSecret: testBackendSecret, Session: carol},
		{BackendSecret: testBackendSecret, Session: carol, Bearer: tok},
		{BackendSecret: "wrong", Session: carol},
		{BackendSecret: testBackendSecret},
		{BackendSecret: testBackendSecret, ActAs: protocol.ActAsBackend},
		{BackendSecret: testBackendSecret, ActAs: protocol.ActAsBackend, Attribution: "alice"},
		{BackendSecret: testBackendSecret, ActAs: protocol.ActAsBackend, Attribution: "a\nb"},
		{BackendSecret: testBackendSecret, ActAs: "root"},
		{BackendSecret: testBackendSecret, ActAs: protocol.ActAsBackend, Session: carol},
		{Attribution: "alice"},
	} {
		f.Add([]byte(hello(a)))
	}
	// Every other frame a client sends, valid but out of turn.
	for _, first := range []struct {
		typ  string
		body any
	}{
		{protocol.TAuth, protocol.AuthMsg{Auth: protocol.Auth{Bearer: tok}}},
		{protocol.TSub, protocol.Sub{ID: "s"}},
		{protocol.TUnsub, protocol.Unsub{ID: "s"}},
		{protocol.TPush, protocol.Push{}},
		{protocol.TPing, protocol.Ping{N: 1}},
	} {
		b, err := protocol.Encode(first.typ, first.body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		`{"t":"hello","v":1,"appId":"test-app","auth":{}}`,
		`{"t":"hello","v":1,"appId":"test-app","auth":{"bearer":"` + tok + `"}}`,
		`{"t":"hello","v":1,"appId":"test-app","auth":{"bearer":"a.b.c"}}`,
		`{"t":"hello","v":1,"appId":"test-app","auth":{"backendSecret":"x","session":"e30"}}`,
		`{"t":"hello","v":1,"appId":"test-app","auth":{"session":"e30"}}`,
		`{"t":"hello","v":1,"appId":"elsewhere","auth":{}}`,
		`{"t":"hello","v":2,"appId":"test-app","auth":{}}`,
		`{"t":"hello","v":1,"appId":"test-app","auth":{},"x":1}`,
		`{"t":"ping","n":1}`, `{"t":"welcome","v":1,"session":null}`, `{}`, `[]`, `null`, ``, `{"t":`,
		`{"t":"hello","v":1,"appId":"test-app","appId":"other","auth":{}}`,
		"{\"t\":\"hello\",\"v\":1,\"appId\":\"test-app\",\"auth\":{\"bearer\":\"\xff\"}}",
		`{"t":"hello","v":1,"appId":"test-app","auth":{"x":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}}`,
	} {
		f.Add([]byte(seed))
	}
	srv := newOfflineServer(f, io.Discard, func(c *Config) {
		ext, err := auth.NewStaticKey(extJWK(), auth.Options{Clock: c.Clock})
		if err != nil {
			f.Fatal(err)
		}
		c.Resolver.External, c.Resolver.BackendSecret = ext, testBackendSecret
	})
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newFakeTransport(data)
		srv.serveConn(tr, log, "fuzz", testApp)
		out, code := tr.written()
		if len(out) != 1 {
			t.Fatalf("%d frames in answer to one hello", len(out))
		}
		fr, err := protocol.Decode(out[0])
		if err != nil {
			t.Fatalf("answer is not a valid frame: %v: %s", err, out[0])
		}
		switch fr.Type {
		case protocol.TWelcome:
			if code != websocket.StatusNormalClosure { // closed because input ended
				t.Fatalf("welcome then close %d", code)
			}
		case protocol.TError:
			e := fr.Body.(*protocol.Error)
			want := map[string]websocket.StatusCode{"protocol": protocol.CloseProtocolError,
				"unauthenticated": protocol.CloseUnauthenticated, "not_found": protocol.CloseWrongApp}[e.Error]
			if want == 0 || code != want {
				t.Fatalf("error %+v then close %d", e, code)
			}
		default:
			t.Fatalf("answered hello with %s", fr.Type)
		}
	})
}
