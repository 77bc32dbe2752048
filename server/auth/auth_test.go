package auth

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func TestError_JSONShape(t *testing.T) {
	e := &Error{Code: CodeExpired, Message: "token expired"}
	want := `{"error":"unauthenticated","code":"expired","message":"token expired"}`
	for name, v := range map[string]any{"pointer": e, "value": *e} {
		got, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s: json = %s, want %s", name, got, want)
		}
	}
	if got := e.Error(); got != "unauthenticated (expired): token expired" {
		t.Errorf("Error() = %q", got)
	}
}

func TestCredentialsFromRequest(t *testing.T) {
	notAccepted := func(scheme string) string {
		return "Authorization scheme \"" + scheme + "\" is not accepted; send Authorization: Bearer <token>"
	}
	tests := []struct {
		name    string
		headers [][2]string
		want    Credentials
	}{
		{"none", nil, Credentials{}},
		{"empty authorization", [][2]string{{"Authorization", "  "}}, Credentials{}},
		{"bearer", [][2]string{{"Authorization", "Bearer abc.def.ghi"}}, Credentials{Bearer: "abc.def.ghi", BearerGiven: true}},
		{"scheme case-insensitive", [][2]string{{"Authorization", "bEaReR abc"}}, Credentials{Bearer: "abc", BearerGiven: true}},
		{"scheme upper case", [][2]string{{"Authorization", "BEARER abc"}}, Credentials{Bearer: "abc", BearerGiven: true}},
		{"extra spaces", [][2]string{{"Authorization", "  Bearer    abc  "}}, Credentials{Bearer: "abc", BearerGiven: true}},
		{"tab after the scheme", [][2]string{{"Authorization", "Bearer\tabc"}}, Credentials{Bearer: "abc", BearerGiven: true}},
		{"empty bearer", [][2]string{{"Authorization", "Bearer "}}, Credentials{BearerGiven: true}},
		{"bare scheme", [][2]string{{"Authorization", "Bearer"}}, Credentials{BearerGiven: true}},
		{"basic refused", [][2]string{{"Authorization", "Basic dXNlcjpwdw=="}}, Credentials{BadAuthorization: notAccepted("Basic")}},
		{"lookalike scheme refused", [][2]string{{"Authorization", "Bearerx abc"}}, Credentials{BadAuthorization: notAccepted("Bearerx")}},
		{"token without a scheme refused", [][2]string{{"Authorization", "abc.def.ghi"}}, Credentials{BadAuthorization: notAccepted("abc.def.ghi")}},
		{"two authorization headers refused", [][2]string{{"Authorization", "Bearer a"}, {"Authorization", "Bearer b"}},
			Credentials{BadAuthorization: "Authorization header sent more than once"}},
		{"backend", [][2]string{{"X-Jazz-Backend-Secret", "s3cret"}, {"X-Jazz-Session", "e30"}},
			Credentials{BackendSecret: "s3cret", Session: "e30"}},
		{"all", [][2]string{{"X-Jazz-Backend-Secret", "s"}, {"X-Jazz-Session", "e30"}, {"Authorization", "Bearer t"}},
			Credentials{BackendSecret: "s", Session: "e30", Bearer: "t", BearerGiven: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, h := range tt.headers {
				r.Header.Add(h[0], h[1])
			}
			if got := CredentialsFromRequest(r); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
