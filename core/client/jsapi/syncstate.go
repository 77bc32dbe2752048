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

// mirrorSync shows the leader's sync state in this follower tab, and keeps
// it for a Db this tab opens later as a follower (a reload).
func (h *Handle) mirrorSync(raw []byte) {
	s, ok := decodeSyncState(raw)
	if !ok {
		return
	}
	h.mu.Lock()
	h.leaderSync = &s
	db, r := h.db, h.role
	h.mu.Unlock()
	if db != nil && r == roleFollower {
		db.MirrorSyncState(s)
	}
}

// initialFollowerSync is what a follower Db shows before the leader says:
// the leader's last state, or connecting when the app has a server.
func (h *Handle) initialFollowerSync(db *client.Db) {
	h.mu.Lock()
	s := h.leaderSync
	h.mu.Unlock()
	switch {
	case s != nil:
		db.MirrorSyncState(*s)
	case h.cfg.ServerURL != "":
		db.MirrorSyncState(client.SyncState{Connection: client.Connecting})
	}
}
