package protocol

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/limits"
)

// sameAsStrict checks the property decodeFast lives by: whatever it
// accepts, encoding/json's strict pass accepts too, with the same value.
func sameAsStrict(t *testing.T, data []byte) (accepted bool) {
	t.Helper()
	if limits.CheckJSON(data, limits.MaxFrameDepth) != nil {
		return false // Decode refuses it before either decoder runs
	}
	typ, ok := leadingType(data)
	if !ok {
		var head struct {
			T string `json:"t"`
		}
		if json.Unmarshal(data, &head) != nil {
			return false
		}
		typ = head.T
	}
	if frames[typ] == nil {
		return false
	}
	fast, ok := decodeFast(typ, data)
	if !ok {
		return false
	}
	strict, err := decodeStrict(frames[typ], data)
	if err != nil {
		t.Fatalf("the fast decoder accepted a frame encoding/json refuses (%v):\n%s", err, data)
	}
	if !reflect.DeepEqual(fast, strict) {
		t.Fatalf("the decoders disagree on\n%s\nfast:   %#v\nstrict: %#v", data, fast, strict)
	}
	return true
}

// randomValue is any JSON value, written as text with the quirks a
// decoder must get right: escapes of every kind, surrogate pairs, numbers
// in every form, whitespace.
func randomValue(rng *rand.Rand, depth int) string {
	ws := func() string { return []string{"", "", " ", "\n\t", "\r "}[rng.IntN(5)] }
	switch k := rng.IntN(10); {
	case k == 0 && depth < 4:
		var parts []string
		for i := range rng.IntN(4) {
			parts = append(parts, fmt.Sprintf("%s%q%s:%s%s", ws(), fmt.Sprint("k", i, randomText(rng)), ws(), ws(), randomValue(rng, depth+1)))
		}
		return "{" + strings.Join(parts, ",") + ws() + "}"
	case k == 1 && depth < 4:
		var parts []string
		for range rng.IntN(4) {
			parts = append(parts, ws()+randomValue(rng, depth+1)+ws())
		}
		return "[" + strings.Join(parts, ",") + "]"
	case k <= 4:
		return quoteRandom(rng, randomText(rng))
	case k <= 7:
		return []string{"0", "-0", "12", "-7", "3.25", "1e9", "2E-3", "-0.5e+2", "123456789012345678901234567890", "01", "1.", ".5", "-", "1e", "+1"}[rng.IntN(15)]
	case k == 8:
		return []string{"true", "false", "null", "nul", "tru"}[rng.IntN(5)]
	}
	return `"plain"`
}

func randomText(rng *rand.Rand) string {
	pieces := []string{"a", "é", "日本", "😀", "\"", "\\", "/", "\n", "\t", "\b", "\f", "\r", "\x01", "\u2028", " ", "z"}
	var b strings.Builder
	for range rng.IntN(6) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// quoteRandom writes s as a JSON string, escaping at random where JSON
// allows a choice (and now and then where it does not).
func quoteRandom(rng *rand.Rand, s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteString(`\` + string(c))
		case c < 0x20:
			short := map[rune]string{'\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}[c]
			if short == "" || rng.IntN(2) == 0 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteString(short)
			}
		case c > 0xffff && rng.IntN(2) == 0:
			r1, r2 := (c-0x10000)>>10+0xd800, (c-0x10000)&0x3ff+0xdc00
			if rng.IntN(10) == 0 {
				fmt.Fprintf(&b, `\u%04X`, r1) // a lone half
			} else {
				fmt.Fprintf(&b, `\u%04x\u%04X`, r1, r2)
			}
		case c == '/' && rng.IntN(2) == 0:
			b.WriteString(`\/`)
		case rng.IntN(8) == 0 && c < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func randomFrame(rng *rand.Rand) string {
	stamp := func() string {
		if rng.IntN(30) == 0 {
			return `"not a stamp"`
		}
		return `"0019ca9450a00000000005f1a8ecf6a8a"`
	}
	var rows []string
	for i := range rng.IntN(5) {
		var cells []string
		for c := range rng.IntN(4) {
			cells = append(cells, fmt.Sprintf(`"col%d":{"v":%s,"t":%s}`, c, randomValue(rng, 0), stamp()))
		}
		members := []string{`"table":"todos"`, fmt.Sprintf(`"id":"row-%d"`, i), `"cells":{` + strings.Join(cells, ",") + `}`}
		if rng.IntN(2) == 0 {
			members = append(members, fmt.Sprintf(`"seq":%s`, []string{"7", "0", "18446744073709551615", "18446744073709551616", "-1", "1.5"}[rng.IntN(6)]))
		}
		if rng.IntN(20) == 0 {
			members = append(members, []string{`"Table":"x"`, `"extra":1`, `"cells":null`}[rng.IntN(3)])
		}
		rng.Shuffle(len(members), func(a, b int) { members[a], members[b] = members[b], members[a] })
		rows = append(rows, "{"+strings.Join(members, ",")+"}")
	}
	if rng.IntN(2) == 0 {
		env := []string{`"t":"rows"`, `"sub":` + quoteRandom(rng, "sub "+randomText(rng)), `"rows":[` + strings.Join(rows, ", ") + `]`, `"cursor":12`}
		if rng.IntN(2) == 0 {
			env = append(env, `"complete":true`)
		}
		rng.Shuffle(len(env)-1, func(a, b int) { env[a+1], env[b+1] = env[b+1], env[a+1] })
		return "{" + strings.Join(env, ",") + "}"
	}
	env := []string{`"t":"ack"`, `"ids":["a","b"]`, `"stamps":{"a":` + stamp() + `}`, `"rows":[` + strings.Join(rows, ",") + `]`}
	if rng.IntN(3) == 0 {
		env = append(env, `"batch":"b1"`)
	}
	return "{" + strings.Join(env, ",") + "}"
}

// TestDecodeFast_SameAsStrict runs random rows and ack frames, quirks
// included, through both decoders (seeded, seed printed): what the fast
// one accepts, encoding/json accepts identically; and it does accept the
// plain frames it exists for.
func TestDecodeFast_SameAsStrict(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("JAZZ_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (replay with JAZZ_SEED)", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	accepted := 0
	const n = 3000
	for range n {
		if sameAsStrict(t, []byte(randomFrame(rng))) {
			accepted++
		}
	}
	if accepted < n/10 {
		t.Fatalf("the fast decoder took only %d of %d frames", accepted, n)
	}
	t.Logf("fast path took %d of %d frames", accepted, n)
	// The frames a server sends, exactly as it encodes them, all take it.
	for _, f := range []string{
		`{"t":"rows","sub":"s","rows":[{"table":"todos","id":"r","cells":{"title":{"v":"x\u2028y","t":"0019ca9450a00000000005f1a8ecf6a8a"}},"seq":3}],"cursor":3,"complete":true}`,
		`{"ids":["a"],"stamps":{"a":"0019ca9450a00000000005f1a8ecf6a8a"},"t":"ack"}`,
	} {
		if !sameAsStrict(t, []byte(f)) {
			t.Fatalf("a server's frame did not take the fast path: %s", f)
		}
	}
}

// FuzzDecodeFast holds decodeFast to encoding/json on arbitrary frames.
func FuzzDecodeFast(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		f.Add([]byte(randomFrame(rng)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsStrict(t, data)
	})
}
