// Package identity implements local-first auth: a device keeps one random
// secret, and everything else (an Ed25519 key pair, a stable user id, short
// lived self-signed tokens) is derived from it. A server can check such a token
// with no prior registration and no shared secret, because the token carries
// its own public key and the user id is a hash of that key: whoever can sign
// for the key is, by construction, that user.
//
// The derivation and the token layout are a wire and storage format. Changing
// any constant here changes every user's id, so the golden vectors in testdata
// pin them, and docs/auth.md ("Local-first identity format") specifies them.
//
// The package is pure Go with no I/O of its own so that it builds for
// GOOS=js GOARCH=wasm; callers pass in time and randomness.
package identity

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/edwards25519"

	"github.com/jazzgo/jazz-tools/core/id"
)

// The error catalogue. Returned errors wrap exactly one of these with a message
// saying what was wrong; compare with errors.Is.
var (
	// ErrBadSecret: the secret is not 32 bytes of base64url.
	ErrBadSecret = errors.New("identity: bad secret")
	// ErrBadMint: MintToken or MintProof was called with a ttl outside
	// (0, max], an empty audience, or an Identity not made by FromSecret.
	ErrBadMint = errors.New("identity: cannot mint")
	// ErrTokenInvalid: the token is malformed, badly signed, or breaks a rule
	// of the format. Retrying with the same token will never work.
	ErrTokenInvalid = errors.New("identity: invalid token")
	// ErrTokenExpired: the token was valid but exp (plus leeway) has passed;
	// the client should mint a fresh one.
	ErrTokenExpired = errors.New("identity: token expired")
	// ErrTokenNotYetValid: nbf or iat is in the future beyond the leeway,
	// usually a client clock running fast.
	ErrTokenNotYetValid = errors.New("identity: token not yet valid")
	// ErrWrongAudience: the token is genuine but was minted for another app
	// (or, for proofs, another auth provider).
	ErrWrongAudience = errors.New("identity: wrong audience")
	// ErrNotLocalFirst: the token's unverified iss is not the one expected, so
	// it is not ours to judge; a server may hand it to another verifier. It
	// also matches ErrTokenInvalid, so code that only checks that still
	// refuses the token.
	ErrNotLocalFirst error = &subError{"identity: not a local-first token", ErrTokenInvalid}
)

// subError is a sentinel that is also a case of a broader one.
type subError struct {
	msg    string
	parent error
}

func (e *subError) Error() string { return e.msg }
func (e *subError) Unwrap() error { return e.parent }

const (
	// SecretSize is the length in bytes of a device secret.
	SecretSize = 32

	seedInfo     = "jazz-tools/local-first/v1/ed25519"
	userIDDomain = "jazz-tools/local-first/v1/user-id"

	// Ed25519 sizes (RFC 8032). A private key is the seed followed by the
	// public key, as crypto/ed25519 lays it out.
	seedSize       = 32
	publicKeySize  = 32
	privateKeySize = 64
	signatureSize  = 64
)

// Identity is a device's local-first identity. It is safe for concurrent use.
type Identity struct {
	UserID    string
	PublicKey []byte

	priv []byte
	// rand supplies jti bytes; nil means crypto/rand. Tests set it to get
	// reproducible tokens.
	rand io.Reader
}

