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
	tests := []struct {
		name    string
		headers map[string]string
		want    Credentials
	}{
		{"none", nil, Credentials{}},
		{"bearer", map[string]string{"Authorization": "Bearer abc.def.ghi"}, Credentials{Bearer: "abc.def.ghi", BearerGiven: true}},
		{"scheme case-insensitive", map[string]string{"Authorization": "bEaReR abc"}, Credentials{Bearer: "abc", BearerGiven: true}},
		{"extra spaces", map[string]string{"Authorization": "  Bearer    abc  "}, Credentials{Bearer: "abc", BearerGiven: true}},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, Credentials{BearerGiven: true}},
		{"bare scheme", map[string]string{"Authorization": "Bearer"}, Credentials{BearerGiven: true}},
		{"basic ignored", map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, Credentials{}},
		{"lookalike scheme ignored", map[string]string{"Authorization": "Bearerx abc"}, Credentials{}},
		{"backend", map[string]string{"X-Jazz-Backend-Secret": "s3cret", "X-Jazz-Session": "e30"},
			Credentials{BackendSecret: "s3cret", Session: "e30"}},
		{"all", map[string]string{"X-Jazz-Backend-Secret": "s", "X-Jazz-Session": "e30", "Authorization": "Bearer t"},
			Credentials{BackendSecret: "s", Session: "e30", Bearer: "t", BearerGiven: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := CredentialsFromRequest(r); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
