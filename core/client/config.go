package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jazzgo/jazz-tools/core/session"
)

// Error catalogue.
var (
	// ErrConfig wraps every problem with a Config.
	ErrConfig = errors.New("client: invalid config")
	// ErrBadToken is returned for a jwtToken that is not a readable JWT with a sub.
	ErrBadToken = errors.New("client: jwtToken is not a JWT with a subject")
	// ErrNullToken refuses UpdateAuthToken(null).
	ErrNullToken = errors.New("client: updateAuthToken(null) is not supported on a live Db; recreate the Db (or JazzProvider) without jwtToken to sign out")
	// ErrPrincipalChanged refuses a token for another user on a live Db.
	ErrPrincipalChanged = errors.New("client: the new token is for a different user; recreate the Db (or change the JazzProvider key) to switch users")
	// ErrNotExternal refuses UpdateAuthToken on a Db that is not using jwtToken.
	ErrNotExternal = errors.New("client: updateAuthToken only applies to a Db created with jwtToken")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("client: Db is closed")
)

// Config is what createDb takes. Exactly one of Secret and JWTToken may be
// set; neither gives an anonymous Db.
type Config struct {
	AppID     string `json:"appId"`
	ServerURL string `json:"serverUrl,omitempty"`
	Secret    string `json:"secret,omitempty"`
	JWTToken  string `json:"jwtToken,omitempty"`
}

// Mode returns the auth mode the config selects.
func (c Config) Mode() session.AuthMode {
	switch {
	case c.Secret != "":
		return session.LocalFirst
	case c.JWTToken != "":
		return session.External
	}
	return session.Anonymous
}

// Validate reports the first problem with c, naming the fields involved.
func (c Config) Validate() error {
	if strings.TrimSpace(c.AppID) == "" {
		return fmt.Errorf("%w: appId is required", ErrConfig)
	}
	if c.Secret != "" && c.JWTToken != "" {
		return fmt.Errorf("%w: pass either secret (local-first auth) or jwtToken (external auth), not both", ErrConfig)
	}
	if c.ServerURL != "" {
		u := strings.ToLower(c.ServerURL)
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
			return fmt.Errorf("%w: serverUrl %q must start with http://, https://, ws:// or wss://", ErrConfig, c.ServerURL)
		}
	}
	return nil
}

// maxTokenSize bounds a JWT read on the client.
const maxTokenSize = 16 << 10

// ExternalSession reads the session a JWT claims, without verifying it:
// verification is the server's job, and the client only needs to know who
// it is acting as (sub is user_id, every claim is kept). It also returns the
// token's exp (zero when absent).
func ExternalSession(token string) (*session.Session, int64, error) {
	if len(token) > maxTokenSize {
		return nil, 0, fmt.Errorf("%w: token is over %d bytes", ErrBadToken, maxTokenSize)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, 0, fmt.Errorf("%w: expected three dot-separated parts", ErrBadToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: payload is not base64url", ErrBadToken)
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, 0, fmt.Errorf("%w: payload is not a JSON object", ErrBadToken)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, 0, fmt.Errorf("%w: missing sub claim", ErrBadToken)
	}
	var exp int64
	if n, ok := claims["exp"].(json.Number); ok {
		if v, err := n.Int64(); err == nil {
			exp = v
		} else if f, err := n.Float64(); err == nil {
			exp = int64(f)
		}
	}
	return &session.Session{UserID: sub, AuthMode: session.External, Claims: claims}, exp, nil
}
