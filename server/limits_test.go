package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// limitsSetup is alice writing notes (with a json column, meta) on one
// connection while subscribed to them on another.
type limitsSetup struct {
	f                  *fixture
	alice              user
	writer, subscriber *client
	w                  *writer
}

func newLimitsSetup(t *testing.T) *limitsSetup {
	t.Helper()
	f := newFixture(t, withBundle(strings.Replace(notesBundle, `{"name":"public","type":"boolean","optional":true}`,
		`{"name":"public","type":"boolean","optional":true},{"name":"meta","type":"json","optional":true}`, 1)))
	s := &limitsSetup{f: f, alice: newUser(t), w: newWriter(f.clk, "c")}
	s.writer = s.connect(t)
	s.subscriber = s.connect(t)
	subscribe(t, s.subscriber, "s", 0)
	return s
}

func (s *limitsSetup) connect(t *testing.T) *client {
	t.Helper()
	cl, _ := s.f.hello(t, protocol.Auth{Bearer: s.f.token(t, s.alice, time.Hour)})
	return cl
}

// expectStillSyncing pushes an ordinary row on writer and sees subscriber
// receive it, and nothing before it.
func (s *limitsSetup) expectStillSyncing(t *testing.T, writer *client) {
	t.Helper()
	subscriber := s.subscriber
	c := s.w.insert("still fine", s.alice.UserID, false)
	if ack := push(t, writer, c); len(ack.IDs) != 1 || ack.IDs[0] != c.ID {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
	r := expectFrame(t, subscriber, protocol.TRows, wait).Body.(*protocol.Rows)
	if len(r.Rows) != 1 || r.Rows[0].ID != c.Row {
		t.Fatalf("subscriber got %s, want only the new row", mustJSON(r))
	}
}

func TestWS_RowOfAngleBracketsGoesOutAtItsOwnSize(t *testing.T) {
	s := newLimitsSetup(t)
	c := s.w.insert(strings.Repeat("<", 180<<10), s.alice.UserID, false)
	push(t, s.writer, c)
	f := expectFrame(t, s.subscriber, protocol.TRows, wait)
	r := f.Body.(*protocol.Rows)
	if len(r.Rows) != 1 || r.Rows[0].ID != c.Row {
		t.Fatalf("subscriber got %d rows, want the new one", len(r.Rows))
	}
	b, err := protocol.Encode(f.Type, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 190<<10 {
		t.Errorf("the rows frame is %d bytes for 180 KiB of text", len(b))
	}
}

func TestWS_RowOverMaxRowBytesIsRefusedAndOthersKeepSyncing(t *testing.T) {
	s := newLimitsSetup(t)
	// The push fits a frame; the row it makes, cells and timestamps
	// included, does not fit MaxRowBytes.
	big := s.w.insert(strings.Repeat("x", limits.MaxRowBytes-300), s.alice.UserID, false)
	s.writer.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{big}})
	rej := expectFrame(t, s.writer, protocol.TReject, wait).Body.(*protocol.Reject)
	if rej.ID != big.ID || rej.Error.Name != protocol.NameValidation || rej.Error.Code != protocol.CodeRowTooLarge ||
		rej.Error.Table != "notes" || !strings.Contains(rej.Error.Message, "MaxRowBytes") {
		t.Fatalf("reject = %s", mustJSON(rej))
	}
	s.expectStillSyncing(t, s.writer)
}

