package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// esToken signs an ES256 token with p256Key under kid, valid for two hours
// from t0 so that it outlives the cache scenarios below.
func esToken(t testing.TB, kid, sub string) string {
	return sign(t, jwt.SigningMethodES256, p256Key(), kid, jwt.MapClaims{"sub": sub, "exp": t0.Add(48 * time.Hour).Unix()})
}

func edToken(t testing.TB, kid, sub string) string {
	return sign(t, jwt.SigningMethodEdDSA, edKey(), kid, jwt.MapClaims{"sub": sub, "exp": t0.Add(48 * time.Hour).Unix()})
}

func verifyOK(t testing.TB, v Verifier, tok string) {
	t.Helper()
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func verifyCode(t testing.TB, v Verifier, tok string, code Code) *Error {
	t.Helper()
	s, err := v.Verify(context.Background(), tok)
	if s != nil {
		t.Fatalf("accepted as %+v", s)
	}
	return wantCode(t, err, code)
}

func wantRequests(t testing.TB, s *jwksServer, n int64) {
	t.Helper()
	if got := s.requests.Load(); got != n {
		t.Fatalf("JWKS endpoint saw %d requests, want %d", got, n)
	}
}

func TestJWKS_FirstUseFetchesThenServesCache(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil)))
	j, clk := newTestJWKS(t, srv, Options{})
	wantRequests(t, srv, 0) // construction does not fetch
	for range 10 {
		verifyOK(t, j, esToken(t, "k1", "u"))
	}
	clk.Advance(DefaultRefreshInterval - time.Second)
	verifyOK(t, j, esToken(t, "k1", "u"))
	wantRequests(t, srv, 1)
}

func TestJWKS_KeyRotation(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(pubJWK(&p256Key().PublicKey, "old", nil)))
	j, clk := newTestJWKS(t, srv, Options{})
	verifyOK(t, j, esToken(t, "old", "u"))

	// The provider rotates in a new key. Once the rate-limit window since the
	// last fetch has passed, a token under the new kid causes one refetch.
	srv.set(http.StatusOK, jwksDoc(pubJWK(&p256Key().PublicKey, "old", nil), pubJWK(edKey().Public(), "new", nil)), false)
	clk.Advance(DefaultMinRefetchInterval)
	verifyOK(t, j, edToken(t, "new", "u"))
	wantRequests(t, srv, 2)
	verifyOK(t, j, edToken(t, "new", "u"))
	verifyOK(t, j, esToken(t, "old", "u"))
	wantRequests(t, srv, 2)
}

func TestJWKS_UnknownKidInsideWindowIsRefusedWithoutFetch(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil)))
	j, clk := newTestJWKS(t, srv, Options{MinRefetchInterval: time.Minute})
	verifyOK(t, j, esToken(t, "k1", "u"))
	srv.set(http.StatusOK, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil), pubJWK(edKey().Public(), "k2", nil)), false)

	clk.Advance(59 * time.Second)
	e := verifyCode(t, j, edToken(t, "k2", "u"), CodeInvalid)
	if !strings.Contains(e.Message, "unknown key id") {
		t.Errorf("message = %q", e.Message)
	}
	wantRequests(t, srv, 1)

	clk.Advance(time.Second)
	verifyOK(t, j, edToken(t, "k2", "u"))
	wantRequests(t, srv, 2)

	// A kid the provider does not have either: refused after that fetch, and
	// the next attempt is inside the window again.
	clk.Advance(time.Minute)
	verifyCode(t, j, edToken(t, "k3", "u"), CodeInvalid)
	verifyCode(t, j, edToken(t, "k4", "u"), CodeInvalid)
	wantRequests(t, srv, 3)
}

