package server

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/protocol"
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
	srv := newOfflineServer(f, io.Discard)
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
