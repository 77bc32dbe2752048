package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

const testApp = "app-123"

var t0 = time.Unix(1_700_000_000, 0)

var catalogue = []error{ErrBadSecret, ErrBadMint, ErrTokenInvalid, ErrTokenExpired, ErrTokenNotYetValid, ErrWrongAudience, ErrNotLocalFirst}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// craft assembles a JWT by hand so tests can build tokens MintToken would
// never mint. sign returns the signature segment for the signing input.
func craft(t testing.TB, header, payload map[string]any, sign func(input string) string) string {
	t.Helper()
	in := b64JSON(t, header) + "." + b64JSON(t, payload)
	return in + "." + sign(in)
}

func edSign(id *Identity) func(string) string {
	return func(in string) string { return b64(ed25519.Sign(ed25519.PrivateKey(id.priv), []byte(in))) }
}

func headerFor(id *Identity) map[string]any {
	return map[string]any{
		"alg": "EdDSA",
		"typ": "JWT",
		"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(id.PublicKey)},
	}
}

func claimsFor(id *Identity, iss string) map[string]any {
	iat := t0.Unix()
	return map[string]any{
		"iss": iss, "sub": id.UserID, "aud": testApp,
		"iat": iat, "nbf": iat, "exp": iat + 600, "jti": "j",
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	m = maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

func mint(t testing.TB, id *Identity, ttl time.Duration) string {
	t.Helper()
	tok, err := id.MintToken(testApp, t0, ttl)
	if err != nil {
		t.Fatalf("MintToken: %v", err)
	}
	return tok
}

// checkErr fails unless err matches want and no other member of the
// catalogue, except the pairs that are documented to go together.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if !strings.HasPrefix(err.Error(), "identity: ") {
		t.Errorf("err %q lacks the package prefix", err)
	}
	for _, other := range catalogue {
		allowed := other == want || want == ErrNotLocalFirst && other == ErrTokenInvalid
		if !allowed && errors.Is(err, other) {
			t.Errorf("err %v also matches %v", err, other)
		}
	}
}

func TestVerifyToken_Accepts(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	tok := mint(t, a, 10*time.Minute)
	tests := []struct {
		name   string
		now    time.Time
		leeway time.Duration
	}{
		{"at iat", t0, 0},
		{"one second before exp", t0.Add(10*time.Minute - time.Second), 0},
		{"leeway covers exp", t0.Add(10*time.Minute + 29*time.Second), 30 * time.Second},
		{"leeway covers nbf", t0.Add(-29 * time.Second), 30 * time.Second},
		{"negative leeway is zero", t0.Add(time.Minute), -time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := VerifyToken(tok, testApp, tt.now, tt.leeway)
			if err != nil {
				t.Fatalf("VerifyToken: %v", err)
			}
			if c.UserID != a.UserID || !bytes.Equal(c.PublicKey, a.PublicKey) {
				t.Errorf("claims = %+v, want user %s", c, a.UserID)
			}
			if !c.IssuedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(10*time.Minute)) {
				t.Errorf("iat, exp = %v, %v", c.IssuedAt, c.ExpiresAt)
			}
		})
	}
}

func TestVerifyToken_ExpiredIsErrTokenExpired(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	tok := mint(t, a, 10*time.Minute)
	exp := t0.Add(10 * time.Minute)
	tests := []struct {
		name   string
		now    time.Time
		leeway time.Duration
	}{
		{"at exp", exp, 0},
		{"long after", exp.Add(24 * time.Hour), time.Minute},
		{"just beyond leeway", exp.Add(30 * time.Second), 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyToken(tok, testApp, tt.now, tt.leeway)
			checkErr(t, err, ErrTokenExpired)
		})
	}
}

func TestVerifyToken_NotYetValidIsErrTokenNotYetValid(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	tok := mint(t, a, 10*time.Minute)
	noNbf := craft(t, headerFor(a), with(claimsFor(a, Issuer), "nbf", nil), edSign(a))
	tests := []struct {
		name   string
		token  string
		now    time.Time
		leeway time.Duration
	}{
		{"before nbf", tok, t0.Add(-time.Second), 0},
		{"beyond leeway", tok, t0.Add(-31 * time.Second), 30 * time.Second},
		{"iat in the future without nbf", noNbf, t0.Add(-time.Minute), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyToken(tt.token, testApp, tt.now, tt.leeway)
			checkErr(t, err, ErrTokenNotYetValid)
		})
	}
}

func TestVerifyToken_WrongAudienceIsErrWrongAudience(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	tok := mint(t, a, 10*time.Minute)
	tests := []struct {
		name, app string
		now       time.Time
	}{
		{"other app", "app-456", t0},
		{"prefix of the app", "app-12", t0},
		{"no app to check against", "", t0},
		{"wrong app wins over expired", "app-456", t0.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyToken(tok, tt.app, tt.now, 0)
			checkErr(t, err, ErrWrongAudience)
		})
	}
}