func TestWS_DeepJSONValueIsRefused(t *testing.T) {
	nested := func(depth int) any {
		var v any = 1
		for range depth {
			v = []any{v}
		}
		return v
	}
	t.Run("past MaxValueDepth: rejected as a validation error", func(t *testing.T) {
		s := newLimitsSetup(t)
		c := s.w.insert("deep", s.alice.UserID, false)
		c.Values["meta"] = nested(limits.MaxValueDepth + 1)
		s.writer.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{c}})
		rej := expectFrame(t, s.writer, protocol.TReject, wait).Body.(*protocol.Reject)
		if rej.ID != c.ID || rej.Error.Name != protocol.NameValidation || rej.Error.Column != "meta" || !strings.Contains(rej.Error.Message, "MaxValueDepth") {
			t.Fatalf("reject = %s", mustJSON(rej))
		}
		s.expectStillSyncing(t, s.writer)
	})
	t.Run("9,996 deep: the frame is refused", func(t *testing.T) {
		s := newLimitsSetup(t)
		c := s.w.insert("deep", s.alice.UserID, false)
		c.Values["meta"] = nested(9996)
		s.writer.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{c}})
		e := expectFrame(t, s.writer, protocol.TError, wait).Body.(*protocol.Error)
		if e.Code != "bad_frame" || !strings.Contains(e.Message, "deeper than") {
			t.Fatalf("error = %+v", e)
		}
		expectClose(t, s.writer, protocol.CloseProtocolError, wait)
		s.expectStillSyncing(t, s.connect(t))
	})
}

func TestWS_InvalidUTF8ClosesWith1007(t *testing.T) {
	s := newLimitsSetup(t)
	s.writer.sendRaw([]byte("{\"t\":\"ping\",\"n\":1,\"\xff\":1}"))
	e := expectFrame(t, s.writer, protocol.TError, wait).Body.(*protocol.Error)
	if e.Error != "protocol" || e.Code != "invalid_utf8" {
		t.Fatalf("error = %+v", e)
	}
	expectClose(t, s.writer, closeInvalidPayload, wait)
	if closeInvalidPayload != 1007 {
		t.Fatalf("closeInvalidPayload = %d", closeInvalidPayload)
	}
	s.expectStillSyncing(t, s.connect(t))
}

func TestWS_DuplicateKeysAreRefused(t *testing.T) {
	cases := map[string]func(s *limitsSetup) string{
		"in the envelope": func(*limitsSetup) string { return `{"t":"push","t":"sub","id":"s2","query":{"table":"notes"}}` },
		"in a body":       func(*limitsSetup) string { return `{"t":"ping","n":1,"n":2}` },
		"inside a value": func(s *limitsSetup) string {
			b, _ := protocol.Encode(protocol.TPush, protocol.Push{Changes: []*engine.Change{s.w.insert("a", s.alice.UserID, false)}})
			return strings.Replace(string(b), `"title":"a"`, `"title":"a","title":"b"`, 1)
		},
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			s := newLimitsSetup(t)
			s.writer.sendRaw([]byte(frame(s)))
			e := expectFrame(t, s.writer, protocol.TError, wait).Body.(*protocol.Error)
			if e.Code != "bad_frame" || !strings.Contains(e.Message, "duplicate member") {
				t.Fatalf("error = %+v", e)
			}
			expectClose(t, s.writer, protocol.CloseProtocolError, wait)
			s.expectStillSyncing(t, s.connect(t))
		})
	}
}

// A row stored over the limit before Submit checked row sizes cannot go
// out in any frame: it is left out (and logged) instead of cutting every
// subscriber of its table off.
func TestWS_ARowStoredOverTheLimitIsNotSent(t *testing.T) {
	s := newLimitsSetup(t)
	db, err := s.f.srv.app.current()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Insert(context.Background(), engine.Actor{Backend: true}, "notes",
		map[string]any{"title": strings.Repeat("x", limits.MaxRowBytes), "owner_id": s.alice.UserID}); err != nil {
		t.Fatal(err)
	}
	// What goes out for it is the cursor past it, without the row.
	if r := expectFrame(t, s.subscriber, protocol.TRows, wait).Body.(*protocol.Rows); len(r.Rows) != 0 {
		t.Fatalf("subscriber got %d rows of %d bytes", len(r.Rows), len(mustJSON(r)))
	}
	s.expectStillSyncing(t, s.writer)
	if !strings.Contains(s.f.logs.String(), "over the row size limit") {
		t.Error("the row left out was not logged")
	}
}
