package engine

import (
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/limits"
)

// DecodeRowStates reads a JSON array of RowState from r, as encoding/json
// (with UseNumber) would, without its reflection: the rows frames a client
// receives are most of what it decodes. False means "not read": the
// caller decodes with encoding/json instead, which decides (see
// limits.Reader). Member names must be exact, as AppendJSON writes them.
func DecodeRowStates(r *limits.Reader) ([]RowState, bool) {
	var out []RowState
	ok := r.Elements(func() bool {
		var st RowState
		ok := r.Members(func(name string) bool {
			var ok bool
			switch name {
			case "table":
				st.Table, ok = r.String()
			case "id":
				st.ID, ok = r.String()
			case "seq":
				st.Seq, ok = r.Uint()
			case "cells":
				st.Cells, ok = readCells(r)
			case "hidden":
				st.Hidden, ok = r.Bool()
			}
			return ok
		})
		out = append(out, st)
		return ok
	})
	if out == nil && ok {
		out = []RowState{}
	}
	return out, ok
}

func readCells(r *limits.Reader) (map[string]cell, bool) {
	if r.Peek() != '{' {
		return nil, false // null is encoding/json's to decide
	}
	cells := map[string]cell{}
	ok := r.Members(func(col string) bool {
		var c cell
		ok := r.Members(func(name string) bool {
			switch name {
			case "v":
				v, ok := r.Value()
				c.V = v
				return ok
			case "t":
				s, ok := r.String()
				if !ok {
					return false
				}
				t, err := hlc.Parse(s)
				c.T = t
				return err == nil
			}
			return false
		})
		cells[col] = c
		return ok
	})
	return cells, ok
}
