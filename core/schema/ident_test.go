package schema

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// identRe is the rule isIdent implements by hand (see its doc comment).
var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func TestIsIdent_MatchesRegexp(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if got, want := isIdent(s), identRe.MatchString(s); got != want {
			t.Fatalf("isIdent(%q) = %v, the regexp says %v", s, got, want)
		}
	}
	for _, s := range []string{
		"", "a", "Z", "_", "0", "9a", "a9", "_9", "todos", "owner_id", "A_b_C",
		"a-b", "a b", "a.b", "a$", "$a", "a\n", "\na", "a\x00", "é", "aé",
		"@", "[", "`", "{", "/", ":", // the neighbours of the accepted ranges
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 65),
		"_" + strings.Repeat("9", 63), "_" + strings.Repeat("9", 64),
		"a\xff", "\xff", "\xc3", // invalid UTF-8
	} {
		check(s)
	}
	// Random strings over an alphabet of accepted bytes and their neighbours.
	const alphabet = "aAzZ_09@[`{/:- .$\n\x00\xff\xc3\xa9"
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for i := 0; i < 200_000; i++ {
		b.Reset()
		n := r.IntN(70)
		if r.IntN(2) == 0 {
			n = r.IntN(4)
		}
		for j := 0; j < n; j++ {
			// Mostly accepted bytes, so that long valid names come up too.
			if r.IntN(8) != 0 {
				b.WriteByte(alphabet[r.IntN(7)])
			} else {
				b.WriteByte(alphabet[r.IntN(len(alphabet))])
			}
		}
		check(b.String())
	}
}
