package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/session"
)

func staticKey(t testing.TB, text string, opts Options) (*StaticKey, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	opts.Clock = clk
	k, err := NewStaticKey(text, opts)
	if err != nil {
		t.Fatalf("NewStaticKey: %v", err)
	}
	return k, clk
}

func selfSignedCert(t testing.TB, priv *ecdsa.PrivateKey) string {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "idp.test"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestStaticKey_AcceptsJWKAndPEM(t *testing.T) {
	rk, ek, e384, e521, ed := rsaKey(), p256Key(), p384Key(), p521Key(), edKey()
	tests := []struct {
		name   string
		text   string
		method jwt.SigningMethod
		priv   any
		algs   []string
	}{
		{"JWK RSA", jwkText(&rk.PublicKey, nil), jwt.SigningMethodRS256, rk, rsaAlgs},
		{"JWK RSA PS384", jwkText(&rk.PublicKey, nil), jwt.SigningMethodPS384, rk, rsaAlgs},
		{"JWK RSA alg pinned", jwkText(&rk.PublicKey, map[string]any{"alg": "RS512", "use": "sig"}), jwt.SigningMethodRS512, rk, []string{"RS512"}},
		{"JWK EC P-256", jwkText(&ek.PublicKey, nil), jwt.SigningMethodES256, ek, []string{"ES256"}},
		{"JWK EC P-384", jwkText(&e384.PublicKey, nil), jwt.SigningMethodES384, e384, []string{"ES384"}},
		{"JWK EC P-521", jwkText(&e521.PublicKey, nil), jwt.SigningMethodES512, e521, []string{"ES512"}},
		{"JWK Ed25519", jwkText(ed.Public(), nil), jwt.SigningMethodEdDSA, ed, []string{"EdDSA"}},
		{"PEM RSA", pemPublic(&rk.PublicKey), jwt.SigningMethodRS256, rk, rsaAlgs},
		{"PEM RSA PKCS1", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)})), jwt.SigningMethodPS256, rk, rsaAlgs},
		{"PEM EC", pemPublic(&ek.PublicKey), jwt.SigningMethodES256, ek, []string{"ES256"}},
		{"PEM Ed25519", "\n  " + pemPublic(ed.Public()) + "\n", jwt.SigningMethodEdDSA, ed, []string{"EdDSA"}},
		{"PEM certificate", selfSignedCert(t, ek), jwt.SigningMethodES256, ek, []string{"ES256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, _ := staticKey(t, tt.text, Options{})
			if got := strings.Join(k.Algorithms(), ","); got != strings.Join(tt.algs, ",") {
				t.Errorf("algorithms = %s, want %s", got, strings.Join(tt.algs, ","))
			}
			tok := sign(t, tt.method, tt.priv, "some-kid", claimsAt(t0, "user-1"))
			s, err := k.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if s.UserID != "user-1" || s.AuthMode != session.External {
				t.Errorf("session = %+v", s)
			}
		})
	}
}