func TestVerifyToken_ForgeryIsErrTokenInvalid(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	b := mustIdentity(t, secretOf(2))
	hdr, cl := headerFor(a), claimsFor(a, Issuer)
	valid := mint(t, a, 10*time.Minute)
	parts := strings.Split(valid, ".")
	resign := func(payload map[string]any) string {
		return parts[0] + "." + b64JSON(t, payload) + "." + parts[2]
	}
	var orig map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &orig); err != nil {
		t.Fatal(err)
	}
	hs256 := func(key []byte) func(string) string {
		return func(in string) string {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(in))
			return b64(m.Sum(nil))
		}
	}
	jwkWith := func(kv ...any) map[string]any {
		return with(hdr, "jwk", with(hdr["jwk"].(map[string]any), kv...))
	}

	// The control proves craft builds tokens VerifyToken accepts, so each
	// refusal below is down to its one change.
	if _, err := VerifyToken(craft(t, hdr, cl, edSign(a)), testApp, t0, 0); err != nil {
		t.Fatalf("crafted control token refused: %v", err)
	}

	tests := []struct {
		name, token, why string
	}{
		{"sub swapped to another user, original signature", resign(with(orig, "sub", b.UserID)), "sub"},
		{"exp extended, original signature", resign(with(orig, "exp", t0.Unix()+3000)), "signature"},
		{"other key in jwk and its sub, signed by first key", craft(t, headerFor(b), claimsFor(b, Issuer), edSign(a)), "signature"},
		{"sub of another user signed by own key", craft(t, hdr, with(cl, "sub", b.UserID), edSign(a)), "sub"},
		{"alg none", craft(t, with(hdr, "alg", "none"), cl, func(string) string { return "" }), "signing method"},
		{"alg none with a real signature", craft(t, with(hdr, "alg", "none"), cl, edSign(a)), "signing method"},
		{"HS256 keyed with public key bytes", craft(t, with(hdr, "alg", "HS256"), cl, hs256(a.PublicKey)), "signing method"},
		{"HS256 keyed with jwk x text", craft(t, with(hdr, "alg", "HS256"), cl, hs256([]byte(b64(a.PublicKey)))), "signing method"},
		{"ES256", craft(t, with(hdr, "alg", "ES256"), cl, edSign(a)), "signing method"},
		{"lifetime over MaxTokenLifetime", craft(t, hdr, with(cl, "exp", t0.Unix()+3601), edSign(a)), "lifetime"},
		{"missing exp", craft(t, hdr, with(cl, "exp", nil), edSign(a)), "exp"},
		{"missing iat", craft(t, hdr, with(cl, "iat", nil), edSign(a)), "iat"},
		{"missing sub", craft(t, hdr, with(cl, "sub", nil), edSign(a)), "sub"},
		{"missing aud", craft(t, hdr, with(cl, "aud", nil), edSign(a)), "aud"},
		{"aud as array", craft(t, hdr, with(cl, "aud", []string{testApp}), edSign(a)), "JSON"},
		{"exp equals iat", craft(t, hdr, with(cl, "exp", t0.Unix()), edSign(a)), "not after"},
		{"exp before iat", craft(t, hdr, with(cl, "exp", t0.Unix()-1), edSign(a)), "not after"},
		{"exp far future, iat far past", craft(t, hdr, with(cl, "iat", int64(-1<<62), "exp", int64(1<<62)), edSign(a)), "lifetime"},
		{"fractional exp", craft(t, hdr, with(cl, "exp", float64(t0.Unix())+1.5), edSign(a)), "JSON"},
		{"exp as string", craft(t, hdr, with(cl, "exp", "1700000600"), edSign(a)), "JSON"},
		{"no jwk", craft(t, with(hdr, "jwk", nil), cl, edSign(a)), "jwk"},
		{"jwk as string", craft(t, with(hdr, "jwk", b64(a.PublicKey)), cl, edSign(a)), "jwk"},
		{"jwk kty EC", craft(t, jwkWith("kty", "EC"), cl, edSign(a)), "kty"},
		{"jwk crv X25519", craft(t, jwkWith("crv", "X25519"), cl, edSign(a)), "crv"},
		{"jwk x short", craft(t, jwkWith("x", b64(a.PublicKey[:31])), cl, edSign(a)), "31 bytes"},
		{"jwk x padded", craft(t, jwkWith("x", b64(a.PublicKey)+"="), cl, edSign(a)), "x"},
		{"jwk x missing", craft(t, jwkWith("x", nil), cl, edSign(a)), "x"},
		{"jwk with private key", craft(t, jwkWith("d", b64(a.priv[:seedSize])), cl, edSign(a)), "private"},
		{"crit header", craft(t, with(hdr, "crit", []string{"b64"}, "b64", false), cl, edSign(a)), "crit"},
		{"signature truncated", valid[:len(valid)-4], "signature"},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(mint(t, b, time.Minute), ".")[2], "signature"},
		{"non-canonical signature encoding", valid[:len(valid)-1] + string(valid[len(valid)-1]+1), "signature"},
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

