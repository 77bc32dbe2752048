package limits

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// Reader reads JSON that CheckJSON has accepted, for the decoders of the
// frames a client receives most (rows), which spend most of a client's
// time in encoding/json otherwise: reflection, and a copy of every string.
//
// It is strict and small: every method reports false at anything it does
// not handle exactly as encoding/json (with UseNumber) would, and the
// caller then decodes the frame with encoding/json, which either accepts it
// (the same values) or says what is wrong. So Reader never accepts what
// encoding/json refuses, and never decodes a value differently.
type Reader struct {
	b []byte
	i int
}

// NewReader reads b from its start.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Pos is the offset of the next byte to read.
func (r *Reader) Pos() int { return r.i }

func (r *Reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// Byte consumes c (after whitespace) and reports whether it was there.
func (r *Reader) Byte(c byte) bool {
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// Peek returns the next byte after whitespace, or 0 at the end.
func (r *Reader) Peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// End reports whether only whitespace is left.
func (r *Reader) End() bool {
	r.ws()
	return r.i == len(r.b)
}

// Members reads an object, calling member with each name; member reads the
// value. It reports false for anything but an object of well-formed
// members, or as soon as member does.
func (r *Reader) Members(member func(name string) bool) bool {
	if !r.Byte('{') {
		return false
	}
	if r.Byte('}') {
		return true
	}
	for {
		name, ok := r.String()
		if !ok || !r.Byte(':') || !member(name) {
			return false
		}
		if r.Byte('}') {
			return true
		}
		if !r.Byte(',') {
			return false
		}
	}
}

// Elements reads an array, calling elem for each element (elem reads it).
func (r *Reader) Elements(elem func() bool) bool {
	if !r.Byte('[') {
		return false
	}
	if r.Byte(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if r.Byte(']') {
			return true
		}
		if !r.Byte(',') {
			return false
		}
	}
}

// String reads a string.
func (r *Reader) String() (string, bool) {
	if !r.Byte('"') {
		return "", false
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s := string(r.b[start:r.i])
			r.i++
			return s, true
		case c == '\\':
			return r.escaped(start)
		case c < 0x20:
			return "", false
		}
		r.i++
	}
	return "", false
}

// escaped finishes a string that has escapes, from its first backslash.
func (r *Reader) escaped(start int) (string, bool) {
	out := append(make([]byte, 0, r.i-start+16), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			return "", false
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(c1) {
				// Only a well-formed pair; a lone half is encoding/json's
				// to judge.
				if r.i+1 >= len(r.b) || r.b[r.i] != '\\' || r.b[r.i+1] != 'u' {
					return "", false
				}
				r.i += 2
				c2, ok := r.hex4()
				if !ok {
					return "", false
				}
				c1 = utf16.DecodeRune(c1, c2)
				if c1 == utf8.RuneError {
					return "", false
				}
			}
			out = utf8.AppendRune(out, c1)
		default:
			return "", false
		}
	}
	return "", false
}

func (r *Reader) hex4() (rune, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	var v rune
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.i += 4
	return v, true
}

// Number reads a number's text, checked against JSON's grammar.
func (r *Reader) Number() (string, bool) {
	r.ws()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case r.digits() == 0:
		return "", false
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if r.digits() == 0 {
			return "", false
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if r.digits() == 0 {
			return "", false
		}
	}
	return string(r.b[start:r.i]), true
}

func (r *Reader) digits() int {
	n := 0
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		r.i++
		n++
	}
	return n
}

// Uint reads a number that fits a uint64 and has no sign, fraction or
// exponent (as encoding/json decodes into a uint64).
func (r *Reader) Uint() (uint64, bool) {
	s, ok := r.Number()
	if !ok || s == "" || s[0] == '-' {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || v > (1<<64-1-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// Bool reads true or false.
func (r *Reader) Bool() (bool, bool) {
	switch {
	case r.literal("true"):
		return true, true
	case r.literal("false"):
		return false, true
	}
	return false, false
}

func (r *Reader) literal(s string) bool {
	r.ws()
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// Value reads any value as encoding/json decodes it into an interface
// with UseNumber: string, json.Number, bool, nil, []any or map[string]any.
func (r *Reader) Value() (any, bool) {
	switch r.Peek() {
	case '"':
		return r.String()
	case '{':
		m := map[string]any{}
		ok := r.Members(func(name string) bool {
			v, ok := r.Value()
			m[name] = v
			return ok
		})
		return m, ok
	case '[':
		a := []any{}
		ok := r.Elements(func() bool {
			v, ok := r.Value()
			a = append(a, v)
			return ok
		})
		return a, ok
	case 't', 'f':
		return r.Bool()
	case 'n':
		return nil, r.literal("null")
	}
	s, ok := r.Number()
	return json.Number(s), ok
}
