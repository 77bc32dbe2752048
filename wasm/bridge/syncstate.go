//go:build js && wasm

package bridge

import (
	"encoding/json"
	"syscall/js"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/client/jsapi"
)

// syncStateWire is a client.SyncState as JavaScript (SyncState in
// bindings/js/src/types.ts) and follower tabs receive it.
type syncStateWire struct {
	Connection    client.Connection `json:"connection"`
	PendingWrites int               `json:"pendingWrites"`
	LastAckedAt   *int64            `json:"lastAckedAt"` // Unix ms, null before the first ack
	Error         *jsapi.ErrorBody  `json:"error"`
}

func encodeSyncState(s client.SyncState) string {
	w := syncStateWire{Connection: s.Connection, PendingWrites: s.PendingWrites}
	if !s.LastAckedAt.IsZero() {
		ms := s.LastAckedAt.UnixMilli()
		w.LastAckedAt = &ms
	}
	if s.Error != nil {
		b := jsapi.Describe(s.Error)
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
		s.Error = &jsapi.Error{Name: w.Error.Name, Code: w.Error.Code, Message: w.Error.Message}
	}
	return s, true
}

func (h *handle) getSyncState([]js.Value) (any, error) {
	db, _, _, err := h.current()
	if err != nil {
		return nil, err
	}
	return encodeSyncState(db.SyncState()), nil
}

func (h *handle) onSyncStateChanged(args []js.Value) (any, error) {
	return h.listen(args, listenSync)
}

// mirrorSync shows the leader's sync state in this follower tab, and keeps
// it for a Db this tab opens later as a follower (a reload).
func (h *handle) mirrorSync(raw []byte) {
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
func (h *handle) initialFollowerSync(db *client.Db) {
	h.mu.Lock()
	s := h.leaderSync
	url := h.cfg.ServerURL
	h.mu.Unlock()
	switch {
	case s != nil:
		db.MirrorSyncState(*s)
	case url != "":
		db.MirrorSyncState(client.SyncState{Connection: client.Connecting})
	}
}
