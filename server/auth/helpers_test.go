package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jazzgo/jazz-tools/core/clock"
)

// t0 is the fake "now" every test starts from.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Keys are generated once per test binary: RSA generation is slow under -race.
var (
	rsaKey    = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	p256Key   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	p256Other = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	p384Key   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)) })
	p521Key   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader)) })
	edKey     = sync.OnceValue(func() ed25519.PrivateKey {
		_, k := must2(ed25519.GenerateKey(rand.Reader))
		return k
	})
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// pubJWK renders a public key as a JWK map; extra members are merged in.
func pubJWK(pub crypto.PublicKey, kid string, extra map[string]any) map[string]any {
	m := map[string]any{}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64u(p.N.Bytes()), b64u(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		raw := must(p.Bytes()) // 0x04 || X || Y
		m["kty"], m["crv"] = "EC", p.Curve.Params().Name
		m["x"], m["y"] = b64u(raw[1:1+size]), b64u(raw[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64u(p)
	default:
		panic("unsupported key")
	}
	if kid != "" {
		m["kid"] = kid
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func jwkText(pub crypto.PublicKey, extra map[string]any) string {
	return string(must(json.Marshal(pubJWK(pub, "", extra))))
}

func jwksDoc(keys ...map[string]any) []byte {
	return must(json.Marshal(map[string]any{"keys": keys}))
}

func pemPublic(pub crypto.PublicKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(pub))}))
}

// sign makes a token; kid "" leaves the header without a kid.
func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

// claimsAt returns valid claims for user sub, issued at now, expiring in an hour.
func claimsAt(now time.Time, sub string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// unsignedToken builds a token from raw header and payload JSON with a
// dummy signature segment, for inputs golang-jwt refuses to produce.
func unsignedToken(header, payload, sig string) string {
	return b64u([]byte(header)) + "." + b64u([]byte(payload)) + "." + sig
}

// wantCode asserts err is an *Error with code.
func wantCode(t testing.TB, err error, code Code) *Error {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want *Error with code %q", err, err, code)
	}
	if ae.Code != code {
		t.Fatalf("code = %q (%s), want %q", ae.Code, ae.Message, code)
	}
	return ae
}

// jwksServer is a JWKS endpoint on loopback whose behaviour tests switch at
// will, counting every request it receives.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
	drop   bool          // close the connection without answering
	gate   chan struct{} // when non-nil, requests wait for it to close
	enter  chan struct{} // when non-nil, receives one value per request
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	s := &jwksServer{status: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	status, body, drop, gate, enter := s.status, s.body, s.drop, s.gate, s.enter
	s.mu.Unlock()
	if enter != nil {
		enter <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	if drop {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func (s *jwksServer) set(status int, body []byte, drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.drop = status, body, drop
}

// client never reuses connections, so a dropped connection cannot make the
// transport silently retry and skew the request count.
func (s *jwksServer) client(t testing.TB) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// newTestJWKS returns a JWKS verifier against s driven by a fake clock.
func newTestJWKS(t testing.TB, s *jwksServer, opts Options) (*JWKS, *clock.Fake) {
	clk := clock.NewFake(t0)
	opts.Clock = clk
	opts.HTTPClient = s.client(t)
	return NewJWKS(s.URL, opts), clk
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
