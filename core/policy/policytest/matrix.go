// Package policytest holds the policy matrix: policies through relations,
// each operation under each rule form (allowedTo read/insert/update/delete,
// exists correlated with the judged row, allOf/anyOf around them, a
// self-reference cut by maxDepth), allowed and denied, with the rows to
// judge them on. The engine's tests run it natively and the server's over
// the wire, from this one file.
package policytest

import (
	_ "embed"
	"encoding/json"
	"strings"
)

//go:embed matrix.json
var matrixJSON string

// Matrix is matrix.json.
type Matrix struct {
	// Bundle is the app: teams, members, projects (with a parent), todos.
	Bundle json.RawMessage `json:"bundle"`
	// Rows are written by the backend before anything is checked.
	Rows []Row `json:"rows"`
	// Reads are, per user and table, the rows each may read, named by
	// the table's Display column, sorted.
	Reads map[string]map[string][]string `json:"reads"`
	// Writes are made in order, each by its user; Want is "ok", "denied"
	// or "not_found" (a row the user may not read is not found).
	Writes []Write `json:"writes"`
}

// Row is a row to seed.
type Row struct {
	Table  string         `json:"table"`
	ID     string         `json:"id"`
	Values map[string]any `json:"values"`
}

// Write is a write to judge.
type Write struct {
	About  string         `json:"about"`
	User   string         `json:"user"`
	Kind   string         `json:"kind"`
	Table  string         `json:"table"`
	ID     string         `json:"id"`
	Values map[string]any `json:"values"`
	Want   string         `json:"want"`
}

// Users are the matrix's users, by the names Reads and Writes use.
var Users = []string{"alice", "bob", "carol"}

// Display is the column the matrix names each table's rows by.
var Display = map[string]string{"teams": "name", "members": "user_id", "projects": "name", "todos": "title"}

// Load returns the matrix with each user's placeholder ($alice, ...)
// replaced by the id ids gives that user.
func Load(ids map[string]string) (*Matrix, error) {
	s := matrixJSON
	for name, id := range ids {
		s = strings.ReplaceAll(s, `"$`+name+`"`, `"`+id+`"`)
	}
	var m Matrix
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return &m, nil
}