func TestStaticKey_RefusesUnusableKeys(t *testing.T) {
	rk, ek, ed := rsaKey(), p256Key(), edKey()
	smallRSA := &rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 1023), big.NewInt(1)), E: 65537}
	offCurve := pubJWK(&ek.PublicKey, "", nil)
	offCurve["y"] = offCurve["x"]
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(ek))}))
	tests := []struct {
		name, text, want string
	}{
		{"JWK oct", `{"kty":"oct","k":"c2VjcmV0"}`, "symmetric"},
		{"JWK RSA private", jwkText(&rk.PublicKey, map[string]any{"d": "AQAB"}), "private"},
		{"JWK EC private", jwkText(&ek.PublicKey, map[string]any{"d": "AQAB"}), "private"},
		{"JWK OKP private", jwkText(ed.Public(), map[string]any{"d": "AQAB"}), "private"},
		{"JWK alg HS256 on RSA", jwkText(&rk.PublicKey, map[string]any{"alg": "HS256"}), "does not fit"},
		{"JWK alg none", jwkText(&ek.PublicKey, map[string]any{"alg": "none"}), "does not fit"},
		{"JWK alg ES384 on P-256", jwkText(&ek.PublicKey, map[string]any{"alg": "ES384"}), "does not fit"},
		{"JWK use enc", jwkText(&rk.PublicKey, map[string]any{"use": "enc"}), "use"},
		{"JWK small RSA", jwkText(smallRSA, nil), "bits"},
		{"JWK EC off curve", string(must(json.Marshal(offCurve))), "not on curve"},
		{"JWK X25519", `{"kty":"OKP","crv":"X25519","x":"AAAA"}`, "not supported"},
		{"JWK secp256k1", `{"kty":"EC","crv":"secp256k1","x":"AAAA","y":"AAAA"}`, "not supported"},
		{"JWK no kty", `{"n":"AQAB"}`, "no kty"},
		{"JWK not object", `{"kty":`, "not a JSON object"},
		{"PEM PKCS8 private", pkcs8, "private key"},
		{"PEM EC private", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: must(x509.MarshalECPrivateKey(ek))})), "private key"},
		{"PEM RSA private", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})), "private key"},
		{"PEM public then private", pemPublic(&ek.PublicKey) + pkcs8, "private key"},
		{"PEM small RSA", pemPublic(smallRSA), "bits"},
		{"PEM garbage body", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "does not parse"},
		{"PEM other type", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "not a public key"},
		{"empty", "  ", "empty"},
		{"garbage", "not a key", "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewStaticKey(tt.text, Options{})
			if err == nil {
				t.Fatalf("accepted: %+v", k)
			}
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("error %T, want *KeyError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestVerify_Tokens runs every token-level rule against static keys; JWKS
// shares the same code path once it has picked a key.
func TestVerify_Tokens(t *testing.T) {
	rk, ek, ed := rsaKey(), p256Key(), edKey()
	rsaPEM := pemPublic(&rk.PublicKey)
	now := t0
	withClaims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(now, "user-1")
		mod(c)
		return c
	}
	rs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, rk, "", c) }
	valid := rs(claimsAt(now, "user-1"))
	tampered := []byte(valid)
	if i := strings.LastIndex(valid, ".") + 5; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}

	tests := []struct {
		name  string
		key   string
		opts  Options
		token string
		code  Code // "" = accepted
	}{
		{"valid RS256", rsaPEM, Options{}, valid, ""},
		{"valid PS512", rsaPEM, Options{}, sign(t, jwt.SigningMethodPS512, rk, "", claimsAt(now, "u")), ""},
		{"valid ES256", pemPublic(&ek.PublicKey), Options{}, sign(t, jwt.SigningMethodES256, ek, "", claimsAt(now, "u")), ""},
		{"valid EdDSA", pemPublic(ed.Public()), Options{}, sign(t, jwt.SigningMethodEdDSA, ed, "", claimsAt(now, "u")), ""},
		{"expired", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), CodeExpired},
		{"expired within leeway", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() })), ""},
		{"expired, custom leeway", rsaPEM, Options{Leeway: 2 * time.Minute}, rs(withClaims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), ""},
		{"expired, no leeway", rsaPEM, Options{Leeway: -1}, rs(withClaims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Second).Unix() })), CodeExpired},
		{"expired and wrong issuer", rsaPEM, Options{Issuer: "https://idp.test"},
			rs(withClaims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix(); c["iss"] = "https://evil.test" })), CodeInvalid},
		{"expired and no sub", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix(); delete(c, "sub") })), CodeInvalid},
		{"not yet valid", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), CodeInvalid},
		{"nbf within leeway", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { c["nbf"] = now.Add(20 * time.Second).Unix() })), ""},
		{"missing exp", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { delete(c, "exp") })), CodeInvalid},
		{"exp not a number", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { c["exp"] = "tomorrow" })), CodeInvalid},
		{"missing sub", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { delete(c, "sub") })), CodeInvalid},
		{"empty sub", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { c["sub"] = "" })), CodeInvalid},
		{"numeric sub", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { c["sub"] = 42 })), CodeInvalid},
		{"issuer match", rsaPEM, Options{Issuer: "https://idp.test"}, rs(withClaims(func(c jwt.MapClaims) { c["iss"] = "https://idp.test" })), ""},
		{"issuer mismatch", rsaPEM, Options{Issuer: "https://idp.test"}, rs(withClaims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })), CodeInvalid},
		{"issuer missing", rsaPEM, Options{Issuer: "https://idp.test"}, valid, CodeInvalid},
		{"audience match in list", rsaPEM, Options{Audiences: []string{"app"}}, rs(withClaims(func(c jwt.MapClaims) { c["aud"] = []string{"other", "app"} })), ""},
		{"audience mismatch", rsaPEM, Options{Audiences: []string{"app"}}, rs(withClaims(func(c jwt.MapClaims) { c["aud"] = "other" })), CodeInvalid},
		{"audience missing", rsaPEM, Options{Audiences: []string{"app"}}, valid, CodeInvalid},
		{"wrong signature (tampered)", rsaPEM, Options{}, string(tampered), CodeInvalid},
		{"wrong signature (other key)", pemPublic(&ek.PublicKey), Options{}, sign(t, jwt.SigningMethodES256, p256Other(), "", claimsAt(now, "u")), CodeInvalid},
		{"payload swapped", rsaPEM, Options{}, swapPayload(valid, `{"sub":"admin","exp":9999999999}`), CodeInvalid},
		{"alg none", rsaPEM, Options{}, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claimsAt(now, "u")), CodeInvalid},
		{"alg NONE handcrafted", rsaPEM, Options{}, unsignedToken(`{"alg":"NONE","typ":"JWT"}`, `{"sub":"u","exp":9999999999}`, ""), CodeInvalid},
		{"alg confusion HS256 with PEM as secret", rsaPEM, Options{}, sign(t, jwt.SigningMethodHS256, []byte(rsaPEM), "", claimsAt(now, "u")), CodeInvalid},
		{"RS256 token against EC key", pemPublic(&ek.PublicKey), Options{}, rs(claimsAt(now, "u")), CodeInvalid},
		{"ES384 token against P-256 key", pemPublic(&ek.PublicKey), Options{}, sign(t, jwt.SigningMethodES384, p384Key(), "", claimsAt(now, "u")), CodeInvalid},
		{"PS256 against alg-pinned RS256 JWK", jwkText(&rk.PublicKey, map[string]any{"alg": "RS256"}), Options{}, sign(t, jwt.SigningMethodPS256, rk, "", claimsAt(now, "u")), CodeInvalid},
		{"EdDSA token against RSA key", rsaPEM, Options{}, sign(t, jwt.SigningMethodEdDSA, ed, "", claimsAt(now, "u")), CodeInvalid},
		{"oversize", rsaPEM, Options{}, rs(withClaims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", MaxTokenSize) })), CodeInvalid},
		{"empty string", rsaPEM, Options{}, "", CodeInvalid},
		{"garbage", rsaPEM, Options{}, "garbage", CodeInvalid},
		{"two segments", rsaPEM, Options{}, "a.b", CodeInvalid},
		{"four segments", rsaPEM, Options{}, valid + ".x", CodeInvalid},
		{"header not base64", rsaPEM, Options{}, "!!!.e30.sig", CodeInvalid},
		{"header not JSON", rsaPEM, Options{}, b64u([]byte("nope")) + ".e30.sig", CodeInvalid},
		{"header JSON null", rsaPEM, Options{}, b64u([]byte("null")) + ".e30.sig", CodeInvalid},
		{"payload not JSON", rsaPEM, Options{}, unsignedToken(`{"alg":"RS256"}`, "nope", "sig"), CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, _ := staticKey(t, tt.key, tt.opts)
			s, exp, err := k.VerifyWithExpiry(context.Background(), tt.token)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if s.UserID == "" || exp.IsZero() {
					t.Fatalf("session %+v exp %v", s, exp)
				}
				return
			}
			if s != nil {
				t.Fatalf("accepted as %+v", s)
			}
			e := wantCode(t, err, tt.code)
			if tt.token != "" && strings.Contains(e.Message, tt.token) {
				t.Errorf("message leaks the token")
			}
		})
	}
}

