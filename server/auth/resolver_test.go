package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/session"
)

const testAppID = "app-test"

// localFirstIdentity is a deterministic device identity.
func localFirstIdentity(t testing.TB, seed byte) *identity.Identity {
	t.Helper()
	secret, err := identity.NewSecret(bytes.NewReader(bytes.Repeat([]byte{seed}, identity.SecretSize)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.FromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mintLocalFirst(t testing.TB, id *identity.Identity, app string, now time.Time, ttl time.Duration) string {
	t.Helper()
	tok, err := id.MintToken(app, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func sessionHeader(t testing.TB, json string) string {
	return base64.StdEncoding.EncodeToString([]byte(json))
}

// testResolver accepts every kind of credential: external tokens signed by
// p256Key, local-first tokens for testAppID, and backend secret "backend-s3cret".
func testResolver(t testing.TB) (*Resolver, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	ext, err := NewStaticKey(pemPublic(&p256Key().PublicKey), Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return &Resolver{AppID: testAppID, BackendSecret: "backend-s3cret", External: ext, AllowLocalFirst: true, Clock: clk}, clk
}

var anonID = regexp.MustCompile(`^anonymous:[0-9a-f]{32}$`)

func TestResolve_RuleOrder(t *testing.T) {
	r, clk := testResolver(t)
	ext := sign(t, jwt.SigningMethodES256, p256Key(), "", claimsAt(clk.Now(), "ext-user"))
	lfID := localFirstIdentity(t, 1)
	lf := mintLocalFirst(t, lfID, testAppID, clk.Now(), time.Hour)
	backendSession := sessionHeader(t, `{"user_id":"acted-as","authMode":"local-first","claims":{"role":"admin"}}`)

	tests := []struct {
		name     string
		c        Credentials
		wantUser string
		wantMode session.AuthMode
	}{
		{"backend impersonation", Credentials{BackendSecret: "backend-s3cret", Session: backendSession}, "acted-as", session.LocalFirst},
		{"backend beats external bearer", Credentials{BackendSecret: "backend-s3cret", Session: backendSession, Bearer: ext, BearerGiven: true}, "acted-as", session.LocalFirst},
		{"backend beats local-first bearer", Credentials{BackendSecret: "backend-s3cret", Session: backendSession, Bearer: lf, BearerGiven: true}, "acted-as", session.LocalFirst},
		{"external bearer", Credentials{Bearer: ext, BearerGiven: true}, "ext-user", session.External},
		{"local-first bearer", Credentials{Bearer: lf, BearerGiven: true}, lfID.UserID, session.LocalFirst},
		{"nothing", Credentials{}, "", session.Anonymous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := r.Resolve(context.Background(), tt.c)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if s.AuthMode != tt.wantMode {
				t.Errorf("authMode = %q, want %q", s.AuthMode, tt.wantMode)
			}
			if tt.wantUser != "" && s.UserID != tt.wantUser {
				t.Errorf("user = %q, want %q", s.UserID, tt.wantUser)
			}
			if tt.wantMode == session.Anonymous && !anonID.MatchString(s.UserID) {
				t.Errorf("anonymous user id %q has the wrong shape", s.UserID)
			}
			if s.Claims == nil {
				t.Error("claims is nil, want a map")
			}
		})
	}
}

func TestResolve_FailureCodes(t *testing.T) {
	r, clk := testResolver(t)
	now := clk.Now()
	lfID := localFirstIdentity(t, 2)
	expiredExt := sign(t, jwt.SigningMethodES256, p256Key(), "", jwt.MapClaims{"sub": "u", "exp": now.Add(-time.Hour).Unix()})
	expiredLF := mintLocalFirst(t, lfID, testAppID, now.Add(-2*time.Hour), time.Hour)
	futureLF := mintLocalFirst(t, lfID, testAppID, now.Add(time.Hour), time.Hour)
	otherAppLF := mintLocalFirst(t, lfID, "another-app", now, time.Hour)
	goodLF := mintLocalFirst(t, lfID, testAppID, now, time.Hour)
	goodExt := sign(t, jwt.SigningMethodES256, p256Key(), "", claimsAt(now, "u"))
	goodSession := sessionHeader(t, `{"user_id":"u"}`)

	noBackend := *r
	noBackend.BackendSecret = ""
	noExternal := *r
	noExternal.External = nil
	noLocalFirst := *r
	noLocalFirst.AllowLocalFirst = false

	tests := []struct {
		name string
		r    *Resolver
		c    Credentials
		code Code
	}{
		{"backend disabled", &noBackend, Credentials{BackendSecret: "backend-s3cret", Session: goodSession}, CodeDisabled},
		{"wrong backend secret", r, Credentials{BackendSecret: "backend-s3creT", Session: goodSession}, CodeInvalid},
		{"backend secret prefix", r, Credentials{BackendSecret: "backend-s3", Session: goodSession}, CodeInvalid},
		{"backend secret longer", r, Credentials{BackendSecret: "backend-s3cret-and-more", Session: goodSession}, CodeInvalid},
		{"wrong backend secret beats a good bearer", r, Credentials{BackendSecret: "nope", Session: goodSession, Bearer: goodExt}, CodeInvalid},
		{"backend without session", r, Credentials{BackendSecret: "backend-s3cret"}, CodeMissing},
		{"backend with bad session", r, Credentials{BackendSecret: "backend-s3cret", Session: "!!"}, CodeInvalid},
		{"session without backend secret", r, Credentials{Session: goodSession}, CodeMissing},
		{"empty bearer", r, Credentials{BearerGiven: true}, CodeMissing},
		{"external disabled", &noExternal, Credentials{Bearer: goodExt}, CodeDisabled},
		{"external garbage disabled", &noExternal, Credentials{Bearer: "garbage"}, CodeDisabled},
		{"external expired", r, Credentials{Bearer: expiredExt}, CodeExpired},
		{"external garbage", r, Credentials{Bearer: "garbage"}, CodeInvalid},
		{"local-first disabled", &noLocalFirst, Credentials{Bearer: goodLF}, CodeDisabled},
		{"local-first expired", r, Credentials{Bearer: expiredLF}, CodeExpired},
		{"local-first not yet valid", r, Credentials{Bearer: futureLF}, CodeInvalid},
		{"local-first wrong app", r, Credentials{Bearer: otherAppLF}, CodeInvalid},
		{"local-first tampered", r, Credentials{Bearer: goodLF[:len(goodLF)-3] + "AAA"}, CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, deadline, err := tt.r.ResolveWithExpiry(context.Background(), tt.c)
			if s != nil || !deadline.IsZero() {
				t.Fatalf("got session %+v deadline %v, want none", s, deadline)
			}
			e := wantCode(t, err, tt.code)
			for _, secret := range []string{tt.c.Bearer, tt.c.BackendSecret, r.BackendSecret} {
				if secret != "" && strings.Contains(e.Message, secret) {
					t.Errorf("message %q leaks a credential", e.Message)
				}
			}
		})
	}
}

func TestResolve_ReservedSubjectsAreInvalid(t *testing.T) {
	r, clk := testResolver(t)
	ext := func(sub string) Credentials {
		return Credentials{Bearer: sign(t, jwt.SigningMethodES256, p256Key(), "", claimsAt(clk.Now(), sub)), BearerGiven: true}
	}
	impersonate := func(json string) Credentials {
		return Credentials{BackendSecret: "backend-s3cret", Session: sessionHeader(t, json)}
	}
	tests := []struct {
		name    string
		c       Credentials
		wantMsg string // "" = accepted
	}{
		{"external sub jazz:system", ext(session.SystemUser), "sub claim"},
		{"external sub in the system namespace", ext("jazz:backup"), "sub claim"},
		{"external sub in another case", ext("JAZZ:System"), "sub claim"},
		{"external sub anonymous:", ext("anonymous:0123456789abcdef0123456789abcdef"), "sub claim"},
		{"external sub that merely contains jazz:", ext("user-jazz:1"), ""},
		{"impersonating jazz:system", impersonate(`{"user_id":"jazz:system"}`), "user_id"},
		{"impersonating jazz:system as anonymous", impersonate(`{"user_id":"jazz:system","authMode":"anonymous"}`), "user_id"},
		{"impersonating an anonymous id as external", impersonate(`{"user_id":"anonymous:ab"}`), "user_id"},
		{"impersonating an anonymous id as local-first", impersonate(`{"user_id":"anonymous:ab","authMode":"local-first"}`), "user_id"},
		{"impersonating an anonymous session", impersonate(`{"user_id":"anonymous:ab","authMode":"anonymous"}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := r.Resolve(context.Background(), tt.c)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if s != nil {
				t.Fatalf("accepted as %+v", s)
			}
			if e := wantCode(t, err, CodeInvalid); !strings.Contains(e.Message, tt.wantMsg) || !strings.Contains(e.Message, "reserved") {
				t.Fatalf("message %q does not say the %s is reserved", e.Message, tt.wantMsg)
			}
		})
	}
}

func TestResolve_NonBearerAuthorizationIsInvalid(t *testing.T) {
	r, _ := testResolver(t)
	anonymousOnly := &Resolver{AppID: testAppID}
	for _, res := range []*Resolver{r, anonymousOnly} {
		c := CredentialsFromRequest(&http.Request{Header: http.Header{"Authorization": {"Basic dXNlcjpwdw=="}}})
		s, err := res.Resolve(context.Background(), c)
		if s != nil {
			t.Fatalf("a Basic Authorization header resolved to %+v", s)
		}
		if e := wantCode(t, err, CodeInvalid); !strings.Contains(e.Message, `"Basic"`) {
			t.Fatalf("message %q does not name the scheme", e.Message)
		}
	}
}

func TestResolve_LocalFirstIgnoresTheExternalAudience(t *testing.T) {
	r, clk := testResolver(t)
	ext, err := NewStaticKey(pemPublic(&p256Key().PublicKey), Options{Clock: clk, Issuer: "https://idp.test", Audiences: []string{"some-other-audience"}})
	if err != nil {
		t.Fatal(err)
	}
	r.External = ext
	lfID := localFirstIdentity(t, 5)
	s, err := r.Resolve(context.Background(), Credentials{Bearer: mintLocalFirst(t, lfID, testAppID, clk.Now(), time.Hour), BearerGiven: true})
	if err != nil || s.UserID != lfID.UserID || s.AuthMode != session.LocalFirst {
		t.Fatalf("local-first token with an external audience configured: %+v, %v", s, err)
	}
	_, err = r.Resolve(context.Background(), Credentials{Bearer: mintLocalFirst(t, lfID, "another-app", clk.Now(), time.Hour), BearerGiven: true})
	wantCode(t, err, CodeInvalid)
}

func TestResolve_LocalFirstLeeway(t *testing.T) {
	r, clk := testResolver(t)
	tok := mintLocalFirst(t, localFirstIdentity(t, 3), testAppID, clk.Now(), time.Hour)
	clk.Advance(time.Hour + 20*time.Second) // inside the default 30s leeway
	if _, err := r.Resolve(context.Background(), Credentials{Bearer: tok}); err != nil {
		t.Fatalf("inside leeway: %v", err)
	}
	strict := *r
	strict.Leeway = -1
	_, err := strict.Resolve(context.Background(), Credentials{Bearer: tok})
	wantCode(t, err, CodeExpired)
}

func TestResolveWithExpiry_Deadlines(t *testing.T) {
	r, clk := testResolver(t)
	now := clk.Now()
	lf := mintLocalFirst(t, localFirstIdentity(t, 4), testAppID, now, 15*time.Minute)
	ext := sign(t, jwt.SigningMethodES256, p256Key(), "", jwt.MapClaims{"sub": "u", "exp": now.Add(42 * time.Minute).Unix()})
	tests := []struct {
		name string
		c    Credentials
		want time.Time
	}{
		{"external token exp", Credentials{Bearer: ext}, now.Add(42 * time.Minute)},
		{"local-first token exp", Credentials{Bearer: lf}, now.Add(15 * time.Minute)},
		{"backend has none", Credentials{BackendSecret: "backend-s3cret", Session: sessionHeader(t, `{"user_id":"u"}`)}, time.Time{}},
		{"anonymous has none", Credentials{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := r.ResolveWithExpiry(context.Background(), tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("deadline = %v, want %v", got, tt.want)
			}
		})
	}
}

// plainVerifier implements only Verifier, as a third-party one might.
type plainVerifier struct {
	s   *session.Session
	err error
}

func (p plainVerifier) Verify(context.Context, string) (*session.Session, error) { return p.s, p.err }

func TestResolveWithExpiry_PlainVerifier(t *testing.T) {
	exp := t0.Add(time.Hour)
	ok := &session.Session{UserID: "u", AuthMode: session.External, Claims: map[string]any{"exp": float64(exp.Unix())}}
	tests := []struct {
		name     string
		v        plainVerifier
		want     time.Time
		wantCode Code
	}{
		{"exp from claims", plainVerifier{s: ok}, exp, ""},
		{"no exp claim", plainVerifier{s: &session.Session{UserID: "u", AuthMode: session.External}}, time.Time{}, ""},
		{"auth error passed through", plainVerifier{err: fail(CodeExpired, "token expired")}, time.Time{}, CodeExpired},
		{"foreign error sanitized", plainVerifier{err: errors.New("secret detail eyJhbGc")}, time.Time{}, CodeInvalid},
		{"nil session refused", plainVerifier{}, time.Time{}, CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Resolver{External: tt.v}
			s, got, err := r.ResolveWithExpiry(context.Background(), Credentials{Bearer: "a.b.c"})
			if tt.wantCode != "" {
				e := wantCode(t, err, tt.wantCode)
				if strings.Contains(e.Message, "secret detail") {
					t.Errorf("foreign error text forwarded: %q", e.Message)
				}
				return
			}
			if err != nil || s == nil {
				t.Fatalf("s=%v err=%v", s, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("deadline = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResolve_AnonymousIDsAreFresh(t *testing.T) {
	r := &Resolver{}
	seen := map[string]bool{}
	for range 100 {
		s, err := r.Resolve(context.Background(), Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		if !anonID.MatchString(s.UserID) || seen[s.UserID] {
			t.Fatalf("bad or repeated anonymous id %q", s.UserID)
		}
		seen[s.UserID] = true
	}
}

func TestDecodeSessionHeader_Accepts(t *testing.T) {
	full := `{"user_id":"u-1","authMode":"anonymous","claims":{"org":{"id":"acme"},"n":1}}`
	raw := []byte(`{"user_id":"ü?>~"}`) // encodes with '+', '/' or '-', '_' and padding
	tests := []struct {
		name, header string
		want         session.AuthMode
	}{
		{"std padded", base64.StdEncoding.EncodeToString([]byte(full)), session.Anonymous},
		{"std raw", base64.RawStdEncoding.EncodeToString([]byte(full)), session.Anonymous},
		{"url padded", base64.URLEncoding.EncodeToString([]byte(full)), session.Anonymous},
		{"url raw", base64.RawURLEncoding.EncodeToString([]byte(full)), session.Anonymous},
		{"std alphabet chars", base64.StdEncoding.EncodeToString(raw), session.External},
		{"url alphabet chars", base64.URLEncoding.EncodeToString(raw), session.External},
		{"authMode defaults to external", sessionHeader(t, `{"user_id":"u-1"}`), session.External},
		{"null authMode defaults", sessionHeader(t, `{"user_id":"u-1","authMode":null,"claims":null}`), session.External},
		{"whitespace", sessionHeader(t, " {\n \"user_id\" : \"u-1\" } \n"), session.External},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := DecodeSessionHeader(tt.header)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if s.UserID == "" || s.AuthMode != tt.want || s.Claims == nil {
				t.Errorf("session = %+v", s)
			}
		})
	}
	s, _ := DecodeSessionHeader(base64.StdEncoding.EncodeToString([]byte(full)))
	if v, ok := s.Field("claims.org.id"); !ok || v != "acme" {
		t.Errorf("claims.org.id = %v, %v", v, ok)
	}
}

func TestDecodeSessionHeader_Refuses(t *testing.T) {
	huge := `{"user_id":"u","claims":{"pad":"` + strings.Repeat("x", MaxSessionHeaderJSON) + `"}}`
	tests := []struct {
		name, header, want string
	}{
		{"empty", "", "not a JSON object"},
		{"not base64", "!!!not base64!!!", "base64"},
		{"mixed alphabets", "ab+_", "base64"},
		{"too much padding", "e30===", "base64"},
		{"misplaced padding", "e3=0", "base64"},
		{"newline inside", "e3\n0", "base64"},
		{"non-canonical trailing bits", "e31", "base64"},
		{"not JSON", sessionHeader(t, "hello"), "not a JSON object"},
		{"JSON array", sessionHeader(t, `[{"user_id":"u"}]`), "not a JSON object"},
		{"JSON string", sessionHeader(t, `"u"`), "not a JSON object"},
		{"truncated", sessionHeader(t, `{"user_id":"u"`), "not valid JSON"},
		{"unknown field", sessionHeader(t, `{"user_id":"u","admin":true}`), "unknown member"},
		{"case-variant field", sessionHeader(t, `{"USER_ID":"u"}`), "unknown member"},
		{"duplicate user_id", sessionHeader(t, `{"user_id":"u","user_id":"admin"}`), "duplicate"},
		{"empty user_id", sessionHeader(t, `{"user_id":""}`), "user_id is required"},
		{"missing user_id", sessionHeader(t, `{"authMode":"external"}`), "user_id is required"},
		{"null user_id", sessionHeader(t, `{"user_id":null}`), "user_id is required"},
		{"numeric user_id", sessionHeader(t, `{"user_id":7}`), "user_id must be a string"},
		{"bad authMode", sessionHeader(t, `{"user_id":"u","authMode":"root"}`), "authMode must be"},
		{"empty authMode", sessionHeader(t, `{"user_id":"u","authMode":""}`), "authMode must be"},
		{"claims array", sessionHeader(t, `{"user_id":"u","claims":[1]}`), "claims must be"},
		{"trailing data", sessionHeader(t, `{"user_id":"u"} {}`), "trailing"},
		{"huge decoded", sessionHeader(t, huge), "16 KiB"},
		{"huge encoded", strings.Repeat("A", 64<<10), "16 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := DecodeSessionHeader(tt.header)
			if err == nil {
				t.Fatalf("accepted: %+v", s)
			}
			var he *SessionHeaderError
			if !errors.As(err, &he) {
				t.Fatalf("error %T, want *SessionHeaderError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			r, _ := testResolver(t)
			_, err = r.Resolve(context.Background(), Credentials{BackendSecret: "backend-s3cret", Session: tt.header})
			if tt.header == "" {
				wantCode(t, err, CodeMissing)
			} else {
				wantCode(t, err, CodeInvalid)
			}
		})
	}
}

func TestEncodeSessionHeader_RoundTrips(t *testing.T) {
	in := &session.Session{UserID: "u", AuthMode: session.LocalFirst, Claims: map[string]any{"a": "b"}}
	h, err := EncodeSessionHeader(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeSessionHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if out.UserID != in.UserID || out.AuthMode != in.AuthMode || out.Claims["a"] != "b" {
		t.Errorf("round trip = %+v", out)
	}
}
