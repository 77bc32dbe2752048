package server

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
)

// The inspector is a page for looking at an app as the server holds it:
// its tables and rows (filtered with the query language), a row's edit
// metadata, the live connections with their sessions and subscriptions, and
// the bundle in force. The page itself carries no data; everything it shows
// comes from the admin JSON routes below, each behind the admin secret,
// which the page sends as a header and never puts in a URL.

//go:embed inspector.html
var inspectorPage []byte

// inspectorRowLimit bounds a rows request that names no limit.
const inspectorRowLimit = 100

func (s *Server) handleInspectorPage(w http.ResponseWriter, r *http.Request) {
	if !s.appFound(w, r) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The page runs only its own inline code and talks only to this server.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(inspectorPage)
}

type inspectTable struct {
	Name    string `json:"name"`
	Columns any    `json:"columns"`
	Rows    int    `json:"rows"`
}

// handleInspectTables lists the tables with their columns and live rows.
func (s *Server) handleInspectTables(w http.ResponseWriter, r *http.Request) {
	db, ok := s.inspected(w, r)
	if !ok {
		return
	}
	out := []inspectTable{}
	for _, t := range db.Schema().Tables {
		n, _ := db.Count(t.Name)
		out = append(out, inspectTable{Name: t.Name, Columns: t.Columns, Rows: n})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleInspectRows runs the query in ?q= (core/query's JSON: a table, a
// where, an order, a window) as the backend, which no policy binds.
func (s *Server) handleInspectRows(w http.ResponseWriter, r *http.Request) {
	db, ok := s.inspected(w, r)
	if !ok {
		return
	}
	q, err := query.Decode([]byte(r.URL.Query().Get("q")))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", err.Error())
		return
	}
	if q.Limit == 0 {
		q.Limit = inspectorRowLimit
	}
	rows, err := db.All(engine.Actor{Backend: true}, q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", err.Error())
		return
	}
	if rows == nil {
		rows = []engine.Row{}
	}
	writeJSON(w, http.StatusOK, rows)
}

// handleInspectRow returns a row's stored state: every cell with the time
// it was last written (its hybrid timestamp), and the row's sequence
// number, deleted rows included.
func (s *Server) handleInspectRow(w http.ResponseWriter, r *http.Request) {
	db, ok := s.inspected(w, r)
	if !ok {
		return
	}
	st, found := db.State(r.URL.Query().Get("table"), r.URL.Query().Get("id"))
	if !found {
		writeError(w, http.StatusNotFound, "not_found", "no such row")
		return
	}
	b, err := st.AppendJSON(nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(b))
}

type inspectConn struct {
	ID       string       `json:"id"`
	Opened   time.Time    `json:"opened"`
	UserID   string       `json:"userId,omitempty"`
	AuthMode string       `json:"authMode,omitempty"`
	Backend  bool         `json:"backend,omitempty"`
	Paused   bool         `json:"paused,omitempty"`
	FramesIn int64        `json:"framesIn"`
	Subs     []inspectSub `json:"subscriptions"`
}

type inspectSub struct {
	ID         string       `json:"id"`
	Query      *query.Query `json:"query"`
	Cursor     uint64       `json:"cursor"`
	CatchingUp bool         `json:"catchingUp,omitempty"`
	Pending    int          `json:"pending"`
}

// handleInspectConnections lists the open connections, who each is and
// what it subscribes to.
func (s *Server) handleInspectConnections(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.inspected(w, r); !ok {
		return
	}
	out := []inspectConn{}
	s.hub.each(func(c *conn) {
		c.mu.Lock()
		ic := inspectConn{ID: c.id, Opened: c.opened, Backend: c.actor.Backend, Paused: c.paused, FramesIn: c.framesIn.Load(), Subs: []inspectSub{}}
		if sess := c.actor.Session; sess != nil {
			ic.UserID, ic.AuthMode = sess.UserID, string(sess.AuthMode)
		}
		for _, sb := range c.subs {
			ic.Subs = append(ic.Subs, inspectSub{ID: sb.id, Query: sb.q, Cursor: sb.cursor, CatchingUp: sb.catchUp != nil, Pending: len(sb.pending)})
		}
		c.mu.Unlock()
		sort.Slice(ic.Subs, func(i, j int) bool { return ic.Subs[i].ID < ic.Subs[j].ID })
		out = append(out, ic)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Opened.Before(out[j].Opened) })
	writeJSON(w, http.StatusOK, out)
}

// inspected checks the admin secret and returns the engine in force.
func (s *Server) inspected(w http.ResponseWriter, r *http.Request) (*engine.DB, bool) {
	if !s.admin(w, r) {
		return nil, false
	}
	db, err := s.app.current()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return nil, false
	}
	return db, true
}
