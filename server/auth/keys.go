package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// KeyError explains why a configured or fetched key cannot be used for
// verification. It is a configuration problem, not a caller's, so it is kept
// apart from *Error.
type KeyError struct {
	Reason string
}

func (e *KeyError) Error() string { return "auth: unusable key: " + e.Reason }

func keyErr(format string, a ...any) *KeyError { return &KeyError{Reason: fmt.Sprintf(format, a...)} }

// minRSABits refuses keys small enough to be factored; every mainstream
// identity provider signs with 2048 bits or more.
const minRSABits = 2048

// Algorithms per key type. The accepted algorithm is always derived from the
// key, never from the token header: that is what defeats "alg: none" and the
// RSA-public-key-as-HMAC-secret confusion.
var (
	rsaAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	p256Alg = []string{"ES256"}
	p384Alg = []string{"ES384"}
	p521Alg = []string{"ES512"}
	edAlg   = []string{"EdDSA"}
)

// verifyKey is one public key ready to check signatures.
type verifyKey struct {
	kid  string
	pub  crypto.PublicKey
	algs []string
	// parser is built per key so jwt.WithValidMethods can pin exactly this
	// key's algorithms; the library then rejects any other alg before the
	// signature is even looked at.
	parser *jwt.Parser
	// issuer and audiences are what parser expects, kept to say which
	// required claim a refused token lacks.
	issuer    string
	audiences []string
}

// allows reports whether the key accepts tokens signed with alg.
func (k *verifyKey) allows(alg string) bool { return slices.Contains(k.algs, alg) }

// jwk is the subset of RFC 7517/7518 members we read. Private members are
// declared only so their presence can be detected and refused.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
	D   string `json:"d"`
	P   string `json:"p"`
	Q   string `json:"q"`
}

// parseJWK turns one JSON Web Key into a verification key.
func parseJWK(raw []byte) (*verifyKey, error) {
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, keyErr("JWK is not a JSON object")
	}
	if k.Kty == "oct" {
		return nil, keyErr("symmetric (kty \"oct\") keys are refused: a shared HMAC secret would let anyone holding it mint tokens")
	}
	if k.D != "" || k.P != "" || k.Q != "" {
		return nil, keyErr("JWK contains private key material; configure the public key only")
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, keyErr("JWK use is %q, not \"sig\"", k.Use)
	}
	var (
		pub  crypto.PublicKey
		algs []string
		err  error
	)
	switch k.Kty {
	case "RSA":
		pub, err = rsaFromJWK(k.N, k.E)
		algs = rsaAlgs
	case "EC":
		pub, algs, err = ecFromJWK(k.Crv, k.X, k.Y)
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, keyErr("OKP curve %q is not supported (only Ed25519)", k.Crv)
		}
		var x []byte
		x, err = b64url(k.X)
		if err == nil && len(x) != ed25519.PublicKeySize {
			err = keyErr("Ed25519 x must be %d bytes", ed25519.PublicKeySize)
		}
		pub, algs = ed25519.PublicKey(x), edAlg
	case "":
		return nil, keyErr("JWK has no kty")
	default:
		return nil, keyErr("key type %q is not supported", k.Kty)
	}
	if err != nil {
		return nil, err
	}
	if k.Alg != "" {
		if !slices.Contains(algs, k.Alg) {
			return nil, keyErr("JWK alg %q does not fit a %s key", k.Alg, k.Kty)
		}
		algs = []string{k.Alg}
	}
	return &verifyKey{kid: k.Kid, pub: pub, algs: algs}, nil
}

// b64url decodes an unpadded base64url JWK member (padding tolerated).
func b64url(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, keyErr("JWK member is not base64url")
	}
	return b, nil
}

func rsaFromJWK(n, e string) (*rsa.PublicKey, error) {
	nb, err := b64url(n)
	if err != nil {
		return nil, err
	}
	eb, err := b64url(e)
	if err != nil {
		return nil, err
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, keyErr("RSA exponent out of range")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}
	return pub, checkRSA(pub)
}