func TestJWKS_UnknownKidSprayIsRateLimited(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil)))
	j, clk := newTestJWKS(t, srv, Options{})
	verifyOK(t, j, esToken(t, "k1", "u"))
	clk.Advance(DefaultMinRefetchInterval)

	// Hold the refetch open until every goroutine has been started, so most
	// of them find it in flight and join it.
	gate, enter := make(chan struct{}), make(chan struct{}, 200)
	srv.mu.Lock()
	srv.gate, srv.enter = gate, enter
	srv.mu.Unlock()

	const n = 100
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = esToken(t, fmt.Sprintf("spray-%d", i), "u")
	}
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		errs    = make([]error, n)
	)
	started.Add(n)
	for i := range n {
		wg.Go(func() {
			started.Done()
			_, errs[i] = j.Verify(context.Background(), tokens[i])
		})
	}
	started.Wait()
	<-enter // the one refetch has reached the server
	close(gate)
	wg.Wait()

	for i, err := range errs {
		if e := wantCode(t, err, CodeInvalid); !strings.Contains(e.Message, "unknown key id") {
			t.Errorf("token %d: message = %q", i, e.Message)
		}
	}
	wantRequests(t, srv, 2) // the initial fetch and exactly one refetch
	verifyOK(t, j, esToken(t, "k1", "u"))
}

func TestJWKS_ConcurrentColdStartSharesOneFetch(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil)))
	j, _ := newTestJWKS(t, srv, Options{})
	gate, enter := make(chan struct{}), make(chan struct{}, 100)
	srv.mu.Lock()
	srv.gate, srv.enter = gate, enter
	srv.mu.Unlock()

	tok := esToken(t, "k1", "u")
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Go(func() { _, errs[i] = j.Verify(context.Background(), tok) })
	}
	<-enter
	close(gate)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantRequests(t, srv, 1)
}

func TestJWKS_StaleKeysServedWhileDownThenRefused(t *testing.T) {
	good := jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil))
	for _, outage := range []struct {
		name   string
		status int
		body   []byte
		drop   bool
	}{
		{"connection dropped", 0, nil, true},
		{"HTTP 500", http.StatusInternalServerError, []byte(`{"error":"oops"}`), false},
		{"garbage body", http.StatusOK, []byte("<html>maintenance</html>"), false},
	} {
		t.Run(outage.name, func(t *testing.T) {
			srv := newJWKSServer(t, good)
			j, clk := newTestJWKS(t, srv, Options{StaleFor: time.Hour})
			tok := esToken(t, "k1", "u")
			verifyOK(t, j, tok)
			srv.set(outage.status, outage.body, outage.drop)

			// Past the refresh interval: the cache answers at once and a
			// background refresh fails.
			clk.Advance(DefaultRefreshInterval)
			verifyOK(t, j, tok)
			j.waitIdle()
			wantRequests(t, srv, 2)

			// Failed refreshes are retried no more than once per window.
			verifyOK(t, j, tok)
			clk.Advance(DefaultMinRefetchInterval)
			verifyOK(t, j, tok)
			j.waitIdle()
			wantRequests(t, srv, 3)

			// Just inside StaleFor the old keys still serve.
			clk.Set(t0.Add(time.Hour))
			verifyOK(t, j, tok)
			j.waitIdle()

			// Past StaleFor they do not.
			clk.Set(t0.Add(time.Hour + time.Second))
			e := verifyCode(t, j, tok, CodeInvalid)
			if !strings.Contains(e.Message, "JWKS unavailable") {
				t.Errorf("message = %q", e.Message)
			}

			// Recovery: the next allowed fetch brings keys back.
			srv.set(http.StatusOK, good, false)
			clk.Advance(DefaultMinRefetchInterval)
			verifyOK(t, j, tok)
		})
	}
}

