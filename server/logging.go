package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// HeaderRequestID carries the id a request's (or connection's) log lines
// share, so a client report can be matched to the server's logs.
const HeaderRequestID = "X-Request-Id"

type ctxKey int

const (
	keyLogger ctxKey = iota
	keyRequestID
)

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// withRequestLog gives every request an id and a logger carrying it, and
// logs one line per request. Only method, path and status are logged: never
// headers, which carry tokens and secrets.
func (s *Server) withRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		log := s.log.With("req", id)
		w.Header().Set(HeaderRequestID, id)
		ctx := context.WithValue(r.Context(), keyLogger, log)
		ctx = context.WithValue(ctx, keyRequestID, id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r.WithContext(ctx))
		log.Log(r.Context(), requestLevel(r.URL.Path, rec.status), "http request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration_ms", time.Since(start).Milliseconds())
	})
}

// requestLevel logs health checks and metric scrapes, which a load balancer
// or Prometheus sends every few seconds, at DEBUG while they succeed, so
// they do not bury everything else at INFO. A failing one is INFO.
func requestLevel(path string, status int) slog.Level {
	if (path == "/health" || path == "/metrics") && status < 400 {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// statusRecorder remembers the status for the request log. It must pass
// Hijack through: the websocket library upgrades by hijacking.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	written bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.written {
		r.status, r.written = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.written = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: response writer cannot be hijacked")
	}
	r.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
