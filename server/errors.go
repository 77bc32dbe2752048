package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jazzgo/jazz-tools/core/engine"
)

// Error catalogue.
var (
	// ErrClosed is returned by operations on a Server after Close.
	ErrClosed = errors.New("server: closed")
	// errFrameTooLarge is what a transport returns for a frame over
	// Config.MaxFrameBytes; the connection answers it with frame_too_large.
	errFrameTooLarge = errors.New("server: frame too large")
	// errInvalidUTF8 is a text message that is not UTF-8, which RFC 6455
	// answers with close 1007 (invalid frame payload data).
	errInvalidUTF8 = errors.New("server: text frame is not valid UTF-8")
	// errBinaryFrame is a binary WebSocket message; the protocol is text only.
	errBinaryFrame = errors.New("server: binary frames are not part of the protocol")
	// errQueueFull means a client is not reading fast enough; it is
	// disconnected rather than allowed to hold up fan-out to everyone else.
	errQueueFull = errors.New("server: outgoing queue full")
	// errClosing means the connection is already being closed.
	errClosing = errors.New("server: connection closing")
)

// ConfigError explains why New refused a Config.
type ConfigError struct {
	Field   string
	Problem string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("server: Config.%s: %s", e.Field, e.Problem) }

// IncompatibleBundleError means a bundle is valid on its own but the engine
// cannot open the stored data with it: a stored value no longer fits its
// column (a type change that schema.Compare could not see, such as one in
// a deleted row's last values). The previous bundle stays in force.
type IncompatibleBundleError struct {
	Err error
}

func (e *IncompatibleBundleError) Error() string {
	why := strings.ReplaceAll(e.Err.Error(), engine.ErrCorrupt.Error()+": ", "")
	return "server: the stored rows cannot be read with this bundle, so it was not published and the previous one stays in force (" +
		why + "). A column's type probably changed: keep the old column and add a new one with the new type instead (docs/schema-changes.md)"
}

func (e *IncompatibleBundleError) Unwrap() error { return e.Err }

// BudgetError is a request refused because it would exceed one of the
// server's budgets (Config.Budgets); the client is told with a
// budget_exceeded error frame naming Budget and Limit.
type BudgetError struct {
	Budget string
	Limit  int
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("server: over the %s budget of %d", e.Budget, e.Limit)
}
