// Package protocol defines the messages the sync client and server exchange
// over one WebSocket, and their strict, size-bounded codec. docs/protocol.md
// is the prose form of this file; the two must agree.
//
// Every frame is one JSON object with a "t" field naming its type. The first
// client frame is always Hello: browsers cannot set headers on a WebSocket,
// so credentials travel in-band.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/session"
)

// Version is the protocol version this build speaks.
const Version = 1

// Limits of the protocol itself. The size and depth of a frame are
// limits.MaxFrameBytes and limits.MaxFrameDepth; a frame over either is
// refused before it is parsed.
const (
	MaxChangesPerPush = limits.MaxChangesPerPush
	MaxSubscriptions  = 256
	MaxSubIDLen       = 64
	MaxScopeLen       = 64
)

// Close codes sent with the WebSocket close frame (4000-4999 are for
// applications). The structured error frame that precedes the close says
// more.
const (
	CloseProtocolError   = 4400 // a malformed, unexpected or oversized frame
	CloseUnauthenticated = 4401 // the handshake's credentials were refused
	CloseWrongApp        = 4404 // the app id does not exist on this server
	CloseGoingAway       = 1001 // server shutting down
)

// Message types.
const (
	THello   = "hello"
	TAuth    = "auth"
	TSub     = "sub"
	TUnsub   = "unsub"
	TPush    = "push"
	TPing    = "ping"
	TWelcome = "welcome"
	TAuthed  = "authed"
	TRows    = "rows"
	TAck     = "ack"
	TReject  = "reject"
	TPong    = "pong"
	TError   = "error"
)

// ErrBadFrame wraps every reason a frame is refused.
var ErrBadFrame = errors.New("protocol: bad frame")

// Auth carries the same credentials as the HTTP headers would, plus the two
// backend-actor fields that have no header form.
type Auth struct {
	Bearer        string `json:"bearer,omitempty"`
	BackendSecret string `json:"backendSecret,omitempty"`
	// Session is the X-Jazz-Session value (base64 JSON) for impersonation.
	Session string `json:"session,omitempty"`
	// ActAs, with BackendSecret, asks to act as the backend itself
	// (ActAsBackend): no session, policies skipped, writes authored
	// Attribution or session.SystemUser. The only value is ActAsBackend.
	ActAs string `json:"actAs,omitempty"`
	// Attribution, with ActAs, is the user id the backend's writes are
	// stamped with (at most MaxAttributionLen characters). It changes
	// authorship only, never permissions.
	Attribution string `json:"attribution,omitempty"`
}

// ActAsBackend is the one value of Auth.ActAs.
const ActAsBackend = "backend"

// MaxAttributionLen bounds Auth.Attribution, in characters.
const MaxAttributionLen = 256

// Hello opens a connection (client to server).
type Hello struct {
	V     int    `json:"v"`
	AppID string `json:"appId"`
	Auth  Auth   `json:"auth"`
}

// AuthMsg re-authenticates an open connection in-band, e.g. after expiry.
// Only the same principal is accepted.
type AuthMsg struct {
	Auth Auth `json:"auth"`
}

// Sub registers a live query. Cursor is the last server sequence number the
// client has seen for this query; the server sends only rows changed after
// it (0 = everything). Scope is the Welcome/Authed scope the cursor was
// received under: under another scope the server starts from 0, because
// rows the cursor skips may have been hidden from the old one.
type Sub struct {
	ID     string       `json:"id"`
	Query  *query.Query `json:"query"`
	Cursor uint64       `json:"cursor,omitempty"`
	Scope  string       `json:"scope,omitempty"`
}

// Unsub removes a live query.
type Unsub struct {
	ID string `json:"id"`
}

// Push sends local changes. The server answers each with Ack or Reject.
//
// A push with Batch set carries one batch, every change of it: the server
// applies them all or none, then answers with one Ack listing them all
// (Ack.Batch set) or one Reject naming the batch. Without Batch each
// change stands alone.
type Push struct {
	Changes []*engine.Change `json:"changes"`
	Batch   string           `json:"batch,omitempty"`
}

