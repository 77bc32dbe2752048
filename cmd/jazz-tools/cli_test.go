package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/server"
	"github.com/jazzgo/jazz-tools/server/auth"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseServer_FlagsAndEnvironment(t *testing.T) {
	base := serverOptions{appID: "app", host: "127.0.0.1", port: DefaultPort, maxFrameBytes: limits.MaxFrameBytes, appliedFor: server.DefaultAppliedFor, budgets: server.DefaultBudgets, inMemory: true}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want func(o *serverOptions)
	}{
		{"defaults", []string{"app", "--in-memory"}, nil, func(o *serverOptions) {}},
		{"flags before the app id", []string{"--in-memory", "--port", "9", "app"}, nil, func(o *serverOptions) { o.port = 9 }},
		{"seed command line", []string{"app", "--port", "1625", "--data-dir", "./data", "--allow-local-first-auth",
			"--jwks-url", "https://auth.example.com/.well-known/jwks.json", "--backend-secret", "b", "--admin-secret", "a"}, nil,
			func(o *serverOptions) {
				o.inMemory, o.dataDir, o.allowLocalFirst = false, "./data", true
				o.jwksURL, o.backendSecret, o.adminSecret = "https://auth.example.com/.well-known/jwks.json", "b", "a"
			}},
		{"everything from the environment", []string{"app"}, map[string]string{
			"JAZZ_DATA_DIR": "/d", "JAZZ_ADMIN_SECRET": "a", "JAZZ_BACKEND_SECRET": "b", "JAZZ_JWKS_URL": "https://x/jwks",
			"JAZZ_PORT": "0", "JAZZ_HOST": "0.0.0.0", "JAZZ_ALLOW_LOCAL_FIRST_AUTH": "true", "JAZZ_ALLOWED_ORIGINS": "https://a.example, *.b.example",
			"JAZZ_MAX_FRAME_BYTES": "4096", "JAZZ_BUNDLE": "b.json", "JAZZ_APPLIED_FOR": "48h"},
			func(o *serverOptions) {
				o.inMemory, o.dataDir, o.adminSecret, o.backendSecret, o.jwksURL = false, "/d", "a", "b", "https://x/jwks"
				o.appliedFor = 48 * time.Hour
				o.port, o.host, o.allowLocalFirst, o.maxFrameBytes, o.bundleFile = 0, "0.0.0.0", true, 4096, "b.json"
				o.allowedOrigins = []string{"https://a.example", "*.b.example"}
			}},
		{"flags win over the environment", []string{"app", "--in-memory", "--port", "7", "--admin-secret", "flag"},
			map[string]string{"JAZZ_PORT": "8", "JAZZ_ADMIN_SECRET": "env"},
			func(o *serverOptions) { o.port, o.adminSecret = 7, "flag" }},
		{"app id from the environment", []string{"--in-memory"}, map[string]string{"JAZZ_APP_ID": "app"}, func(o *serverOptions) {}},
		{"NODE_ENV=production", []string{"app", "--data-dir", "d", "--admin-secret", "s"}, map[string]string{"NODE_ENV": "production"},
			func(o *serverOptions) { o.inMemory, o.dataDir, o.adminSecret, o.production = false, "d", "s", true }},
		{"JAZZ_IN_MEMORY", []string{"app"}, map[string]string{"JAZZ_IN_MEMORY": "1"}, func(o *serverOptions) {}},
		{"audiences: repeated flag and commas", []string{"app", "--in-memory", "--jwks-url", "https://x/jwks", "--jwt-audience", "web", "--jwt-audience", "mobile, cli", "--jwt-issuer", "https://idp"}, nil,
			func(o *serverOptions) {
				o.jwksURL, o.jwtAudiences, o.jwtIssuer = "https://x/jwks", []string{"web", "mobile", "cli"}, "https://idp"
			}},
		{"audiences from the environment", []string{"app", "--in-memory", "--jwt-public-key", "k"},
			map[string]string{"JAZZ_JWT_AUDIENCE": "web,,mobile ", "JAZZ_JWT_ISSUER": "https://idp"},
			func(o *serverOptions) {
				o.jwtPublicKey, o.jwtAudiences, o.jwtIssuer = "k", []string{"web", "mobile"}, "https://idp"
			}},
		{"an audience flag replaces the environment", []string{"app", "--in-memory", "--jwt-public-key", "k", "--jwt-audience", "web"},
			map[string]string{"JAZZ_JWT_AUDIENCE": "mobile"},
			func(o *serverOptions) { o.jwtPublicKey, o.jwtAudiences = "k", []string{"web"} }},
		{"budgets", []string{"app", "--in-memory", "--max-subs-per-connection", "100", "--max-anonymous-subs-per-connection", "8",
			"--max-subs-per-session", "300", "--rows-in-flight", "500", "--anonymous-rows-in-flight", "50", "--anonymous-workers", "2", "--anonymous-frames-per-second", "20", "--anonymous-cpu-percent", "35"},
			map[string]string{"JAZZ_MAX_ANONYMOUS_SUBS": "200"},
			func(o *serverOptions) {
				o.budgets = server.Budgets{SubscriptionsPerConnection: 100, AnonymousSubscriptionsPerConnection: 8, SubscriptionsPerSession: 300,
					AnonymousSubscriptions: 200, RowsInFlight: 500, AnonymousRowsInFlight: 50, AnonymousWorkers: 2, AnonymousCPUPercent: 35,
					FramesPerSecond: server.DefaultBudgets.FramesPerSecond, AnonymousFramesPerSecond: 20}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServer(tc.args, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			want := base
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseServer_RefusesWhatCannotBeMeant(t *testing.T) {
	cases := []struct {
		name, want string
		args       []string
		env        map[string]string
	}{
		{"jwks and public key", "alternatives", []string{"app", "--in-memory", "--jwks-url", "https://x", "--jwt-public-key", "k"}, nil},
		{"jwks from env and key from flag", "alternatives", []string{"app", "--in-memory", "--jwt-public-key", "k"}, map[string]string{"JAZZ_JWKS_URL": "https://x"}},
		{"production without data dir", "--data-dir", []string{"app", "--production", "--admin-secret", "s"}, nil},
		{"production without admin secret", "--admin-secret", []string{"app", "--production", "--data-dir", "d"}, nil},
		{"NODE_ENV production without either", "--data-dir (JAZZ_DATA_DIR) and --admin-secret", []string{"app"}, map[string]string{"NODE_ENV": "production"}},
		{"production in memory", "refuses --in-memory", []string{"app", "--production", "--in-memory", "--admin-secret", "s"}, nil},
		{"no storage", "--in-memory", []string{"app"}, nil},
		{"both storages", "alternatives", []string{"app", "--in-memory", "--data-dir", "d"}, nil},
		{"no app id", "missing APP_ID", []string{"--in-memory"}, nil},
		{"two app ids", "unexpected arguments", []string{"a", "b", "--in-memory"}, nil},
		{"unknown flag", "not defined", []string{"app", "--in-memory", "--nope"}, nil},
		{"bad port", "invalid value", []string{"app", "--in-memory", "--port", "x"}, nil},
		{"bad env value", "JAZZ_PORT", []string{"app", "--in-memory"}, map[string]string{"JAZZ_PORT": "x"}},
		{"port out of range", "not a TCP port", []string{"app", "--in-memory", "--port", "70000"}, nil},
		{"app id climbing out of the data dir", "is not an app id", []string{"../evil", "--in-memory"}, nil},
		{"app id with a separator", "is not an app id", []string{"a/b", "--in-memory"}, nil},
		{"app id from the environment", "is not an app id", []string{"--in-memory"}, map[string]string{"JAZZ_APP_ID": ".hidden"}},
		{"audience without a key", "need --jwks-url or --jwt-public-key", []string{"app", "--in-memory", "--jwt-audience", "web"}, nil},
		{"issuer without a key", "need --jwks-url or --jwt-public-key", []string{"app", "--in-memory", "--jwt-issuer", "https://idp"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServer(tc.args, envOf(tc.env))
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a usage error mentioning %q", err, tc.want)
			}
			var stderr bytes.Buffer
			if code := run(append([]string{"server"}, tc.args...), envOf(tc.env), io.Discard, &stderr); code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr does not explain: %s", stderr.String())
			}
		})
	}
}

func TestRun_ServerConfigRefusalsAreUsageErrors(t *testing.T) {
	cases := []struct {
		name, want string
		args       []string
	}{
		{"frame limit too small", "MaxFrameBytes", []string{"app", "--in-memory", "--max-frame-bytes", "10"}},
		{"negative applied-for", "AppliedFor", []string{"app", "--in-memory", "--applied-for", "-1h"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(append([]string{"server"}, tc.args...), envOf(nil), io.Discard, &stderr); code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "Usage:") {
				t.Fatalf("stderr does not explain: %s", stderr.String())
			}
		})
	}
}

func TestRun_DeployUsageErrorsExit2(t *testing.T) {
	secretAndBundle := []string{"--admin-secret", "a", "--bundle", "b.json"}
	cases := []struct {
		name, want string
		args       []string
	}{
		{"app id climbing out", "is not an app id", append([]string{"../evil", "--server", "http://127.0.0.1:1"}, secretAndBundle...)},
		{"server without a scheme", "not an http:// or https:// URL", append([]string{"app", "--server", "127.0.0.1:1625"}, secretAndBundle...)},
		{"server with another scheme", "not an http:// or https:// URL", append([]string{"app", "--server", "ftp://host"}, secretAndBundle...)},
		{"missing flags", "missing --admin-secret, --bundle", []string{"app", "--server", "http://127.0.0.1:1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(append([]string{"deploy"}, tc.args...), envOf(nil), io.Discard, &stderr); code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, stderr.String(), exitUsage, tc.want)
			}
		})
	}
}

