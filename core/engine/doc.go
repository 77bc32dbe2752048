// Package engine is the local data engine that the browser client, native Go
// clients and the sync server all run: typed rows, writes checked against the
// schema and policies, indexed queries, live subscriptions and a convergent
// merge.
//
// # Data model
//
// A row is a set of cells, one per column, each a value with the hybrid
// logical timestamp of the change that wrote it. Merging two versions of a row
// keeps, per cell, the value with the greater timestamp (last writer wins).
// A delete writes a tombstone cell that no later write removes. Cell-wise
// maximum is commutative, associative and idempotent, so replicas that have
// seen the same changes hold the same rows whatever the order or repetition.
//
// Every row carries edit metadata: $createdBy and $createdAt (written by the
// insert only, so they survive updates), $updatedBy and $updatedAt. The author
// is attribution ?? session.user_id ?? "jazz:system" and is stamped by whoever
// authorizes the change: the server stamps it again from the resolved session,
// so a client cannot forge it. Times are the server's too: Submit gives every
// change a timestamp from the server's clock, which orders it in
// last-writer-wins and is its $createdAt/$updatedAt.
//
// # Layers
//
// Rows have a confirmed base and, on clients, a list of pending local changes
// not yet acknowledged by the server. Reads see base plus pending. An ack folds
// the server's version into the base, under the server's timestamp; a rejection drops the pending change and
// the row falls back, which is how optimistic writes are rolled back.
//
// # Cost
//
// Every non-json column can have an equality index, built the second time
// a query filters on it (so opening a table only decodes its rows, and the
// first query scans; see rowcodec.go for the compact stored form, pack.go
// for how a browser reads a table in a few values). Queries with a limit keep only
// the rows they return instead of sorting every match. Subscriptions are indexed by
// their table and by one equality term, so a write only visits subscriptions
// it can affect, and updating a subscription costs O(log n) plus its window.
package engine
