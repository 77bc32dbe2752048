package auth

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerifyCachedJWKS measures steady-state verification: keys cached,
// no HTTP on the hot path, so the cost is parsing plus one signature check.
func BenchmarkVerifyCachedJWKS(b *testing.B) {
	rk, ek, ed := rsaKey(), p256Key(), edKey()
	srv := newJWKSServer(b, jwksDoc(
		pubJWK(&rk.PublicKey, "rsa", nil),
		pubJWK(&ek.PublicKey, "ec", nil),
		pubJWK(ed.Public(), "ed", nil),
	))
	j, _ := newTestJWKS(b, srv, Options{})
	for _, bc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256", jwt.SigningMethodRS256, rk, "rsa"},
		{"ES256", jwt.SigningMethodES256, ek, "ec"},
		{"EdDSA", jwt.SigningMethodEdDSA, ed, "ed"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tok := sign(b, bc.method, bc.key, bc.kid, claimsAt(t0, "user-1"))
			ctx := context.Background()
			if _, err := j.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
			if n := srv.requests.Load(); n != 1 {
				b.Fatalf("%d JWKS fetches, want 1", n)
			}
		})
	}
}
