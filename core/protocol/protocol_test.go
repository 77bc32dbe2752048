package protocol_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// Every message type decodes to its own body type, with the fields it was
// encoded with (the "t" tag and the body share one JSON object), and
// encodes back to the same frame.
func TestDecode_EveryTypeToItsBody(t *testing.T) {
	msgs := []struct {
		typ  string
		body any
	}{
		{protocol.THello, &protocol.Hello{V: 1, AppID: "app", Auth: protocol.Auth{Bearer: "x"}}},
		{protocol.TAuth, &protocol.AuthMsg{Auth: protocol.Auth{Bearer: "y", ActAs: protocol.ActAsBackend}}},
		{protocol.TSub, &protocol.Sub{ID: "q1", Query: &query.Query{Table: "todos", Limit: 3}, Cursor: 9}},
		{protocol.TUnsub, &protocol.Unsub{ID: "q1"}},
		{protocol.TPush, &protocol.Push{Changes: []*engine.Change{{ID: "c1", Table: "todos"}}}},
		{protocol.TPing, &protocol.Ping{N: 4}},
		{protocol.TPong, &protocol.Ping{N: 5}},
		{protocol.TWelcome, &protocol.Welcome{V: 1, ExpiresAt: 7, Attribution: "u"}},
		{protocol.TAuthed, &protocol.Authed{ExpiresAt: 8, Backend: true}},
		{protocol.TRows, &protocol.Rows{Sub: "q1", Cursor: 3, Complete: true}},
		{protocol.TAck, &protocol.Ack{IDs: []string{"a", "b"}}},
		{protocol.TReject, &protocol.Reject{ID: "c1", Error: protocol.ErrorBody{Name: "n", Code: "c", Message: "m"}}},
		{protocol.TError, &protocol.Error{Error: "unauthenticated", Code: "expired", Message: "m"}},
	}
	for _, m := range msgs {
		b, err := protocol.Encode(m.typ, m.body)
		if err != nil {
			t.Fatal(err)
		}
		f, err := protocol.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v (%s)", m.typ, err, b)
		}
		if f.Type != m.typ {
			t.Fatalf("type %q, want %q", f.Type, m.typ)
		}
		if got, want := reflect.TypeOf(f.Body), reflect.TypeOf(m.body); got != want {
			t.Fatalf("%s: body is a %v, want %v", m.typ, got, want)
		}
		again, err := protocol.Encode(f.Type, f.Body)
		if err != nil || string(again) != string(b) {
			t.Fatalf("%s: decoded to %s (%v), want %s", m.typ, again, err, b)
		}
	}
}

// A field of the wrong type is reported with its path in the body, as
// encoding/json words it for the (unnamed) envelope struct.
func TestDecode_NamesTheBadField(t *testing.T) {
	cases := map[string]string{
		`{"t":"hello","v":"1","appId":"a","auth":{}}`: `hello: json: cannot unmarshal string into Go struct field .Hello.v of type int`,
		`{"t":"ping","n":-1}`:                         `ping: json: cannot unmarshal number -1 into Go struct field .Ping.n of type uint64`,
		`{"t":"error","error":1}`:                     `error: json: cannot unmarshal number into Go struct field .Error.error of type string`,
	}
	for frame, want := range cases {
		_, err := protocol.Decode([]byte(frame))
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want it to end with %q", frame, err, want)
		}
	}
}

func TestDecode_RefusesBadFrames(t *testing.T) {
	cases := map[string]string{
		"not json":        `{`,
		"array":           `[]`,
		"unknown type":    `{"t":"nope"}`,
		"unknown field":   `{"t":"ping","n":1,"x":2}`,
		"wrong version":   `{"t":"hello","v":2,"appId":"a","auth":{}}`,
		"missing app":     `{"t":"hello","v":1,"auth":{}}`,
		"empty push":      `{"t":"push","changes":[]}`,
		"null change":     `{"t":"push","changes":[null]}`,
		"sub without id":  `{"t":"sub","query":{"table":"x"}}`,
		"long sub id":     `{"t":"sub","id":"` + strings.Repeat("x", 65) + `","query":{"table":"x"}}`,
		"bad query":       `{"t":"sub","id":"a","query":{"table":"x","limit":-1}}`,
		"bad change kind": `{"t":"push","changes":[{"id":"x","kind":3}]}`,
		"oversized":       `{"t":"ping","n":1,"pad":"` + strings.Repeat("x", limits.MaxFrameBytes) + `"}`,
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := protocol.Decode([]byte(frame)); !errors.Is(err, protocol.ErrBadFrame) {
				t.Fatalf("err = %v, want ErrBadFrame", err)
			}
		})
	}
}

