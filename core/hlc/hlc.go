// Package hlc is a hybrid logical clock. Its timestamps order every change in
// the system totally and consistently with causality, which is what lets
// per-column last-writer-wins converge no matter the order changes arrive in.
package hlc

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/jazzgo/jazz-tools/core/clock"
)

// Timestamp orders changes: by Wall (milliseconds), then Logical, then Node,
// so two distinct nodes never produce equal timestamps.
type Timestamp struct {
	Wall    int64
	Logical uint32
	Node    string
}

// MaxDrift is how far ahead of our own clock a remote timestamp may be before
// it is refused, so one client with a broken clock cannot drag every other
// replica's clock into the future.
const MaxDrift = 24 * 60 * 60 * 1000

var (
	// ErrBadTimestamp is returned when a timestamp cannot be parsed.
	ErrBadTimestamp = errors.New("hlc: malformed timestamp")
	// ErrDrift is returned by Observe for a timestamp too far in the future.
	ErrDrift = errors.New("hlc: timestamp too far in the future")
)

// Compare returns -1, 0 or 1.
func (t Timestamp) Compare(u Timestamp) int {
	switch {
	case t.Wall != u.Wall:
		if t.Wall < u.Wall {
			return -1
		}
		return 1
	case t.Logical != u.Logical:
		if t.Logical < u.Logical {
			return -1
		}
		return 1
	}
	return strings.Compare(t.Node, u.Node)
}

// IsZero reports whether t is the zero timestamp (before every real one).
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// String encodes t so that byte order equals timestamp order:
// 13 hex digits of wall time, 8 of logical, then the node.
func (t Timestamp) String() string {
	return string(t.AppendText(make([]byte, 0, 21+len(t.Node))))
}

// AppendText appends the String form to b without intermediate allocations;
// it is on the path of every persisted cell.
func (t Timestamp) AppendText(b []byte) []byte {
	b = appendHex(b, uint64(t.Wall), 13)
	b = appendHex(b, uint64(t.Logical), 8)
	return append(b, t.Node...)
}

func appendHex(b []byte, v uint64, width int) []byte {
	const digits = "0123456789abcdef"
	for i := width - 1; i >= 0; i-- {
		b = append(b, digits[(v>>(4*uint(i)))&0xf])
	}
	return b
}

// Parse decodes the String form. It runs once per stored cell when a
// replica loads, so it validates the canonical form digit by digit instead
// of formatting the result again to compare.
func Parse(s string) (Timestamp, error) {
	if len(s) < 21 || len(s) > 21+64 {
		return Timestamp{}, fmt.Errorf("%w: %q", ErrBadTimestamp, s)
	}
	var wall, logical uint64
	for i := 0; i < 21; i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		default:
			return Timestamp{}, fmt.Errorf("%w: %q is not canonical", ErrBadTimestamp, s)
		}
		if i < 13 {
			wall = wall<<4 | d
		} else {
			logical = logical<<4 | d
		}
	}
	// 13 hex digits hold at most 52 bits: always a valid positive int64.
	return Timestamp{Wall: int64(wall), Logical: uint32(logical), Node: s[21:]}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (t Timestamp) MarshalText() ([]byte, error) { return t.AppendText(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Timestamp) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*t = p
	return nil
}

// Clock issues timestamps for one node.
type Clock struct {
	mu   sync.Mutex
	wall clock.Clock
	node string
	last Timestamp
}

// New returns a clock for node reading physical time from wall.
func New(wall clock.Clock, node string) *Clock { return &Clock{wall: wall, node: node} }

// Now returns a timestamp greater than every one issued or observed before.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	phys := c.wall.Now().UnixMilli()
	if phys > c.last.Wall {
		c.last = Timestamp{Wall: phys, Node: c.node}
	} else if c.last.Logical == math.MaxUint32 {
		// The logical counter is full (an observed remote can fill it): move
		// to the next millisecond rather than wrap back to 0.
		c.last = Timestamp{Wall: c.last.Wall + 1, Node: c.node}
	} else {
		c.last = Timestamp{Wall: c.last.Wall, Logical: c.last.Logical + 1, Node: c.node}
	}
	return c.last
}

// Raise makes later local timestamps order after t, like Observe but with
// no drift check: for timestamps the replica already holds (its stored
// rows, checked when they arrived), so that a write after a restart, in the
// same millisecond or after the wall clock stepped back, still orders after
// the cells it overwrites; and for the server's timestamps on a client, since
// the server's clock is the one that decides.
func (c *Clock) Raise(t Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.raiseLocked(t)
}

func (c *Clock) raiseLocked(t Timestamp) {
	if t.Wall > c.last.Wall || (t.Wall == c.last.Wall && t.Logical > c.last.Logical) {
		c.last = Timestamp{Wall: t.Wall, Logical: t.Logical, Node: c.node}
	}
}

// Observe merges a remote timestamp so later local ones order after it.
func (c *Clock) Observe(t Timestamp) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Wall > c.wall.Now().UnixMilli()+MaxDrift {
		return ErrDrift
	}
	c.raiseLocked(t)
	return nil
}
