package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// Issuer is the iss of local-first session tokens.
	Issuer = "urn:jazz:local-first"
	// ProofIssuer is the iss of identity proofs. It differs from Issuer so a
	// proof can never be replayed as a session token, nor a token as a proof.
	ProofIssuer = "urn:jazz:local-first-proof"

	// MaxTokenLifetime bounds exp-iat of a token: anyone who sees a token can
	// replay it until it expires, and minting a fresh one is free.
	MaxTokenLifetime = time.Hour
	// MaxProofLifetime bounds exp-iat of a proof, which only has to survive
	// one round trip to an auth provider.
	MaxProofLifetime = 10 * time.Minute
	// MaxTokenSize is the longest token or proof, in bytes, that is parsed at
	// all; real ones are well under 1 KiB.
	MaxTokenSize = 8 << 10

	jtiSize = 16
)

// Claims is what a verified token says.
type Claims struct {
	UserID    string
	IssuedAt  time.Time
	ExpiresAt time.Time
	PublicKey ed25519.PublicKey
}

// wireClaims is the JWT payload. jwt.RegisteredClaims is not used because it
// encodes aud as an array (unless a package global is flipped) and times by
// way of another global; this type pins both: aud is a string and times are
// integer seconds.
type wireClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	IssuedAt  *int64 `json:"iat"`
	NotBefore *int64 `json:"nbf"`
	ExpiresAt *int64 `json:"exp"`
	ID        string `json:"jti"`
}

func numericDate(s *int64) *jwt.NumericDate {
	if s == nil {
		return nil
	}
	return &jwt.NumericDate{Time: time.Unix(*s, 0)}
}

func (c *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return numericDate(c.ExpiresAt), nil
}
func (c *wireClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return numericDate(c.IssuedAt), nil }
func (c *wireClaims) GetNotBefore() (*jwt.NumericDate, error) { return numericDate(c.NotBefore), nil }
func (c *wireClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c *wireClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c *wireClaims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

// jwk is the RFC 7517 form of an Ed25519 public key (RFC 8037). Field order
// is fixed so that minted tokens are byte-for-byte reproducible.
type jwk struct {
	Crv string `json:"crv"`
	Kty string `json:"kty"`
	X   string `json:"x"`
}

// MintToken returns a session token for appID, valid from now for ttl (at
// most MaxTokenLifetime, whole seconds).
func (id *Identity) MintToken(appID string, now time.Time, ttl time.Duration) (string, error) {
	return id.mint(Issuer, appID, now, ttl, MaxTokenLifetime)
}

// MintProof returns a proof of this identity addressed to audience (such as
// an auth provider's URL), valid from now for ttl (at most MaxProofLifetime).
// The provider checks it with VerifyProof and may then issue its own tokens
// with the same sub, so the user keeps their id after signing up.
func (id *Identity) MintProof(audience string, now time.Time, ttl time.Duration) (string, error) {
	return id.mint(ProofIssuer, audience, now, ttl, MaxProofLifetime)
}

func (id *Identity) mint(iss, aud string, now time.Time, ttl, maxTTL time.Duration) (string, error) {
	if id == nil || len(id.priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("%w: identity has no private key; make it with FromSecret", ErrBadMint)
	}
	if aud == "" {
		return "", fmt.Errorf("%w: empty audience", ErrBadMint)
	}
	if ttl < time.Second || ttl > maxTTL {
		return "", fmt.Errorf("%w: ttl %s outside [1s, %s]", ErrBadMint, ttl, maxTTL)
	}
	r := id.rand
	if r == nil {
		r = rand.Reader
	}
	jti := make([]byte, jtiSize)
	if _, err := io.ReadFull(r, jti); err != nil {
		return "", fmt.Errorf("identity: reading random jti: %w", err)
	}
	// The key and user id are taken from the private key, not the exported
	// fields, which a caller could have changed.
	pub := id.priv.Public().(ed25519.PublicKey)
	iat := now.Unix()
	exp := iat + int64(ttl/time.Second)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &wireClaims{
		Issuer:    iss,
		Subject:   UserIDFromPublicKey(pub),
		Audience:  aud,
		IssuedAt:  &iat,
		NotBefore: &iat,
		ExpiresAt: &exp,
		ID:        base64.RawURLEncoding.EncodeToString(jti),
	})
	tok.Header["jwk"] = jwk{Crv: "Ed25519", Kty: "OKP", X: base64.RawURLEncoding.EncodeToString(pub)}
	s, err := tok.SignedString(id.priv)
	if err != nil {
		return "", fmt.Errorf("identity: signing: %w", err)
	}
	return s, nil
}

// VerifyToken checks a session token for appID at time now, allowing leeway
// of clock skew on exp, nbf and iat. It needs no key store: the key is in the
// token, and the user id is bound to that key.
func VerifyToken(token, appID string, now time.Time, leeway time.Duration) (*Claims, error) {
	return verify(token, Issuer, appID, MaxTokenLifetime, now, leeway)
}