// NewSecret returns a new device secret: 32 bytes read from r, encoded as
// base64url without padding. Pass crypto/rand.Reader outside tests.
func NewSecret(r io.Reader) (string, error) {
	b := make([]byte, SecretSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("identity: reading random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// FromSecret derives the identity for a secret made by NewSecret. Padding is
// accepted because some base64url encoders add it; the standard alphabet is
// not, so that one secret has exactly one accepted spelling (modulo padding).
func FromSecret(secret string) (*Identity, error) {
	raw, err := decodeSecret(secret)
	if err != nil {
		return nil, err
	}
	seed, err := hkdf.Key(sha256.New, raw, nil, seedInfo, seedSize)
	if err != nil {
		return nil, fmt.Errorf("%w: deriving key: %v", ErrBadSecret, err)
	}
	pub := publicKey(seed)
	// An ed25519.PrivateKey is the seed followed by its public key (RFC 8032
	// 5.1.5); this is the key ed25519.NewKeyFromSeed(seed) returns.
	priv := make([]byte, 0, privateKeySize)
	priv = append(append(priv, seed...), pub...)
	return &Identity{UserID: UserIDFromPublicKey(pub), PublicKey: pub, priv: priv}, nil
}

// publicKey returns the Ed25519 public key of seed, the same as
// ed25519.NewKeyFromSeed(seed).Public(): A = [s]B, where s is the clamped
// first half of SHA-512(seed) and B the base point (RFC 8032 5.1.5).
//
// It multiplies B as an arbitrary point, with filippo.io/edwards25519's
// constant-time ScalarMult, rather than through crypto/ed25519, whose first
// use builds a 30 KB table of multiples of B: some 20 ms in a browser, on
// the path of every local-first createDb (the user id names the database).
// sign does the same for signatures. TestPublicKey_MatchesCryptoEd25519 and
// TestSign_MatchesCryptoEd25519 check both agree with crypto/ed25519.
func publicKey(seed []byte) []byte {
	s, _ := expandSeed(seed)
	return baseMult(s).Bytes()
}

// expandSeed is RFC 8032 5.1.5: the clamped secret scalar s and the prefix
// that makes signatures deterministic.
func expandSeed(seed []byte) (*edwards25519.Scalar, []byte) {
	h := sha512.Sum512(seed)
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		panic("identity: clamping a 32-byte scalar failed: " + err.Error()) // only on a wrong length
	}
	return s, h[32:]
}

// baseMult is [s]B, through the generic constant-time ScalarMult (see
// publicKey for why not the base point table).
func baseMult(s *edwards25519.Scalar) *edwards25519.Point {
	return new(edwards25519.Point).ScalarMult(s, edwards25519.NewGeneratorPoint())
}

// sign is ed25519.Sign(priv, msg) (RFC 8032 5.1.6), byte for byte, without
// building crypto/ed25519's table on the first token minted, some 20 ms
// of the page's start when the server answers fast.
func sign(priv []byte, msg []byte) []byte {
	s, prefix := expandSeed(priv[:seedSize])
	h := sha512.New()
	h.Write(prefix)
	h.Write(msg)
	r, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		panic("identity: a 64-byte hash is not uniform: " + err.Error()) // only on a wrong length
	}
	R := baseMult(r).Bytes()
	h.Reset()
	h.Write(R)
	h.Write(priv[seedSize:])
	h.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		panic("identity: a 64-byte hash is not uniform: " + err.Error())
	}
	S := edwards25519.NewScalar().MultiplyAdd(k, s, r)
	return append(R, S.Bytes()...)
}

// verifySignature is ed25519.Verify(pub, msg, sig) (RFC 8032 5.1.7, the
// check crypto/ed25519 makes, step for step): S must be canonical, A a
// point, and [S]B - [k]A must encode to R. It is written here with the curve
// package sign already uses so that a client, which only signs, links one
// Ed25519 implementation, not two (crypto/ed25519 also registers a
// self-test that keeps its signing code in every binary that imports it).
// TestVerifySignature_MatchesCryptoEd25519 holds the two to the same
// answers, tampered and malformed inputs included.
func verifySignature(pub, msg, sig []byte) bool {
	if len(pub) != publicKeySize || len(sig) != signatureSize {
		return false
	}
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		return false
	}
	S, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	minusA := new(edwards25519.Point).Negate(A)
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, S)
	return subtle.ConstantTimeCompare(sig[:32], R.Bytes()) == 1
}

func decodeSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadSecret)
	}
	// 32 bytes is 43 characters, 44 padded; anything far longer is not worth
	// decoding to find out.
	if len(s) > 64 {
		return nil, fmt.Errorf("%w: %d characters, want 43 (or 44 padded)", ErrBadSecret, len(s))
	}
	// Checked by hand because the base64 decoder silently skips '\r' and '\n'.
	// The offending character itself is not echoed: it is part of a secret.
	for i := 0; i < len(s); i++ {
		if !isBase64URL(s[i]) && s[i] != '=' {
			return nil, fmt.Errorf("%w: character at offset %d is not base64url", ErrBadSecret, i)
		}
	}
	enc := base64.RawURLEncoding
	if strings.HasSuffix(s, "=") {
		enc = base64.URLEncoding
	}
	// Strict rejects non-zero trailing bits, keeping the spelling unique.
	raw, err := enc.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not canonical base64url: %v", ErrBadSecret, err)
	}
	if len(raw) != SecretSize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrBadSecret, len(raw), SecretSize)
	}
	return raw, nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// UserIDFromPublicKey returns the user id bound to an Ed25519 public key: a
// UUIDv8 made from SHA-256(userIDDomain || pub). The UUID shape lets the id sit
// in the same columns as other user ids; the hash makes it unforgeable.
func UserIDFromPublicKey(pub []byte) string {
	h := sha256.New()
	h.Write([]byte(userIDDomain))
	h.Write(pub)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant 10xx
	return id.Format(u)
}

// String keeps the private key out of logs: fmt would otherwise print
// unexported fields for %v and %+v.
func (id Identity) String() string { return "identity(" + id.UserID + ")" }

// GoString does the same for %#v.
func (id Identity) GoString() string { return fmt.Sprintf("identity.Identity{UserID: %q}", id.UserID) }
