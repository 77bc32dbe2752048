package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/server"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// DefaultPort is the sync server's port when --port is not given.
const DefaultPort = 1625

// shutdownTimeout bounds the graceful part of a SIGINT/SIGTERM shutdown.
const shutdownTimeout = 10 * time.Second

// serverOptions is the parsed command line of "jazz-tools server".
type serverOptions struct {
	appID           string
	host            string
	port            int
	dataDir         string
	databaseURL     string
	inMemory        bool
	allowLocalFirst bool
	jwksURL         string
	jwtPublicKey    string
	jwtAudiences    []string
	jwtIssuer       string
	backendSecret   string
	adminSecret     string
	bundleFile      string
	allowedOrigins  []string
	maxFrameBytes   int
	appliedFor      time.Duration
	budgets         server.Budgets
	production      bool
	logLevel        levelFlag
	metricsAddr     string
}

// levelFlag is --log-level: one of debug, info, warn, error.
type levelFlag struct{ slog.Level }

func (l *levelFlag) String() string { return strings.ToLower(l.Level.String()) }

func (l *levelFlag) Set(v string) error {
	switch strings.ToLower(v) {
	case "debug":
		l.Level = slog.LevelDebug
	case "info":
		l.Level = slog.LevelInfo
	case "warn", "warning":
		l.Level = slog.LevelWarn
	case "error":
		l.Level = slog.LevelError
	default:
		return fmt.Errorf("log level %q: want debug, info, warn or error", v)
	}
	return nil
}

func serverFlags(o *serverOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.host, "host", "127.0.0.1", "`HOST` interface to listen on (0.0.0.0 for every interface)")
	fs.IntVar(&o.port, "port", DefaultPort, "TCP `PORT` to listen on; 0 picks a free one (the real one is printed)")
	fs.StringVar(&o.dataDir, "data-dir", "", "`DIR`ectory holding the data file APP_ID.db (created if missing)")
	fs.StringVar(&o.databaseURL, "database-url", "", "keep the data in the PostgreSQL database at `URL` (postgres://...) instead of --data-dir, so several servers can serve the app")
	fs.BoolVar(&o.inMemory, "in-memory", false, "keep all data in memory and lose it on exit (tests, demos; refused in production)")
	fs.BoolVar(&o.allowLocalFirst, "allow-local-first-auth", false, "accept self-signed local-first tokens")
	fs.StringVar(&o.jwksURL, "jwks-url", "", "verify external JWTs against the key set at `URL`")
	fs.StringVar(&o.jwtPublicKey, "jwt-public-key", "", "verify external JWTs against this `KEY`: a JWK or PEM public key, inline or a file path (not with --jwks-url)")
	fs.StringVar(&o.backendSecret, "backend-secret", "", "`SECRET` that lets trusted backends act as any user (X-Jazz-Backend-Secret); empty disables impersonation")
	fs.StringVar(&o.adminSecret, "admin-secret", "", "`SECRET` for the admin routes (bundle publishing); empty disables them")
	fs.StringVar(&o.bundleFile, "bundle", "", "publish the app bundle in `FILE` at start, replacing the stored one")
	fs.Func("jwt-audience", "accept external JWTs only if their aud claim names this `AUDIENCE`; repeat the flag or separate several with commas (any one must match)", func(v string) error {
		o.jwtAudiences = append(o.jwtAudiences, splitList(v)...)
		return nil
	})
	fs.StringVar(&o.jwtIssuer, "jwt-issuer", "", "accept external JWTs only if their iss claim is exactly `ISSUER`")
	fs.Func("allowed-origins", "comma-separated browser `ORIGINS` allowed to open sockets, e.g. https://app.example.com,*.example.com (default: localhost, 127.0.0.1 and [::1], any port)", func(v string) error {
		o.allowedOrigins = splitList(v)
		return nil
	})
	fs.IntVar(&o.maxFrameBytes, "max-frame-bytes", limits.MaxFrameBytes, "largest WebSocket frame a client may send, in `BYTES`")
	fs.DurationVar(&o.appliedFor, "applied-for", server.DefaultAppliedFor, "how long a change's id is kept so a resend of it is acked, not applied twice (`DURATION`, e.g. 720h)")
	d := server.DefaultBudgets
	fs.IntVar(&o.budgets.SubscriptionsPerConnection, "max-subs-per-connection", d.SubscriptionsPerConnection, "live queries one connection may hold (`N`, at most 256)")
	fs.IntVar(&o.budgets.AnonymousSubscriptionsPerConnection, "max-anonymous-subs-per-connection", d.AnonymousSubscriptionsPerConnection, "live queries one anonymous connection may hold (`N`, at most 256)")
	fs.IntVar(&o.budgets.SubscriptionsPerSession, "max-subs-per-session", d.SubscriptionsPerSession, "live queries one user id may hold over all its connections (`N`)")
	fs.IntVar(&o.budgets.AnonymousSubscriptions, "max-anonymous-subs", d.AnonymousSubscriptions, "live queries all anonymous sessions together may hold (`N`)")
	fs.IntVar(&o.budgets.RowsInFlight, "rows-in-flight", d.RowsInFlight, "rows of a result a connection reads before waiting for its socket (`N`)")
	fs.IntVar(&o.budgets.AnonymousRowsInFlight, "anonymous-rows-in-flight", d.AnonymousRowsInFlight, "the same for an anonymous connection (`N`)")
	fs.IntVar(&o.budgets.FramesPerSecond, "frames-per-second", d.FramesPerSecond, "frames a connection may send per second, in bursts of a second's worth (`N`)")
	fs.IntVar(&o.budgets.AnonymousFramesPerSecond, "anonymous-frames-per-second", d.AnonymousFramesPerSecond, "the same for an anonymous connection (`N`)")
	fs.IntVar(&o.budgets.AnonymousWorkers, "anonymous-workers", d.AnonymousWorkers, "anonymous connections that may build results or live rows at the same time (`N`)")
	fs.IntVar(&o.budgets.AnonymousCPUPercent, "anonymous-cpu-percent", d.AnonymousCPUPercent, "share of one core, in `PERCENT`, the workers of all anonymous connections may use together")
	fs.Var(&o.logLevel, "log-level", "least severe `LEVEL` logged: debug, info, warn or error (health checks and metric scrapes are debug)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://`HOST:PORT`/metrics, a listener apart from the public port (empty: off); see docs/server.md")
	fs.BoolVar(&o.production, "production", false, "production mode (also NODE_ENV=production): requires --data-dir or --database-url, and --admin-secret; refuses --in-memory")
	return fs
}