func TestStartupWarnings(t *testing.T) {
	prod := serverOptions{production: true, adminSecret: "a", dataDir: "d"}
	withJWKS, withKey, withAudience := prod, prod, prod
	withJWKS.jwksURL = "https://x/jwks"
	withKey.jwtPublicKey = "k"
	withAudience.jwksURL, withAudience.jwtAudiences = "https://x/jwks", []string{"web"}
	dev := withJWKS
	dev.production = false
	cases := []struct {
		name string
		o    serverOptions
		want string // "" = no audience warning
	}{
		{"production, JWKS, no audience", withJWKS, "other application"},
		{"production, static key, no audience", withKey, "other application"},
		{"production, audience set", withAudience, ""},
		{"production, no external auth", prod, ""},
		{"development, JWKS, no audience", dev, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			all := strings.Join(tc.o.startupWarnings(), "\n")
			if got := strings.Contains(all, "--jwt-audience"); got != (tc.want != "") {
				t.Fatalf("warnings %q, want an audience warning: %v", all, tc.want != "")
			}
			if !strings.Contains(all, tc.want) {
				t.Fatalf("warnings %q do not say %q", all, tc.want)
			}
		})
	}
}

func TestHelp_DocumentsEveryFlagAndItsEnvironmentVariable(t *testing.T) {
	for _, tc := range []struct {
		cmd string
		fs  *flag.FlagSet
	}{{"server", serverFlags(&serverOptions{})}, {"deploy", deployFlags(&deployOptions{})}} {
		var out bytes.Buffer
		if code := run([]string{tc.cmd, "--help"}, envOf(nil), &out, io.Discard); code != exitOK {
			t.Fatalf("%s --help: exit %d", tc.cmd, code)
		}
		n := 0
		tc.fs.VisitAll(func(f *flag.Flag) {
			n++
			wants := []string{"--" + f.Name, envName(f.Name)}
			if commandLineOnly[f.Name] {
				wants[1] = "(command line only)"
			}
			for _, want := range wants {
				if !strings.Contains(out.String(), want) {
					t.Errorf("%s --help does not mention %s", tc.cmd, want)
				}
			}
		})
		if n == 0 {
			t.Fatalf("%s has no flags", tc.cmd)
		}
	}
	var out bytes.Buffer
	run([]string{"server", "--help"}, envOf(nil), &out, io.Discard)
	for _, want := range []string{"NODE_ENV=production", "JAZZ_APP_ID", "listening on"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("server --help lacks %q", want)
		}
	}
}

func TestRun_UnknownCommandOrNoneIsUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"serve"}, {"--port", "1"}} {
		var stderr bytes.Buffer
		if code := run(args, envOf(nil), io.Discard, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "Usage:") {
			t.Fatalf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"version"}, envOf(nil), &out, io.Discard); code != exitOK || !strings.HasPrefix(out.String(), "jazz-tools ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}

func TestParseDeploy(t *testing.T) {
	o, err := parseDeploy([]string{"app", "--server", "http://s"}, envOf(map[string]string{"JAZZ_ADMIN_SECRET": "a", "JAZZ_BUNDLE": "b.json"}))
	if err != nil || o != (deployOptions{appID: "app", serverURL: "http://s", adminSecret: "a", bundleFile: "b.json"}) {
		t.Fatalf("%+v %v", o, err)
	}
	_, err = parseDeploy([]string{"app"}, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "--server, --admin-secret, --bundle") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfig_JWTPublicKeyInlineOrFromAFile(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, []byte(pemText), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	for _, v := range []string{pemText, file, `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`} {
		cfg, err := serverOptions{appID: "app", inMemory: true, jwtPublicKey: v}.config(log)
		if err != nil || cfg.Resolver.External == nil {
			t.Fatalf("%.30q: %v", v, err)
		}
	}
	for _, v := range []string{"/no/such/file", "{not a jwk}"} {
		if _, err := (serverOptions{appID: "app", inMemory: true, jwtPublicKey: v}).config(log); err == nil {
			t.Fatalf("%q accepted", v)
		}
	}
}

func TestConfig_JWTAudienceAndIssuerReachTheVerifier(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	o := serverOptions{appID: "app", inMemory: true, jwtPublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		jwtAudiences: []string{"web", "mobile"}, jwtIssuer: "https://idp.test"}
	cfg, err := o.config(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	token := func(aud any, iss string) string {
		c := jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix(), "aud": aud, "iss": iss}
		s, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name     string
		token    string
		accepted bool
	}{
		{"second audience", token("mobile", "https://idp.test"), true},
		{"audience in an array", token([]string{"x", "web"}, "https://idp.test"), true},
		{"another app's audience", token("billing", "https://idp.test"), false},
		{"another issuer", token("web", "https://other.test"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cfg.Resolver.Resolve(context.Background(), auth.Credentials{Bearer: tc.token, BearerGiven: true})
			if (err == nil) != tc.accepted {
				t.Fatalf("err = %v, accepted want %v", err, tc.accepted)
			}
		})
	}
}

func TestServerConfig_CarriesTheBudgets(t *testing.T) {
	o, err := parseServer([]string{"app", "--in-memory", "--max-anonymous-subs", "7"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Budgets.AnonymousSubscriptions != 7 || cfg.Budgets.RowsInFlight != server.DefaultBudgets.RowsInFlight {
		t.Fatalf("budgets = %+v", cfg.Budgets)
	}
}