func TestVerifyToken_GarbageIsErrTokenInvalid(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	huge := craft(t, headerFor(a), with(claimsFor(a, Issuer), "jti", strings.Repeat("x", MaxTokenSize)), edSign(a))
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"word", "garbage"},
		{"dots", ".."},
		{"three segments of junk", "a.b.c"},
		{"four segments", mint(t, a, time.Minute) + ".x"},
		{"json not base64", `{"alg":"EdDSA"}.{}.`},
		{"header not an object", b64([]byte(`[]`)) + "." + b64([]byte(`{"iss":"urn:jazz:local-first"}`)) + ".sig"},
		{"payload null", b64JSON(t, headerFor(a)) + "." + b64([]byte("null")) + ".sig"},
		{"binary", string([]byte{0, 0xff, '.', 0x80, '.', 0})},
		{"oversized but well signed", huge},
		{"oversized junk", strings.Repeat("A", 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyToken(tt.token, testApp, t0, time.Minute)
			checkErr(t, err, ErrTokenInvalid)
		})
	}
}

func TestVerifyToken_SizeLimitIsInclusive(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	build := func(n int) string {
		return craft(t, headerFor(a), with(claimsFor(a, Issuer), "jti", strings.Repeat("x", n)), edSign(a))
	}
	n := MaxTokenSize * 3 / 4
	for len(build(n)) > MaxTokenSize {
		n--
	}
	if _, err := VerifyToken(build(n), testApp, t0, 0); err != nil {
		t.Fatalf("token of %d bytes refused: %v", len(build(n)), err)
	}
	for len(build(n)) <= MaxTokenSize {
		n++
	}
	_, err := VerifyToken(build(n), testApp, t0, 0)
	checkErr(t, err, ErrTokenInvalid)
	if !strings.Contains(err.Error(), "bytes") {
		t.Errorf("error %q does not mention the size", err)
	}
}

func TestVerifyToken_NotLocalFirstIsErrNotLocalFirst(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	proof, err := a.MintProof(testApp, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	external := craft(t, map[string]any{"alg": "RS256", "kid": "k1"},
		map[string]any{"iss": "https://auth.example.com", "sub": "u1", "aud": []string{testApp}}, func(string) string { return "c2ln" })
	tests := []struct{ name, token string }{
		{"proof used as a token", proof},
		{"external JWT", external},
		{"no iss", craft(t, headerFor(a), with(claimsFor(a, Issuer), "iss", nil), edSign(a))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyToken(tt.token, testApp, t0, 0)
			checkErr(t, err, ErrNotLocalFirst)
		})
	}
}