// swapPayload keeps a genuine header and signature but replaces the payload.
func swapPayload(tok, payload string) string {
	parts := strings.Split(tok, ".")
	return parts[0] + "." + b64u([]byte(payload)) + "." + parts[2]
}

func TestVerify_SessionCarriesClaimsAndExpiry(t *testing.T) {
	ek := p256Key()
	k, clk := staticKey(t, pemPublic(&ek.PublicKey), Options{})
	c := claimsAt(clk.Now(), "user-7")
	c["org"] = map[string]any{"id": "acme"}
	tok := sign(t, jwt.SigningMethodES256, ek, "", c)
	s, exp, err := k.VerifyWithExpiry(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(t0.Add(time.Hour)) {
		t.Errorf("exp = %v, want %v", exp, t0.Add(time.Hour))
	}
	if v, ok := s.Field("claims.org.id"); !ok || v != "acme" {
		t.Errorf("claims.org.id = %v, %v", v, ok)
	}
	if v, _ := s.Field("claims.sub"); v != "user-7" {
		t.Errorf("claims.sub = %v", v)
	}
	// The clock moves on: the same token expires.
	clk.Advance(time.Hour + time.Minute)
	_, err = k.Verify(context.Background(), tok)
	wantCode(t, err, CodeExpired)
}

func TestVerify_PrivateKeyObjectNeverAccepted(t *testing.T) {
	if _, err := keyFromPublic(rsaKey()); err == nil {
		t.Fatal("an *rsa.PrivateKey was accepted as a verification key")
	}
	if _, err := keyFromPublic(ed25519.PrivateKey(edKey())); err == nil {
		t.Fatal("an ed25519.PrivateKey was accepted as a verification key")
	}
}

func TestVerify_AudienceAndIssuerWhenConfigured(t *testing.T) {
	ek := p256Key()
	key := pemPublic(&ek.PublicKey)
	both := Options{Issuer: "https://idp.test", Audiences: []string{"web-app", "mobile-app"}}
	tests := []struct {
		name    string
		opts    Options
		claims  map[string]any // merged into valid claims; nil values delete
		wantMsg string         // "" = accepted; else the claim the message must name
	}{
		{"unset: any aud and iss", Options{}, map[string]any{"aud": "someone-else", "iss": "https://other.test"}, ""},
		{"unset: none", Options{}, nil, ""},
		{"aud string matching the second audience", both, map[string]any{"aud": "mobile-app", "iss": "https://idp.test"}, ""},
		{"aud array containing one audience", both, map[string]any{"aud": []string{"other", "web-app"}, "iss": "https://idp.test"}, ""},
		{"aud string of another app", both, map[string]any{"aud": "billing-app", "iss": "https://idp.test"}, "aud claim"},
		{"aud array of other apps", both, map[string]any{"aud": []string{"billing-app", "crm"}, "iss": "https://idp.test"}, "aud claim"},
		{"aud empty array", both, map[string]any{"aud": []string{}, "iss": "https://idp.test"}, "aud claim"},
		{"aud missing", both, map[string]any{"iss": "https://idp.test"}, "aud claim"},
		{"iss of another provider", both, map[string]any{"aud": "web-app", "iss": "https://other.test"}, "iss claim"},
		{"iss missing", both, map[string]any{"aud": "web-app"}, "iss claim"},
		{"expired and for another app", both, map[string]any{"aud": "billing-app", "iss": "https://idp.test", "exp": t0.Add(-time.Hour).Unix()}, "aud claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, clk := staticKey(t, key, tt.opts)
			c := claimsAt(clk.Now(), "user-1")
			for name, v := range tt.claims {
				c[name] = v
			}
			s, err := k.Verify(context.Background(), sign(t, jwt.SigningMethodES256, ek, "", c))
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if s != nil {
				t.Fatalf("accepted as %+v", s)
			}
			if e := wantCode(t, err, CodeInvalid); !strings.Contains(e.Message, tt.wantMsg) {
				t.Fatalf("message %q does not name the %s", e.Message, tt.wantMsg)
			}
		})
	}
}
