package engine

// The persisted form of a row's base (bucket "rows").
//
// A browser replica reads every row of a table when the table is first used,
// so decoding is on the cold-start path of every page load: 10k rows in JSON
// (encoding/json, a text timestamp per cell, then schema.Normalize per cell
// to get int64 back from float64) took over a second in the browser. This
// binary form is self-describing, so a value comes back as the Go type the
// write path stored without consulting the schema, and decoding allocates
// little more than the row itself. Most loaded rows are not even decoded:
// they are checked and kept in this form until written (lazyrow.go).
//
// Layout (version 1; every integer is a varint of encoding/binary):
//
//	0x01                         format version (legacy JSON rows start with '{')
//	uvarint seq
//	uvarint nts                  the row's distinct cell timestamps (one per
//	nts × timestamp                change that wrote it, so usually one or two)
//	  uvarint wall               < 2^52, as hlc.Parse accepts
//	  uvarint logical            < 2^32
//	  uvarint len, node          at most 64 bytes, as hlc.Parse accepts
//	uvarint ncells
//	ncells × cell                names strictly ascending (canonical; no duplicates)
//	  uvarint len, name
//	  uvarint ts                 index into the timestamps
//	  byte tag, payload:
//	    tagNull, tagFalse, tagTrue   nothing
//	    tagInt                       varint (int64)
//	    tagFloat                     8 bytes, little-endian IEEE 754, finite
//	    tagString                    uvarint len, bytes
//	    tagJSON                      uvarint len, one JSON value (anything
//	                                 else: arrays, objects, json.Number);
//	                                 decoded with UseNumber, the shape
//	                                 schema.Normalize gives json columns
//	    tagBytes                     uvarint len, bytes (a bytes column's
//	                                 []byte; base64 text in JSON)
//
// Decoding is strict: any deviation (truncation, trailing bytes, unknown
// tag, out-of-range number, unsorted names) is ErrCorrupt, and no length
// read from the input is trusted before it is checked against the bytes
// that remain, so a corrupt value cannot make the decoder allocate more
// than its own size.
//
// Outside the engine, rows are JSON: DecodeRowState and AppendRowJSON read
// either form for those that need a stored row (browser tabs forward what
// the leader persists).

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/schema"
)

const rowFormatV1 = 0x01

const (
	tagNull byte = iota
	tagFalse
	tagTrue
	tagInt
	tagFloat
	tagString
	tagJSON
	tagBytes
)

const (
	maxWall     = 1 << 52 // 13 hex digits in the text form
	maxNodeLen  = 64      // hlc.Parse's limit
	maxMapHint  = 256     // pre-size at most this many cells from an untrusted count
	maxNameMemo = 4096    // distinct cell names a decoder remembers
)

// errTimestampRange is returned when a cell's timestamp cannot be stored:
// the text form it replaces could not represent it either.
var errTimestampRange = errors.New("timestamp out of the storable range")

// encodeStored is the persisted form of a row's base cells: the binary
// layout above, with cells in name order so equal rows encode equally.
func encodeStored(cells map[string]cell, seq uint64) ([]byte, error) {
	var namesBuf [16]string
	names := namesBuf[:0]
	size := 16
	for k, c := range cells {
		names = append(names, k)
		size += len(k) + 8
		if s, ok := c.V.(string); ok {
			size += len(s) + 2
		} else {
			size += 9
		}
	}
	sort.Strings(names)
	// Timestamps in order of first use; a row rarely has more than a few.
	var tsBuf [4]hlc.Timestamp
	tss := tsBuf[:0]
	var idxBuf [16]int
	idx := idxBuf[:0]
	for _, k := range names {
		t := cells[k].T
		i := slices.Index(tss, t)
		if i < 0 {
			if t.Wall < 0 || t.Wall >= maxWall || len(t.Node) > maxNodeLen {
				return nil, fmt.Errorf("cell %q: %w: %+v", k, errTimestampRange, t)
			}
			i = len(tss)
			tss = append(tss, t)
			size += len(t.Node) + 12
		}
		idx = append(idx, i)
	}
	b := make([]byte, 0, size)
	b = append(b, rowFormatV1)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(len(tss)))
	for _, t := range tss {
		b = binary.AppendUvarint(b, uint64(t.Wall))
		b = binary.AppendUvarint(b, uint64(t.Logical))
		b = binary.AppendUvarint(b, uint64(len(t.Node)))
		b = append(b, t.Node...)
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for i, k := range names {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(idx[i]))
		var err error
		if b, err = appendValue(b, cells[k].V); err != nil {
			return nil, fmt.Errorf("cell %q: %w", k, err)
		}
	}
	return b, nil
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, tagNull), nil
	case bool:
		if x {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case int64:
		return binary.AppendVarint(append(b, tagInt), x), nil
	case int:
		return binary.AppendVarint(append(b, tagInt), int64(x)), nil
	case float64:
		// As in JSON (which refused them): NaN and ±Inf cannot be stored.
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("unsupported number %v", x)
		}
		return binary.LittleEndian.AppendUint64(append(b, tagFloat), math.Float64bits(x)), nil
	case string:
		b = binary.AppendUvarint(append(b, tagString), uint64(len(x)))
		return append(b, x...), nil
	case []byte:
		b = binary.AppendUvarint(append(b, tagBytes), uint64(len(x)))
		return append(b, x...), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(append(b, tagJSON), uint64(len(j)))
	return append(b, j...), nil
}

