package session

import (
	"errors"
	"testing"
)

func TestCheckUserID_ReservedNamespaces(t *testing.T) {
	cases := []struct {
		name   string
		userID string
		mode   AuthMode
		wantNS string // "" = accepted
	}{
		{"external user", "user-42", External, ""},
		{"local-first uuid", "68e57392-6ebe-8f71-b8fd-f1345ca278cc", LocalFirst, ""},
		{"the system user as external", SystemUser, External, SystemNamespace},
		{"the system user as anonymous", SystemUser, Anonymous, SystemNamespace},
		{"another system id", "jazz:admin", LocalFirst, SystemNamespace},
		{"system namespace in other case", "JAZZ:system", External, SystemNamespace},
		{"anonymous id as external", "anonymous:0123", External, AnonymousNamespace},
		{"anonymous id as local-first", "Anonymous:0123", LocalFirst, AnonymousNamespace},
		{"anonymous id as anonymous", "anonymous:0123", Anonymous, ""},
		{"namespace only inside the id", "user:jazz:system", External, ""},
		{"prefix without the colon", "jazzfan", External, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUserID(tc.userID, tc.mode)
			if tc.wantNS == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *ReservedUserIDError
			if !errors.As(err, &re) || re.Namespace != tc.wantNS || !errors.Is(err, ErrReservedUserID) {
				t.Fatalf("err = %v, want a ReservedUserIDError for %q", err, tc.wantNS)
			}
		})
	}
}
