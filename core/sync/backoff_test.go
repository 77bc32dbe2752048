package sync

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoffDelay_CapsAndJitter(t *testing.T) {
	lo, hi := 500*time.Millisecond, 30*time.Second
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, hi, hi}
	for i, ceil := range want {
		if d := backoffDelay(i, lo, hi, 0.999999); d > ceil || d < ceil*99/100 {
			t.Fatalf("attempt %d: %v with r~1, want just under %v", i, d, ceil)
		}
		if d := backoffDelay(i, lo, hi, 0); d != 0 {
			t.Fatalf("attempt %d: %v with r=0", i, d)
		}
	}
	if d := backoffDelay(1<<30, lo, hi, 0.5); d != hi/2 {
		t.Fatalf("huge attempt: %v", d)
	}
}

// refusingEnv is an env whose dials fail while refuse is set (it starts
// set), and backoffs lists the reconnect delays the client has armed.
func refusingEnv(t *testing.T) (e *env, refuse *atomic.Bool, backoffs func() []time.Duration) {
	refuse = new(atomic.Bool)
	refuse.Store(true)
	const dead, beat = 7 * time.Minute, 6 * time.Minute
	e = newEnv(t, func(o *Options) { o.DeadAfter, o.HeartbeatInterval = dead, beat })
	e.pipe.OnDial = func(string) error {
		if refuse.Load() {
			return errors.New("connection refused")
		}
		return nil
	}
	backoffs = func() []time.Duration {
		var out []time.Duration
		for _, d := range e.clock.recorded() {
			if d != dead && d != beat {
				out = append(out, d)
			}
		}
		return out
	}
	return e, refuse, backoffs
}

func TestReconnect_BackoffGrowsCappedJitteredAndResetsAfterWelcome(t *testing.T) {
	e, refuse, backoffs := refusingEnv(t)
	e.c.Start()
	const attempts = 12
	for i := 0; i < attempts; i++ {
		eventually(t, "a backoff", func() bool { return len(backoffs()) > i })
		e.waitStatus(Offline)
		e.clock.Advance(backoffs()[i])
	}
	eventually(t, "last dial", func() bool { return e.pipe.Dials() == attempts+1 })
	got := backoffs()[:attempts]
	ceil := DefaultMinBackoff
	jittered := false
	for i, d := range got {
		if d < 0 || d > ceil {
			t.Fatalf("attempt %d waited %v, over its cap %v (all: %v)", i, d, ceil, got)
		}
		if d < ceil*9/10 {
			jittered = true
		}
		ceil = min(2*ceil, DefaultMaxBackoff)
	}
	if !jittered {
		t.Fatalf("no jitter in %v", got)
	}
	if slices_max(got[6:]) <= 2*time.Second {
		t.Fatalf("delays did not grow: %v", got)
	}
	t.Logf("delays: %v", got)

	// A welcome resets the backoff: the next failure waits at most MinBackoff.
	refuse.Store(false)
	eventually(t, "a backoff", func() bool { return len(backoffs()) > attempts })
	e.clock.Advance(backoffs()[attempts])
	s := e.connect()
	s.c.Close(1011, "bye")
	eventually(t, "a backoff after welcome", func() bool { return len(backoffs()) > attempts+1 })
	if d := backoffs()[attempts+1]; d > DefaultMinBackoff {
		t.Fatalf("first delay after a welcome %v, want at most %v", d, DefaultMinBackoff)
	}
}

func slices_max(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// Reconnect ends a reconnect delay at once and starts the delays over; in
// any other state it does nothing.
func TestReconnect_DialsAtOnceWhileWaitingAndOnlyThen(t *testing.T) {
	e, refuse, backoffs := refusingEnv(t)
	e.c.Start()
	// Grow the delay: eight failed attempts.
	for i := 0; i < 8; i++ {
		eventually(t, "a backoff", func() bool { return len(backoffs()) > i })
		e.waitStatus(Offline)
		e.clock.Advance(backoffs()[i])
	}
	eventually(t, "the ninth delay", func() bool { return len(backoffs()) > 8 })
	e.waitStatus(Offline)
	dials := e.pipe.Dials()
	e.c.Reconnect() // the clock does not move: only Reconnect can dial
	eventually(t, "a dial after Reconnect", func() bool { return e.pipe.Dials() == dials+1 })
	// That dial failed too; the delay after it starts over.
	eventually(t, "a delay after the dial", func() bool { return len(backoffs()) > 9 })
	if d := backoffs()[9]; d > DefaultMinBackoff {
		t.Fatalf("the delay after Reconnect's dial is %v, want at most %v", d, DefaultMinBackoff)
	}

	// Connected, Reconnect does nothing.
	refuse.Store(false)
	e.waitStatus(Offline)
	e.c.Reconnect()
	e.connect()
	dials = e.pipe.Dials()
	e.c.Reconnect()
	e.c.do(func() {}) // the loop has handled the wake
	if e.pipe.Dials() != dials || e.c.Status() != Connected {
		t.Fatalf("Reconnect while connected: %d dials (want %d), status %v", e.pipe.Dials(), dials, e.c.Status())
	}
}