// colKind is how a decoder treats a cell name.
type colKind uint8

const (
	colDeclared colKind = iota // a declared or magic column: values must fit its type
	colDeleted                 // the tombstone: false once restored, else true
	colUnknown                 // not in the schema (dropped, or no schema): kept as stored
)

// colMemo is what a decoder knows about one cell name. name is the one
// string every decoded row shares for it, so cell names cost nothing per row.
type colMemo struct {
	name string
	col  schema.Column
	kind colKind
	// strs shares boxed string values across rows for a column whose
	// values repeat (owners, authors, tags), so such a cell costs no
	// allocation at all. A column whose values turn out mostly distinct
	// (titles) stops trying after a few rows (see shared).
	strs       map[string]any
	hits, miss int
	noShare    bool
	// last is the value shared most recently: consecutive rows often
	// repeat it (one owner, one author), and comparing beats hashing.
	last      string
	lastBoxed any
}

const (
	shareTries = 32   // distinct values seen before judging a column
	shareMax   = 1024 // values remembered per column
)

// shared returns the boxed value already decoded for p in this column.
func (m *colMemo) shared(p []byte) (any, bool) {
	if m.noShare {
		return nil, false
	}
	if m.lastBoxed != nil && m.last == string(p) {
		m.hits++
		return m.lastBoxed, true
	}
	if x, ok := m.strs[string(p)]; ok {
		m.hits++
		m.last, m.lastBoxed = x.(string), x
		return x, true
	}
	m.miss++
	if m.miss > shareTries && m.hits < m.miss {
		m.noShare, m.strs = true, nil
	}
	return nil, false
}

// share remembers a freshly decoded value for the rows after.
func (m *colMemo) share(s string, boxed any) {
	if m.noShare || len(m.strs) >= shareMax {
		return
	}
	if m.strs == nil {
		m.strs = map[string]any{}
	}
	m.strs[s] = boxed
	m.last, m.lastBoxed = s, boxed
}

// rowDecoder decodes the stored rows of one table. It remembers cell names,
// node ids and repeated string values across rows (a table's rows share a
// handful of each), so a scan of many rows allocates none of them again; it
// is not safe for concurrent use.
type rowDecoder struct {
	def      *schema.Table // nil: no schema, every value kept as stored
	memo     map[string]*colMemo
	last     []*colMemo // the previous row's names, by position: usually the same
	nodes    map[string]string
	lastNode string
	ts       []hlc.Timestamp // scratch
	raw      []rawTS         // scratch
	latest   hlc.Timestamp   // the newest cell timestamp read (see newest)
}

func newRowDecoder(def *schema.Table) *rowDecoder {
	return &rowDecoder{def: def, memo: map[string]*colMemo{}, nodes: map[string]string{}}
}

// decodeRow decodes a stored row, in either the binary or the legacy JSON
// form (what databases written before the binary form hold).
func (d *rowDecoder) decodeRow(rid string, v []byte) (*row, error) {
	cells, seq, err := d.decode(v)
	if err != nil {
		return nil, d.corrupt(rid, err)
	}
	r := &row{id: rid, base: cells, seq: seq}
	r.view = r.base
	return r, nil
}

// decode returns a stored row's cells and sequence number.
func (d *rowDecoder) decode(v []byte) (map[string]cell, uint64, error) {
	switch {
	case len(v) > 0 && v[0] == rowFormatV1:
		return d.decodeBinary(v)
	case len(v) > 0 && v[0] == '{':
		return d.decodeJSON(v)
	}
	return nil, 0, errors.New("unknown row format")
}

func (d *rowDecoder) corrupt(rid string, err error) error {
	return fmt.Errorf("%w: row %s/%s: %v", ErrCorrupt, d.tableName(), rid, err)
}

func (d *rowDecoder) tableName() string {
	if d.def == nil {
		return "?"
	}
	return d.def.Name
}

