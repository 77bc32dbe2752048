package protocol

import (
	"errors"
	"fmt"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// Stable error names on the wire (and, through the bridge, in JavaScript).
const (
	NameAnonymousWriteDenied = "AnonymousWriteDeniedError"
	NamePermissionDenied     = "PermissionDeniedError"
	NameValidation           = "ValidationError"
	NameNotFound             = "NotFoundError"
	NameConflict             = "ConflictError"
	NameBadChange            = "BadChangeError"
	NameInternal             = "InternalError"
)

// CodeRowTooLarge is the code of a change refused because its row would
// be too large to send (engine.RowTooLargeError); its name is
// NameValidation.
const CodeRowTooLarge = "row_too_large"

// ErrorBodyFrom describes err for the wire. Unknown errors become an
// InternalError whose message does not leak server internals.
func ErrorBodyFrom(err error) ErrorBody {
	var ae *policy.AnonymousWriteDeniedError
	var de *policy.DeniedError
	var ve *schema.ValidationError
	var rt *engine.RowTooLargeError
	switch {
	case errors.As(err, &ae):
		return ErrorBody{Name: NameAnonymousWriteDenied, Code: "anonymous_write_denied", Message: ae.Error(), Table: ae.Table, Operation: string(ae.Operation)}
	case errors.As(err, &de):
		return ErrorBody{Name: NamePermissionDenied, Code: "permission_denied", Message: de.Error(), Table: de.Table, Operation: string(de.Operation)}
	case errors.As(err, &ve):
		return ErrorBody{Name: NameValidation, Code: "validation_failed", Message: ve.Error(), Table: ve.Table, Column: ve.Column}
	case errors.As(err, &rt):
		return ErrorBody{Name: NameValidation, Code: CodeRowTooLarge, Message: rt.Error(), Table: rt.Table}
	case errors.Is(err, schema.ErrUnknownTable):
		return ErrorBody{Name: NameValidation, Code: "unknown_table", Message: err.Error()}
	case errors.Is(err, engine.ErrNotFound):
		return ErrorBody{Name: NameNotFound, Code: "not_found", Message: err.Error()}
	case errors.Is(err, engine.ErrExists):
		return ErrorBody{Name: NameConflict, Code: "row_exists", Message: err.Error()}
	case errors.Is(err, engine.ErrBadChange):
		return ErrorBody{Name: NameBadChange, Code: "bad_change", Message: err.Error()}
	}
	return ErrorBody{Name: NameInternal, Code: "internal", Message: "the server could not apply the change"}
}

// RemoteError is a change refused by the server. It unwraps to the typed
// error of the same kind (AnonymousWriteDeniedError, DeniedError,
// ValidationError, engine.ErrNotFound, ...) so callers can use errors.As and
// errors.Is on it as on a local failure.
type RemoteError struct {
	Body ErrorBody
}

func (e *RemoteError) Error() string { return "server rejected the change: " + e.Body.Message }

// Unwrap returns the local typed equivalent of the body.
func (e *RemoteError) Unwrap() error {
	b := e.Body
	switch b.Name {
	case NameAnonymousWriteDenied:
		return &policy.AnonymousWriteDeniedError{Table: b.Table, Operation: policy.Operation(b.Operation)}
	case NamePermissionDenied:
		return &policy.DeniedError{Table: b.Table, Operation: policy.Operation(b.Operation), Reason: b.Message}
	case NameValidation:
		return &schema.ValidationError{Table: b.Table, Column: b.Column, Problem: b.Message}
	case NameNotFound:
		return engine.ErrNotFound
	case NameConflict:
		return engine.ErrExists
	case NameBadChange:
		return engine.ErrBadChange
	}
	return fmt.Errorf("%s: %s", b.Name, b.Message)
}
