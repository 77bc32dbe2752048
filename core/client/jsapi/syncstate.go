package jsapi

import (
	"encoding/json"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
)

// syncStateWire is a client.SyncState as JavaScript (SyncState in
// bindings/js/src/types.ts) and follower tabs receive it.
type syncStateWire struct {
	Connection    client.Connection `json:"connection"`
	PendingWrites int               `json:"pendingWrites"`
	LastAckedAt   *int64            `json:"lastAckedAt"` // Unix ms, null before the first ack
	Error         *ErrorBody        `json:"error"`
}

func encodeSyncState(s client.SyncState) string {
	w := syncStateWire{Connection: s.Connection, PendingWrites: s.PendingWrites}
	if !s.LastAckedAt.IsZero() {
		ms := s.LastAckedAt.UnixMilli()
		w.LastAckedAt = &ms
	}
	if s.Error != nil {
		b := Describe(s.Error)
		w.Error = &b
	}
	b, _ := json.Marshal(w)
	return string(b)
}

// decodeSyncState reads a leader's state for a follower to mirror; its
// error keeps the name and code the leader gave it.
func decodeSyncState(raw []byte) (client.SyncState, bool) {
	var w syncStateWire
	if json.Unmarshal(raw, &w) != nil || w.Connection == "" {
		return client.SyncState{}, false
	}
	s := client.SyncState{Connection: w.Connection, PendingWrites: w.PendingWrites}
	if w.LastAckedAt != nil {
		s.LastAckedAt = time.UnixMilli(*w.LastAckedAt)
	}
	if w.Error != nil {
		s.Error = &Error{Name: w.Error.Name, Code: w.Error.Code, Message: w.Error.Message}
	}
	return s, true
}