// Ping and Pong are heartbeats; N is echoed.
type Ping struct {
	N uint64 `json:"n"`
}

// Welcome accepts Hello.
type Welcome struct {
	V int `json:"v"`
	// Session is the resolved session; null for a backend actor (ActAs).
	Session *session.Session `json:"session"`
	// ExpiresAt is when the credentials expire (Unix ms), 0 for never.
	ExpiresAt int64 `json:"expiresAt,omitempty"`
	// Backend is set when the connection acts as the backend itself
	// (Auth.ActAs): policies are skipped.
	Backend bool `json:"backend,omitempty"`
	// Attribution echoes Auth.Attribution of a backend actor: the author
	// its writes are stamped with.
	Attribution string `json:"attribution,omitempty"`
	// Scope names what the session may read (its user, auth mode and
	// claims, as a digest). A cursor is only valid under the scope it was
	// received under: a client stores it with the cursor and sends it back
	// in Sub.
	Scope string `json:"scope,omitempty"`
}

// Authed accepts an in-band AuthMsg. When its Scope differs from the
// connection's previous one (the token's claims changed), the server
// starts every subscription over: each sends its whole result, ending with
// Complete, and nothing else for it comes before.
type Authed struct {
	Session     *session.Session `json:"session"`
	ExpiresAt   int64            `json:"expiresAt,omitempty"`
	Backend     bool             `json:"backend,omitempty"`
	Attribution string           `json:"attribution,omitempty"`
	Scope       string           `json:"scope,omitempty"`
}

// Rows carries confirmed row states. Sub names the subscription for the
// initial or resumed result (Complete marks its end); live changes for any
// subscription arrive with Sub set too. Cursor is the server sequence number
// the client may resume that subscription from.
type Rows struct {
	Sub      string            `json:"sub"`
	Rows     []engine.RowState `json:"rows"`
	Cursor   uint64            `json:"cursor"`
	Complete bool              `json:"complete,omitempty"`
	// Reset, on a complete frame, says the result just sent is the whole
	// result, though the client resumed from a cursor: a row the policies
	// consult changed since, so rows may have been hidden without changing
	// themselves. The client forgets the rows it holds for the query that
	// the result left out and that nothing refreshed since its cursor.
	Reset bool `json:"reset,omitempty"`
}

// Ack confirms changes by id, persisted on the server, with the resulting
// row states (which the client may not otherwise be subscribed to). Stamps
// maps the id of each change applied by this push to the timestamp the
// server gave it (the server decides every change's time; a resend the
// server had applied before has none): the client keeps the change under
// that time, not its own.
type Ack struct {
	IDs []string `json:"ids"`
	// Batch names the batch these ids are all of, when the push carried one.
	Batch  string                   `json:"batch,omitempty"`
	Stamps map[string]hlc.Timestamp `json:"stamps,omitempty"`
	Rows   []engine.RowState        `json:"rows,omitempty"`
}

// Reject refuses one change; the client rolls it back and reports Error to
// the writer. With Batch set it refuses that whole batch, nothing of it
// applied: ID is the change that failed, and the client rolls back every
// change of the batch.
type Reject struct {
	ID    string    `json:"id"`
	Batch string    `json:"batch,omitempty"`
	Error ErrorBody `json:"error"`
}

// ErrorBody is a typed error on the wire. Name and Code are stable; Table and
// Operation are set for write denials, Column for validation errors.
type ErrorBody struct {
	Name      string `json:"name"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Table     string `json:"table,omitempty"`
	Operation string `json:"operation,omitempty"`
	Column    string `json:"column,omitempty"`
}

// Error is a connection-level failure. For authentication failures Error is
// "unauthenticated" and Code one of expired, missing, invalid, disabled; for
// protocol failures Error is "protocol". A request refused by one of the
// server's budgets has Code CodeBudgetExceeded and names the budget and its
// limit, so a client can tell which of its demands to reduce.
type Error struct {
	Error   string `json:"error"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Budget  string `json:"budget,omitempty"`
	Limit   int    `json:"limit,omitempty"`
	// Sub names the subscription a refused sub frame asked for (bad_query,
	// budget_exceeded): its result will not come.
	Sub string `json:"sub,omitempty"`
}