// parseServer turns the command line and environment into options, refusing
// combinations that cannot be meant.
func parseServer(args []string, env func(string) string) (serverOptions, error) {
	var o serverOptions
	fs := serverFlags(&o)
	pos, err := parseFlags(fs, args, env)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		var ue *usageError
		if errors.As(err, &ue) {
			return o, err
		}
		return o, usagef("%v", err)
	}
	if o.appID, err = appIDArg(pos, env); err != nil {
		return o, err
	}
	if env("NODE_ENV") == "production" {
		o.production = true
	}
	if o.port < 0 || o.port > 65535 {
		return o, usagef("--port %d is not a TCP port", o.port)
	}
	if o.jwksURL != "" && o.jwtPublicKey != "" {
		return o, usagef("--jwks-url and --jwt-public-key are alternatives; configure one of them, not both")
	}
	if (len(o.jwtAudiences) > 0 || o.jwtIssuer != "") && o.jwksURL == "" && o.jwtPublicKey == "" {
		return o, usagef("--jwt-audience and --jwt-issuer check external JWTs; they need --jwks-url or --jwt-public-key")
	}
	var stores []string
	for _, st := range []struct {
		flag string
		set  bool
	}{{"--data-dir", o.dataDir != ""}, {"--database-url", o.databaseURL != ""}, {"--in-memory", o.inMemory}} {
		if st.set {
			stores = append(stores, st.flag)
		}
	}
	if len(stores) > 1 {
		return o, usagef("%s are alternatives; configure one of them, not both", strings.Join(stores, " and "))
	}
	if o.production {
		var missing []string
		if o.inMemory {
			return o, usagef("production mode refuses --in-memory: acknowledged writes must survive a restart")
		}
		if o.dataDir == "" && o.databaseURL == "" {
			missing = append(missing, "--data-dir (JAZZ_DATA_DIR) or --database-url (JAZZ_DATABASE_URL)")
		}
		if o.adminSecret == "" {
			missing = append(missing, "--admin-secret (JAZZ_ADMIN_SECRET)")
		}
		if len(missing) > 0 {
			return o, usagef("production mode requires %s", strings.Join(missing, " and "))
		}
	}
	if o.dataDir == "" && o.databaseURL == "" && !o.inMemory {
		return o, usagef("either --data-dir DIR (durable), --database-url URL (PostgreSQL, several servers) or --in-memory (throw-away) is required")
	}
	return o, nil
}

func serverHelp(w io.Writer) {
	var o serverOptions
	fmt.Fprint(w, `Usage: jazz-tools server APP_ID [flags]

Runs the sync server for one app: HTTP and WebSocket on --host:--port, data in
--data-dir. Logs are JSON lines on stderr; once ready it logs the line
{"level":"INFO","msg":"listening on http://HOST:PORT","url":...}. SIGINT or
SIGTERM shuts down gracefully.

APP_ID may also come from JAZZ_APP_ID. NODE_ENV=production turns on --production.

Flags (each also read from the environment variable shown; a flag wins):
`)
	printFlags(w, serverFlags(&o))
}

