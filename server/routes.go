package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// HeaderAdminSecret carries the admin secret on admin routes.
const HeaderAdminSecret = "X-Jazz-Admin-Secret"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("GET /apps/{appId}/session", s.handleSession)
	mux.HandleFunc("GET /apps/{appId}/ws", s.handleWS)
	mux.HandleFunc("PUT /apps/{appId}/admin/bundle", s.handlePutBundle)
	mux.HandleFunc("GET /apps/{appId}/admin/bundle", s.handleGetBundle)
	mux.HandleFunc("GET /apps/{appId}/admin/inspector", s.handleInspectorPage)
	mux.HandleFunc("GET /apps/{appId}/admin/inspect/tables", s.handleInspectTables)
	mux.HandleFunc("GET /apps/{appId}/admin/inspect/rows", s.handleInspectRows)
	mux.HandleFunc("GET /apps/{appId}/admin/inspect/row", s.handleInspectRow)
	mux.HandleFunc("GET /apps/{appId}/admin/inspect/connections", s.handleInspectConnections)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	})
	return mux
}

// errorBody is every non-auth HTTP error: a stable code and a message.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: code, Message: message})
}

// appFound answers 404 for an app this server does not serve.
func (s *Server) appFound(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("appId") != s.cfg.AppID {
		writeError(w, http.StatusNotFound, "not_found", "this server does not serve that app")
		return false
	}
	return true
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	db, err := s.app.current()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
		AppID  string `json:"appId"`
		Seq    uint64 `json:"seq"`
	}{"ok", s.cfg.AppID, db.Seq()})
}

// handleSession tells a caller who the server thinks it is, by the same
// rules as the WebSocket handshake. Backends use it to check their setup.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	if !s.appFound(w, r) {
		return
	}
	sess, _, err := s.cfg.Resolver.ResolveWithExpiry(r.Context(), auth.CredentialsFromRequest(r))
	if err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) {
			ae = &auth.Error{Code: auth.CodeInvalid, Message: "credentials could not be verified"}
		}
		loggerFrom(r.Context()).Info("session refused", "code", string(ae.Code))
		writeJSON(w, http.StatusUnauthorized, ae)
		return
	}
	writeJSON(w, http.StatusOK, sess)
}

// admin checks the admin secret. Both sides are hashed before the
// constant-time comparison so neither the content nor the length of the
// configured secret shows in the timing.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) bool {
	if !s.appFound(w, r) {
		return false
	}
	if s.cfg.AdminSecret == "" {
		writeError(w, http.StatusForbidden, "admin_disabled", "no admin secret is configured on this server")
		return false
	}
	got := sha256.Sum256([]byte(r.Header.Get(HeaderAdminSecret)))
	if subtle.ConstantTimeCompare(got[:], s.adminDigest[:]) != 1 {
		loggerFrom(r.Context()).Warn("admin secret mismatch")
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong "+HeaderAdminSecret)
		return false
	}
	return true
}

func (s *Server) handlePutBundle(w http.ResponseWriter, r *http.Request) {
	if !s.admin(w, r) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, bundle.MaxSize+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_bundle", "reading the body: "+err.Error())
		return
	}
	b, err := bundle.Decode(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_bundle", err.Error())
		return
	}
	var force bool
	switch v := r.URL.Query().Get("force"); v {
	case "", "false", "0":
	case "true", "1":
		force = true
	default:
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("force=%q: use force=true or leave it out", v))
		return
	}
	var (
		ie *IncompatibleBundleError
		ue *schema.UnsafeChangeError
	)
	res, err := s.PublishWith(r.Context(), b, PublishOptions{Force: force})
	switch {
	case errors.As(err, &ue):
		writeJSON(w, http.StatusConflict, unsafeChangeBody{Error: "unsafe_schema_change", Message: ue.Error(),
			Forceable: ue.Forceable(), Breaks: ue.Breaks})
	case errors.As(err, &ie):
		writeError(w, http.StatusConflict, "incompatible_bundle", ie.Error())
	case errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
	case err != nil:
		loggerFrom(r.Context()).Error("publishing a bundle failed", "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "the bundle could not be stored")
	default:
		writeJSON(w, http.StatusOK, publishedBody{OK: true, Filled: res.Filled, Forced: res.Forced})
	}
}

// unsafeChangeBody is the refusal of a schema change that would break rows
// or old clients: every break with its code, and whether ?force=true would
// publish it.
type unsafeChangeBody struct {
	Error     string         `json:"error"`
	Message   string         `json:"message"`
	Forceable bool           `json:"forceable"`
	Breaks    []schema.Break `json:"breaks"`
}

// publishedBody is a publish's answer: the defaults written into existing
// rows and the breaks a forced publish went through with.
type publishedBody struct {
	OK     bool           `json:"ok"`
	Filled []schema.Fill  `json:"filled,omitempty"`
	Forced []schema.Break `json:"forced,omitempty"`
}

func (s *Server) handleGetBundle(w http.ResponseWriter, r *http.Request) {
	if !s.admin(w, r) {
		return
	}
	b := s.app.bundle()
	if b == nil {
		writeError(w, http.StatusNotFound, "no_bundle", "no bundle has been published yet")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// handleWS upgrades first and only then checks anything, because a browser
// hides the status of a refused upgrade: every refusal after this point is
// a structured error frame followed by a close code.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	log := loggerFrom(r.Context())
	if s.closed.Load() {
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	}
	wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns:  s.cfg.AllowedOrigins,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		// The library has already answered (403 for a foreign origin).
		log.Warn("websocket upgrade refused", "error", err)
		return
	}
	log = log.With("remote", r.RemoteAddr)
	s.serveConn(newWSTransport(wc, s.cfg.MaxFrameBytes), log, requestIDFrom(r.Context()), r.PathValue("appId"))
}
