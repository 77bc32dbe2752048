package limits_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/limits"
)

func nested(depth int) string {
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

func manyMembers(n int, dup string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"m%d":%d,`, i, i)
	}
	b.WriteString(`"` + dup + `":0}`)
	return b.String()
}

func TestCheckJSON_RefusesWhatDecodersReadDifferently(t *testing.T) {
	cases := map[string]struct {
		in    string
		depth int
		want  error
	}{
		"flat object":                    {`{"t":"push","n":1}`, 4, nil},
		"at the depth limit":             {nested(4), 4, nil},
		"over the depth limit":           {nested(5), 4, limits.ErrTooDeep},
		"objects count as levels":        {`{"a":{"b":{}}}`, 2, limits.ErrTooDeep},
		"brackets in strings do not":     {`{"a":"[[[[[[{{{{"}`, 1, nil},
		"escaped quote in a string":      {`{"a":"\"[[","b":1}`, 1, nil},
		"duplicate at the top":           {`{"t":"push","t":"sub"}`, 4, limits.ErrDuplicateMember},
		"duplicate deep inside a value":  {`{"v":[{"x":1},{"y":{"k":1,"k":2}}]}`, 8, limits.ErrDuplicateMember},
		"duplicate spelled with escapes": {`{"t":1,"\u0074":2}`, 4, limits.ErrDuplicateMember},
		"same name in sibling objects":   {`[{"a":1},{"a":2}]`, 4, nil},
		"same name at two depths":        {`{"a":{"a":{"a":1}}}`, 4, nil},
		"name after a nested object":     {`{"a":{"b":1},"b":2}`, 4, nil},
		"string values are not names":    {`{"a":"a","b":"a"}`, 4, nil},
		"many members, no duplicate":     {manyMembers(100, "last"), 4, nil},
		"many members, late duplicate":   {manyMembers(100, "m3"), 4, limits.ErrDuplicateMember},
		"invalid UTF-8":                  {"{\"a\":\"\xff\"}", 4, limits.ErrInvalidUTF8},
		"truncated UTF-8":                {"{\"a\":\"\xe2\x82\"}", 4, limits.ErrInvalidUTF8},
		"lone high surrogate escape":     {`{"a":"x\ud800y"}`, 4, limits.ErrInvalidUTF8},
		"lone low surrogate escape":      {`{"a":"\udc00"}`, 4, limits.ErrInvalidUTF8},
		"high surrogate at the end":      {`["\uD83D"]`, 4, limits.ErrInvalidUTF8},
		"surrogate in a member name":     {`{"\ud800":1}`, 4, limits.ErrInvalidUTF8},
		"escaped surrogate pair":         {`{"a":"\ud83d\ude00","b":"\u00e9\\u"}`, 4, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := limits.CheckJSON([]byte(tc.in), tc.depth); !errors.Is(err, tc.want) {
				t.Errorf("CheckJSON(%.60s) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestMarshal_LeavesHTMLUnescaped(t *testing.T) {
	in := map[string]any{"v": "<a href='x'>&</a>"}
	got, err := limits.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":"<a href='x'>&</a>"}`; string(got) != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	std, _ := json.Marshal(in)
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal(std, &b) != nil || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("Marshal and json.Marshal decode differently: %s vs %s", got, std)
	}
}

func TestLimits_ARowOfTheLimitFitsAFrame(t *testing.T) {
	if limits.MaxRowBytes+limits.FrameOverheadBytes > limits.MaxFrameBytes {
		t.Errorf("MaxRowBytes %d + FrameOverheadBytes %d > MaxFrameBytes %d", limits.MaxRowBytes, limits.FrameOverheadBytes, limits.MaxFrameBytes)
	}
}

// FuzzCheckJSON holds CheckJSON to its promise on whatever encoding/json
// accepts: it refuses invalid UTF-8 and duplicate names, and otherwise
// agrees with a full decode about depth.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"t":"push","t":"sub"}`, `{"a":[{"b":"\"]"}]}`, nested(3), `{"\u0061":1,"a":2}`, "\"\xff\"", `[}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := limits.CheckJSON(data, 8)
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		if err == nil && depthOf(v) > 8 {
			t.Errorf("accepted %q, %d deep", data, depthOf(v))
		}
		if errors.Is(err, limits.ErrTooDeep) && depthOf(v) <= 8 {
			t.Errorf("refused %q as too deep at depth %d", data, depthOf(v))
		}
	})
}

func depthOf(v any) int {
	d := 0
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
		return d + 1
	case map[string]any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}
