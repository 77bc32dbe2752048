package engine

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/limits"
)

// Rows go out to clients as the JSON of their RowState. A large result is
// tens of thousands of them, and encoding/json spends most of a server's
// time streaming one: reflection over every map, a copy of every row's
// cells to encode, and a second pass to compact what it made. The encoders
// here append the same JSON (as limits.Marshal writes it: member names in
// order, no HTML escaping) directly.

// AppendJSON appends the JSON st marshals to.
func (st RowState) AppendJSON(b []byte) ([]byte, error) {
	b = append(appendStateHead(b, st.Table, st.ID), `"cells":`...)
	b, err := appendCellsJSON(b, st.Cells)
	if err != nil {
		return b, err
	}
	if st.Hidden {
		b = append(b, `,"hidden":true`...)
	}
	return appendStateTail(b, st.Seq), nil
}

// appendStateJSON appends the JSON of r's confirmed state (t.stateOf(r)),
// from its stored form when it is kept encoded.
func (t *table) appendStateJSON(b []byte, r *row) ([]byte, error) {
	start := len(b)
	b = appendStateHead(b, t.def.Name, r.id)
	if !r.encoded() {
		b, err := appendCellsJSON(append(b, `"cells":`...), r.base)
		if err != nil {
			return b[:start], err
		}
		return appendStateTail(b, r.seq), nil
	}
	// AppendRowJSON writes {"cells":…,"seq":n}: all but its opening brace
	// follows the head.
	mark := len(b)
	b, err := AppendRowJSON(b, r.stored)
	if err != nil {
		return b[:start], err
	}
	return append(b[:mark], b[mark+1:]...), nil
}

func appendStateHead(b []byte, table, id string) []byte {
	b = append(b, `{"table":`...)
	b = appendJSONStr(b, table)
	b = append(b, `,"id":`...)
	b = appendJSONStr(b, id)
	return append(b, ',')
}

func appendStateTail(b []byte, seq uint64) []byte {
	if seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, seq, 10)
	}
	return append(b, '}')
}

// appendCellsJSON appends cells as a JSON object, names in order.
func appendCellsJSON(b []byte, cells map[string]cell) ([]byte, error) {
	if cells == nil {
		return append(b, "null"...), nil
	}
	var buf [16]string
	names := buf[:0]
	for name := range cells {
		names = append(names, name)
	}
	sort.Strings(names)
	b = append(b, '{')
	var ts [64]byte
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		c := cells[name]
		b = appendJSONStr(b, name)
		b = append(b, `:{"v":`...)
		var err error
		if b, err = appendValueJSON(b, c.V); err != nil {
			return b, fmt.Errorf("engine: cell %q: %w", name, err)
		}
		b = append(b, `,"t":"`...)
		b = appendJSONChars(b, appendTimestamp(ts[:0], c.T))
		b = append(b, `"}`...)
	}
	return append(b, '}'), nil
}

func appendTimestamp(b []byte, t hlc.Timestamp) []byte { return t.AppendText(b) }

// appendValueJSON appends a cell value as encoding/json would; kinds a
// column never holds in its normalized form go through limits.Marshal.
func appendValueJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case string:
		return appendJSONStr(b, x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			break // encoding/json's error
		}
		// encoding/json's form: exponent only for very small or large
		// magnitudes, and without a leading zero in it.
		f := byte('f')
		if a := math.Abs(x); a != 0 && (a < 1e-6 || a >= 1e21) {
			f = 'e'
		}
		b = strconv.AppendFloat(b, x, f, -1, 64)
		if n := len(b); f == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b, nil
	}
	j, err := limits.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// appendJSONStr is appendJSONString for a string, without copying one
// that needs no escaping.
func appendJSONStr(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendJSONString(b, []byte(s))
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendRowsJSON appends rows as a JSON array, exactly as limits.Marshal
// writes it (members sorted, no HTML escaping), without its reflection: a
// page's live results go out this way.
func AppendRowsJSON(b []byte, rows []Row) ([]byte, error) {
	b = append(b, '[')
	var buf [16]string
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		if r == nil {
			b = append(b, "null"...)
			continue
		}
		names := buf[:0]
		for name := range r {
			names = append(names, name)
		}
		sort.Strings(names)
		b = append(b, '{')
		for j, name := range names {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(appendJSONStr(b, name), ':')
			var err error
			if b, err = appendValueJSON(b, r[name]); err != nil {
				return b, err
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}
