package protocol

import (
	"encoding/json"
	"strconv"

	"github.com/jazzgo/jazz-tools/core/limits"
)

// EncodeRows encodes a rows frame whose rows are already encoded, each the
// JSON of an engine.RowState (engine.ChangedPageJSON, RowState.AppendJSON):
// the same frame Encode makes of the Rows, without encoding/json reading
// every row again to compact it. A server's initial results are its
// largest frames by far, and this is how they are built.
func EncodeRows(sub string, rows []json.RawMessage, cursor uint64, complete, reset bool) ([]byte, error) {
	subJSON, err := limits.Marshal(sub)
	if err != nil {
		return nil, err
	}
	size := 64 + len(subJSON)
	for _, r := range rows {
		size += len(r) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, `{"t":"`+TRows+`","sub":`...)
	b = append(b, subJSON...)
	b = append(b, `,"rows":[`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	b = append(b, `],"cursor":`...)
	b = strconv.AppendUint(b, cursor, 10)
	if complete {
		b = append(b, `,"complete":true`...)
	}
	if reset {
		b = append(b, `,"reset":true`...)
	}
	return append(b, '}'), nil
}

// EncodePush encodes a push frame as Encode(TPush, p) would, without
// reflection (engine.Change.AppendJSON).
func EncodePush(p *Push) ([]byte, error) {
	b := make([]byte, 0, 64+256*len(p.Changes))
	b = append(b, `{"t":"`+TPush+`","changes":[`...)
	for i, c := range p.Changes {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = c.AppendJSON(b); err != nil {
			return nil, err
		}
	}
	b = append(b, ']')
	if p.Batch != "" {
		id, err := limits.Marshal(p.Batch)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"batch":`...), id...)
	}
	return append(b, '}'), nil
}