func TestJWKS_BadEndpointResponsesOnColdStart(t *testing.T) {
	oversize := bytes.Join([][]byte{
		[]byte(`{"keys":[`), must(json.Marshal(pubJWK(&p256Key().PublicKey, "k1", nil))),
		[]byte(`],"pad":"`), bytes.Repeat([]byte("x"), MaxJWKSSize), []byte(`"}`),
	}, nil)
	tests := []struct {
		name   string
		status int
		body   []byte
		drop   bool
	}{
		{"HTTP 500", http.StatusInternalServerError, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil)), false},
		{"HTTP 404", http.StatusNotFound, nil, false},
		{"HTTP 302 without location", http.StatusFound, nil, false},
		{"garbage", http.StatusOK, []byte("\x00\x01garbage"), false},
		{"HTML", http.StatusOK, []byte("<html></html>"), false},
		{"JSON array", http.StatusOK, []byte(`[]`), false},
		{"keys not an array", http.StatusOK, []byte(`{"keys":{}}`), false},
		{"no keys", http.StatusOK, []byte(`{"keys":[]}`), false},
		{"only unusable keys", http.StatusOK, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k1"},{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"k2"}]}`), false},
		{"oversize", http.StatusOK, oversize, false},
		{"connection dropped", 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, nil)
			srv.set(tt.status, tt.body, tt.drop)
			j, clk := newTestJWKS(t, srv, Options{})
			tok := esToken(t, "k1", "u")
			e := verifyCode(t, j, tok, CodeInvalid)
			if !strings.Contains(e.Message, "JWKS unavailable") {
				t.Errorf("message = %q", e.Message)
			}
			// A failed cold fetch is not retried inside the window.
			verifyCode(t, j, tok, CodeInvalid)
			wantRequests(t, srv, 1)

			srv.set(http.StatusOK, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil)), false)
			clk.Advance(DefaultMinRefetchInterval)
			verifyOK(t, j, tok)
			wantRequests(t, srv, 2)
		})
	}
}

func TestJWKS_BackgroundRefreshPicksUpNewSet(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(pubJWK(&p256Key().PublicKey, "a", nil)))
	j, clk := newTestJWKS(t, srv, Options{RefreshInterval: 5 * time.Minute})
	verifyOK(t, j, esToken(t, "a", "u"))
	srv.set(http.StatusOK, jwksDoc(pubJWK(edKey().Public(), "b", nil)), false)

	clk.Advance(5 * time.Minute)
	verifyOK(t, j, esToken(t, "a", "u")) // served from cache while refreshing
	j.waitIdle()
	wantRequests(t, srv, 2)

	verifyOK(t, j, edToken(t, "b", "u"))
	e := verifyCode(t, j, esToken(t, "a", "u"), CodeInvalid) // rotated out
	if !strings.Contains(e.Message, "unknown key id") {
		t.Errorf("message = %q", e.Message)
	}
	wantRequests(t, srv, 2)
}

func TestJWKS_TokenWithoutKid(t *testing.T) {
	one := jwksDoc(pubJWK(&p256Key().PublicKey, "", nil))
	oneWithKid := jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil))
	two := jwksDoc(pubJWK(&p256Key().PublicKey, "", nil), pubJWK(edKey().Public(), "", nil))
	tests := []struct {
		name string
		doc  []byte
		tok  string
		code Code
	}{
		{"single key without kid", one, esToken(t, "", "u"), ""},
		{"single key with kid", oneWithKid, esToken(t, "", "u"), ""},
		{"several keys", two, esToken(t, "", "u"), CodeInvalid},
		{"empty kid is not absent", one, unsignedToken(`{"alg":"ES256","kid":""}`, `{"sub":"u","exp":9999999999}`, "AAAA"), CodeInvalid},
		{"token kid unknown to a kid-less set", one, esToken(t, "k9", "u"), CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, tt.doc)
			j, _ := newTestJWKS(t, srv, Options{})
			if tt.code == "" {
				verifyOK(t, j, tt.tok)
			} else {
				verifyCode(t, j, tt.tok, tt.code)
			}
		})
	}
}