// CodeBudgetExceeded is the Error code of a request refused by a server
// budget; the connection stays open.
const CodeBudgetExceeded = "budget_exceeded"

// CodeUnsupportedVersion is the Code of the protocol Error a server sends
// for a hello of a protocol version it does not speak (ErrVersion); the
// client cannot fix that by retrying.
const CodeUnsupportedVersion = "unsupported_version"

// ErrorNoBundle is the Error of the frame a server sends right after
// welcome when no schema has been published for the app: every query and
// write will be refused until one is. The connection stays open (a
// publish closes it, and the next welcome comes without this frame).
// Clients that do not know it log it and go on.
const ErrorNoBundle = "no_bundle"

// ErrVersion is wrapped by the decode error of a hello of another
// protocol version.
var ErrVersion = errors.New("unsupported protocol version")

// Frame is a decoded message: Type plus exactly one typed body.
type Frame struct {
	Type string
	Body any
}

// Encode marshals a message with its type tag, through limits.Marshal (no
// HTML escaping), so a row goes out at the size it was measured at.
func Encode(typ string, body any) ([]byte, error) {
	b, err := limits.Marshal(body)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("protocol: %s body must encode as an object", typ)
	}
	out := make([]byte, 0, len(b)+len(typ)+8)
	out = append(out, `{"t":`...)
	out = append(out, strconvQuote(typ)...)
	if len(b) > 2 {
		out = append(out, ',')
	}
	out = append(out, b[1:]...)
	return out, nil
}

func strconvQuote(s string) []byte { b, _ := limits.Marshal(s); return b }

// frames makes, for each message type, an empty frame to decode into: env
// holds the "t" tag and embeds body, so encoding/json flattens the body's
// fields next to the tag and one strict pass decodes both (the tag is not an
// unknown field, nothing is parsed twice).
//
// The envelope types below are written out rather than built with
// reflect.StructOf: building them at package init cost several
// milliseconds of every browser start. They are aliases of unnamed struct
// types, as the StructOf ones were, so encoding/json's error messages stay
// the same ("Go struct field .Hello.v of type int").
var frames = map[string]func() (env, body any){
	THello:   func() (any, any) { e := &helloFrame{Hello: new(Hello)}; return e, e.Hello },
	TAuth:    func() (any, any) { e := &authFrame{AuthMsg: new(AuthMsg)}; return e, e.AuthMsg },
	TSub:     func() (any, any) { e := &subFrame{Sub: new(Sub)}; return e, e.Sub },
	TUnsub:   func() (any, any) { e := &unsubFrame{Unsub: new(Unsub)}; return e, e.Unsub },
	TPush:    func() (any, any) { e := &pushFrame{Push: new(Push)}; return e, e.Push },
	TPing:    func() (any, any) { e := &pingFrame{Ping: new(Ping)}; return e, e.Ping },
	TWelcome: func() (any, any) { e := &welcomeFrame{Welcome: new(Welcome)}; return e, e.Welcome },
	TAuthed:  func() (any, any) { e := &authedFrame{Authed: new(Authed)}; return e, e.Authed },
	TRows:    func() (any, any) { e := &rowsFrame{Rows: new(Rows)}; return e, e.Rows },
	TAck:     func() (any, any) { e := &ackFrame{Ack: new(Ack)}; return e, e.Ack },
	TReject:  func() (any, any) { e := &rejectFrame{Reject: new(Reject)}; return e, e.Reject },
	TPong:    func() (any, any) { e := &pingFrame{Ping: new(Ping)}; return e, e.Ping },
	TError:   func() (any, any) { e := &errorFrame{Error: new(Error)}; return e, e.Error },
}

type helloFrame = struct {
	T string `json:"t"`
	*Hello
}

type authFrame = struct {
	T string `json:"t"`
	*AuthMsg
}

type subFrame = struct {
	T string `json:"t"`
	*Sub
}

type unsubFrame = struct {
	T string `json:"t"`
	*Unsub
}

