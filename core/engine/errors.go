package engine

import (
	"errors"
	"fmt"
)

// Error catalogue. Policy and schema failures are the typed errors of the
// policy and schema packages (AnonymousWriteDeniedError, DeniedError,
// ValidationError), returned as is.
var (
	// ErrNotFound is returned for a row id that does not exist (or is deleted).
	ErrNotFound = errors.New("engine: row not found")
	// ErrExists is returned for an insert whose row id is already taken.
	ErrExists = errors.New("engine: row already exists")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("engine: database is closed")
	// ErrBadChange wraps every reason a change from outside is malformed.
	ErrBadChange = errors.New("engine: malformed change")
	// ErrCorrupt is returned when stored data cannot be read back.
	ErrCorrupt = errors.New("engine: stored data is corrupt")
	// ErrNoWindow is returned by WindowPage on a watch of a query with no
	// limit or offset, which keeps no result to page through: read its
	// rows with ChangedPage.
	ErrNoWindow = errors.New("engine: a watch of an unwindowed query has no window to page through")
)

func notFound(table, id string) error { return fmt.Errorf("%w: %s/%s", ErrNotFound, table, id) }
