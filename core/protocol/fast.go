package protocol

import (
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/limits"
)

// decodeFast decodes rows and ack frames, the bulk of what a client
// receives, with limits.Reader instead of encoding/json: in the browser,
// encoding/json's reflection was most of a client's cost per received row.
// It reports false for any other type, and for any frame it does not read
// exactly as encoding/json would (an unknown or differently cased member,
// a null where a value is expected, a lone surrogate...): Decode then
// decodes it with encoding/json. FuzzDecodeFast holds the two to the same
// result for every frame this accepts.
func decodeFast(typ string, data []byte) (any, bool) {
	r := limits.NewReader(data)
	var body any
	var member func(name string) bool
	switch typ {
	case TRows:
		b := &Rows{}
		body = b
		member = func(name string) bool {
			var ok bool
			switch name {
			case "t":
				ok = r.Peek() == '"' && typeIs(r, TRows)
			case "sub":
				b.Sub, ok = r.String()
			case "rows":
				b.Rows, ok = engine.DecodeRowStates(r)
			case "cursor":
				b.Cursor, ok = r.Uint()
			case "complete":
				b.Complete, ok = r.Bool()
			case "reset":
				b.Reset, ok = r.Bool()
			}
			return ok
		}
	case TAck:
		b := &Ack{}
		body = b
		member = func(name string) bool {
			var ok bool
			switch name {
			case "t":
				ok = r.Peek() == '"' && typeIs(r, TAck)
			case "ids":
				b.IDs = []string{}
				ok = r.Elements(func() bool {
					id, ok := r.String()
					b.IDs = append(b.IDs, id)
					return ok
				})
			case "batch":
				b.Batch, ok = r.String()
			case "stamps":
				b.Stamps = map[string]hlc.Timestamp{}
				ok = r.Members(func(id string) bool {
					s, ok := r.String()
					if !ok {
						return false
					}
					t, err := hlc.Parse(s)
					b.Stamps[id] = t
					return err == nil
				})
			case "rows":
				b.Rows, ok = engine.DecodeRowStates(r)
			}
			return ok
		}
	default:
		return nil, false
	}
	if !r.Members(member) || !r.End() {
		return nil, false
	}
	return body, true
}

func typeIs(r *limits.Reader, want string) bool {
	t, ok := r.String()
	return ok && t == want
}
