package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/limits"
)

// These tests pin what golang-jwt used to do implicitly (segment splitting,
// base64url, JSON decoding, the alg check) and the rules the hand-written
// reader adds (typ, duplicate and case-variant member names).

// craftRaw assembles a token from literal header and payload JSON, so tests
// can express inputs that json.Marshal of a map cannot (duplicate names,
// member order, whitespace, trailing data).
func craftRaw(header, payload string, sign func(input string) string) string {
	in := b64([]byte(header)) + "." + b64([]byte(payload))
	return in + "." + sign(in)
}

func rawHeader(id *Identity) string {
	return `{"alg":"EdDSA","jwk":{"crv":"Ed25519","kty":"OKP","x":"` + b64(id.PublicKey) + `"},"typ":"JWT"}`
}

func rawPayload(id *Identity) string {
	return `{"iss":"urn:jazz:local-first","sub":"` + id.UserID + `","aud":"app-123",` +
		`"iat":1700000000,"nbf":1700000000,"exp":1700000600,"jti":"j"}`
}

// replaceOnce replaces old with new in s and panics if old is absent, so a
// typo in a test cannot silently produce the unmodified control token.
func replaceOnce(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replaceOnce: " + old + " not in " + s)
	}
	return strings.Replace(s, old, new, 1)
}

func TestVerifyToken_RawControlAccepted(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	variants := map[string]string{
		"as minted":              craftRaw(rawHeader(a), rawPayload(a), edSign(a)),
		"whitespace in JSON":     craftRaw(" {\n\"alg\" : \"EdDSA\", \"jwk\":{\"x\":\""+b64(a.PublicKey)+"\",\"kty\":\"OKP\",\"crv\":\"Ed25519\"}}\t", "\r\n"+rawPayload(a)+" ", edSign(a)),
		"no typ":                 craftRaw(replaceOnce(rawHeader(a), `,"typ":"JWT"`, ""), rawPayload(a), edSign(a)),
		"unknown header members": craftRaw(replaceOnce(rawHeader(a), `"typ":"JWT"`, `"typ":"JWT","kid":"k","x5u":null,"n":[1,{"a":2}]`), rawPayload(a), edSign(a)),
		"unknown jwk members":    craftRaw(replaceOnce(rawHeader(a), `"kty":"OKP"`, `"kty":"OKP","use":"sig","kid":"1"`), rawPayload(a), edSign(a)),
		"unknown claims":         craftRaw(rawHeader(a), replaceOnce(rawPayload(a), `"jti":"j"`, `"jti":"j","ctx":{"a":[1,2,{"b":null}]},"big":1e400`), edSign(a)),
		"nbf null is absent":     craftRaw(rawHeader(a), replaceOnce(rawPayload(a), `"nbf":1700000000`, `"nbf":null`), edSign(a)),
		"no jti":                 craftRaw(rawHeader(a), replaceOnce(rawPayload(a), `,"jti":"j"`, ""), edSign(a)),
		"claims in another order": craftRaw(rawHeader(a),
			`{"exp":1700000600,"jti":"j","aud":"app-123","nbf":1700000000,"iat":1700000000,"sub":"`+a.UserID+`","iss":"urn:jazz:local-first"}`, edSign(a)),
		"escaped names and values": craftRaw(`{"\u0061lg":"Ed\u0044SA","jwk":{"crv":"Ed25519","kty":"OKP","x":"`+b64(a.PublicKey)+`"}}`,
			replaceOnce(rawPayload(a), `"aud":"app-123"`, `"a\u0075d":"app\u002d123"`), edSign(a)),
	}
	for name, tok := range variants {
		t.Run(name, func(t *testing.T) {
			c, err := VerifyToken(tok, testApp, t0, 0)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.UserID != a.UserID || !bytes.Equal(c.PublicKey, a.PublicKey) || !c.IssuedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(10*time.Minute)) {
				t.Errorf("claims = %+v", c)
			}
		})
	}
}

