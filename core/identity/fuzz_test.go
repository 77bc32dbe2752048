package identity

import (
	"errors"
	"testing"
	"time"
)

func FuzzVerifyToken(f *testing.F) {
	a, err := FromSecret(secretOf(1))
	if err != nil {
		f.Fatal(err)
	}
	tok, err := a.MintToken(testApp, t0, 10*time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	proof, err := a.MintProof(testApp, t0, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{tok, proof, "", "garbage", "a.b.c", "..", "eyJ9.eyJ9.", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		local := IsLocalFirstToken(token)
		c, err := VerifyToken(token, testApp, t0, time.Minute)
		if err == nil {
			if c.UserID != UserIDFromPublicKey(c.PublicKey) {
				t.Fatalf("accepted token for %s signed by the key of %s", c.UserID, UserIDFromPublicKey(c.PublicKey))
			}
			if !local {
				t.Fatal("accepted a token IsLocalFirstToken rejects")
			}
		} else if !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) &&
			!errors.Is(err, ErrTokenNotYetValid) && !errors.Is(err, ErrWrongAudience) {
			t.Fatalf("error outside the catalogue: %v", err)
		}
		if uid, err := VerifyProof(token, testApp, t0, time.Minute); err == nil && uid == "" {
			t.Fatal("accepted a proof with no user id")
		}
	})
}
