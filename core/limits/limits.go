// Package limits is the one place the bounds every replica must agree on are
// written down: how large a frame may be, how large a row may grow, how deep
// JSON may nest. A row the server accepts but cannot deliver would cut every
// subscriber of its table off (each reconnect meets the same frame again),
// so the server refuses, when a change is accepted, anything that could not
// go out again. The package also holds the one JSON encoder the protocol
// sends with and the one checker frames are read through, so what is
// measured is exactly what is sent and read.
//
// It imports nothing of the project, so every package can use it.
package limits

const (
	// MaxFrameBytes bounds one WebSocket frame, either way. 1 MiB keeps a
	// frame's buffering cheap for a browser tab and for a server holding
	// thousands of connections, while leaving room for a large row.
	MaxFrameBytes = 1 << 20

	// MaxChangesPerPush bounds the changes of one push, and so of one
	// batch, which always goes to the server as one push.
	MaxChangesPerPush = 1000

	// FrameOverheadBytes is the room a rows frame needs around a single
	// row: its type tag, its subscription id (at most 64 characters, up to
	// six bytes each once escaped), its cursor (at most 20 digits) and its
	// complete flag come to under 500 bytes. The rest is slack, which also
	// takes the tombstone cell a delete adds to a row at MaxRowBytes.
	FrameOverheadBytes = 4 << 10

	// MaxRowBytes bounds a row as it goes out in a rows frame: its
	// engine.RowState (table, id, every cell with its timestamp, sequence
	// number) encoded by Marshal. A row this large still fits a frame of
	// its own, so every row the server holds can be delivered.
	MaxRowBytes = MaxFrameBytes - FrameOverheadBytes

	// MaxValueDepth bounds how deeply a json column's value nests (a
	// scalar is depth 0, [1] depth 1). Documents apps store are rarely a
	// dozen levels deep; 64 leaves room for them and keeps every reader,
	// recursive ones included, far from its own nesting limits.
	MaxValueDepth = 64

	// MaxConditionDepth and MaxConditionNodes bound a query's condition,
	// so outside input cannot make the decoder recurse or allocate without
	// bound. Conditions written by hand or built by the DSL stay far below.
	MaxConditionDepth = 32
	MaxConditionNodes = 1024

	// MaxFrameDepth bounds how deeply a frame nests. It is the deepest
	// legal frame with room to spare: a value at MaxValueDepth inside a
	// condition at MaxConditionDepth (two levels a condition) inside a sub
	// frame's query, or inside a rows frame's row (five levels), stays
	// below it. It is checked before a frame is decoded, so no frame gets
	// near encoding/json's own limit of 10,000, past which a frame could
	// not be decoded at all.
	MaxFrameDepth = MaxValueDepth + 2*MaxConditionDepth + 16
)