func TestVerifyToken_MalformedIsErrTokenInvalid(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	valid := craftRaw(rawHeader(a), rawPayload(a), edSign(a))
	parts := strings.Split(valid, ".")
	h, p, s := parts[0], parts[1], parts[2]
	sigBytes, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	signWith := func(sig []byte) func(string) string { return func(string) string { return b64(sig) } }
	rawSig := func(header, payload string) string { return craftRaw(header, payload, edSign(a)) }
	hdr, pay := rawHeader(a), rawPayload(a)
	// lastChar bumps the final character of a segment so that it decodes to
	// the same bytes but with non-zero trailing bits (or, for a segment with
	// no spare bits, to different bytes).
	bump := func(seg string) string { return seg[:len(seg)-1] + string(seg[len(seg)-1]+1) }

	tests := []struct{ name, token, why string }{
		// Segments.
		{"one segment", h, "segments"},
		{"two segments", h + "." + p, "segments"},
		{"four segments", valid + "." + s, "segments"},
		{"five segments", valid + "..", "segments"},
		{"trailing dot", valid + ".", "segments"},
		{"empty header segment", "." + p + "." + s, "header"},
		{"empty payload segment", h + ".." + s, "payload"},
		{"empty signature segment", h + "." + p + ".", "signature is 0 bytes"},

		// base64url.
		{"padded header", h + "=." + p + "." + s, "header"},
		{"padded signature", valid + "==", "signature"},
		{"std alphabet in header", strings.NewReplacer("-", "+", "_", "/").Replace(h) + "+." + p + "." + s, "header"},
		{"std alphabet in signature", h + "." + p + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s) + "+/", "signature"},
		{"newline in header", h[:10] + "\n" + h[10:] + "." + p + "." + s, "offset 10"},
		{"CRLF in payload", h + "." + p[:10] + "\r\n" + p[10:] + "." + s, "payload"},
		{"newline in signature", h + "." + p + "." + s[:10] + "\n" + s[10:], "signature"},
		{"space in signature", h + "." + p + "." + s[:10] + " " + s[10:], "signature"},
		{"non-canonical header bits", bump(h) + "." + p + "." + s, "header"},
		{"non-canonical payload bits", h + "." + bump(p) + "." + s, "payload"},
		{"impossible base64 length", h + "." + p + "." + s + "A", "signature"},
		{"non-ascii", h + "." + p + "." + s[:10] + "é" + s[10:], "signature"},

		// JSON shape.
		{"header array", rawSig(`[]`, pay), "header JSON"},
		{"header null", rawSig(`null`, pay), "header JSON"},
		{"header string", rawSig(`"EdDSA"`, pay), "header JSON"},
		{"header truncated", rawSig(hdr[:len(hdr)-1], pay), "header JSON"},
		{"header trailing object", rawSig(hdr+`{}`, pay), "header JSON"},
		{"header trailing garbage", rawSig(hdr+`x`, pay), "header JSON"},
		{"header number out of float64 range", rawSig(replaceOnce(hdr, `"typ"`, `"n":1e400,"typ"`), pay), "header JSON"},
		{"header invalid JSON", rawSig(`{"alg":"EdDSA",}`, pay), "header JSON"},
		{"payload array", rawSig(hdr, `[]`), "payload JSON"},
		{"payload null", rawSig(hdr, `null`), "payload JSON"},
		{"payload number", rawSig(hdr, `1`), "payload JSON"},
		{"payload empty", rawSig(hdr, ``), "payload JSON"},
		{"payload trailing object", rawSig(hdr, pay+`{}`), "payload JSON"},
		{"payload trailing bracket", rawSig(hdr, pay+`]`), "payload JSON"},
		{"payload single quotes", rawSig(hdr, strings.ReplaceAll(pay, `"`, `'`)), "payload JSON"},

		// Claim types.
		{"iat fractional", rawSig(hdr, replaceOnce(pay, `"iat":1700000000`, `"iat":1700000000.0`)), "iat"},
		{"iat exponent", rawSig(hdr, replaceOnce(pay, `"iat":1700000000`, `"iat":1.7e9`)), "iat"},
		{"nbf string", rawSig(hdr, replaceOnce(pay, `"nbf":1700000000`, `"nbf":"1700000000"`)), "nbf"},
		{"exp overflows int64", rawSig(hdr, replaceOnce(pay, `"exp":1700000600`, `"exp":9223372036854775808`)), "exp"},
		{"exp null is missing", rawSig(hdr, replaceOnce(pay, `"exp":1700000600`, `"exp":null`)), "missing exp"},
		{"sub number", rawSig(hdr, replaceOnce(pay, `"sub":"`+a.UserID+`"`, `"sub":1`)), "sub"},
		{"aud object", rawSig(hdr, replaceOnce(pay, `"aud":"app-123"`, `"aud":{"app-123":true}`)), "aud"},
		{"aud empty string", rawSig(hdr, replaceOnce(pay, `"aud":"app-123"`, `"aud":""`)), "missing aud"},
		{"jti number", rawSig(hdr, replaceOnce(pay, `"jti":"j"`, `"jti":7`)), "jti"},

		// alg and typ.
		{"alg missing", rawSig(replaceOnce(hdr, `"alg":"EdDSA",`, ""), pay), "signing method"},
		{"alg null", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":null`), pay), "signing method"},
		{"alg number", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":1`), pay), "signing method"},
		{"alg array", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":["EdDSA"]`), pay), "signing method"},
		{"alg lowercase", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":"eddsa"`), pay), "signing method"},
		{"alg Ed25519", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":"Ed25519"`), pay), "signing method"},
		{"alg with trailing space", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":"EdDSA "`), pay), "signing method"},
		{"alg with NUL", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":"EdDSA\u0000"`), pay), "signing method"},
		{"alg HS512", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":"HS512"`), pay), "signing method"},
		{"alg RS256", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":"RS256"`), pay), "signing method"},
		{"alg ALG only", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"ALG":"EdDSA"`), pay), "signing method"},
		{"typ lowercase", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":"jwt"`), pay), "typ"},
		{"typ JOSE", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":"JOSE"`), pay), "typ"},
		{"typ media type", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":"application/jwt"`), pay), "typ"},
		{"typ null", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":null`), pay), "typ"},
		{"typ number", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":1`), pay), "typ"},
		{"crit null", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":"JWT","crit":null`), pay), "crit"},
		{"crit empty", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":"JWT","crit":[]`), pay), "crit"},
		{"jwk with null d", rawSig(replaceOnce(hdr, `"kty":"OKP"`, `"kty":"OKP","d":null`), pay), "private"},
		{"jwk x with newline", rawSig(replaceOnce(hdr, `"x":"`, `"x":"\n`), pay), "x"},

		// Duplicate and case-variant names.
		{"duplicate alg, same value", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":"EdDSA","alg":"EdDSA"`), pay), "duplicate"},
		{"duplicate alg, none last", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":"EdDSA","alg":"none"`), pay), "duplicate"},
		{"duplicate alg, none first", rawSig(replaceOnce(hdr, `"alg":"EdDSA"`, `"alg":"none","alg":"EdDSA"`), pay), "duplicate"},
		{"duplicate jwk", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":"JWT","jwk":{}`), pay), "duplicate"},
		{"duplicate jwk x", rawSig(replaceOnce(hdr, `"kty":"OKP"`, `"kty":"OKP","x":"`+b64(make([]byte, 32))+`"`), pay), "duplicate"},
		{"duplicate unknown header member", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":"JWT","kid":1,"kid":1`), pay), "duplicate"},
		{"duplicate by escape", rawSig(replaceOnce(hdr, `"typ":"JWT"`, `"typ":"JWT","t\u0079p":"JWT"`), pay), "duplicate"},
		{"duplicate sub", rawSig(hdr, replaceOnce(pay, `"jti":"j"`, `"jti":"j","sub":"`+a.UserID+`"`)), "duplicate"},
		{"duplicate exp, later one longer", rawSig(hdr, replaceOnce(pay, `"jti":"j"`, `"jti":"j","exp":1700003600`)), "duplicate"},
		{"duplicate aud", rawSig(hdr, replaceOnce(pay, `"jti":"j"`, `"jti":"j","aud":"app-456"`)), "duplicate"},
		{"duplicate unknown claim", rawSig(hdr, replaceOnce(pay, `"jti":"j"`, `"jti":"j","x":1,"x":2`)), "duplicate"},
		{"duplicate inside nested claim", rawSig(hdr, replaceOnce(pay, `"jti":"j"`, `"jti":"j","ctx":[{"a":1,"a":1}]`)), "duplicate"},
		{"claim EXP alongside exp", rawSig(hdr, replaceOnce(pay, `"jti":"j"`, `"jti":"j","EXP":1700003600`)), "case variant"},
		{"claim Sub instead of sub", rawSig(hdr, replaceOnce(pay, `"sub":`, `"Sub":`)), "case variant"},
		{"claim with long s", rawSig(hdr, replaceOnce(pay, `"sub":`, `"ſub":`)), "case variant"},
		{"claim AUD alone", rawSig(hdr, replaceOnce(pay, `"aud":`, `"AUD":`)), "case variant"},

		// Signature.
		{"signature 63 bytes", craftRaw(hdr, pay, signWith(sigBytes[:63])), "63 bytes"},
		{"signature 65 bytes", craftRaw(hdr, pay, signWith(append(bytes.Clone(sigBytes), 0))), "65 bytes"},
		{"signature 128 bytes", craftRaw(hdr, pay, signWith(append(bytes.Clone(sigBytes), sigBytes...))), "128 bytes"},
		{"signature all zero", craftRaw(hdr, pay, signWith(make([]byte, 64))), "signature"},
		{"signature bit flipped", craftRaw(hdr, pay, func(in string) string {
			sig := ed25519.Sign(a.priv, []byte(in))
			sig[63] ^= 0x80
			return b64(sig)
		}), "signature"},
		{"signature over decoded JSON, not the segments", h + "." + p + "." + b64(ed25519.Sign(a.priv, []byte(hdr+"."+pay))), "signature"},
		{"signature over other spelling of the same header", b64([]byte(hdr+" ")) + "." + p + "." + s, "signature"},
		{"signature over header only", craftRaw(hdr, pay, func(string) string { return b64(ed25519.Sign(a.priv, []byte(h))) }), "signature"},
	}
	if _, err := VerifyToken(valid, testApp, t0, 0); err != nil {
		t.Fatalf("control refused: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := VerifyToken(tt.token, testApp, t0, time.Minute)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			checkErr(t, err, ErrTokenInvalid)
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not say %q", err, tt.why)
			}
		})
	}
}

// A refused header must be refused before anything is learnt from the
// signature or the clock: a token that is both malformed and expired, or both
// malformed and for another app, is reported as malformed.
func TestVerifyToken_FormatBeatsTimeAndAudience(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	dup := craftRaw(replaceOnce(rawHeader(a), `"typ":"JWT"`, `"typ":"JWT","typ":"JWT"`), rawPayload(a), edSign(a))
	for _, now := range []time.Time{t0, t0.Add(time.Hour), t0.Add(-time.Hour)} {
		for _, app := range []string{testApp, "app-456"} {
			_, err := VerifyToken(dup, app, now, 0)
			checkErr(t, err, ErrTokenInvalid)
		}
	}
}

func TestVerifyToken_ExpiredBeatsNotYetValid(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	// nbf after exp: at t0+650s the token is both expired and not yet valid.
	tok := craft(t, headerFor(a), with(claimsFor(a, Issuer), "nbf", t0.Unix()+700), edSign(a))
	_, err := VerifyToken(tok, testApp, t0.Add(650*time.Second), 0)
	checkErr(t, err, ErrTokenExpired)
	_, err = VerifyToken(tok, "app-456", t0.Add(650*time.Second), 0)
	checkErr(t, err, ErrWrongAudience)
}

func TestVerifyToken_TimeBoundaries(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	tok := mint(t, a, 10*time.Minute)
	exp := t0.Add(10 * time.Minute)
	tests := []struct {
		name   string
		now    time.Time
		leeway time.Duration
		want   error
	}{
		{"a nanosecond before exp", exp.Add(-time.Nanosecond), 0, nil},
		{"a nanosecond before exp+leeway", exp.Add(time.Second - time.Nanosecond), time.Second, nil},
		{"at exp+leeway", exp.Add(time.Second), time.Second, ErrTokenExpired},
		{"at nbf-leeway", t0.Add(-time.Second), time.Second, nil},
		{"a nanosecond before nbf-leeway", t0.Add(-time.Second - time.Nanosecond), time.Second, ErrTokenNotYetValid},
		{"a nanosecond before iat", t0.Add(-time.Nanosecond), 0, ErrTokenNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyToken(tok, testApp, tt.now, tt.leeway)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			checkErr(t, err, tt.want)
		})
	}
}

func TestVerifyToken_ExtremeTimes(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	const maxInt, minInt = int64(^uint64(0) >> 1), -int64(^uint64(0)>>1) - 1
	tests := []struct {
		name     string
		iat, exp int64
	}{
		{"near max int64", maxInt - 600, maxInt},
		{"near min int64", minInt, minInt + 600},
		{"around zero", -300, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := craft(t, headerFor(a), with(claimsFor(a, Issuer), "iat", tt.iat, "nbf", tt.iat, "exp", tt.exp), edSign(a))
			// Whatever the verdict, it is one from the catalogue and never a
			// panic; a token far from now must not be accepted.
			c, err := VerifyToken(tok, testApp, t0, time.Minute)
			if err == nil {
				t.Fatalf("accepted a token valid only near %d: %+v", tt.iat, c)
			}
			if !errorInCatalogue(err) {
				t.Fatalf("error outside the catalogue: %v", err)
			}
		})
	}
}

func errorInCatalogue(err error) bool {
	for _, e := range catalogue {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func TestMint_SerializesLikeEncodingJSON(t *testing.T) {
	// aud is caller input: json.Marshal's escaping of HTML characters,
	// U+2028/9, quotes and invalid UTF-8 is part of the format that golang-jwt
	// produced, and the golden vectors only cover plain ASCII.
	a := mustIdentity(t, secretOf(1))
	for _, aud := range []string{"https://a.example/cb?x=<y>&z", "line\u2028sep\u2029", `q"b\s`, "bad\xffutf8", "é日本"} {
		a.rand = bytes.NewReader(make([]byte, jtiSize))
		tok, err := a.MintProof(aud, t0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		got, _ := base64.RawURLEncoding.DecodeString(parts[1])
		want, _ := json.Marshal(map[string]any{"aud": aud})
		wantAud := strings.TrimSuffix(strings.TrimPrefix(string(want), `{"aud":`), "}")
		if !strings.Contains(string(got), `"aud":`+wantAud+`,`) {
			t.Errorf("aud %q serialized as %s, want %s", aud, got, wantAud)
		}
		// The valid-UTF-8 audiences round-trip through verification.
		if !strings.Contains(aud, "\xff") {
			if _, err := VerifyProof(tok, aud, t0, 0); err != nil {
				t.Errorf("aud %q: own proof refused: %v", aud, err)
			}
		}
	}
}

func FuzzCheckObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `[{"a":1}]`, `{"a":[{"b":1},{"b":1}]}`, `{} {}`, `{"a":1e400}`, ` {"a" : [ ] } `, `{"\u0061":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkObject(b) != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("checkObject accepted invalid JSON %q", b)
		}
		if trimmed := bytes.TrimLeft(b, " \t\r\n"); trimmed[0] != '{' {
			t.Fatalf("checkObject accepted a non-object %q", b)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("accepted %q but Unmarshal fails: %v", b, err)
		}
	})
}

// FuzzCheckObjectRefusesOnlyDuplicates: a valid JSON object is refused only
// for a duplicate member name, invalid UTF-8 (which encoding/json would
// replace silently) or nesting past limits.MaxValueDepth.
func FuzzCheckObjectRefusesOnlyDuplicates(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":1}]}`, `{"a":1e400}`, `{"\u0061":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v map[string]json.RawMessage
		if json.Unmarshal(b, &v) != nil || v == nil {
			return
		}
		err := checkObject(b)
		if errors.Is(err, limits.ErrInvalidUTF8) || errors.Is(err, limits.ErrTooDeep) {
			return
		}
		if err != nil && !strings.Contains(err.Error(), "duplicate member") {
			t.Fatalf("valid object %q refused: %v", b, err)
		}
	})
}
