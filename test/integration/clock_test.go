package integration

import (
	"reflect"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
)

// skewed is a device whose clock is off by a fixed amount.
type skewed struct {
	clock.Clock
	by time.Duration
}

func (s skewed) Now() time.Time { return s.Clock.Now().Add(s.by) }

// Three devices of one user, one 23 hours ahead, one ten years behind, one
// right, edit the same row in turn. The server decides every time: the
// edit times are its clock's, the last edit it accepted wins whatever the
// devices' clocks said, every replica ends with the same cells, and no
// replica's clock is dragged to the device that runs ahead.
func TestClock_ServerDecidesTimeAndOrder(t *testing.T) {
	e := newEnv(t, envOpts{})
	device := func(by time.Duration) *client.Db {
		return e.open(client.Config{JWTToken: e.jwt("alice", 48*time.Hour)}, func(o *client.Options) {
			o.Clock = skewed{e.clock, by}
		})
	}
	ahead := device(23 * time.Hour)
	behind := device(-10 * 365 * 24 * time.Hour)
	honest := device(0)
	all := &query.Query{Table: "todos"}
	for _, db := range []*client.Db{ahead, behind, honest} {
		stop, err := db.Subscribe(all, func(engine.Update) {})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	synced := func(db *client.Db) func() bool { return func() bool { return len(db.Pending()) == 0 } }
	has := func(db *client.Db, id string) func() bool {
		return func() bool { rows, _ := db.All(all); return hasID(rows, id) }
	}

	created := e.clock.Now()
	r, err := honest.Insert(ctx, "todos", todo("alice", "first"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "insert acknowledged", synced(honest))
	eventually(t, "the row reaches the other devices", func() bool { return has(ahead, r.ID())() && has(behind, r.ID())() })
	e.clock.Advance(time.Second)
	if _, err := ahead.Update(ctx, "todos", r.ID(), map[string]any{"title": "from the device ahead"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "update from ahead acknowledged", synced(ahead))
	e.clock.Advance(time.Second)
	if _, err := behind.Update(ctx, "todos", r.ID(), map[string]any{"done": true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "update from behind acknowledged", synced(behind))
	e.clock.Advance(time.Second)
	updated := e.clock.Now()
	if _, err := honest.Update(ctx, "todos", r.ID(), map[string]any{"title": "last, from the honest device"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "last update acknowledged", synced(honest))

	want := e.serverRows(t)
	if len(want) != 1 {
		t.Fatalf("server rows = %v", want)
	}
	row := want[0]
	if row["title"] != "last, from the honest device" || row["done"] != true {
		t.Fatalf("server row = %v: the last write the server accepted must win", row)
	}
	for col, at := range map[string]time.Time{"$createdAt": created, "$updatedAt": updated} {
		if got, ok := row[col].(int64); !ok || got != at.UnixMilli() {
			t.Errorf("%s = %v, want the server's clock at apply, %d", col, row[col], at.UnixMilli())
		}
	}
	for _, col := range []string{"$createdBy", "$updatedBy"} {
		if row[col] != "alice" {
			t.Errorf("%s = %v, want alice", col, row[col])
		}
	}
	for name, db := range map[string]*client.Db{"ahead": ahead, "behind": behind, "honest": honest} {
		eventually(t, name+" converges on the server's row", func() bool {
			rows, _ := db.All(all)
			return len(rows) == 1 && reflect.DeepEqual(map[string]any(rows[0]), map[string]any(row))
		})
	}
	srv, err := e.srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	limit := e.clock.Now().Add(time.Minute).UnixMilli()
	for name, db := range map[string]*engine.DB{"server": srv, "honest device": honest.Engine(), "device behind": behind.Engine()} {
		if wall := db.Timestamp().Wall; wall > limit {
			t.Errorf("the %s's clock moved %v ahead of real time", name, time.Duration(wall-e.clock.Now().UnixMilli())*time.Millisecond)
		}
	}
}