// VerifyProof checks a proof made by MintProof for audience and returns the
// user id it proves.
func VerifyProof(proof, audience string, now time.Time, leeway time.Duration) (userID string, err error) {
	c, err := verify(proof, ProofIssuer, audience, MaxProofLifetime, now, leeway)
	if err != nil {
		return "", err
	}
	return c.UserID, nil
}

// IsLocalFirstToken reports whether token claims to be a local-first session
// token, without verifying anything, so a server can pick a verifier cheaply.
func IsLocalFirstToken(token string) bool {
	iss, ok := peekIssuer(token)
	return ok && iss == Issuer
}

func peekIssuer(token string) (string, bool) {
	if len(token) > MaxTokenSize {
		return "", false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var p *struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &p) != nil || p == nil {
		return "", false
	}
	return p.Iss, true
}

func verify(token, iss, aud string, maxLife time.Duration, now time.Time, leeway time.Duration) (*Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrTokenInvalid, len(token), MaxTokenSize)
	}
	if aud == "" {
		return nil, fmt.Errorf("%w: no audience to check against", ErrWrongAudience)
	}
	if got, ok := peekIssuer(token); ok && got != iss {
		return nil, fmt.Errorf("%w: iss is %q, want %q", ErrNotLocalFirst, got, iss)
	}
	leeway = max(leeway, 0)

	c := new(wireClaims)
	var key ed25519.PublicKey
	// Format rules are checked in the key func, which runs once the payload
	// is decoded but before the signature and times, so that a forged token
	// is reported as invalid rather than, say, expired.
	var rule error
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(iss),
		jwt.WithAudience(aud),
	)
	_, err := p.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		key, rule = checkFormat(t.Header, c, maxLife)
		if rule != nil {
			return nil, rule
		}
		return key, nil
	})
	if rule != nil {
		return nil, rule
	}
	if err != nil {
		return nil, mapError(err)
	}
	return &Claims{
		UserID:    c.Subject,
		IssuedAt:  time.Unix(*c.IssuedAt, 0),
		ExpiresAt: time.Unix(*c.ExpiresAt, 0),
		PublicKey: key,
	}, nil
}

// checkFormat enforces what golang-jwt does not know about: the key comes from
// the header, sub must be derived from that key (otherwise anyone could sign
// with their own key and claim another user's id), and the lifetime is bounded.
func checkFormat(h map[string]any, c *wireClaims, maxLife time.Duration) (ed25519.PublicKey, error) {
	// Extensions listed in crit would change how the token must be read;
	// none are part of this format.
	if _, ok := h["crit"]; ok {
		return nil, fmt.Errorf("%w: crit header is not supported", ErrTokenInvalid)
	}
	k, ok := h["jwk"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: header has no jwk object", ErrTokenInvalid)
	}
	if kty, _ := k["kty"].(string); kty != "OKP" {
		return nil, fmt.Errorf("%w: jwk kty is not OKP", ErrTokenInvalid)
	}
	if crv, _ := k["crv"].(string); crv != "Ed25519" {
		return nil, fmt.Errorf("%w: jwk crv is not Ed25519", ErrTokenInvalid)
	}
	if _, ok := k["d"]; ok {
		return nil, fmt.Errorf("%w: jwk carries a private key", ErrTokenInvalid)
	}
	x, _ := k["x"].(string)
	pub, err := decodeKey(x)
	if err != nil {
		return nil, fmt.Errorf("%w: jwk x: %v", ErrTokenInvalid, err)
	}
	if c.Subject != UserIDFromPublicKey(pub) {
		return nil, fmt.Errorf("%w: sub %q is not the user id of the header key", ErrTokenInvalid, c.Subject)
	}
	if c.Audience == "" {
		return nil, fmt.Errorf("%w: missing aud", ErrTokenInvalid)
	}
	if c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: missing iat", ErrTokenInvalid)
	}
	if c.ExpiresAt == nil {
		return nil, fmt.Errorf("%w: missing exp", ErrTokenInvalid)
	}
	iat, exp := *c.IssuedAt, *c.ExpiresAt
	if exp <= iat {
		return nil, fmt.Errorf("%w: exp %d is not after iat %d", ErrTokenInvalid, exp, iat)
	}
	// exp > iat, so the unsigned difference is exact even where the signed
	// one would overflow.
	if life := uint64(exp) - uint64(iat); life > uint64(maxLife/time.Second) {
		return nil, fmt.Errorf("%w: lifetime %ds exceeds %s", ErrTokenInvalid, life, maxLife)
	}
	return pub, nil
}

func decodeKey(x string) (ed25519.PublicKey, error) {
	for i := 0; i < len(x); i++ {
		if !isBase64URL(x[i]) {
			return nil, errors.New("not unpadded base64url")
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(x)
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// mapError turns golang-jwt's errors into the catalogue. Audience is tested
// first because a token for the wrong app is wrong however fresh it is. The
// jwt error is kept as text only, so callers cannot come to depend on it.
func mapError(err error) error {
	var target error
	switch {
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		target = ErrWrongAudience
	case errors.Is(err, jwt.ErrTokenExpired):
		target = ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		target = ErrTokenNotYetValid
	default:
		target = ErrTokenInvalid
	}
	return fmt.Errorf("%w: %v", target, err)
}
