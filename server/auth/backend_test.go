package auth

import (
	"errors"
	"testing"
)

func TestAuthenticateBackend(t *testing.T) {
	r := &Resolver{BackendSecret: "s3cret"}
	cases := []struct {
		r      *Resolver
		secret string
		code   Code // "" = accepted
	}{
		{r, "s3cret", ""},
		{r, "s3cret ", CodeInvalid},
		{r, "other", CodeInvalid},
		{r, "", CodeMissing},
		{&Resolver{}, "s3cret", CodeDisabled},
	}
	for _, tc := range cases {
		err := tc.r.AuthenticateBackend(tc.secret)
		var ae *Error
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("AuthenticateBackend(%q) = %v, want nil", tc.secret, err)
		case tc.code != "" && (!errors.As(err, &ae) || ae.Code != tc.code):
			t.Errorf("AuthenticateBackend(%q) = %v, want code %s", tc.secret, err, tc.code)
		}
	}
}
