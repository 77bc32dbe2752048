package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jazzgo/jazz-tools/core/clock"
)

func FuzzDecodeSessionHeader(f *testing.F) {
	for _, seed := range []string{
		`{"user_id":"u"}`,
		`{"user_id":"u","authMode":"local-first","claims":{"a":[1,{"b":null}]}}`,
		`{"user_id":"u","user_id":"v"}`,
		`{"User_Id":"u"}`,
		`{"user_id":"u"} x`,
		`[]`, `null`, `{`, `{"claims":{"x":1e400}}`,
	} {
		f.Add(base64.StdEncoding.EncodeToString([]byte(seed)))
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(seed)))
	}
	f.Add("!!")
	f.Add("e30==")
	f.Fuzz(func(t *testing.T, header string) {
		s, err := DecodeSessionHeader(header)
		if err != nil {
			if s != nil {
				t.Fatal("session returned with an error")
			}
			return
		}
		if s.UserID == "" || !s.AuthMode.Valid() || s.Claims == nil {
			t.Fatalf("accepted an invalid session: %+v", s)
		}
		// Whatever is accepted must survive a round trip unchanged in meaning.
		h, err := EncodeSessionHeader(s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := DecodeSessionHeader(h)
		if err != nil || back.UserID != s.UserID || back.AuthMode != s.AuthMode {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	})
}

func FuzzVerifyExternal(f *testing.F) {
	ek := p256Key()
	clk := clock.NewFake(t0)
	key, err := NewStaticKey(pemPublic(&ek.PublicKey), Options{Clock: clk})
	if err != nil {
		f.Fatal(err)
	}
	signed := func(c jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(ek)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	exp := t0.Add(time.Hour).Unix()
	for _, seed := range []string{
		signed(jwt.MapClaims{"sub": "u", "exp": exp}),
		signed(jwt.MapClaims{"sub": "", "exp": exp}),
		signed(jwt.MapClaims{"sub": 1, "exp": exp}),
		signed(jwt.MapClaims{"sub": "u", "exp": 1e300, "nbf": -1e300}),
		signed(jwt.MapClaims{"sub": "u", "exp": exp, "aud": []any{1, "x"}}),
		unsignedToken(`{"alg":"none"}`, `{"sub":"u","exp":9999999999}`, ""),
		unsignedToken(`{"alg":"ES256","kid":7}`, `{"sub":"u","exp":9999999999}`, "AAAA"),
		"", ".", "..", "a.b.c", strings.Repeat("A", 100),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		s, deadline, err := key.VerifyWithExpiry(context.Background(), token)
		if err != nil {
			if s != nil {
				t.Fatal("session returned with an error")
			}
			return
		}
		if s.UserID == "" {
			t.Fatal("accepted a token with an empty sub")
		}
		if deadline.IsZero() {
			t.Fatal("accepted a token without an expiry")
		}
	})
}

// FuzzParseJWKSet feeds arbitrary JWKS documents, as a hostile or broken
// identity provider could serve them. Refusals are *KeyError and return no
// keys; every accepted key obeys the rules a verifier relies on (see
// checkKey) and, written back as a JWK, parses to the same key.
func FuzzParseJWKSet(f *testing.F) {
	rsaPub, edPub := &rsaKey().PublicKey, edKey().Public()
	for _, doc := range [][]byte{
		jwksDoc(pubJWK(rsaPub, "r", nil), pubJWK(&p256Key().PublicKey, "e", nil)),
		jwksDoc(pubJWK(&p384Key().PublicKey, "", map[string]any{"use": "sig", "alg": "ES384"}), pubJWK(&p521Key().PublicKey, "p5", nil)),
		jwksDoc(pubJWK(edPub, "ed", map[string]any{"alg": "EdDSA"}), pubJWK(rsaPub, "ps", map[string]any{"alg": "PS256"})),
		jwksDoc(pubJWK(rsaPub, "r", map[string]any{"alg": "ES256"}), pubJWK(edPub, "enc", map[string]any{"use": "enc"})),
		jwksDoc(pubJWK(&p256Key().PublicKey, "d", map[string]any{"d": "AAAA"}), map[string]any{"kty": "oct", "k": "c2VjcmV0"}),
		[]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"},{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`),
		[]byte(`{"keys":[{"kty":"OKP","crv":"X25519","x":"AAAA"},{"kty":""},{}]}`),
		[]byte(`{"keys":{}}`), []byte(`{"keys":null}`), []byte(`[]`), []byte(`{`),
	} {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, err := parseJWKSet(doc)
		if err != nil {
			var ke *KeyError
			if !errors.As(err, &ke) || keys != nil {
				t.Fatalf("refusal %T %v with %d keys, want a *KeyError and none", err, err, len(keys))
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("accepted a set with no keys")
		}
		set := newKeySet(keys)
		for _, k := range keys {
			checkKey(t, k)
			if k.kid != "" && !slices.Contains(set.byKid[k.kid], k) {
				t.Fatalf("key %q is not found by its kid", k.kid)
			}
		}
	})
}

// FuzzParseKeyText feeds arbitrary --jwt-public-key values (a JWK or PEM).
func FuzzParseKeyText(f *testing.F) {
	for _, pub := range []crypto.PublicKey{&rsaKey().PublicKey, &p256Key().PublicKey, &p384Key().PublicKey, &p521Key().PublicKey, edKey().Public()} {
		f.Add(jwkText(pub, nil))
		f.Add(pemPublic(pub))
	}
	f.Add(jwkText(&rsaKey().PublicKey, map[string]any{"alg": "RS512", "use": "sig"}))
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)})))
	f.Add("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	f.Add(`{"kty":"oct","k":"c2VjcmV0"}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		k, err := parseKeyText(text)
		if err != nil {
			var ke *KeyError
			if !errors.As(err, &ke) || k != nil {
				t.Fatalf("refusal %T %v with a key, want a *KeyError alone", err, err)
			}
			return
		}
		checkKey(t, k)
	})
}

