package sync

import "testing"

func TestEndpoint(t *testing.T) {
	cases := map[string]string{
		"http://localhost:8080":        "ws://localhost:8080/apps/app%2F1/ws",
		"https://jazz.example/":        "wss://jazz.example/apps/app%2F1/ws",
		"ws://127.0.0.1:1/custom/path": "ws://127.0.0.1:1/custom/path",
		"WSS://h/x?y=1":                "wss://h/x?y=1",
		"http://h?x=1":                 "ws://h/apps/app%2F1/ws?x=1",
		"HTTPS://[::1]:9/?x=1":         "wss://[::1]:9/apps/app%2F1/ws?x=1",
		"ws://h/a%20b":                 "ws://h/a%20b",
	}
	for in, want := range cases {
		got, err := endpoint(in, "app/1")
		if err != nil || got != want {
			t.Errorf("endpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://h", "http://", "://x", "http:/h", "h:8080", "http://?x=1", "http:///x",
		"ws://h/#f", "ws://h x/", "ws://h/\\x", "ws://h/\x00", "ws://h/\n"} {
		if _, err := endpoint(bad, "a"); err == nil {
			t.Errorf("endpoint(%q) accepted", bad)
		}
	}
	if got, _ := endpoint("ws://h", "a b/é~$"); got != "ws://h/apps/a%20b%2F%C3%A9~$/ws" {
		t.Errorf("app id escaped as %q", got)
	}
}

func TestNew_RequiresDBAndAppID(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := New(Options{URL: "ws://h", AppID: "a"}); err == nil {
		t.Error("no DB accepted")
	}
	if _, err := New(Options{DB: e.db, URL: "ws://h"}); err == nil {
		t.Error("no AppID accepted")
	}
	if _, err := New(Options{DB: e.db, AppID: "a"}); err == nil {
		t.Error("no URL accepted")
	}
}
