package auth

import (
	"context"
	"encoding/base64"
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
