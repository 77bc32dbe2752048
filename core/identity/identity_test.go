package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// secretOf returns the canonical secret whose 32 bytes are all b.
func secretOf(b byte) string {
	return base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{b}, SecretSize))
}

func mustIdentity(t testing.TB, secret string) *Identity {
	t.Helper()
	id, err := FromSecret(secret)
	if err != nil {
		t.Fatalf("FromSecret: %v", err)
	}
	return id
}

var uuidV8 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestFromSecret_SameSecretSameUserID(t *testing.T) {
	for _, s := range []string{secretOf(0), secretOf(1), secretOf(0xff)} {
		a, b := mustIdentity(t, s), mustIdentity(t, s)
		if a.UserID != b.UserID || !bytes.Equal(a.PublicKey, b.PublicKey) {
			t.Errorf("secret %s: two derivations differ: %s vs %s", s, a.UserID, b.UserID)
		}
	}
}

func TestFromSecret_DifferentSecretsDifferentUserIDs(t *testing.T) {
	seen := map[string]byte{}
	for b := range 64 {
		id := mustIdentity(t, secretOf(byte(b)))
		if prev, ok := seen[id.UserID]; ok {
			t.Fatalf("secrets %d and %d share user id %s", prev, b, id.UserID)
		}
		seen[id.UserID] = byte(b)
	}
}

func TestFromSecret_AcceptsPadding(t *testing.T) {
	s := secretOf(7)
	padded := s + "="
	if got, want := mustIdentity(t, padded).UserID, mustIdentity(t, s).UserID; got != want {
		t.Errorf("padded secret gives %s, unpadded %s", got, want)
	}
}

func TestFromSecret_BadSecretIsErrBadSecret(t *testing.T) {
	good := secretOf(0x42)
	stdChars := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, SecretSize)) // has '+' and '/'
	tests := []struct {
		name, secret, why string
	}{
		{"empty", "", "empty"},
		{"too short", good[:42], "base64url"},
		{"31 bytes", base64.RawURLEncoding.EncodeToString(make([]byte, 31)), "31 bytes"},
		{"33 bytes", base64.RawURLEncoding.EncodeToString(make([]byte, 33)), "33 bytes"},
		{"std base64 alphabet", stdChars, "offset"},
		{"std base64 padded", base64.StdEncoding.EncodeToString(make([]byte, 32))[:43] + "+", "offset"},
		{"garbage", "not a secret at all!", "offset"},
		{"embedded newline", good[:20] + "\n" + good[20:], "offset"},
		{"non-zero trailing bits", good[:42] + "R", "canonical"},
		{"double padding", good + "==", "canonical"},
		{"very long", strings.Repeat("A", 1000), "characters"},
		{"non-ascii", strings.Repeat("é", 22), "offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := FromSecret(tt.secret)
			if !errors.Is(err, ErrBadSecret) {
				t.Fatalf("FromSecret(%q) = %v, %v; want ErrBadSecret", tt.secret, id, err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not say %q", err, tt.why)
			}
		})
	}
}

func TestNewSecret_RoundTrips(t *testing.T) {
	src := bytes.NewReader(bytes.Repeat([]byte{0xab, 0xcd}, 64))
	s, err := NewSecret(src)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !bytes.Equal(raw, bytes.Repeat([]byte{0xab, 0xcd}, 16)) {
		t.Fatalf("NewSecret = %q (%x, %v); want the first 32 bytes of the reader", s, raw, err)
	}
	if _, err := FromSecret(s); err != nil {
		t.Errorf("FromSecret(NewSecret()) = %v", err)
	}
}

func TestNewSecret_ShortReaderFails(t *testing.T) {
	if s, err := NewSecret(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatalf("NewSecret from 31 bytes = %q, want error", s)
	}
}

func TestUserIDFromPublicKey_IsUUIDv8(t *testing.T) {
	keys := []ed25519.PublicKey{make([]byte, 32), bytes.Repeat([]byte{0xff}, 32), nil}
	for b := range 32 {
		keys = append(keys, mustIdentity(t, secretOf(byte(b))).PublicKey)
	}
	for _, k := range keys {
		if id := UserIDFromPublicKey(k); !uuidV8.MatchString(id) {
			t.Errorf("UserIDFromPublicKey(%x) = %q, not a lowercase UUIDv8", k, id)
		}
	}
}

// TestDerivation_MatchesSpec recomputes the derivation from docs/auth.md by
// hand (RFC 5869 HKDF from HMAC, UUID by formatting), independently of the
// code under test.
func TestDerivation_MatchesSpec(t *testing.T) {
	for _, b := range []byte{0, 1, 0x5a, 0xff} {
		ikm := bytes.Repeat([]byte{b}, 32)
		prk := hmacSHA256(make([]byte, 32), ikm)
		seed := hmacSHA256(prk, append([]byte("jazz-tools/local-first/v1/ed25519"), 1))
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)

		sum := sha256.Sum256(append([]byte("jazz-tools/local-first/v1/user-id"), pub...))
		u := sum[:16]
		u[6] = 0x80 | u[6]&0x0f
		u[8] = 0x80 | u[8]&0x3f
		wantID := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])

		id := mustIdentity(t, secretOf(b))
		if !bytes.Equal(id.PublicKey, pub) {
			t.Errorf("secret %#x: public key %x, spec gives %x", b, id.PublicKey, pub)
		}
		if id.UserID != wantID {
			t.Errorf("secret %#x: user id %s, spec gives %s", b, id.UserID, wantID)
		}
	}
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func TestIdentity_FormattingHidesPrivateKey(t *testing.T) {
	id := mustIdentity(t, secretOf(9))
	seedHex := fmt.Sprintf("%x", id.priv[:seedSize])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		for _, v := range []any{id, *id} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, seedHex) || strings.Contains(out, fmt.Sprint([]byte(id.priv))) {
				t.Errorf("%s of %T leaks the private key: %s", verb, v, out)
			}
		}
	}
}