// decodeJSON reads the legacy form {"cells":{name:{"v":..,"t":".."}},"seq":n},
// restoring typed values from the schema as the JSON path always did.
func (d *rowDecoder) decodeJSON(v []byte) (map[string]cell, uint64, error) {
	var sr struct {
		Cells map[string]cell `json:"cells"`
		Seq   uint64          `json:"seq,omitempty"`
	}
	if err := json.Unmarshal(v, &sr); err != nil {
		return nil, 0, err
	}
	if sr.Cells == nil {
		sr.Cells = map[string]cell{}
	}
	for _, c := range sr.Cells {
		d.newest(c.T.Wall, c.T.Logical)
	}
	if d.def == nil {
		if c, ok := sr.Cells[deletedCell]; ok {
			sr.Cells[deletedCell] = cell{V: c.V != false, T: c.T}
		}
		return sr.Cells, sr.Seq, nil
	}
	cells, err := decodeCells(d.def, sr.Cells)
	if err != nil {
		return nil, 0, err
	}
	return cells, sr.Seq, nil
}

// reader is a cursor over one encoded row; the first failure sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: "+format, append([]any{r.off}, args...)...)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return x
}

// varint reads binary.PutVarint's zig-zag form: the sign in the low bit.
func (r *reader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// bytes returns the next n bytes (aliasing the input), n read as a length.
func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail("length %d overruns the value", n)
		return nil
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("truncated")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// count reads a count of items that each take at least min bytes, refusing
// one the remaining input cannot hold.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64((len(r.b)-r.off)/min) {
		r.fail("count %d overruns the value", n)
		return 0
	}
	return int(n)
}

// rawTS is a timestamp as stored, checked to be in range.
type rawTS struct {
	wall    uint64
	logical uint32
	node    []byte
}

// rawValue is a value as stored: its tag, and the number or the bytes
// (string, JSON) it carries, checked as far as the layout goes.
type rawValue struct {
	tag byte
	i   int64
	f   float64
	p   []byte
}

// header reads a binary row up to its cells: sequence number, timestamps
// (appended to ts) and the number of cells.
func (r *reader) header(ts []rawTS) (seq uint64, _ []rawTS, n int) {
	r.off = 1 // the format version
	seq = r.uvarint()
	nts := r.count(3)
	for i := 0; i < nts && r.err == nil; i++ {
		wall := r.uvarint()
		logical := r.uvarint()
		node := r.bytes(r.uvarint())
		switch {
		case r.err != nil:
		case wall >= maxWall:
			r.fail("timestamp wall time %d out of range", wall)
		case logical > math.MaxUint32:
			r.fail("timestamp counter %d out of range", logical)
		case len(node) > maxNodeLen:
			r.fail("timestamp node of %d bytes", len(node))
		}
		ts = append(ts, rawTS{wall: wall, logical: uint32(logical), node: node})
	}
	return seq, ts, r.count(3)
}

// cell reads the i-th cell: its name (after prev, the name before it), the
// index of its timestamp among nts, and its value.
func (r *reader) cell(i int, prev []byte, nts int) (name []byte, ts int, v rawValue) {
	name = r.bytes(r.uvarint())
	if r.err == nil && i > 0 && bytes.Compare(prev, name) >= 0 {
		r.fail("cell names out of order")
	}
	ti := r.uvarint()
	if r.err == nil && ti >= uint64(nts) {
		r.fail("cell %q: timestamp %d of %d", name, ti, nts)
	}
	switch v.tag = r.byte(); v.tag {
	case tagNull, tagFalse, tagTrue:
	case tagInt:
		v.i = r.varint()
	case tagFloat:
		if p := r.bytes(8); r.err == nil {
			v.f = math.Float64frombits(binary.LittleEndian.Uint64(p))
			if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
				r.fail("cell %q: number %v", name, v.f)
			}
		}
	case tagString, tagJSON, tagBytes:
		v.p = r.bytes(r.uvarint())
	default:
		r.fail("cell %q: unknown value tag %d", name, v.tag)
	}
	return name, int(ti), v
}

// cells reads the n cells after the header (nts timestamps), calling fn
// with each until fn returns false or a cell fails to read (r.err).
func (r *reader) cells(n, nts int, fn func(i int, name []byte, ts int, v rawValue) bool) {
	var prev []byte
	for i := 0; i < n && r.err == nil; i++ {
		name, ts, v := r.cell(i, prev, nts)
		if r.err != nil || !fn(i, name, ts, v) {
			return
		}
		prev = name
	}
}

// end checks that the row has nothing after its last cell.
func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}

