package client

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
)

// eventually polls cond until it holds or a generous deadline passes; it is
// for waiting on goroutines, never for timing behaviour.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type applied struct {
	mu     sync.Mutex
	tokens []string
	errs   []error
}

func (a *applied) apply(tok string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens = append(a.tokens, tok)
	return nil
}
func (a *applied) report(err error) { a.mu.Lock(); defer a.mu.Unlock(); a.errs = append(a.errs, err) }
func (a *applied) n() (int, int)    { a.mu.Lock(); defer a.mu.Unlock(); return len(a.tokens), len(a.errs) }

func newRefresher(c clock.Clock, a *applied) *refresher {
	return &refresher{clock: c, timeout: 10 * time.Second, apply: a.apply, report: a.report}
}

func TestRefresher_ConcurrentFailuresCallHookOnce(t *testing.T) {
	var a applied
	r := newRefresher(clock.NewFake(time.Unix(0, 0)), &a)
	release := make(chan struct{})
	var calls atomic.Int32
	r.setHook(func(ctx context.Context) (string, error) {
		calls.Add(1)
		<-release
		return "fresh", nil
	})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); r.trigger() }()
	}
	wg.Wait()
	close(release)
	eventually(t, "token applied", func() bool { n, _ := a.n(); return n == 1 })
	if calls.Load() != 1 {
		t.Fatalf("hook called %d times, want 1", calls.Load())
	}
}

func TestRefresher_HungHookIsAbandonedAfterTimeout(t *testing.T) {
	var a applied
	fake := clock.NewFake(time.Unix(0, 0))
	r := newRefresher(fake, &a)
	hang := make(chan struct{})
	var calls atomic.Int32
	r.setHook(func(ctx context.Context) (string, error) {
		if calls.Add(1) == 1 {
			<-hang // the first call hangs past its timeout
			return "late", nil
		}
		return "second", nil
	})
	r.trigger()
	eventually(t, "timer scheduled", func() bool { return fake.Pending() == 1 })
	fake.Advance(10 * time.Second)
	eventually(t, "timeout reported", func() bool { _, e := a.n(); return e == 1 })
	r.trigger()
	eventually(t, "second call applied", func() bool { n, _ := a.n(); return n == 1 })
	close(hang)
	time.Sleep(10 * time.Millisecond)
	if n, _ := a.n(); n != 1 || a.tokens[0] != "second" {
		t.Fatalf("tokens = %v: the abandoned call's late result must be dropped", a.tokens)
	}
}

func TestRefresher_StaleResultIsDropped(t *testing.T) {
	var a applied
	r := newRefresher(clock.NewFake(time.Unix(0, 0)), &a)
	release := make(chan struct{})
	returned := make(chan struct{})
	r.setHook(func(ctx context.Context) (string, error) {
		<-release
		defer close(returned)
		return "old", nil
	})
	r.trigger()
	r.supersede() // e.g. the app called updateAuthToken meanwhile
	close(release)
	<-returned
	eventually(t, "run finished", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return !r.inflight })
	if n, _ := a.n(); n != 0 {
		t.Fatalf("stale token applied: %v", a.tokens)
	}
}

func TestRefresher_NoHookMeansNoRefresh(t *testing.T) {
	var a applied
	r := newRefresher(clock.NewFake(time.Unix(0, 0)), &a)
	if r.trigger() {
		t.Fatal("trigger without a hook reported a refresh")
	}
}

func TestExternalSession_ReadsSubClaimsAndExp(t *testing.T) {
	tok := "eyJhbGciOiJSUzI1NiJ9." + b64(`{"sub":"user-1","exp":1700000000,"org":"acme"}`) + ".sig"
	s, exp, err := ExternalSession(tok)
	if err != nil {
		t.Fatal(err)
	}
	if s.UserID != "user-1" || s.AuthMode != "external" || s.Claims["org"] != "acme" || exp != 1700000000 {
		t.Fatalf("session = %+v exp = %d", s, exp)
	}
	for _, bad := range []string{"", "a.b", "a." + b64(`[]`) + ".c", "a." + b64(`{"exp":1}`) + ".c", "a.!!!.c"} {
		if _, _, err := ExternalSession(bad); err == nil {
			t.Errorf("ExternalSession(%q) accepted", bad)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	cases := []struct {
		c    Config
		ok   bool
		mode string
	}{
		{Config{AppID: "a"}, true, "anonymous"},
		{Config{AppID: "a", Secret: "s"}, true, "local-first"},
		{Config{AppID: "a", JWTToken: "t"}, true, "external"},
		{Config{AppID: "a", Secret: "s", JWTToken: "t"}, false, ""},
		{Config{}, false, ""},
		{Config{AppID: "a", ServerURL: "ftp://x"}, false, ""},
	}
	for _, c := range cases {
		err := c.c.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%+v: err = %v", c.c, err)
		}
		if c.ok && string(c.c.Mode()) != c.mode {
			t.Errorf("%+v: mode %s", c.c, c.c.Mode())
		}
	}
}
