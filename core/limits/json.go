package limits

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Error catalogue.
var (
	// ErrInvalidUTF8 is JSON that is not valid UTF-8. encoding/json would
	// silently replace the bad bytes with U+FFFD, storing something other
	// than what was sent.
	ErrInvalidUTF8 = errors.New("limits: JSON is not valid UTF-8")
	// ErrTooDeep is JSON nested deeper than the limit it was checked
	// against.
	ErrTooDeep = errors.New("limits: JSON nests too deeply")
	// ErrDuplicateMember is an object with two members of the same name.
	// RFC 8259 leaves duplicates to the reader and readers differ (first
	// wins, last wins, error), so such JSON could mean one thing to the
	// checks and another to whoever reads it next.
	ErrDuplicateMember = errors.New("limits: JSON object has a duplicate member")
)

// Marshal is json.Marshal without HTML escaping: <, > and & go out as
// themselves instead of six-byte \u escapes, which would let text made of
// them grow sixfold between being accepted and being sent. Everything the
// protocol sends is encoded with it, and row sizes are measured with it.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// CheckJSON refuses what encoding/json would read without complaint but
// not as sent: invalid UTF-8, containers nested more than maxDepth deep (a
// scalar is depth 0, [1] depth 1), and objects, at any depth, with two
// members of the same name (compared after unescaping). It is one pass over
// the bytes, without decoding values. Syntax is left to the decoder that
// follows: on malformed JSON CheckJSON may return nil.
func CheckJSON(data []byte, maxDepth int) error {
	if !utf8.Valid(data) {
		return ErrInvalidUTF8
	}
	var (
		open  []container
		names []string // the member names of the open objects, innermost last
	)
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			if len(open) == maxDepth {
				return fmt.Errorf("%w: deeper than %d levels", ErrTooDeep, maxDepth)
			}
			object := data[i] == '{'
			open = append(open, container{object: object, nameNext: object, from: len(names)})
		case '}', ']':
			if len(open) == 0 {
				return nil
			}
			names = names[:open[len(open)-1].from]
			open = open[:len(open)-1]
		case ',':
			if n := len(open); n > 0 && open[n-1].object {
				open[n-1].nameNext = true
			}
		case '"':
			end, err := stringEnd(data, i+1)
			if err != nil {
				return err
			}
			if end == len(data) {
				return nil
			}
			if n := len(open); n > 0 && open[n-1].nameNext {
				open[n-1].nameNext = false
				name, err := memberName(data[i : end+1])
				if err != nil {
					return err
				}
				if open[n-1].seen(&names, name) {
					return fmt.Errorf("%w %q", ErrDuplicateMember, name)
				}
			}
			i = end
		}
	}
	return nil
}

// container is an array or object CheckJSON is inside.
type container struct {
	object   bool
	nameNext bool // the next string is a member name
	from     int  // where the object's names start in CheckJSON's names
	// set holds the names instead, once there are too many to compare
	// one by one.
	set map[string]struct{}
}

// linearNames is how many member names an object's are compared one by one
// before they go into a set: a linear scan is cheaper for the few members
// rows and frames have, a set keeps an object of many members linear.
const linearNames = 16

// seen reports whether name was already a member of c, and records it.
func (c *container) seen(names *[]string, name string) bool {
	if c.set != nil {
		_, dup := c.set[name]
		c.set[name] = struct{}{}
		return dup
	}
	mine := (*names)[c.from:]
	for _, n := range mine {
		if n == name {
			return true
		}
	}
	if len(mine) < linearNames {
		*names = append(*names, name)
		return false
	}
	c.set = make(map[string]struct{}, 2*linearNames)
	for _, n := range mine {
		c.set[n] = struct{}{}
	}
	c.set[name] = struct{}{}
	return false
}

// stringEnd returns the index of the quote closing the string whose
// contents start at i, or len(data) when it is not closed. A \u escape of
// half a surrogate pair without its other half is ErrInvalidUTF8: it names
// no character, and encoding/json would read it as U+FFFD without a word.
func stringEnd(data []byte, i int) (int, error) {
	for ; i < len(data); i++ {
		switch data[i] {
		case '\\':
			if i+1 < len(data) && data[i+1] == 'u' {
				r, ok := escapedRune(data, i)
				switch {
				case !ok:
				case utf16.IsSurrogate(r) && r < 0xdc00:
					if low, ok := escapedRune(data, i+6); !ok || low < 0xdc00 || low > 0xdfff {
						return 0, fmt.Errorf("%w: unpaired surrogate escape", ErrInvalidUTF8)
					}
					i += 6
				case utf16.IsSurrogate(r):
					return 0, fmt.Errorf("%w: unpaired surrogate escape", ErrInvalidUTF8)
				}
			}
			i++
		case '"':
			return i, nil
		}
	}
	return len(data), nil
}

// escapedRune reads the \uXXXX escape at data[i:], if there is one.
func escapedRune(data []byte, i int) (rune, bool) {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range data[i+2 : i+6] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// memberName returns the quoted string q unescaped.
func memberName(q []byte) (string, error) {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1]), nil
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", err
	}
	return s, nil
}