func (d *rowDecoder) decodeBinary(v []byte) (map[string]cell, uint64, error) {
	r := &reader{b: v}
	seq, raw, n := r.header(d.raw[:0])
	d.raw = raw
	if r.err != nil {
		return nil, 0, r.err
	}
	d.ts = d.ts[:0]
	for _, t := range raw {
		d.ts = append(d.ts, hlc.Timestamp{Wall: int64(t.wall), Logical: t.logical, Node: d.node(t.node)})
		d.newest(int64(t.wall), t.logical)
	}
	cells := make(map[string]cell, min(n, maxMapHint))
	// String values are slices of one copy of the row, one allocation
	// instead of one per value; it is made on the first string.
	var text string
	var prev []byte
	for i := 0; i < n; i++ {
		name, ti, rv := r.cell(i, prev, len(d.ts))
		if r.err != nil {
			break
		}
		prev = name
		m := d.column(i, name)
		var val any
		switch rv.tag {
		case tagFalse:
			val = false
		case tagTrue:
			val = true
		case tagInt:
			val = rv.i
		case tagFloat:
			val = rv.f
		case tagString:
			if len(rv.p) == 0 {
				val = ""
				break
			}
			if x, ok := m.shared(rv.p); ok {
				val = x
				break
			}
			if text == "" {
				text = string(v)
			}
			str := text[r.off-len(rv.p) : r.off]
			val = str
			m.share(str, val)
		case tagJSON:
			x, err := decodeJSONValue(rv.p)
			if err != nil {
				r.fail("cell %q: %v", m.name, err)
			}
			val = x
		case tagBytes:
			val = bytes.Clone(rv.p)
		}
		if r.err != nil {
			break
		}
		restored, err := m.restore(d.def, val)
		if err != nil {
			r.fail("%v", err)
			break
		}
		cells[m.name] = cell{V: restored, T: d.ts[ti]}
	}
	if err := r.end(); err != nil {
		return nil, 0, err
	}
	return cells, seq, nil
}

