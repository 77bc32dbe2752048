package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jazzgo/jazz-tools/core/limits"
)

// This file is the compact JWS (RFC 7515) reader for the one format this
// package mints. It replaces golang-jwt, which linked RSA, ECDSA and x509 into
// the browser build for algorithms the format refuses anyway. It is
// deliberately narrow: one algorithm, one key source (the jwk header), one
// claims layout, and stricter than a general library wherever the input could
// be read two ways.

// parseToken splits a compact JWS and decodes its three segments. It returns
// the signing input (the first two segments exactly as received), the header,
// the claims and the raw signature. Every error wraps ErrTokenInvalid. The
// signature is not checked here; the caller needs the key from the header for
// that.
func parseToken(token string) (input string, h map[string]any, c *wireClaims, sig []byte, err error) {
	hdrSeg, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", nil, nil, nil, fmt.Errorf("%w: token contains an invalid number of segments", ErrTokenInvalid)
	}
	paySeg, sigSeg, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sigSeg, ".") {
		return "", nil, nil, nil, fmt.Errorf("%w: token contains an invalid number of segments", ErrTokenInvalid)
	}

	hdrJSON, err := decodeSegment(hdrSeg)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("%w: header: %v", ErrTokenInvalid, err)
	}
	if h, err = parseHeader(hdrJSON); err != nil {
		return "", nil, nil, nil, fmt.Errorf("%w: malformed header JSON: %v", ErrTokenInvalid, err)
	}
	payJSON, err := decodeSegment(paySeg)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("%w: payload: %v", ErrTokenInvalid, err)
	}
	if c, err = parseClaims(payJSON); err != nil {
		return "", nil, nil, nil, fmt.Errorf("%w: malformed payload JSON: %v", ErrTokenInvalid, err)
	}

	// alg must be exactly EdDSA. Comparing the string, rather than looking it
	// up in a registry of methods, is what rules out none, HS256 keyed with
	// the public key, and every algorithm confusion in between.
	switch alg, present := h["alg"]; {
	case !present:
		return "", nil, nil, nil, fmt.Errorf("%w: signing method (alg) is missing", ErrTokenInvalid)
	case alg != algEdDSA:
		return "", nil, nil, nil, fmt.Errorf("%w: signing method %s is not %s", ErrTokenInvalid, describe(alg), algEdDSA)
	}
	if typ, present := h["typ"]; present && typ != typJWT {
		return "", nil, nil, nil, fmt.Errorf("%w: typ %s is not %q", ErrTokenInvalid, describe(typ), typJWT)
	}

	if sig, err = decodeSegment(sigSeg); err != nil {
		return "", nil, nil, nil, fmt.Errorf("%w: signature: %v", ErrTokenInvalid, err)
	}
	return token[:len(hdrSeg)+1+len(paySeg)], h, c, sig, nil
}

// describe renders an untrusted header value for an error message without
// echoing an unbounded amount of it.
func describe(v any) string {
	s, ok := v.(string)
	if !ok {
		return fmt.Sprintf("of type %T", v)
	}
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// decodeSegment decodes one segment as unpadded base64url, refusing any other
// spelling: padding, the standard alphabet, whitespace (which the base64
// package would otherwise skip), and non-zero trailing bits. Each segment
// therefore has exactly one accepted spelling, so a valid token cannot be
// altered into another string that also verifies.
func decodeSegment(seg string) ([]byte, error) {
	for i := 0; i < len(seg); i++ {
		if !isBase64URL(seg[i]) {
			return nil, fmt.Errorf("character at offset %d is not unpadded base64url", i)
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("not canonical base64url: %v", err)
	}
	return b, nil
}

// parseHeader decodes the JOSE header: a JSON object with no duplicate member
// names at any depth. Values are decoded as golang-jwt decoded them (into
// map[string]any) so that unknown members are accepted or refused exactly as
// before.
func parseHeader(b []byte) (map[string]any, error) {
	if err := checkObject(b); err != nil {
		return nil, err
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	return h, nil
}

// claimNames are the payload members the format reads.
var claimNames = [...]string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti"}

// parseClaims decodes the payload: a JSON object with no duplicate member
// names at any depth. Known claims must have their JSON type (strings, or
// integers for the times; null counts as absent); unknown members are
// ignored.
//
// encoding/json matches struct fields case-insensitively, so golang-jwt read
// "EXP" (or "ſub", with a long s) as a registered claim, and with both "exp"
// and "EXP" present took the last. Names are matched exactly here, and a name
// that differs from a claim name only by case is refused rather than silently
// ignored, so that no reader can take a different value from the one checked.
func parseClaims(b []byte) (*wireClaims, error) {
	if err := checkObject(b); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, err
	}
	for name := range members {
		for _, want := range claimNames {
			if name != want && strings.EqualFold(name, want) {
				return nil, fmt.Errorf("member %q is a case variant of claim %q", name, want)
			}
		}
	}
	c := new(wireClaims)
	targets := [...]any{&c.Issuer, &c.Subject, &c.Audience, &c.IssuedAt, &c.NotBefore, &c.ExpiresAt, &c.ID}
	for i, name := range claimNames {
		raw, ok := members[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, targets[i]); err != nil {
			return nil, fmt.Errorf("claim %s: %v", name, err)
		}
	}
	return c, nil
}

// checkObject reports whether b is exactly one JSON object, with nothing but
// whitespace after it, that limits.CheckJSON accepts: above all, no object
// (at any depth) has two members of the same name. RFC 8259 leaves
// duplicates to the reader and readers differ (first wins, last wins,
// error), so a token with them could mean one thing here and another to a
// different verifier; it is refused outright.
func checkObject(b []byte) error {
	if !json.Valid(b) {
		return errors.New("not valid JSON")
	}
	if trimmed := bytes.TrimLeft(b, " \t\r\n"); trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	return limits.CheckJSON(b, limits.MaxValueDepth)
}