// publicKey must give exactly crypto/ed25519's public key for every seed
// (user ids are a hash of it), and FromSecret exactly its private key (the
// signer uses the public half as given).
func TestPublicKey_MatchesCryptoEd25519(t *testing.T) {
	seeds := [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0x80}, 32)}
	// Seeds from a fixed-key HMAC chain: reproducible, and spread over the
	// whole range of scalars.
	mac := hmac.New(sha256.New, []byte("publicKey test"))
	for i := 0; i < 1000; i++ {
		mac.Write([]byte{byte(i), byte(i >> 8)})
		seeds = append(seeds, mac.Sum(nil))
	}
	for _, seed := range seeds {
		want := ed25519.NewKeyFromSeed(seed)
		if got := publicKey(seed); !bytes.Equal(got, want.Public().(ed25519.PublicKey)) {
			t.Fatalf("seed %x: publicKey = %x, crypto/ed25519 says %x", seed, got, want[32:])
		}
	}
	for b := range 32 {
		id := mustIdentity(t, secretOf(byte(b*8)))
		want := ed25519.NewKeyFromSeed(id.priv[:seedSize])
		if !bytes.Equal(id.priv, want) || !bytes.Equal(id.PublicKey, want[32:]) {
			t.Fatalf("secret %s: FromSecret's key pair differs from ed25519.NewKeyFromSeed", secretOf(byte(b*8)))
		}
		msg := []byte("signed by FromSecret's key")
		if !ed25519.Verify(id.PublicKey, msg, ed25519.Sign(ed25519.PrivateKey(id.priv), msg)) {
			t.Fatalf("secret %s: a signature with FromSecret's key does not verify", secretOf(byte(b*8)))
		}
	}
}

// sign gives crypto/ed25519's signature byte for byte (Ed25519 is
// deterministic), over seeds and messages of every length up to 300 bytes.
func TestSign_MatchesCryptoEd25519(t *testing.T) {
	mac := hmac.New(sha256.New, []byte("sign test"))
	msg := []byte{}
	for i := 0; i < 300; i++ {
		mac.Write([]byte{byte(i), byte(i >> 8)})
		seed := mac.Sum(nil)
		priv := ed25519.NewKeyFromSeed(seed)
		if got, want := sign(priv, msg), ed25519.Sign(priv, msg); !bytes.Equal(got, want) {
			t.Fatalf("seed %x, %d-byte message: sign = %x, crypto/ed25519 says %x", seed, len(msg), got, want)
		}
		msg = append(msg, seed[0])
	}
}

// TestVerifySignature_MatchesCryptoEd25519 checks verifySignature gives
// crypto/ed25519's answer for genuine signatures and for every way of
// spoiling one: a flipped bit anywhere in the signature, key or message, a
// non-canonical S (S+L), a key that is not a point, and wrong lengths.
func TestVerifySignature_MatchesCryptoEd25519(t *testing.T) {
	mac := hmac.New(sha256.New, []byte("verify test"))
	// L, the group order, little-endian: S+L encodes the same scalar
	// non-canonically.
	order := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	check := func(what string, pub, msg, sig []byte) {
		t.Helper()
		want := len(pub) == ed25519.PublicKeySize && ed25519.Verify(ed25519.PublicKey(pub), msg, sig)
		if got := verifySignature(pub, msg, sig); got != want {
			t.Fatalf("%s: verifySignature = %v, crypto/ed25519 says %v (pub %x sig %x)", what, got, want, pub, sig)
		}
	}
	accepted := 0
	for i := 0; i < 200; i++ {
		mac.Write([]byte{byte(i)})
		seed := mac.Sum(nil)
		priv := ed25519.NewKeyFromSeed(seed)
		pub := []byte(priv.Public().(ed25519.PublicKey))
		msg := seed[:i%32]
		sig := ed25519.Sign(priv, msg)
		check("genuine", pub, msg, sig)
		if verifySignature(pub, msg, sig) {
			accepted++
		}
		for _, bit := range []int{i % 512, (i * 7) % 512} {
			bad := bytes.Clone(sig)
			bad[bit/8] ^= 1 << (bit % 8)
			check("signature bit flipped", pub, msg, bad)
			badPub := bytes.Clone(pub)
			badPub[bit%256/8] ^= 1 << (bit % 8)
			check("key bit flipped", badPub, msg, sig)
		}
		check("other message", pub, append(bytes.Clone(msg), 1), sig)
		// S + L: the same scalar, not canonical.
		big := bytes.Clone(sig)
		carry := 0
		for j := 0; j < 32; j++ {
			v := int(big[32+j]) + int(order[j]) + carry
			big[32+j], carry = byte(v), v>>8
		}
		if carry == 0 {
			check("S+L", pub, msg, big)
		}
		check("short signature", pub, msg, sig[:63])
		check("short key", pub[:31], msg, sig)
	}
	// A y coordinate with no point on the curve: crypto/ed25519 rejects it.
	notPoint := bytes.Repeat([]byte{0xff}, 32)
	notPoint[31] = 0x7f
	check("not a point", notPoint, []byte("m"), make([]byte, 64))
	if accepted != 200 {
		t.Fatalf("%d of 200 genuine signatures verified", accepted)
	}
}
