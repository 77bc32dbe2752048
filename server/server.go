// Package server is the sync server: it stores one app's rows durably,
// resolves who each client is, enforces the app's permission policies on
// every read and write, and fans changes out to live subscriptions over
// WebSockets (docs/protocol.md), plus a few HTTP routes (docs/server.md).
//
// The package holds no auth, storage or data logic of its own: sessions come
// from server/auth, durability from server/boltstore or server/pgstore
// (several servers over one PostgreSQL, shared.go), and rows, policies and
// subscriptions from core/engine. What it adds is the glue that must be
// right on a network: one ordered reader and one bounded writer per socket,
// a handshake that always answers with a structured frame, pausing (not
// dropping) a socket whose token expired, and engine swaps when a new bundle
// is published.
package server

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// closeGrace is how long Close waits for clients to complete the close
// handshake before dropping their sockets.
const closeGrace = 5 * time.Second

// Server serves one app. Create it with New, mount Handler on an
// http.Server, and call Close on shutdown.
type Server struct {
	cfg Config
	log *slog.Logger
	app *app
	hub hub
	// subCounts counts subscriptions for the budgets spanning connections;
	// anonWorkers holds a token while an anonymous connection's worker
	// runs (Budgets.AnonymousWorkers).
	subCounts   subscriptionCounts
	anonWorkers chan struct{}
	// anonCPU is Budgets.AnonymousCPUPercent, shared by anonymous workers.
	anonCPU     *cpuBudget
	handler     http.Handler
	metrics     *metrics
	adminDigest [sha256.Size]byte
	closed      atomic.Bool
}

// New validates cfg, opens the store (creating DataDir/<AppID>.db if
// needed) and the engine over the bundle in force (see Config.Bundle).
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	a, err := openApp(context.Background(), cfg, m)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, app: a, metrics: m, adminDigest: sha256.Sum256([]byte(cfg.AdminSecret)),
		anonWorkers: make(chan struct{}, cfg.Budgets.AnonymousWorkers),
		anonCPU:     newCPUBudget(cfg.Clock, cfg.Budgets.AnonymousCPUPercent)}
	s.handler = s.withRequestLog(s.routes())
	a.follow(func(old *engine.DB) { s.closeBoundTo(old) })
	storage := "bbolt:" + cfg.DataDir
	switch {
	case cfg.InMemory:
		storage = "memory"
	case cfg.DatabaseURL != "":
		storage = "postgres"
	}
	db, _ := a.current()
	s.log.Info("app opened", "app_id", cfg.AppID, "version", cfg.Version, "storage", storage, "seq", db.Seq(),
		"tables", len(db.Schema().Tables), "bundle_published", a.bundle() != nil,
		"admin_enabled", cfg.AdminSecret != "", "local_first", cfg.Resolver.AllowLocalFirst,
		"external_auth", cfg.Resolver.External != nil, "impersonation", cfg.Resolver.BackendSecret != "")
	return s, nil
}

// Handler returns the HTTP handler serving every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Publish replaces the app's bundle, as PUT /apps/<appId>/admin/bundle
// does, without force: see PublishWith.
func (s *Server) Publish(ctx context.Context, b *bundle.Bundle) error {
	_, err := s.PublishWith(ctx, b, PublishOptions{})
	return err
}

// PublishOptions are the choices of one publish.
type PublishOptions struct {
	// Force publishes a change that would break stored rows or clients
	// still running the previous schema (schema.Break), where forcing can
	// work at all.
	Force bool
}

// Published says what a publish did beyond replacing the bundle.
type Published struct {
	// Filled are the defaults written into existing rows.
	Filled []schema.Fill
	// Forced are the breaks published because the publish was forced.
	Forced []schema.Break
}

// PublishWith replaces the app's bundle. The change is first checked
// against the bundle in force and the stored rows (schema.Compare): one
// that would break rows or old clients is refused with a
// *schema.UnsafeChangeError unless forced. Then the new bundle is
// persisted, a new engine is opened over the same store, the defaults of
// new columns are written into the rows that lack them, and every open
// connection is sent error {error:"schema_changed"} and closed with 1012
// so clients reconnect and resubscribe under the new schema and policies.
// If the stored data cannot be opened with b, the error is an
// *IncompatibleBundleError. On any error nothing changes.
func (s *Server) PublishWith(ctx context.Context, b *bundle.Bundle, opts PublishOptions) (*Published, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	closed := 0
	plan, err := s.app.publish(ctx, b, opts.Force, func(old *engine.DB) { closed = s.closeBoundTo(old) })
	if err != nil {
		return nil, err
	}
	res := &Published{Filled: plan.Fills, Forced: plan.Breaks}
	s.log.Info("bundle published", "tables", len(b.Schema.Tables), "connections_closed", closed,
		"defaults_filled", len(res.Filled), "breaks_forced", len(res.Forced))
	for _, br := range res.Forced {
		s.log.Warn("schema change forced", "code", string(br.Code), "table", br.Table, "column", br.Column, "rows", br.Rows)
	}
	return res, nil
}

// closeBoundTo sends every connection bound to old (an engine a new bundle
// replaced, here or on another server sharing the store) error
// {error:"schema_changed"} and closes it with 1012, and returns how many.
func (s *Server) closeBoundTo(old *engine.DB) int {
	frame := encodeFrame(protocol.TError, protocol.Error{Error: "schema_changed", Code: "schema_changed",
		Message: "the app's schema or policies changed; reconnect and subscribe again"})
	closed := 0
	s.hub.each(func(c *conn) {
		if c.boundTo(old) {
			closed++
			c.closeWith(closeSchemaChanged, "schema changed", frame, true)
		}
	})
	return closed
}

// Close shuts the server down: every socket is closed with 1001 (after what
// is already queued for it), then the engine and the store are closed once
// in-flight writes have finished. Acked changes are on disk before they are
// acked, so Close has nothing to flush. Close is idempotent.
func (s *Server) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.hub.shutdown(func(c *conn) { c.closeWith(protocol.CloseGoingAway, "server shutting down", nil, true) })
	select {
	case <-s.hub.wait():
	case <-time.After(closeGrace):
		s.hub.each(func(c *conn) { c.t.CloseNow() })
		<-s.hub.wait()
	}
	err := s.app.close()
	s.log.Info("server closed")
	return err
}
