package identity

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var goldenPath = filepath.Join("testdata", "vectors.json")

// vectors pins the format. If TestGolden fails, the format changed: every
// existing user would get a new id and every deployed verifier would refuse
// the new tokens. Regenerating is only right for a deliberate, versioned
// change (a new info string, documented in docs/auth.md).
type vectors struct {
	Comment    string       `json:"comment"`
	Identities []idVector   `json:"identities"`
	Tokens     []mintVector `json:"tokens"`
}

type idVector struct {
	Secret    string `json:"secret"`
	PublicKey string `json:"public_key"`
	UserID    string `json:"user_id"`
}

type mintVector struct {
	Kind       string `json:"kind"` // "token" or "proof"
	Secret     string `json:"secret"`
	Audience   string `json:"audience"`
	Now        int64  `json:"now"`
	TTLSeconds int64  `json:"ttl_seconds"`
	JTIHex     string `json:"jti_hex"`
	UserID     string `json:"user_id"`
	Token      string `json:"token"`
}

var goldenSecrets = []string{
	secretOf(0x00),
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", // bytes 0x00..0x1f
	secretOf(0xff),
	"_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-8",
}

func mintVectorFor(t *testing.T, v mintVector) string {
	t.Helper()
	id := mustIdentity(t, v.Secret)
	jti, err := hex.DecodeString(v.JTIHex)
	if err != nil {
		t.Fatal(err)
	}
	id.rand = bytes.NewReader(jti)
	mint := id.MintToken
	if v.Kind == "proof" {
		mint = id.MintProof
	}
	tok, err := mint(v.Audience, time.Unix(v.Now, 0), time.Duration(v.TTLSeconds)*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestGolden(t *testing.T) {
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Identities) < 3 || len(v.Tokens) < 2 {
		t.Fatalf("golden file has %d identities and %d tokens; too few", len(v.Identities), len(v.Tokens))
	}
	for _, iv := range v.Identities {
		id := mustIdentity(t, iv.Secret)
		if got := b64(id.PublicKey); got != iv.PublicKey {
			t.Errorf("secret %s: public key %s, golden %s", iv.Secret, got, iv.PublicKey)
		}
		if id.UserID != iv.UserID {
			t.Errorf("secret %s: user id %s, golden %s", iv.Secret, id.UserID, iv.UserID)
		}
	}
	for _, mv := range v.Tokens {
		if got := mintVectorFor(t, mv); got != mv.Token {
			t.Errorf("%s for %s: minted\n%s\ngolden\n%s", mv.Kind, mv.Audience, got, mv.Token)
		}
		now := time.Unix(mv.Now, 0).Add(time.Minute)
		var uid string
		var err error
		if mv.Kind == "proof" {
			uid, err = VerifyProof(mv.Token, mv.Audience, now, 0)
		} else {
			var c *Claims
			if c, err = VerifyToken(mv.Token, mv.Audience, now, 0); err == nil {
				uid = c.UserID
			}
		}
		if err != nil || uid != mv.UserID {
			t.Errorf("golden %s: verify = %q, %v; want %q", mv.Kind, uid, err, mv.UserID)
		}
	}
}

// TestUpdateGolden writes the golden file. Run with UPDATE_GOLDEN=1 only for a
// deliberate format change.
func TestUpdateGolden(t *testing.T) {
	if os.Getenv("UPDATE_GOLDEN") != "1" {
		t.Skip("set UPDATE_GOLDEN=1 to rewrite " + goldenPath)
	}
	v := vectors{Comment: "Local-first identity format v1 (docs/auth.md). Never edit by hand; a change here changes every user's id."}
	for _, s := range goldenSecrets {
		id := mustIdentity(t, s)
		v.Identities = append(v.Identities, idVector{Secret: s, PublicKey: b64(id.PublicKey), UserID: id.UserID})
	}
	for _, mv := range []mintVector{
		{Kind: "token", Secret: goldenSecrets[1], Audience: "app-123", Now: 1_700_000_000, TTLSeconds: 3600, JTIHex: "000102030405060708090a0b0c0d0e0f"},
		{Kind: "proof", Secret: goldenSecrets[1], Audience: "https://auth.example.com", Now: 1_700_000_000, TTLSeconds: 600, JTIHex: "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"},
	} {
		mv.UserID = mustIdentity(t, mv.Secret).UserID
		mv.Token = mintVectorFor(t, mv)
		v.Tokens = append(v.Tokens, mv)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPath, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
