package server

import (
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/protocol"
)

func TestWS_NoPublishedBundleIsSaidRightAfterWelcome(t *testing.T) {
	f := newFixture(t, withBundle(""))
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error)
	if e.Error != protocol.ErrorNoBundle || !strings.Contains(e.Message, "deploy") {
		t.Fatalf("error = %+v", e)
	}
	// With a bundle, the first frame after welcome is the answer to ours.
	g := newFixture(t)
	cl, _ = g.hello(t, protocol.Auth{Bearer: g.token(t, alice, time.Hour)})
	cl.send(protocol.TPing, protocol.Ping{N: 7})
	if fr := cl.next(t, wait); fr.Type != protocol.TPong {
		t.Fatalf("first frame after welcome with a bundle: %s %+v", fr.Type, fr.Body)
	}
}