func TestJWKS_AlgorithmsComeFromTheKey(t *testing.T) {
	rk := rsaKey()
	srv := newJWKSServer(t, jwksDoc(
		pubJWK(&rk.PublicKey, "rsa", map[string]any{"alg": "RS256"}),
		pubJWK(&p256Key().PublicKey, "ec", nil),
		pubJWK(&rk.PublicKey, "rsa-any", nil),
	))
	j, _ := newTestJWKS(t, srv, Options{})
	rsaPEM := []byte(pemPublic(&rk.PublicKey))
	tests := []struct {
		name string
		tok  string
		code Code
	}{
		{"RS256 on pinned key", sign(t, jwt.SigningMethodRS256, rk, "rsa", claimsAt(t0, "u")), ""},
		{"PS256 on RS256-pinned key", sign(t, jwt.SigningMethodPS256, rk, "rsa", claimsAt(t0, "u")), CodeInvalid},
		{"PS256 on unpinned RSA key", sign(t, jwt.SigningMethodPS256, rk, "rsa-any", claimsAt(t0, "u")), ""},
		{"RS256 under the EC kid", sign(t, jwt.SigningMethodRS256, rk, "ec", claimsAt(t0, "u")), CodeInvalid},
		{"HS256 keyed with the RSA PEM", sign(t, jwt.SigningMethodHS256, rsaPEM, "rsa", claimsAt(t0, "u")), CodeInvalid},
		{"HS256 keyed with the RSA modulus", sign(t, jwt.SigningMethodHS256, rk.N.Bytes(), "rsa-any", claimsAt(t0, "u")), CodeInvalid},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-any", claimsAt(t0, "u")), CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.code == "" {
				verifyOK(t, j, tt.tok)
			} else {
				verifyCode(t, j, tt.tok, tt.code)
			}
		})
	}
	wantRequests(t, srv, 1) // known kids with a wrong alg never trigger a refetch
}

func TestJWKS_AbandonedWaitDoesNotCancelSharedFetch(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil)))
	j, _ := newTestJWKS(t, srv, Options{})
	gate, enter := make(chan struct{}), make(chan struct{}, 10)
	srv.mu.Lock()
	srv.gate, srv.enter = gate, enter
	srv.mu.Unlock()

	tok := esToken(t, "k1", "u")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := j.Verify(ctx, tok)
		done <- err
	}()
	<-enter
	cancel()
	wantCode(t, <-done, CodeInvalid)

	close(gate)
	j.waitIdle()
	verifyOK(t, j, tok)
	wantRequests(t, srv, 1)
}

func TestJWKS_ThroughResolver(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil)))
	j, _ := newTestJWKS(t, srv, Options{Audiences: []string{"app"}})
	r := &Resolver{External: j}
	c := claimsAt(t0, "user-9")
	c["aud"] = "app"
	s, deadline, err := r.ResolveWithExpiry(context.Background(), Credentials{Bearer: sign(t, jwt.SigningMethodES256, p256Key(), "k1", c)})
	if err != nil {
		t.Fatal(err)
	}
	if s.UserID != "user-9" || !deadline.Equal(t0.Add(time.Hour)) {
		t.Errorf("session %+v deadline %v", s, deadline)
	}
}

func TestJWKS_OneVerificationWaitsForAtMostOneFetch(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(pubJWK(&p256Key().PublicKey, "k1", nil)))
	j, clk := newTestJWKS(t, srv, Options{})
	// The fetch is slow enough that the rate-limit window has passed when it
	// completes; the unknown kid must still not cause a second fetch.
	enter := make(chan struct{}, 1)
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate, srv.enter = gate, enter
	srv.mu.Unlock()
	go func() {
		<-enter
		clk.Advance(2 * DefaultMinRefetchInterval)
		close(gate)
	}()
	e := verifyCode(t, j, esToken(t, "k2", "u"), CodeInvalid)
	if !strings.Contains(e.Message, "unknown key id") {
		t.Errorf("message = %q", e.Message)
	}
	wantRequests(t, srv, 1)
}
