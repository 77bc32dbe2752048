package engine_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
)

// TestAppendRowsJSON_IsLimitsMarshal: the rows a page receives are the
// bytes limits.Marshal would write, for every kind of value a row holds.
func TestAppendRowsJSON_IsLimitsMarshal(t *testing.T) {
	rows := []engine.Row{
		{"id": "r1", "title": "<b>&\"quoted\"</b>\u2028\n\t\x01é😀", "done": true, "rank": int64(-42), "none": nil},
		{"id": "r2", "f": 3.25, "big": 1e21, "small": 1e-7, "neg": -0.5, "zero": 0.0, "n": json.Number("12.50")},
		{"id": "r3", "meta": map[string]any{"z": []any{1.5, "x", nil, true}, "a": map[string]any{}}, "list": []any{}},
		{},
		nil,
	}
	got, err := engine.AppendRowsJSON(nil, rows)
	if err != nil {
		t.Fatal(err)
	}
	want, err := limits.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSpace(want)) {
		t.Fatalf("AppendRowsJSON\n%s\nlimits.Marshal\n%s", got, want)
	}
	if got, _ := engine.AppendRowsJSON(nil, nil); string(got) != "[]" {
		t.Fatalf("no rows = %s", got)
	}
}