// AppendRowJSON appends to b a stored row (a value of the engine's rows
// bucket, in either persisted form) as the JSON its RowState marshals to,
// {"cells":{name:{"v":value,"t":timestamp}},"seq":n}, without building the
// row: browser tabs forward every row the leader persists this way, under
// the engine's lock. Values are as stored (see DecodeRowState); the
// receiving replica's Merge normalizes them. A value that is not a valid
// stored row is ErrCorrupt.
func AppendRowJSON(b []byte, value []byte) ([]byte, error) {
	if len(value) > 0 && value[0] == '{' {
		// The legacy form (never written any more, so rare): through the
		// decoder, which checks it and restores the tombstone's value.
		st, err := DecodeRowState("", "", value)
		if err != nil {
			return b, err
		}
		j, err := json.Marshal(struct {
			Cells map[string]cell `json:"cells"`
			Seq   uint64          `json:"seq,omitempty"`
		}{st.Cells, st.Seq})
		if err != nil {
			return b, fmt.Errorf("%w: row: %v", ErrCorrupt, err)
		}
		return append(b, j...), nil
	}
	if len(value) == 0 || value[0] != rowFormatV1 {
		return b, fmt.Errorf("%w: row: unknown row format", ErrCorrupt)
	}
	start := len(b)
	r := &reader{b: value}
	var tsBuf [4]rawTS
	seq, ts, n := r.header(tsBuf[:0])
	b = append(b, `{"cells":{`...)
	var prev []byte
	for i := 0; i < n && r.err == nil; i++ {
		name, ti, v := r.cell(i, prev, len(ts))
		if r.err != nil {
			break
		}
		prev = name
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, `:{"v":`...)
		switch {
		case v.tag == tagTrue || (string(name) == deletedCell && v.tag != tagFalse):
			b = append(b, "true"...)
		case v.tag == tagNull:
			b = append(b, "null"...)
		case v.tag == tagFalse:
			b = append(b, "false"...)
		case v.tag == tagInt:
			b = strconv.AppendInt(b, v.i, 10)
		case v.tag == tagFloat:
			b = strconv.AppendFloat(b, v.f, 'g', -1, 64)
		case v.tag == tagString:
			b = appendJSONString(b, v.p)
		case v.tag == tagBytes:
			b = append(base64.StdEncoding.AppendEncode(append(b, '"'), v.p), '"')
		case !json.Valid(v.p):
			r.fail("cell %q: invalid JSON value", name)
		default:
			b = append(b, v.p...)
		}
		t := ts[ti]
		b = append(b, `,"t":"`...)
		b = hlc.Timestamp{Wall: int64(t.wall), Logical: t.logical}.AppendText(b) // (the node goes after)
		b = appendJSONChars(b, t.node)
		b = append(b, `"}`...)
	}
	if err := r.end(); err != nil {
		return b[:start], fmt.Errorf("%w: row: %v", ErrCorrupt, err)
	}
	b = append(b, '}')
	if seq != 0 {
		b = append(append(b, `,"seq":`...), strconv.FormatUint(seq, 10)...)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string (see appendJSONChars).
func appendJSONString(b []byte, s []byte) []byte {
	return append(appendJSONChars(append(b, '"'), s), '"')
}

// appendJSONChars appends s as the inside of a JSON string, escaping what
// JSON requires and replacing invalid UTF-8 with U+FFFD, as encoding/json
// (limits.Marshal) does, so the bytes are the same as its.
func appendJSONChars(b []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, "\\ufffd"...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON either way; escaped, as encoding/json does.
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// decodeJSONValue decodes exactly one JSON value, numbers as json.Number.
func decodeJSONValue(p []byte) (any, error) {
	if !json.Valid(p) {
		return nil, errors.New("invalid JSON value")
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	return x, nil
}

// column returns what the decoder knows about the i-th cell name of a row.
func (d *rowDecoder) column(i int, name []byte) *colMemo {
	if i < len(d.last) && d.last[i].name == string(name) {
		return d.last[i]
	}
	m := d.memo[string(name)]
	if m == nil {
		m = &colMemo{name: string(name), kind: colUnknown}
		switch {
		case m.name == deletedCell:
			m.kind = colDeleted
		case d.def != nil:
			if col, ok := d.def.Column(m.name); ok {
				col.Optional = true // a stored null is kept, as it always was
				m.col, m.kind = col, colDeclared
			}
		}
		if len(d.memo) < maxNameMemo {
			d.memo[m.name] = m
		}
	}
	if i < len(d.last) {
		d.last[i] = m
	} else if i == len(d.last) && i < maxNameMemo {
		d.last = append(d.last, m)
	}
	return m
}

// node returns the shared string for a timestamp's node id.
func (d *rowDecoder) node(b []byte) string {
	if d.lastNode == string(b) && len(b) > 0 {
		return d.lastNode
	}
	s, ok := d.nodes[string(b)]
	if !ok {
		s = string(b)
		if len(d.nodes) < maxNameMemo {
			d.nodes[s] = s
		}
	}
	d.lastNode = s
	return s
}

// restore gives a decoded value the type the write path keeps for its
// column. Values written by this engine already have it, so this is a type
// check; a value that does not (the column's type changed since, or a
// change applied unnormalized) goes through schema.Normalize exactly as the
// JSON path would have, and one that cannot be converted is corruption, as
// it was there.
func (m *colMemo) restore(def *schema.Table, v any) (any, error) {
	switch m.kind {
	case colDeleted:
		return v != false, nil
	case colUnknown:
		return v, nil
	}
	if v == nil || fits(m.col.Type, v) {
		return v, nil
	}
	n, err := schema.Normalize(m.col, v)
	if err != nil {
		return nil, fmt.Errorf("%s.%s: %v", def.Name, m.name, err)
	}
	return n, nil
}

// fits reports whether v already has the canonical Go type schema.Normalize
// gives a column of type t.
func fits(t schema.Type, v any) bool {
	switch x := v.(type) {
	case string:
		// An enum value no longer in the enum still reads: only writes
		// are held to the current values.
		return t == schema.String || t == schema.JSON || t == schema.Enum || (t == schema.Ref && x != "")
	case bool:
		return t == schema.Boolean || t == schema.JSON
	case int64:
		return t == schema.Int || t == schema.Timestamp
	case float64:
		return t == schema.Float
	case []byte:
		return t == schema.Bytes
	case json.Number, []any, map[string]any:
		// An array column's elements come back from JSON as json.Number
		// and must be converted: Normalize does it.
		return t == schema.JSON
	}
	return false
}

// DecodeRowState decodes a value of the engine's rows bucket (key
// table\x00id) into the row's confirmed state, as the server would send it.
// It reads both persisted forms without a schema, so values are as stored:
// typed for the binary form, JSON-shaped (float64 numbers) for the legacy
// one. Merge normalizes them against the schema of the replica that folds
// them in. Browser tabs use it to forward what the leader persisted.
func DecodeRowState(table, id string, value []byte) (RowState, error) {
	r, err := newRowDecoder(nil).decodeRow(id, value)
	if err != nil {
		return RowState{}, err
	}
	return RowState{Table: table, ID: id, Cells: r.base, Seq: r.seq}, nil
}