// checkKey asserts what verification relies on for an accepted key: its
// algorithms come from its type and curve only (no HMAC, no "none"), RSA
// keys are large enough and EC points on their curve, and the key written
// back as a JWK parses to the same key with the same algorithms.
func checkKey(t *testing.T, k *verifyKey) {
	t.Helper()
	var family []string
	switch p := k.pub.(type) {
	case *rsa.PublicKey:
		family = rsaAlgs
		if p.N.BitLen() < minRSABits || p.E < 3 || p.E%2 == 0 {
			t.Fatalf("accepted a weak RSA key: %d bits, e=%d", p.N.BitLen(), p.E)
		}
	case *ecdsa.PublicKey:
		family = map[elliptic.Curve][]string{elliptic.P256(): p256Alg, elliptic.P384(): p384Alg, elliptic.P521(): p521Alg}[p.Curve]
		if _, err := p.ECDH(); err != nil {
			t.Fatalf("accepted an EC point off its curve: %v", err)
		}
	case ed25519.PublicKey:
		family = edAlg
		if len(p) != ed25519.PublicKeySize {
			t.Fatalf("accepted an Ed25519 key of %d bytes", len(p))
		}
	default:
		t.Fatalf("accepted a key of type %T", k.pub)
	}
	if len(k.algs) == 0 {
		t.Fatal("accepted a key with no algorithm")
	}
	for _, alg := range k.algs {
		if !slices.Contains(family, alg) {
			t.Fatalf("a %T key allows %q", k.pub, alg)
		}
	}
	extra := map[string]any{}
	if len(k.algs) == 1 && len(family) > 1 {
		extra["alg"] = k.algs[0]
	}
	back, err := parseJWK(must(json.Marshal(pubJWK(k.pub, k.kid, extra))))
	if err != nil {
		t.Fatalf("the key written back as a JWK is refused: %v", err)
	}
	if !back.pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.pub) || back.kid != k.kid || !slices.Equal(back.algs, k.algs) {
		t.Fatalf("round trip changed the key: kid %q -> %q, algs %v -> %v", k.kid, back.kid, k.algs, back.algs)
	}
}