// What encoding/json would read one way among several, or not at all past
// its own depth limit, is refused before decoding, naming the limit.
func TestDecode_RefusesAmbiguousFrames(t *testing.T) {
	change := func(values string) string {
		return `{"t":"push","changes":[{"id":"0190b2a0-0000-7000-8000-000000000000","table":"todos","row":"0190b2a0-0000-7000-8000-000000000001","kind":"insert","ts":"0190b2a00000000000000n1","by":"","values":` + values + `}]}`
	}
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := map[string]struct {
		frame string
		want  error
	}{
		"duplicate type":              {`{"t":"push","t":"sub","id":"a","query":{"table":"x"}}`, limits.ErrDuplicateMember},
		"duplicate field":             {`{"t":"ping","n":1,"n":2}`, limits.ErrDuplicateMember},
		"duplicate inside a value":    {change(`{"meta":{"a":1,"a":2}}`), limits.ErrDuplicateMember},
		"invalid UTF-8 in a value":    {change("{\"title\":\"\xff\"}"), limits.ErrInvalidUTF8},
		"nested past the frame limit": {change(`{"meta":` + deep(limits.MaxFrameDepth) + `}`), limits.ErrTooDeep},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := protocol.Decode([]byte(tc.frame))
			if !errors.Is(err, protocol.ErrBadFrame) || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want ErrBadFrame and %v", err, tc.want)
			}
		})
	}
	if _, err := protocol.Decode([]byte(change(`{"meta":` + deep(limits.MaxValueDepth) + `}`))); err != nil {
		t.Errorf("a value at MaxValueDepth: %v", err)
	}
}

func TestEncode_LeavesHTMLUnescaped(t *testing.T) {
	b, err := protocol.Encode(protocol.TError, protocol.Error{Message: "<b>&</b>"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"message":"<b>&</b>"`) {
		t.Errorf("Encode = %s, want the message as is", b)
	}
}

// The largest row the server accepts, in the largest rows frame around it
// (the longest subscription id, all of it escaped, the largest cursor),
// fits a frame and decodes.
func TestEncode_ARowAtTheLimitFitsARowsFrame(t *testing.T) {
	const head = `{"table":"todos","id":"0190b2a0-0000-7000-8000-000000000001","seq":18446744073709551615,"cells":{"title":{"t":"0190b2a00000000000000n1","v":"`
	const tail = `"}}}`
	row := head + strings.Repeat("<", limits.MaxRowBytes-len(head)-len(tail)) + tail
	var st engine.RowState
	if err := json.Unmarshal([]byte(row), &st); err != nil {
		t.Fatal(err)
	}
	if b, _ := limits.Marshal(st); len(b) != limits.MaxRowBytes {
		t.Fatalf("the row encodes to %d bytes, want %d", len(b), limits.MaxRowBytes)
	}
	frame, err := protocol.Encode(protocol.TRows, protocol.Rows{
		Sub: strings.Repeat("\x01", protocol.MaxSubIDLen), Rows: []engine.RowState{st}, Cursor: math.MaxUint64, Complete: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) > limits.MaxFrameBytes {
		t.Fatalf("rows frame of %d bytes, over %d", len(frame), limits.MaxFrameBytes)
	}
	if _, err := protocol.Decode(frame); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"t":"push","t":"sub"}`))
	f.Add([]byte(`{"t":"ping","n":1,"\u006e":2}`))
	f.Add([]byte(`{"t":"hello","v":1,"appId":"a","auth":{"bearer":"x"}}`))
	f.Add([]byte(`{"t":"push","changes":[{"id":"0190b2a0-0000-7000-8000-000000000000","table":"todos","row":"0190b2a0-0000-7000-8000-000000000001","kind":"insert","ts":"0190b2a00000000000000n1","by":"","values":{"title":"x"}}]}`))
	f.Add([]byte(`{"t":"sub","id":"q","query":{"table":"todos","where":{"eq":[{"col":"a"},{"value":1}]}},"cursor":3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := protocol.Decode(data)
		if err != nil {
			if !errors.Is(err, protocol.ErrBadFrame) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		b, err := protocol.Encode(fr.Type, fr.Body)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := protocol.Decode(b); err != nil && len(b) <= limits.MaxFrameBytes {
			t.Fatalf("re-decode of %s: %v", b, err)
		}
	})
}

func TestErrorBody_RowTooLargeIsAValidationErrorNamingTheLimit(t *testing.T) {
	err := &engine.RowTooLargeError{Table: "todos", Row: "r1", Size: limits.MaxRowBytes + 1, Limit: limits.MaxRowBytes}
	body := protocol.ErrorBodyFrom(fmt.Errorf("wrapped: %w", err))
	if body.Name != protocol.NameValidation || body.Code != protocol.CodeRowTooLarge || body.Table != "todos" || !strings.Contains(body.Message, "MaxRowBytes") {
		t.Fatalf("body = %+v", body)
	}
	var ve *schema.ValidationError
	if !errors.As(&protocol.RemoteError{Body: body}, &ve) || ve.Table != "todos" {
		t.Fatalf("remote error does not unwrap to a ValidationError: %v", ve)
	}
}

func TestErrorBody_RoundTripsToTypedErrors(t *testing.T) {
	anon := &policy.AnonymousWriteDeniedError{Table: "todos", Operation: policy.Insert}
	body := protocol.ErrorBodyFrom(fmt.Errorf("wrapped: %w", anon))
	if body.Name != "AnonymousWriteDeniedError" || body.Table != "todos" || body.Operation != "insert" {
		t.Fatalf("body = %+v", body)
	}
	var got *policy.AnonymousWriteDeniedError
	if err := error(&protocol.RemoteError{Body: body}); !errors.As(err, &got) || got.Table != "todos" {
		t.Fatalf("remote error does not unwrap: %v", err)
	}
	if b := protocol.ErrorBodyFrom(errors.New("disk on fire at /var/x")); b.Name != "InternalError" || strings.Contains(b.Message, "/var") {
		t.Fatalf("internal error leaks: %+v", b)
	}
	if err := error(&protocol.RemoteError{Body: protocol.ErrorBodyFrom(engine.ErrNotFound)}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("not found does not unwrap: %v", err)
	}
}