func TestVerifyProof(t *testing.T) {
	const provider = "https://auth.example.com"
	a := mustIdentity(t, secretOf(3))
	proof, err := a.MintProof(provider, t0, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	token, err := a.MintToken(provider, t0, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tooLong := craft(t, headerFor(a), with(claimsFor(a, ProofIssuer), "aud", provider, "exp", t0.Unix()+601), edSign(a))
	tests := []struct {
		name, proof, aud string
		now              time.Time
		want             error
	}{
		{"valid", proof, provider, t0.Add(time.Minute), nil},
		{"wrong audience", proof, "https://evil.example.com", t0, ErrWrongAudience},
		{"expired", proof, provider, t0.Add(5 * time.Minute), ErrTokenExpired},
		{"not yet valid", proof, provider, t0.Add(-time.Minute), ErrTokenNotYetValid},
		{"token used as a proof", token, provider, t0, ErrNotLocalFirst},
		{"lifetime over 10 minutes", tooLong, provider, t0, ErrTokenInvalid},
		{"garbage", "x.y.z", provider, t0, ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid, err := VerifyProof(tt.proof, tt.aud, tt.now, 0)
			if tt.want == nil {
				if err != nil || uid != a.UserID {
					t.Fatalf("VerifyProof = %q, %v; want %q", uid, err, a.UserID)
				}
				return
			}
			if uid != "" {
				t.Errorf("refused proof still returned user id %q", uid)
			}
			checkErr(t, err, tt.want)
		})
	}
}

func TestIsLocalFirstToken(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	proof, _ := a.MintProof(testApp, t0, time.Minute)
	tests := []struct {
		name, token string
		want        bool
	}{
		{"token", mint(t, a, time.Minute), true},
		{"expired token still looks local-first", craft(t, headerFor(a), with(claimsFor(a, Issuer), "exp", 1), edSign(a)), true},
		{"proof", proof, false},
		{"external", craft(t, map[string]any{"alg": "RS256"}, map[string]any{"iss": "https://x"}, func(string) string { return "" }), false},
		{"iss not a string", craft(t, headerFor(a), with(claimsFor(a, Issuer), "iss", 7), edSign(a)), false},
		{"empty", "", false},
		{"garbage", "a.b.c", false},
		{"two segments", "a.b", false},
		{"oversized", craft(t, headerFor(a), with(claimsFor(a, Issuer), "jti", strings.Repeat("x", MaxTokenSize)), edSign(a)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsLocalFirstToken(tt.token); got != tt.want {
				t.Errorf("IsLocalFirstToken = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMint_BadArgumentsAreErrBadMint(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	tests := []struct {
		name string
		mint func() (string, error)
	}{
		{"nil identity", func() (string, error) { return (*Identity)(nil).MintToken(testApp, t0, time.Minute) }},
		{"zero identity", func() (string, error) { return (&Identity{}).MintToken(testApp, t0, time.Minute) }},
		{"empty app", func() (string, error) { return a.MintToken("", t0, time.Minute) }},
		{"zero ttl", func() (string, error) { return a.MintToken(testApp, t0, 0) }},
		{"negative ttl", func() (string, error) { return a.MintToken(testApp, t0, -time.Minute) }},
		{"sub-second ttl", func() (string, error) { return a.MintToken(testApp, t0, 500*time.Millisecond) }},
		{"token ttl over max", func() (string, error) { return a.MintToken(testApp, t0, MaxTokenLifetime+time.Second) }},
		{"proof ttl over max", func() (string, error) { return a.MintProof(testApp, t0, MaxProofLifetime+time.Second) }},
		{"empty proof audience", func() (string, error) { return a.MintProof("", t0, time.Minute) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.mint()
			if tok != "" {
				t.Errorf("got token %q alongside error", tok)
			}
			checkErr(t, err, ErrBadMint)
		})
	}
}

func TestMintToken_MaxLifetimeVerifies(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	tok := mint(t, a, MaxTokenLifetime)
	if _, err := VerifyToken(tok, testApp, t0.Add(MaxTokenLifetime-time.Second), 0); err != nil {
		t.Fatalf("token of exactly MaxTokenLifetime refused: %v", err)
	}
	proof, err := a.MintProof(testApp, t0.Add(999*time.Millisecond), MaxProofLifetime)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyProof(proof, testApp, t0, 0); err != nil {
		t.Fatalf("proof of exactly MaxProofLifetime refused: %v", err)
	}
}

func TestMintToken_Layout(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	a.rand = bytes.NewReader(bytes.Repeat([]byte{0xee}, jtiSize))
	tok, err := a.MintToken(testApp, t0.Add(900*time.Millisecond), 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	wantHdr := `{"alg":"EdDSA","jwk":{"crv":"Ed25519","kty":"OKP","x":"` + b64(a.PublicKey) + `"},"typ":"JWT"}`
	wantPayload := `{"iss":"urn:jazz:local-first","sub":"` + a.UserID + `","aud":"app-123",` +
		`"iat":1700000000,"nbf":1700000000,"exp":1700000090,"jti":"7u7u7u7u7u7u7u7u7u7u7g"}`
	if string(hdr) != wantHdr {
		t.Errorf("header\n got %s\nwant %s", hdr, wantHdr)
	}
	if string(payload) != wantPayload {
		t.Errorf("payload\n got %s\nwant %s", payload, wantPayload)
	}
}

func TestMintToken_FreshJTI(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	x, y := mint(t, a, time.Minute), mint(t, a, time.Minute)
	if x == y {
		t.Fatal("two tokens minted at the same time are identical; jti is not random")
	}
}

func TestMintToken_IgnoresMutatedFields(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	b := mustIdentity(t, secretOf(2))
	want := a.UserID
	a.UserID, a.PublicKey = b.UserID, b.PublicKey
	c, err := VerifyToken(mint(t, a, time.Minute), testApp, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != want {
		t.Errorf("token is for %s, want the key's own user %s", c.UserID, want)
	}
}

func TestMintToken_RandomnessFailureIsReported(t *testing.T) {
	a := mustIdentity(t, secretOf(1))
	a.rand = bytes.NewReader(nil)
	if tok, err := a.MintToken(testApp, t0, time.Minute); err == nil {
		t.Fatalf("MintToken with no randomness = %q, want error", tok)
	}
}