type pushFrame = struct {
	T string `json:"t"`
	*Push
}

type pingFrame = struct {
	T string `json:"t"`
	*Ping
}

type welcomeFrame = struct {
	T string `json:"t"`
	*Welcome
}

type authedFrame = struct {
	T string `json:"t"`
	*Authed
}

type rowsFrame = struct {
	T string `json:"t"`
	*Rows
}

type ackFrame = struct {
	T string `json:"t"`
	*Ack
}

type rejectFrame = struct {
	T string `json:"t"`
	*Reject
}

type errorFrame = struct {
	T string `json:"t"`
	*Error
}

// Decode parses one frame strictly: known type, no unknown fields, no
// trailing data, within limits.MaxFrameBytes, and the per-type limits
// below. Before anything is decoded, limits.CheckJSON refuses invalid
// UTF-8, nesting past limits.MaxFrameDepth and duplicate member names at
// any depth, which encoding/json would otherwise replace, fail on deep
// inside, or settle by keeping the last.
func Decode(data []byte) (*Frame, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadFrame, fmt.Sprintf(format, args...))
	}
	if len(data) > limits.MaxFrameBytes {
		return nil, bad("%d bytes is over the %d byte limit", len(data), limits.MaxFrameBytes)
	}
	if err := limits.CheckJSON(data, limits.MaxFrameDepth); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	var head struct {
		T string `json:"t"`
	}
	if t, ok := leadingType(data); ok {
		head.T = t
	} else if err := json.Unmarshal(data, &head); err != nil {
		return nil, bad("not a JSON object: %v", err)
	}
	mk := frames[head.T]
	if mk == nil {
		return nil, bad("unknown message type %q", head.T)
	}
	// The frames a client receives most, read without reflection when they
	// are plain (fast.go); anything else, including every malformed one,
	// takes encoding/json's strict pass, which decides.
	body, ok := decodeFast(head.T, data)
	if !ok {
		var err error
		if body, err = decodeStrict(mk, data); err != nil {
			return nil, bad("%s: %v", head.T, err)
		}
	}
	if err := validate(head.T, body); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadFrame, head.T, err)
	}
	return &Frame{Type: head.T, Body: body}, nil
}

// decodeStrict is one strict encoding/json pass over a frame (see frames):
// unknown members refused, numbers kept as json.Number, nothing after it.
func decodeStrict(mk func() (env, body any), data []byte) (any, error) {
	env, body := mk()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(env); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the frame")
	}
	return body, nil
}

func validate(typ string, body any) error {
	switch b := body.(type) {
	case *Hello:
		if b.V != Version {
			return fmt.Errorf("%w %d (this server speaks %d)", ErrVersion, b.V, Version)
		}
		if b.AppID == "" {
			return errors.New("missing appId")
		}
	case *Sub:
		if b.ID == "" || len(b.ID) > MaxSubIDLen {
			return fmt.Errorf("subscription id must be 1 to %d characters", MaxSubIDLen)
		}
		if b.Query == nil {
			return errors.New("missing query")
		}
		if len(b.Scope) > MaxScopeLen {
			return fmt.Errorf("scope must be at most %d characters", MaxScopeLen)
		}
	case *Ack:
		if len(b.Stamps) > len(b.IDs) {
			return errors.New("more stamps than acknowledged ids")
		}
	case *Unsub:
		if b.ID == "" {
			return errors.New("missing id")
		}
	case *Push:
		if len(b.Changes) == 0 || len(b.Changes) > MaxChangesPerPush {
			return fmt.Errorf("a push carries 1 to %d changes", MaxChangesPerPush)
		}
		for i, c := range b.Changes {
			if c == nil {
				return fmt.Errorf("change %d is null", i)
			}
		}
	}
	return nil
}

// leadingType reads the type of a frame that starts with {"t":"<name>", as
// Encode writes them, without scanning the rest. Anything else falls back
// to a full parse; the strict decode that follows checks the whole frame.
func leadingType(data []byte) (string, bool) {
	const prefix = `{"t":"`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return "", false
	}
	rest := data[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || end > 16 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return string(rest[:end]), true
}
