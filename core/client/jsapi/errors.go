// The one mapping from every Go error the core can return to the stable
// {name, code, fields} that JavaScript sees (bindings/js/src/core.d.ts).

package jsapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/sync"
)

// The names JavaScript sees (CoreErrorName in core.d.ts).
const (
	AnonymousWriteDenied = "AnonymousWriteDeniedError"
	PermissionDenied     = "PermissionDeniedError"
	Validation           = "ValidationError"
	NotFound             = "NotFoundError"
	Conflict             = "ConflictError"
	Config               = "ConfigError"
	Auth                 = "AuthError"
	Closed               = "ClosedError"
	Storage              = "StorageError"
	Sync                 = "SyncError"
	Internal             = "InternalError"
)

// ErrorBody is an error as JavaScript receives it: the fields of the rejected
// Error, or the JSON that onError listeners get. It is the wire's shape; the
// names JavaScript sees are the constants above.
type ErrorBody = protocol.ErrorBody

// Error is an error the bridge itself raises (a bad argument, a lost
// leader tab) with its name and code chosen up front.
type Error struct {
	Name, Code, Message string
}

func (e *Error) Error() string { return e.Message }

// New returns an *Error.
func NewError(name, code, format string, args ...any) error {
	return &Error{Name: name, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadArgument is the error for a call from JavaScript with arguments of the
// wrong type or shape.
func BadArgument(format string, args ...any) error {
	return NewError(Validation, "bad_argument", format, args...)
}

// Panic describes a recovered panic: the instance keeps working, the call
// fails with an InternalError.
func Panic(p any) ErrorBody {
	return ErrorBody{Name: Internal, Code: "panic", Message: fmt.Sprintf("jazz: internal error (panic): %v", p)}
}

// sentinel maps an error value matched with errors.Is. Order matters: the
// more specific entries (ErrNotLocalFirst before ErrTokenInvalid, the
// client's ErrConfig before identity errors it wraps) come first.
var sentinels = []struct {
	err        error
	name, code string
}{
	{client.ErrConfig, Config, "invalid_config"},
	{client.ErrNullToken, Auth, "null_token"},
	{client.ErrPrincipalChanged, Auth, "principal_changed"},
	{client.ErrNotExternal, Auth, "not_external"},
	{client.ErrBadToken, Auth, "bad_token"},
	{client.ErrHookTimeout, Auth, "hook_timeout"},
	{client.ErrClosed, Closed, "closed"},
	{engine.ErrClosed, Closed, "closed"},
	{storage.ErrClosed, Closed, "closed"},
	{storage.ErrWriteFailed, Storage, "storage_failed"},
	{sync.ErrClosed, Closed, "closed"},
	{sync.ErrUnknownApp, Sync, "unknown_app"},
	{sync.ErrUnreachable, Sync, "unreachable"},
	{sync.ErrWrongServer, Sync, "wrong_server"},
	{sync.ErrProtocolVersion, Sync, "protocol_version"},
	{sync.ErrNoBundle, Sync, "no_bundle"},
	{sync.ErrUndecodableFrame, Internal, "bad_frame"},
	{identity.ErrBadSecret, Config, "bad_secret"},
	{identity.ErrNotLocalFirst, Auth, "not_local_first"},
	{identity.ErrTokenExpired, Auth, "expired"},
	{identity.ErrTokenNotYetValid, Auth, "not_yet_valid"},
	{identity.ErrWrongAudience, Auth, "wrong_audience"},
	{identity.ErrTokenInvalid, Auth, "invalid"},
	{identity.ErrBadMint, Auth, "bad_mint"},
	{schema.ErrInvalidSchema, Validation, "invalid_schema"},
	{bundle.ErrInvalid, Validation, "invalid_bundle"},
	{query.ErrInvalid, Validation, "invalid_query"},
	{engine.ErrBatchTooLarge, Validation, "batch_too_large"},
	{engine.ErrCorrupt, Internal, "corrupt"},
	{context.DeadlineExceeded, Internal, "timeout"},
	{context.Canceled, Internal, "canceled"},
}

// Describe maps err to what JavaScript sees. Unknown errors become an
// InternalError carrying the error text (this is the user's own client, so
// nothing leaks).
func Describe(err error) ErrorBody {
	if err == nil {
		return ErrorBody{}
	}
	msg := err.Error()
	var (
		be *Error
		re *protocol.RemoteError
		se *sync.SubscriptionError
	)
	switch {
	case errors.As(err, &be):
		return ErrorBody{Name: be.Name, Code: be.Code, Message: msg}
	case errors.As(err, &re):
		return fromWire(re.Body, msg)
	case errors.As(err, &se):
		// A query the server cannot run is the app's to fix; a budget
		// exceeded is the server's limit, not a mistake in the query.
		name := Internal
		if se.Code == "bad_query" {
			name = Validation
		}
		return ErrorBody{Name: name, Code: se.Code, Message: msg}
	}
	// What the server would refuse (a policy, the schema, a missing or
	// existing row) is named here as the server names it.
	if b := protocol.ErrorBodyFrom(err); b.Name != protocol.NameInternal {
		return fromWire(b, msg)
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return ErrorBody{Name: s.name, Code: s.code, Message: msg}
		}
	}
	return ErrorBody{Name: Internal, Code: "internal", Message: msg}
}

// fromWire is what JavaScript sees for a refusal named for the wire: its
// code and fields, under the name JavaScript knows.
func fromWire(b ErrorBody, msg string) ErrorBody {
	name := b.Name
	switch name {
	case AnonymousWriteDenied, PermissionDenied, Validation, NotFound, Conflict:
	case protocol.NameBadChange:
		name = Validation
	default:
		name = Internal
	}
	code := b.Code
	if code == "" {
		code = "rejected"
	}
	return ErrorBody{Name: name, Code: code, Message: msg, Table: b.Table, Operation: b.Operation, Column: b.Column}
}
