package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
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
	PublicKey []byte
}

// wireClaims is the JWT payload as minted. Field order is the serialized key
// order, pinned by the golden vectors: aud is a single string and times are
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

// jwk is the RFC 7517 form of an Ed25519 public key (RFC 8037). Field order
// is fixed so that minted tokens are byte-for-byte reproducible.
type jwk struct {
	Crv string `json:"crv"`
	Kty string `json:"kty"`
	X   string `json:"x"`
}

// wireHeader is the JOSE header as minted; fields are in sorted key order.
type wireHeader struct {
	Alg string `json:"alg"`
	JWK jwk    `json:"jwk"`
	Typ string `json:"typ"`
}

const (
	algEdDSA = "EdDSA"
	typJWT   = "JWT"
)

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
	if id == nil || len(id.priv) != privateKeySize {
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
	pub := bytes.Clone(id.priv[seedSize:])
	iat := now.Unix()
	exp := iat + int64(ttl/time.Second)
	// The header is what golang-jwt produced from its header map: json.Marshal
	// of a map sorts the keys, hence alg, jwk, typ.
	hdr, err := json.Marshal(wireHeader{
		Alg: algEdDSA,
		JWK: jwk{Crv: "Ed25519", Kty: "OKP", X: base64.RawURLEncoding.EncodeToString(pub)},
		Typ: typJWT,
	})
	if err != nil {
		return "", fmt.Errorf("identity: encoding header: %w", err)
	}
	// json.Marshal, not a hand-written encoder, because its escaping (of <, >,
	// & and U+2028/9 in aud, say) is part of the byte-for-byte format.
	payload, err := json.Marshal(&wireClaims{
		Issuer:    iss,
		Subject:   UserIDFromPublicKey(pub),
		Audience:  aud,
		IssuedAt:  &iat,
		NotBefore: &iat,
		ExpiresAt: &exp,
		ID:        base64.RawURLEncoding.EncodeToString(jti),
	})
	if err != nil {
		return "", fmt.Errorf("identity: encoding claims: %w", err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	return input + "." + enc.EncodeToString(sign(id.priv, []byte(input))), nil
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

	// Everything up to and including the signature gives ErrTokenInvalid.
	// Format rules are checked before the signature so that a forged token is
	// reported for what is wrong with it, and only a genuine token can be
	// reported as expired or for another audience.
	input, h, c, sig, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	key, err := checkFormat(h, c, maxLife)
	if err != nil {
		return nil, err
	}
	if len(sig) != signatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrTokenInvalid, len(sig), signatureSize)
	}
	if !verifySignature(key, []byte(input), sig) {
		return nil, fmt.Errorf("%w: signature does not verify", ErrTokenInvalid)
	}
	if err := checkClaims(c, iss, aud, now, leeway); err != nil {
		return nil, err
	}
	return &Claims{
		UserID:    c.Subject,
		IssuedAt:  time.Unix(*c.IssuedAt, 0),
		ExpiresAt: time.Unix(*c.ExpiresAt, 0),
		PublicKey: key,
	}, nil
}

// checkClaims applies the time, audience and issuer rules to a verified token.
// All are evaluated and the error is chosen by priority, as golang-jwt's
// validator did: a token for the wrong app is wrong however fresh it is, and
// an expired token is reported as expired even if also not yet valid. Times
// are compared as time.Time, as before, so the extremes of int64 behave as
// they always have.
func checkClaims(c *wireClaims, iss, aud string, now time.Time, leeway time.Duration) error {
	var errs []string
	expired, early := false, false
	if exp := time.Unix(*c.ExpiresAt, 0); !now.Before(exp.Add(leeway)) {
		expired = true
		errs = append(errs, "token is expired")
	}
	if c.NotBefore != nil && now.Before(time.Unix(*c.NotBefore, 0).Add(-leeway)) {
		early = true
		errs = append(errs, "token is not valid yet")
	}
	if now.Before(time.Unix(*c.IssuedAt, 0).Add(-leeway)) {
		early = true
		errs = append(errs, "token used before issued")
	}
	wrongAud := c.Audience != aud
	if wrongAud {
		errs = append(errs, "token has invalid audience")
	}
	// Unreachable while verify checks the unverified iss first; kept so that
	// the signed claims are what decide.
	if c.Issuer != iss {
		errs = append(errs, "token has invalid issuer")
	}
	if len(errs) == 0 {
		return nil
	}
	target := ErrTokenInvalid
	switch {
	case wrongAud:
		target = ErrWrongAudience
	case expired:
		target = ErrTokenExpired
	case early:
		target = ErrTokenNotYetValid
	}
	return fmt.Errorf("%w: %s", target, strings.Join(errs, ", "))
}

// checkFormat enforces the rules of the format: the key comes from
// the header, sub must be derived from that key (otherwise anyone could sign
// with their own key and claim another user's id), and the lifetime is bounded.
func checkFormat(h map[string]any, c *wireClaims, maxLife time.Duration) ([]byte, error) {
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

func decodeKey(x string) ([]byte, error) {
	for i := 0; i < len(x); i++ {
		if !isBase64URL(x[i]) {
			return nil, errors.New("not unpadded base64url")
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(x)
	if err != nil {
		return nil, err
	}
	if len(b) != publicKeySize {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), publicKeySize)
	}
	return b, nil
}
