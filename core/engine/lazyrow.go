package engine

import (
	"encoding/binary"
	"maps"
	"math"

	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// Rows read from storage are kept in their stored form until a writer needs
// their cells.
//
// A browser replica reads a whole table the first time a query asks for it,
// and decoding every row into a map of cells was most of that wait (10k
// rows: about 150-200 ms in WebAssembly, where each row's map and boxed
// values are allocations), although the query reads two or three cells of
// each row and returns fifty. So a loaded row whose cells are all plain
// values (null, booleans, numbers, strings) that already have their
// column's type keeps only its stored bytes (row.stored) instead: the load checks
// them as strictly as decoding does, without allocating, and a read takes
// the one cell it needs from the bytes (the cell names are sorted, so the
// walk stops at or before it). Rows holding JSON values, or values whose
// column type changed since they were written, are decoded at load as before.
//
// Readers hold the DB's read lock, concurrently, so they never change a row:
// they read from the stored bytes, and copy cells out of them when they
// need a map (cellsOf). Writers hold the write lock and call materialize
// (through writableRow or table.row) before they touch base, view or
// pending; it decodes the row once, and the row is no longer encoded.

// checkEncoded reports whether v, a stored row, can be kept encoded (see
// above), with its sequence number and whether the row is visible (created
// and not deleted). It applies decodeBinary's checks; a row it refuses is
// left to decode, which reports what is wrong with it.
func (d *rowDecoder) checkEncoded(v []byte) (seq uint64, visible, ok bool) {
	if len(v) == 0 || v[0] != rowFormatV1 {
		return 0, false, false
	}
	r := &reader{b: v}
	var tsBuf [4]rawTS
	seq, ts, n := r.header(tsBuf[:0])
	for _, t := range ts {
		d.newest(int64(t.wall), t.logical)
	}
	created, deleted, plain := false, false, true
	r.cells(n, len(ts), func(i int, name []byte, _ int, rv rawValue) bool {
		m := d.column(i, name)
		created = created || m.name == schema.ColCreatedAt
		switch m.kind {
		case colDeleted:
			deleted = rv.tag != tagFalse
		case colUnknown:
			// Rows holding json or bytes are decoded (rawAny has no form for them).
			plain = rv.tag != tagJSON && rv.tag != tagBytes
		default:
			plain = fitsTag(m.col.Type, rv)
		}
		return plain
	})
	if !plain || r.end() != nil {
		return 0, false, false
	}
	return seq, created && !deleted, true
}

// newest remembers the newest timestamp seen among the rows decoded or
// checked (rowDecoder.latest), for the DB's clock.
func (d *rowDecoder) newest(wall int64, logical uint32) {
	if wall > d.latest.Wall || (wall == d.latest.Wall && logical > d.latest.Logical) {
		d.latest = hlc.Timestamp{Wall: wall, Logical: logical}
	}
}

// fitsTag is fits for a stored value, without boxing it.
func fitsTag(t schema.Type, v rawValue) bool {
	switch v.tag {
	case tagNull:
		return true
	case tagFalse, tagTrue:
		return t == schema.Boolean || t == schema.JSON
	case tagInt:
		return t == schema.Int || t == schema.Timestamp
	case tagFloat:
		return t == schema.Float
	case tagString:
		return t == schema.String || t == schema.JSON || t == schema.Enum || (t == schema.Ref && len(v.p) > 0)
	}
	return false
}

// encodedGet is Get for an encoded row: the value of cell col, read from
// the stored bytes. They were checked at load (checkEncoded), so this walk
// checks nothing again and decodes only the value it returns; the cells
// before it are skipped by their lengths.
func encodedGet(enc []byte, col string) (any, bool) {
	off := skipUvarint(enc, 1) // the sequence number, after the format version
	var nts uint64
	nts, off = uvarintAt(enc, off)
	for ; nts > 0; nts-- {
		off = skipUvarint(enc, skipUvarint(enc, off)) // wall, logical
		var node uint64
		node, off = uvarintAt(enc, off)
		off += int(node)
	}
	var n uint64
	n, off = uvarintAt(enc, off)
	for ; n > 0; n-- {
		var ln uint64
		ln, off = uvarintAt(enc, off)
		name := enc[off : off+int(ln)]
		off = skipUvarint(enc, off+int(ln)) // the timestamp's index
		tag := enc[off]
		off++
		switch {
		case string(name) == col:
			if col == deletedCell {
				return tag != tagFalse, true
			}
			v := rawValue{tag: tag}
			switch tag {
			case tagInt:
				x, _ := binary.Varint(enc[off:])
				v.i = x
			case tagFloat:
				v.f = math.Float64frombits(binary.LittleEndian.Uint64(enc[off:]))
			case tagString:
				l, at := uvarintAt(enc, off)
				v.p = enc[at : at+int(l)]
			}
			return rawAny(v), true
		case string(name) > col:
			return nil, false // names are sorted
		}
		switch tag {
		case tagInt:
			off = skipUvarint(enc, off) // a varint is as long as a uvarint
		case tagFloat:
			off += 8
		case tagString, tagJSON, tagBytes:
			l, at := uvarintAt(enc, off)
			off = at + int(l)
		}
	}
	return nil, false
}

// uvarintAt reads the uvarint at b[off:] and returns it with the offset
// after it. b was checked, so it is well formed.
func uvarintAt(b []byte, off int) (uint64, int) {
	x, n := binary.Uvarint(b[off:])
	return x, off + n
}

// skipUvarint returns the offset after the (u)varint at b[off:].
func skipUvarint(b []byte, off int) int {
	for b[off] >= 0x80 {
		off++
	}
	return off + 1
}

// rawAny is a checked plain stored value as the Go value decoding gives.
func rawAny(v rawValue) any {
	switch v.tag {
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagInt:
		return v.i
	case tagFloat:
		return v.f
	case tagString:
		return string(v.p)
	}
	return nil
}

// encodedPublic is public for an encoded row.
func encodedPublic(id string, enc []byte) Row {
	r := &reader{b: enc}
	var tsBuf [4]rawTS
	_, ts, n := r.header(tsBuf[:0])
	out := make(Row, n+1)
	r.cells(n, len(ts), func(_ int, name []byte, _ int, rv rawValue) bool {
		if string(name) != deletedCell {
			out[string(name)] = rawAny(rv)
		}
		return true
	})
	out[schema.ColID] = id
	return out
}

// cellsOf returns r's visible cells for a reader: r.view, or for an encoded
// row a decoded copy (the caller must not keep it expecting later writes).
func (t *table) cellsOf(r *row) map[string]cell {
	if !r.encoded() {
		return r.view
	}
	cells, _, err := newRowDecoder(t.def).decodeBinary(r.stored)
	if err != nil {
		// checkEncoded accepted these bytes, and decoding applies the
		// same checks: a difference is a bug in this file.
		panic("engine: an encoded row does not decode: " + err.Error())
	}
	return cells
}

// baseHas reports whether r's confirmed cells include col.
func (r *row) baseHas(col string) bool {
	if r.encoded() {
		_, ok := encodedGet(r.stored, col)
		return ok
	}
	_, ok := r.base[col]
	return ok
}

// baseCopy is a copy of r's confirmed cells, for a reader.
func (t *table) baseCopy(r *row) map[string]cell {
	if r.encoded() {
		return t.cellsOf(r) // a fresh map already
	}
	return maps.Clone(r.base)
}

// materialize decodes an encoded row for a writer (who holds the write
// lock): afterwards base and view hold its cells.
func (t *table) materialize(r *row) {
	if !r.encoded() {
		return
	}
	cells := t.cellsOf(r)
	r.base, r.view = cells, cells // stored still holds them
}
