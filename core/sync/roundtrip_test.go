package sync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// roundtripAsync runs Roundtrip on a goroutine and returns its result channel.
func roundtripAsync(c *Client, ctx context.Context) <-chan error {
	out := make(chan error, 1)
	go func() { out <- c.Roundtrip(ctx) }()
	return out
}

func expectNoResult(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("Roundtrip returned %v too early", err)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestRoundtrip_SendsSubsAndPushesBeforeThePing(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect()
	if err := e.c.Subscribe("s1", mustQuery(t, `{"table":"todos"}`)); err != nil {
		t.Fatal(err)
	}
	e.insert("milk")
	done := roundtripAsync(e.c, bg)
	// Whatever the loop picks up first, the ping comes after the sub and
	// the push, so the server's answers to them precede the pong.
	var sawSub, sawPush bool
	var ping *protocol.Ping
	for ping == nil {
		switch f := s.next(); f.Type {
		case protocol.TSub:
			sawSub = true
		case protocol.TPush:
			sawPush = true
			s.serve(f.Body.(*protocol.Push))
		case protocol.TPing:
			if !sawSub || !sawPush {
				t.Fatalf("ping before the sub (%v) or the push (%v)", sawSub, sawPush)
			}
			ping = f.Body.(*protocol.Ping)
		}
	}
	expectNoResult(t, done)
	// The server streams results on another goroutine than the one that
	// answers pings: the pong may overtake the sub's last page, and the
	// round trip waits for that too.
	s.send(protocol.TPong, ping)
	expectNoResult(t, done)
	s.send(protocol.TRows, &protocol.Rows{Sub: "s1", Rows: []engine.RowState{}, Complete: true})
	if err := <-done; err != nil {
		t.Fatalf("Roundtrip = %v", err)
	}
	if p := e.db.Pending(); len(p) != 0 {
		t.Fatalf("%d changes pending after the roundtrip", len(p))
	}
}

func TestRoundtrip_WaitsForAConnectionAndSurvivesReconnects(t *testing.T) {
	e := newEnv(t, nil)
	done := roundtripAsync(e.c, bg) // before Start: queued
	e.c.Start()
	s := e.connect()
	p1 := s.expect(protocol.TPing).(*protocol.Ping)
	// The connection drops before the pong: the ping goes out again.
	s.c.Close(protocol.CloseGoingAway, "going away")
	e.waitStatus(Offline)
	e.clock.Advance(DefaultMaxBackoff)
	s2 := e.connect()
	p2 := s2.expect(protocol.TPing).(*protocol.Ping)
	if p2.N == p1.N {
		t.Fatalf("the resent ping reuses number %d", p1.N)
	}
	expectNoResult(t, done)
	s2.send(protocol.TPong, p2)
	if err := <-done; err != nil {
		t.Fatalf("Roundtrip = %v", err)
	}
}

func TestRoundtrip_EndsWithCloseFatalOrContext(t *testing.T) {
	t.Run("close", func(t *testing.T) {
		e := newEnv(t, nil)
		e.c.Start()
		e.accept() // never welcomed
		done := roundtripAsync(e.c, bg)
		expectNoResult(t, done)
		e.c.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("Roundtrip = %v, want ErrClosed", err)
		}
		if err := e.c.Roundtrip(bg); !errors.Is(err, ErrClosed) {
			t.Fatalf("Roundtrip after Close = %v", err)
		}
	})
	t.Run("fatal", func(t *testing.T) {
		e := newEnv(t, nil)
		e.c.Start()
		s := e.accept()
		s.expect(protocol.THello)
		done := roundtripAsync(e.c, bg)
		expectNoResult(t, done)
		s.send(protocol.TError, &protocol.Error{Error: "not_found", Code: "unknown_app", Message: "no"})
		if err := <-done; !errors.Is(err, ErrUnknownApp) {
			t.Fatalf("Roundtrip = %v, want ErrUnknownApp", err)
		}
	})
	t.Run("context", func(t *testing.T) {
		e := newEnv(t, nil)
		e.c.Start()
		ctx, cancel := context.WithTimeout(bg, 10*time.Millisecond)
		defer cancel()
		if err := e.c.Roundtrip(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Roundtrip = %v, want the context's error", err)
		}
	})
}

// A subscription the server refuses never sends a result: it is reported
// as a SubscriptionError, and a round trip does not wait for its result.
func TestRoundtrip_RefusedSubscriptionIsReportedAndNotWaitedFor(t *testing.T) {
	reported := make(chan error, 1)
	e := newEnv(t, func(o *Options) { o.OnError = func(err error) { reported <- err } })
	e.c.Start()
	s := e.connect()
	if err := e.c.Subscribe("s1", mustQuery(t, `{"table":"todos"}`)); err != nil {
		t.Fatal(err)
	}
	done := roundtripAsync(e.c, bg)
	var ping *protocol.Ping
	for ping == nil {
		switch f := s.next(); f.Type {
		case protocol.TSub:
			s.send(protocol.TError, &protocol.Error{Error: "protocol", Code: protocol.CodeBudgetExceeded,
				Message: "over", Budget: "subscriptions_per_connection", Limit: 32, Sub: "s1"})
		case protocol.TPing:
			ping = f.Body.(*protocol.Ping)
		}
	}
	s.send(protocol.TPong, ping)
	if err := <-done; err != nil {
		t.Fatalf("Roundtrip = %v", err)
	}
	var se *SubscriptionError
	if err := <-reported; !errors.As(err, &se) || se.Sub != "s1" || se.Code != protocol.CodeBudgetExceeded || se.Limit != 32 ||
		!errors.Is(err, ErrSubscriptionRefused) {
		t.Fatalf("reported %v", err)
	}
}
