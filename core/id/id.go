// Package id generates row and change ids: UUIDv7 (RFC 9562), so ids made on
// any client are unique without coordination and sort by creation time.
package id

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"sync"

	"github.com/jazzgo/jazz-tools/core/clock"
)

// ErrMalformed is returned by Valid's callers for ids that are not UUIDs.
var ErrMalformed = errors.New("id: not a UUID")

// Generator makes UUIDv7s from a clock and a random source. Within one
// millisecond it increments a counter so ids from one generator stay ordered.
type Generator struct {
	mu     sync.Mutex
	clock  clock.Clock
	rand   io.Reader
	lastMs int64
	seq    uint16
}

// NewGenerator returns a generator; nil arguments mean the system clock and
// crypto/rand.
func NewGenerator(c clock.Clock, r io.Reader) *Generator {
	if c == nil {
		c = clock.System{}
	}
	if r == nil {
		r = rand.Reader
	}
	return &Generator{clock: c, rand: r}
}

// New returns a fresh UUIDv7 in its canonical text form.
func (g *Generator) New() string {
	var b [16]byte
	g.mu.Lock()
	ms := g.clock.Now().UnixMilli()
	if ms <= g.lastMs {
		ms = g.lastMs
		g.seq++
		if g.seq > 0xfff {
			// The 12-bit counter is full: borrow the next millisecond
			// (RFC 9562 §6.2) rather than wrap and break the order.
			ms++
			g.lastMs = ms
			g.seq = 0
		}
	} else {
		g.lastMs = ms
		g.seq = 0
	}
	seq := g.seq
	_, err := io.ReadFull(g.rand, b[8:])
	g.mu.Unlock()
	if err != nil {
		panic("id: random source failed: " + err.Error())
	}
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | byte(seq>>8&0x0f)
	b[7] = byte(seq)
	b[8] = b[8]&0x3f | 0x80
	return Format(b)
}

// Format writes 16 bytes in the canonical lowercase 8-4-4-4-12 UUID form.
func Format(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// Valid reports whether s is a canonical lowercase UUID of any version.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