// runServer starts the server and blocks until ctx is done.
func runServer(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	o, err := parseServer(args, env)
	if errors.Is(err, flag.ErrHelp) {
		serverHelp(stdout)
		return exitOK
	}
	if err != nil {
		return report(stderr, "server", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: o.logLevel.Level}))
	cfg, err := o.config(log)
	if err != nil {
		return report(stderr, "server", err)
	}
	srv, err := server.New(cfg)
	var ce *server.ConfigError
	if errors.As(err, &ce) {
		// Every Config field comes from the command line here.
		return report(stderr, "server", usagef("%v", err))
	}
	if err != nil {
		// From here on stderr is a JSON log, so failures are log lines too.
		log.Error("could not open the app", "error", err.Error())
		return exitError
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		srv.Close()
		log.Error("could not listen", "error", err.Error())
		return exitError
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	served := make(chan error, 2)
	go func() { served <- hs.Serve(ln) }()
	var ms *http.Server
	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			_ = hs.Close()
			srv.Close()
			log.Error("could not listen for metrics", "error", err.Error())
			return exitError
		}
		ms = &http.Server{Handler: srv.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
		go func() { served <- ms.Serve(mln) }()
		log.Info("metrics on http://"+mln.Addr().String()+"/metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	if o.production {
		log.Info("production mode")
	}
	for _, w := range o.startupWarnings() {
		log.Warn(w)
	}
	// The message keeps the address so that a plain text search for
	// "listening on http://" finds it; url is the same, as a field.
	url := "http://" + ln.Addr().String()
	log.Info("listening on "+url, "url", url)

	code := exitOK
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-served:
		log.Error("http server stopped", "error", err.Error())
		code = exitError
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Stop accepting and finish plain requests first; sockets (hijacked, so
	// not tracked by http.Server) are then closed by srv.Close with 1001.
	_ = hs.Shutdown(sctx)
	if ms != nil {
		_ = ms.Shutdown(sctx)
	}
	if err := srv.Close(); err != nil {
		log.Error("closing the server", "error", err.Error())
		code = exitError
	}
	return code
}

// startupWarnings are the risks of a configuration that runs but is likely
// not what a deployment wants.
func (o serverOptions) startupWarnings() []string {
	var ws []string
	if !o.production && o.adminSecret == "" {
		ws = append(ws, "no admin secret: bundles can only be published with --bundle at start")
	}
	if o.production && (o.jwksURL != "" || o.jwtPublicKey != "") && len(o.jwtAudiences) == 0 {
		ws = append(ws, auth.NoAudienceRisk+"; set --jwt-audience (JAZZ_JWT_AUDIENCE)")
	}
	return ws
}

// config builds the server configuration, loading keys and the bundle.
func (o serverOptions) config(log *slog.Logger) (server.Config, error) {
	r := &auth.Resolver{AppID: o.appID, BackendSecret: o.backendSecret, AllowLocalFirst: o.allowLocalFirst}
	checks := auth.Options{Issuer: o.jwtIssuer, Audiences: o.jwtAudiences}
	switch {
	case o.jwksURL != "":
		checks.Logger = log
		r.External = auth.NewJWKS(o.jwksURL, checks)
	case o.jwtPublicKey != "":
		text, err := keyText(o.jwtPublicKey)
		if err != nil {
			return server.Config{}, usagef("--jwt-public-key: %v", err)
		}
		k, err := auth.NewStaticKey(text, checks)
		if err != nil {
			return server.Config{}, usagef("--jwt-public-key: %v", err)
		}
		r.External = k
	}
	cfg := server.Config{
		AppID:          o.appID,
		DataDir:        o.dataDir,
		DatabaseURL:    o.databaseURL,
		InMemory:       o.inMemory,
		Resolver:       r,
		AdminSecret:    o.adminSecret,
		MaxFrameBytes:  o.maxFrameBytes,
		AppliedFor:     o.appliedFor,
		Budgets:        o.budgets,
		AllowedOrigins: o.allowedOrigins,
		Logger:         log,
		Version:        versionString(),
	}
	if o.bundleFile != "" {
		b, err := readBundle(o.bundleFile)
		if err != nil {
			return server.Config{}, err
		}
		cfg.Bundle = b
	}
	return cfg, nil
}

// keyText returns v itself when it is an inline JWK or PEM, else the
// contents of the file it names.
func keyText(v string) (string, error) {
	t := strings.TrimSpace(v)
	if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "-----BEGIN") {
		return t, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", fmt.Errorf("neither an inline JWK or PEM key nor a readable file: %w", err)
	}
	return string(b), nil
}

func readBundle(path string) (*bundle.Bundle, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the bundle: %w", err)
	}
	b, err := bundle.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
