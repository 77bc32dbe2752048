package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// codecTable has a column of every type.
func codecTable(t testing.TB) *schema.Table {
	t.Helper()
	s, err := schema.New(&schema.Table{Name: "things", Columns: []schema.Column{
		{Name: "s", Type: schema.String},
		{Name: "b", Type: schema.Boolean},
		{Name: "i", Type: schema.Int, Optional: true},
		{Name: "f", Type: schema.Float, Optional: true},
		{Name: "ts", Type: schema.Timestamp},
		{Name: "j", Type: schema.JSON, Optional: true},
		{Name: "r", Type: schema.Ref, Ref: "things", Optional: true},
		{Name: "en", Type: schema.Enum, Enum: []string{"x", "y"}, Optional: true},
		{Name: "ai", Type: schema.Array, Items: schema.Int, Optional: true},
		{Name: "by", Type: schema.Bytes, Optional: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := s.Table("things")
	return tb
}

var (
	tsA = hlc.Timestamp{Wall: 1_790_000_000_000, Logical: 3, Node: "node-a"}
	tsB = hlc.Timestamp{Wall: 1_790_000_000_123, Node: "b"}
)

// writtenCells are cells as the write path produces them: values normalized
// by schema.ValidateInsert, metadata from Change.cells.
func writtenCells(t testing.TB, def *schema.Table) map[string]cell {
	t.Helper()
	vals, err := def.ValidateInsert(map[string]any{
		"s": "héllo", "b": true, "i": int64(math.MaxInt64), "f": 2.0, "ts": "2026-11-01T12:00:00Z",
		"j": map[string]any{"n": 1.5, "list": []any{1, "x", nil, true}, "big": json.Number("12345678901234567890")},
		"r": "0190b2a0-0000-7000-8000-000000000001",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &Change{Kind: KindInsert, TS: tsA, By: "alice", Values: vals}
	cells := c.cells()
	// A later update of two columns, so the row has two timestamps.
	cells["b"] = cell{V: false, T: tsB}
	cells[schema.ColUpdatedAt] = cell{V: tsB.Wall, T: tsB}
	return cells
}

func TestRowCodec_RoundTripsEveryColumnTypeExactly(t *testing.T) {
	def := codecTable(t)
	cells := writtenCells(t, def)
	// A column since dropped from the schema, and a tombstone.
	cells["gone"] = cell{V: int64(1) << 60, T: tsA}
	cells[deletedCell] = cell{V: true, T: tsB}
	b, err := encodeStored(cells, 42)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != rowFormatV1 {
		t.Fatalf("first byte %#x", b[0])
	}
	r, err := newRowDecoder(def).decodeRow("id1", b)
	if err != nil {
		t.Fatal(err)
	}
	if r.id != "id1" || r.seq != 42 {
		t.Fatalf("id, seq = %q, %d", r.id, r.seq)
	}
	if !reflect.DeepEqual(r.base, cells) {
		t.Fatalf("decoded cells differ:\n got %#v\nwant %#v", r.base, cells)
	}
	// Types, spelled out: the JSON form loses these without the schema.
	for col, want := range map[string]any{"i": int64(math.MaxInt64), "f": 2.0, "ts": int64(1793534400000), "gone": int64(1) << 60, schema.ColCreatedAt: tsA.Wall} {
		if got := r.base[col].V; got != want {
			t.Errorf("%s = %#v (%T), want %#v (%T)", col, got, got, want, want)
		}
	}
	if n, ok := r.base["j"].V.(map[string]any)["big"].(json.Number); !ok || n != "12345678901234567890" {
		t.Errorf("json number = %#v", r.base["j"].V.(map[string]any)["big"])
	}
	// Canonical: equal rows encode equally whatever the map order.
	for i := 0; i < 10; i++ {
		again, err := encodeStored(r.base, r.seq)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
	}
}

// Databases written before the binary form hold JSON rows; they must load
// with the same values as before, and a row re-encoded after loading must
// decode to the same cells.
func TestRowCodec_ReadsTheLegacyJSONForm(t *testing.T) {
	def := codecTable(t)
	cells := writtenCells(t, def)
	cells["gone"] = cell{V: "kept", T: tsA}
	// The JSON form reads numbers as float64, so it cannot hold integers
	// beyond 2^53 (the binary form can: see the test above).
	cells["i"] = cell{V: int64(-42), T: tsA}
	j, err := schema.Normalize(schema.Column{Type: schema.JSON}, map[string]any{"n": 1.5, "list": []any{1, "x", nil, true}})
	if err != nil {
		t.Fatal(err)
	}
	cells["j"] = cell{V: j, T: tsA}
	legacy, err := json.Marshal(struct {
		Cells map[string]cell `json:"cells"`
		Seq   uint64          `json:"seq,omitempty"`
	}{cells, 7})
	if err != nil {
		t.Fatal(err)
	}
	if legacy[0] != '{' {
		t.Fatalf("legacy form starts with %q", legacy[0])
	}
	d := newRowDecoder(def)
	r, err := d.decodeRow("id1", legacy)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.base, cells) || r.seq != 7 {
		t.Fatalf("legacy row:\n got %#v\nwant %#v", r.base, cells)
	}
	b, err := encodeStored(r.base, r.seq)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := d.decodeRow("id1", b)
	if err != nil || !reflect.DeepEqual(r2.base, r.base) {
		t.Fatalf("legacy -> binary -> decoded: %v\n got %#v\nwant %#v", err, r2.base, r.base)
	}
}

// A stored value that no longer has its column's canonical type (the column
// changed type, or a change was applied unnormalized) is converted as
// schema.Normalize would, or refused as corrupt, exactly like the JSON path.
func TestRowCodec_RestoresColumnTypes(t *testing.T) {
	def := codecTable(t)
	cases := []struct {
		col  string
		in   any
		want any
		bad  bool
	}{
		{col: "i", in: 3.0, want: int64(3)},
		{col: "i", in: json.Number("4"), want: int64(4)},
		{col: "i", in: 3.5, bad: true},
		{col: "f", in: int64(3), want: 3.0},
		{col: "ts", in: "2026-11-01T12:00:00Z", want: int64(1793534400000)},
		{col: "j", in: int64(5), want: json.Number("5")},
		{col: "j", in: 1.25, want: json.Number("1.25")},
		{col: "s", in: int64(1), bad: true},
		{col: "r", in: "", bad: true},
		{col: "b", in: "yes", bad: true},
		{col: "s", in: nil, want: nil},
		{col: deletedCell, in: true, want: true},
		{col: deletedCell, in: false, want: false}, // restored
		{col: deletedCell, in: "odd", want: true},  // anything else hides the row
		{col: "en", in: "y", want: "y"},
		{col: "en", in: "gone", want: "gone"}, // a value dropped from the enum still reads
		{col: "ai", in: []any{int64(1), int64(-2)}, want: []any{int64(1), int64(-2)}},
		{col: "ai", in: []any{"1"}, bad: true},
		{col: "by", in: []byte{0, 255}, want: []byte{0, 255}},
		{col: "by", in: "AP8=", want: []byte{0, 255}}, // base64, as JSON carries it
		{col: "by", in: int64(1), bad: true},
		{col: "nope", in: 2.5, want: 2.5},
	}
	for _, c := range cases {
		b, err := encodeStored(map[string]cell{c.col: {V: c.in, T: tsA}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		r, err := newRowDecoder(def).decodeRow("x", b)
		if c.bad {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s = %#v: err = %v, want ErrCorrupt", c.col, c.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s = %#v: %v", c.col, c.in, err)
			continue
		}
		if got := r.base[c.col].V; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v: got %#v (%T), want %#v (%T)", c.col, c.in, got, got, c.want, c.want)
		}
	}
}

func TestRowCodec_RefusesWhatItCannotStore(t *testing.T) {
	for name, cells := range map[string]map[string]cell{
		"NaN":            {"f": {V: math.NaN(), T: tsA}},
		"Inf":            {"f": {V: math.Inf(-1), T: tsA}},
		"func":           {"x": {V: func() {}, T: tsA}},
		"negative wall":  {"x": {V: 1, T: hlc.Timestamp{Wall: -1, Node: "n"}}},
		"wall too large": {"x": {V: 1, T: hlc.Timestamp{Wall: 1 << 52, Node: "n"}}},
		"long node":      {"x": {V: 1, T: hlc.Timestamp{Wall: 1, Node: string(make([]byte, 65))}}},
	} {
		if _, err := encodeStored(cells, 0); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

func TestRowCodec_CorruptInputIsErrCorrupt(t *testing.T) {
	def := codecTable(t)
	good, err := encodeStored(writtenCells(t, def), 9)
	if err != nil {
		t.Fatal(err)
	}
	d := newRowDecoder(def)
	if _, err := d.decodeRow("x", good); err != nil {
		t.Fatal(err)
	}
	// Every truncation and every trailing byte is refused.
	for n := 0; n < len(good); n++ {
		if _, err := d.decodeRow("x", good[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
	if _, err := d.decodeRow("x", append(bytes.Clone(good), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: err = %v", err)
	}
	hdr := func(parts ...[]byte) []byte { return bytes.Join(append([][]byte{{rowFormatV1}}, parts...), nil) }
	uv := func(x uint64) []byte { return binary.AppendUvarint(nil, x) }
	ts := bytes.Join([][]byte{uv(1), uv(0), uv(1), []byte("n")}, nil)
	for name, v := range map[string][]byte{
		"unknown format":     {0x02},
		"bad json":           []byte(`{"cells":`),
		"huge cell count":    hdr(uv(0), uv(1), ts, uv(math.MaxUint64)),
		"huge ts count":      hdr(uv(0), uv(1<<40)),
		"huge name length":   hdr(uv(0), uv(1), ts, uv(1), uv(1<<50)),
		"huge string length": hdr(uv(0), uv(1), ts, uv(1), uv(1), []byte("x"), uv(0), []byte{tagString}, uv(1<<62)),
		"ts index":           hdr(uv(0), uv(1), ts, uv(1), uv(1), []byte("x"), uv(1), []byte{tagNull}),
		"unknown tag":        hdr(uv(0), uv(1), ts, uv(1), uv(1), []byte("x"), uv(0), []byte{99}),
		"unsorted names":     hdr(uv(0), uv(1), ts, uv(2), uv(1), []byte("y"), uv(0), []byte{tagNull}, uv(1), []byte("x"), uv(0), []byte{tagNull}),
		"duplicate names":    hdr(uv(0), uv(1), ts, uv(2), uv(1), []byte("x"), uv(0), []byte{tagNull}, uv(1), []byte("x"), uv(0), []byte{tagNull}),
		"NaN":                hdr(uv(0), uv(1), ts, uv(1), uv(1), []byte("x"), uv(0), []byte{tagFloat}, binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN()))),
		"bad json value":     hdr(uv(0), uv(1), ts, uv(1), uv(1), []byte("x"), uv(0), []byte{tagJSON}, uv(2), []byte("[1")),
		"two json values":    hdr(uv(0), uv(1), ts, uv(1), uv(1), []byte("x"), uv(0), []byte{tagJSON}, uv(3), []byte("1 2")),
		"wall out of range":  hdr(uv(0), uv(1), uv(1<<52), uv(0), uv(1), []byte("n"), uv(0)),
		"logical too large":  hdr(uv(0), uv(1), uv(1), uv(1<<32), uv(1), []byte("n"), uv(0)),
		"overlong varint":    hdr(bytes.Repeat([]byte{0xff}, 11)),
		"int column string":  hdr(uv(0), uv(1), ts, uv(1), uv(1), []byte("i"), uv(0), []byte{tagString}, uv(1), []byte("x")),
	} {
		if _, err := d.decodeRow("x", v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestDecodeRowState_ReadsBothFormsWithoutASchema(t *testing.T) {
	cells := map[string]cell{"n": {V: int64(5), T: tsA}, deletedCell: {V: true, T: tsB}}
	b, err := encodeStored(cells, 3)
	if err != nil {
		t.Fatal(err)
	}
	st, err := DecodeRowState("todos", "r1", b)
	if err != nil || st.Table != "todos" || st.ID != "r1" || st.Seq != 3 || !reflect.DeepEqual(st.Cells, cells) {
		t.Fatalf("binary: %+v, %v", st, err)
	}
	st, err = DecodeRowState("todos", "r1", []byte(`{"cells":{"n":{"v":5,"t":"`+tsA.String()+`"}},"seq":4}`))
	if err != nil || st.Seq != 4 || st.Cells["n"] != (cell{V: 5.0, T: tsA}) {
		t.Fatalf("legacy: %+v, %v", st, err)
	}
	if _, err := DecodeRowState("todos", "r1", []byte{0x7f}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage: err = %v", err)
	}
}

func FuzzDecodeStoredRow(f *testing.F) {
	def := codecTable(f)
	good, err := encodeStored(writtenCells(f, def), 9)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"cells":{"i":{"v":1,"t":"` + tsA.String() + `"},"$deleted":{"v":0,"t":"` + tsB.String() + `"}},"seq":2}`))
	f.Add([]byte{rowFormatV1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		rowJSONAgrees(t, data)
		for _, d := range []*rowDecoder{newRowDecoder(def), newRowDecoder(nil)} {
			r, err := d.decodeRow("x", data)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("untyped error %v", err)
				}
				continue
			}
			// Whatever decodes re-encodes, and the re-encoding is a fixed point.
			b, err := encodeStored(r.base, r.seq)
			if err != nil {
				t.Fatalf("re-encode of %#v: %v", r.base, err)
			}
			r2, err := d.decodeRow("x", b)
			if err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			if data[0] == rowFormatV1 && !reflect.DeepEqual(r2.base, r.base) {
				t.Fatalf("round trip changed cells:\n got %#v\nwant %#v", r2.base, r.base)
			}
			b2, err := encodeStored(r2.base, r2.seq)
			if err != nil || !bytes.Equal(b2, b) || r2.seq != r.seq {
				t.Fatalf("not a fixed point (%v)", err)
			}
			// What a decoder remembers from earlier rows (names, shared
			// values) never changes what a later row decodes to.
			if _, err := d.decodeRow("y", good); err != nil {
				t.Fatal(err)
			}
			r3, err := d.decodeRow("x", data)
			if err != nil || !reflect.DeepEqual(r3.base, r.base) {
				t.Fatalf("decoding again with the same decoder: %v\n got %#v\nwant %#v", err, r3.base, r.base)
			}
		}
	})
}

// One decoder reads a whole table: what it shares between rows (names, node
// ids, repeated strings; see colMemo) must give each row exactly what a
// fresh decoder gives it, whatever the mix of repeated and distinct values.
func TestRowCodec_ADecoderReusedAcrossRowsDecodesEachExactly(t *testing.T) {
	def := codecTable(t)
	shared := newRowDecoder(def)
	for i := 0; i < 500; i++ {
		cells := map[string]cell{
			"s":                 {V: fmt.Sprint("title ", i), T: tsA},     // distinct
			schema.ColCreatedBy: {V: "alice", T: tsA},                     // repeated
			"r":                 {V: fmt.Sprint("ref", i%3), T: tsB},      // few values
			"gone":              {V: []string{"a", "b", ""}[i%3], T: tsA}, // dropped column
			"j":                 {V: []string{"x", "y"}[i%2], T: hlc.Timestamp{Wall: int64(i), Node: fmt.Sprint("n", i%5)}},
		}
		if i%7 == 0 {
			delete(cells, "r")
			cells["extra"] = cell{V: int64(i), T: tsB}
		}
		b, err := encodeStored(cells, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		got, err := shared.decodeRow("x", b)
		if err != nil {
			t.Fatal(err)
		}
		want, err := newRowDecoder(def).decodeRow("x", b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.base, want.base) || !reflect.DeepEqual(got.base, cells) {
			t.Fatalf("row %d:\n got %#v\nwant %#v", i, got.base, cells)
		}
	}
}

// rowJSONAgrees checks AppendRowJSON against the decoder: it fails exactly
// when DecodeRowState does, and otherwise yields JSON that reads back as
// the same RowState as the decoded row marshaled by encoding/json.
func rowJSONAgrees(t *testing.T, value []byte) {
	t.Helper()
	st, decErr := DecodeRowState("t", "x", value)
	prefix := []byte("prefix")
	got, err := AppendRowJSON(prefix, value)
	if (err != nil) != (decErr != nil) {
		t.Fatalf("AppendRowJSON err = %v, DecodeRowState err = %v", err, decErr)
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) || string(got) != "prefix" {
			t.Fatalf("failed append: %q, %v", got, err)
		}
		return
	}
	if !bytes.HasPrefix(got, prefix) || !json.Valid(got[len(prefix):]) {
		t.Fatalf("not JSON after the prefix: %q", got)
	}
	want, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var a, b RowState
	if err := json.Unmarshal(got[len(prefix):], &a); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	a.Table, a.ID = b.Table, b.ID
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("AppendRowJSON reads back differently:\n got %s\nwant %s", got[len(prefix):], want)
	}
}

func TestAppendRowJSON_MatchesTheDecodedRow(t *testing.T) {
	def := codecTable(t)
	cells := writtenCells(t, def)
	cells["gone"] = cell{V: "quote \" backslash \\ newline \n nul \x00 invalid \xff é \u2028", T: hlc.Timestamp{Wall: 1, Node: "odd\"node\n"}}
	cells["neg"] = cell{V: int64(-1) << 62, T: tsA}
	cells["small"] = cell{V: 1e-9, T: tsA}
	cells["huge"] = cell{V: 1.5e300, T: tsA}
	cells[deletedCell] = cell{V: true, T: tsB}
	b, err := encodeStored(cells, 12)
	if err != nil {
		t.Fatal(err)
	}
	rowJSONAgrees(t, b)
	b0, _ := encodeStored(map[string]cell{"a": {V: nil, T: tsA}}, 0)
	rowJSONAgrees(t, b0)
	rowJSONAgrees(t, []byte(`{"cells":{"n":{"v":5,"t":"`+tsA.String()+`"}},"seq":4}`))
	rowJSONAgrees(t, []byte(`{"cells":`))
	rowJSONAgrees(t, []byte{0x09})
	rowJSONAgrees(t, b[:len(b)-1])
	got, _ := AppendRowJSON(nil, b0)
	if string(got) != `{"cells":{"a":{"v":null,"t":"`+tsA.String()+`"}}}` {
		t.Fatalf("got %s", got)
	}
}

// The reader's varint decodes what binary.AppendVarint wrote, extremes and
// signs included, and fails on a truncated input.
func TestReader_VarintRoundTrip(t *testing.T) {
	for _, x := range []int64{0, 1, -1, 63, -64, 64, -65, math.MaxInt64, math.MinInt64} {
		r := &reader{b: binary.AppendVarint(nil, x)}
		if got := r.varint(); got != x || r.err != nil || r.off != len(r.b) {
			t.Errorf("varint(%d) = %d, err %v, off %d", x, got, r.err, r.off)
		}
	}
	r := &reader{b: []byte{0x80}}
	if r.varint(); r.err == nil {
		t.Error("a truncated varint was accepted")
	}
}