func checkRSA(pub *rsa.PublicKey) error {
	if pub.N.BitLen() < minRSABits {
		return keyErr("RSA key has %d bits, at least %d required", pub.N.BitLen(), minRSABits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return keyErr("RSA exponent must be odd and at least 3")
	}
	return nil
}

func ecFromJWK(crv, x, y string) (*ecdsa.PublicKey, []string, error) {
	var (
		curve elliptic.Curve
		algs  []string
	)
	switch crv {
	case "P-256":
		curve, algs = elliptic.P256(), p256Alg
	case "P-384":
		curve, algs = elliptic.P384(), p384Alg
	case "P-521":
		curve, algs = elliptic.P521(), p521Alg
	default:
		return nil, nil, keyErr("EC curve %q is not supported", crv)
	}
	xb, err := b64url(x)
	if err != nil {
		return nil, nil, err
	}
	yb, err := b64url(y)
	if err != nil {
		return nil, nil, err
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(xb) != size || len(yb) != size {
		return nil, nil, keyErr("EC coordinates must be %d bytes for %s", size, crv)
	}
	// ParseUncompressedPublicKey also checks the point is on the curve, which
	// guards against invalid-curve attacks from a hostile JWKS.
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, slices.Concat([]byte{4}, xb, yb))
	if err != nil {
		return nil, nil, keyErr("EC point is not on curve %s", crv)
	}
	return pub, algs, nil
}

// keyFromPublic wraps a parsed public key (from PEM) with its algorithms.
func keyFromPublic(pub any) (*verifyKey, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if err := checkRSA(p); err != nil {
			return nil, err
		}
		return &verifyKey{pub: p, algs: rsaAlgs}, nil
	case *ecdsa.PublicKey:
		var algs []string
		switch p.Curve {
		case elliptic.P256():
			algs = p256Alg
		case elliptic.P384():
			algs = p384Alg
		case elliptic.P521():
			algs = p521Alg
		default:
			return nil, keyErr("EC curve is not supported")
		}
		return &verifyKey{pub: p, algs: algs}, nil
	case ed25519.PublicKey:
		return &verifyKey{pub: p, algs: edAlg}, nil
	default:
		return nil, keyErr("public key type %T is not supported", pub)
	}
}

// parsePEM reads the first public key or certificate in text. Any private key
// block is refused outright, even after a public one: a file mixing the two is
// a secret that should not be sitting in server configuration.
func parsePEM(text []byte) (*verifyKey, error) {
	var found *pem.Block
	for rest := text; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if strings.Contains(b.Type, "PRIVATE KEY") {
			return nil, keyErr("PEM contains a private key (%s); configure the public key only", b.Type)
		}
		if found == nil {
			found = b
		}
	}
	if found == nil {
		return nil, keyErr("no PEM block found")
	}
	switch found.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(found.Bytes)
		if err != nil {
			return nil, keyErr("PUBLIC KEY block does not parse: %v", err)
		}
		return keyFromPublic(pub)
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(found.Bytes)
		if err != nil {
			return nil, keyErr("RSA PUBLIC KEY block does not parse: %v", err)
		}
		return keyFromPublic(pub)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(found.Bytes)
		if err != nil {
			return nil, keyErr("CERTIFICATE block does not parse: %v", err)
		}
		return keyFromPublic(cert.PublicKey)
	default:
		return nil, keyErr("PEM block type %q is not a public key or certificate", found.Type)
	}
}

// parseKeyText accepts a JWK object or PEM text.
func parseKeyText(text string) (*verifyKey, error) {
	t := bytes.TrimSpace([]byte(text))
	if len(t) == 0 {
		return nil, keyErr("empty key")
	}
	if t[0] == '{' {
		return parseJWK(t)
	}
	if bytes.HasPrefix(t, []byte("-----BEGIN")) {
		return parsePEM(t)
	}
	return nil, keyErr("key is neither a JWK (JSON object) nor PEM")
}

// parseJWKSet decodes a JWKS document. Keys that cannot be used (encryption
// keys, unsupported types, private or symmetric material) are skipped so one
// exotic entry does not disable the provider's whole set; a set with no usable
// key at all is an error.
func parseJWKSet(body []byte) ([]*verifyKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, keyErr("JWKS is not a JSON object with a keys array")
	}
	var keys []*verifyKey
	for _, raw := range doc.Keys {
		if k, err := parseJWK(raw); err == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, keyErr("JWKS has no usable signing keys")
	}
	return keys, nil
}
