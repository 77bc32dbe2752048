package protocol_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// TestEncodePush_MatchesEncodingJSON holds the reflection-free push
// encoder to encoding/json's bytes, over random changes with every kind of
// value and awkward strings.
func TestEncodePush_MatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	strs := []string{"", "plain", `q"uote`, `back\slash`, "<b>&amp;</b>", "tab\tnl\n\x01", "é漢字🙂", "\u2028\u2029", "\xff\xfe bad utf8"}
	values := []any{nil, true, false, int64(0), int64(-42), int64(1) << 53, 0.5, -1e-7, 1e21, 123456.789, "x",
		[]any{"a", int64(1), 2.5, nil}, map[string]any{"k": []any{true}, "z": "y", "a": nil}}
	for i := 0; i < 2000; i++ {
		var p protocol.Push
		for n := rng.IntN(4); n >= 0; n-- {
			c := &engine.Change{
				ID: strs[rng.IntN(len(strs))], Table: "todos", Row: fmt.Sprint("r", rng.IntN(9)),
				Kind: []engine.Kind{engine.KindInsert, engine.KindUpdate, engine.KindDelete, engine.KindRestore}[rng.IntN(4)],
				TS:   hlc.Timestamp{Wall: rng.Int64N(1 << 44), Logical: rng.Uint32(), Node: strs[rng.IntN(len(strs))]},
				By:   strs[rng.IntN(len(strs))], Upsert: rng.IntN(3) == 0,
			}
			if rng.IntN(4) > 0 {
				c.Values = map[string]any{}
				for k := rng.IntN(5); k >= 0; k-- {
					c.Values[strs[rng.IntN(len(strs))]+fmt.Sprint(k)] = values[rng.IntN(len(values))]
				}
			}
			p.Changes = append(p.Changes, c)
		}
		if rng.IntN(2) == 0 {
			p.Batch = strs[rng.IntN(len(strs))]
		}
		want, err := protocol.Encode(protocol.TPush, &p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := protocol.EncodePush(&p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
