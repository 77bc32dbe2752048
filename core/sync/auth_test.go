package sync

import (
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/protocol"
)

func TestHandshakeRefused_PausedWithoutReconnectingUntilReauthenticate(t *testing.T) {
	for _, withFrame := range []bool{true, false} {
		name := "close only"
		if withFrame {
			name = "error frame and close"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.c.Start()
			s := e.accept()
			s.expect(protocol.THello)
			if withFrame {
				s.send(protocol.TError, &protocol.Error{Error: "unauthenticated", Code: "invalid", Message: "bad token"})
			}
			s.c.Close(protocol.CloseUnauthenticated, "unauthenticated")
			e.waitStatus(Paused)
			eventually(t, "OnAuthError", func() bool { return len(e.authErrors()) == 1 })
			if got := e.authErrors()[0]; got.Error != "unauthenticated" || (withFrame && got.Code != "invalid") {
				t.Fatalf("OnAuthError got %+v", got)
			}
			e.barrier()
			if n := e.clock.Pending(); n != 0 {
				t.Fatalf("%d timers pending while paused: a reconnect would follow", n)
			}
			e.clock.Advance(24 * time.Hour)
			e.barrier()
			if d := e.pipe.Dials(); d != 1 {
				t.Fatalf("%d dials while paused, want 1", d)
			}
			e.c.Reauthenticate()
			s2 := e.accept()
			if h := s2.handshake(); h.Auth.Bearer != "tok-2" {
				t.Fatalf("reconnected with %q, want fresh credentials", h.Auth.Bearer)
			}
			e.waitStatus(Connected)
		})
	}
}

func TestExpiry_PausesOnOpenSocketAndResumesInBand(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect()
	s.send(protocol.TError, &protocol.Error{Error: "unauthenticated", Code: "expired", Message: "token expired"})
	e.waitStatus(Paused)
	eventually(t, "OnAuthError", func() bool { return len(e.authErrors()) == 1 })

	// Writes keep working locally but are not pushed.
	e.insert("while paused")
	id := e.pendingIDs()[0]
	e.c.do(e.c.sync)
	e.clock.Advance(DefaultHeartbeatInterval)
	if f := s.next(); f.Type != protocol.TPing {
		t.Fatalf("client sent %q while paused, want only heartbeats", f.Type)
	}
	if e.pipe.Dials() != 1 {
		t.Fatal("the client reconnected although the server kept the socket")
	}

	e.c.Reauthenticate()
	a := s.expect(protocol.TAuth).(*protocol.AuthMsg)
	if a.Auth.Bearer != "tok-2" {
		t.Fatalf("auth with %q, want fresh credentials", a.Auth.Bearer)
	}
	s.send(protocol.TAuthed, &protocol.Authed{Session: aliceSess})
	p := s.expect(protocol.TPush).(*protocol.Push)
	if len(p.Changes) != 1 || p.Changes[0].ID != id {
		t.Fatalf("after authed pushed %v, want [%s]", changeIDs(p), id)
	}
	e.waitStatus(Connected)
	s.serve(p)
	eventually(t, "ack", func() bool { return len(e.db.Pending()) == 0 })
}

func TestExpiry_RefusedAuthStaysPausedAndReports(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect()
	s.send(protocol.TError, &protocol.Error{Error: "unauthenticated", Code: "expired"})
	e.waitStatus(Paused)
	e.c.Reauthenticate()
	s.expect(protocol.TAuth)
	s.send(protocol.TError, &protocol.Error{Error: "unauthenticated", Code: "invalid", Message: "other principal"})
	eventually(t, "second OnAuthError", func() bool { return len(e.authErrors()) == 2 })
	if e.c.Status() != Paused || e.authErrors()[1].Code != "invalid" {
		t.Fatalf("status %v, errors %+v", e.c.Status(), e.authErrors())
	}
}
