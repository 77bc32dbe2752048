//go:build js && wasm

package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/wasm/jserr"
)

// maxConfig bounds createDb's JSON.
const maxConfig = 64 << 10

// dbConfig is createDb's configJSON.
type dbConfig struct {
	client.Config
	// Storage is "indexeddb" (the default) or "memory".
	Storage string `json:"storage"`
}

func decodeConfig(s string) (dbConfig, error) {
	var c dbConfig
	if len(s) > maxConfig {
		return c, fmt.Errorf("%w: config is over %d bytes", client.ErrConfig, maxConfig)
	}
	if err := strictJSON(s, &c); err != nil {
		return c, fmt.Errorf("%w: configJSON: %v", client.ErrConfig, err)
	}
	switch c.Storage {
	case "", "indexeddb", "memory":
	default:
		return c, fmt.Errorf("%w: storage must be \"indexeddb\" or \"memory\", got %q", client.ErrConfig, c.Storage)
	}
	if err := c.Config.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// strictJSON decodes one JSON value with no unknown fields and nothing after it.
func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// decodeValues reads a JSON object of column values, keeping numbers exact.
func decodeValues(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, jserr.BadArgument("jazz: values must be a JSON object")
	}
	return m, nil
}

// decodeSchema reads useSchema's {"tables":[...]}.
func decodeSchema(s string) (*schema.Schema, error) {
	var w struct {
		Tables []*schema.Table `json:"tables"`
	}
	if err := strictJSON(s, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", schema.ErrInvalidSchema, err)
	}
	sc := &schema.Schema{Tables: w.Tables}
	if err := sc.Init(); err != nil {
		return nil, err
	}
	return sc, nil
}

// mergeSchema adds the tables of add that cur lacks. A table both declare
// must be declared identically. It returns the union (cur is not changed)
// and the tables that are new.
func mergeSchema(cur, add *schema.Schema) (*schema.Schema, []*schema.Table, error) {
	var tables []*schema.Table
	have := map[string]*schema.Table{}
	if cur != nil {
		for _, t := range cur.Tables {
			have[t.Name] = t
			tables = append(tables, copyTable(t))
		}
	}
	var added []*schema.Table
	for _, t := range add.Tables {
		if old := have[t.Name]; old != nil {
			a, _ := json.Marshal(old.Columns)
			b, _ := json.Marshal(t.Columns)
			if !bytes.Equal(a, b) {
				return nil, nil, fmt.Errorf("%w: table %q is already declared with other columns", schema.ErrInvalidSchema, t.Name)
			}
			continue
		}
		added = append(added, copyTable(t))
		tables = append(tables, copyTable(t))
	}
	merged := &schema.Schema{Tables: tables}
	if err := merged.Init(); err != nil {
		return nil, nil, err
	}
	return merged, added, nil
}

func copyTable(t *schema.Table) *schema.Table {
	return &schema.Table{Name: t.Name, Columns: append([]schema.Column(nil), t.Columns...)}
}

// copySchema returns an independent copy (the engine keeps what it is given).
func copySchema(s *schema.Schema) *schema.Schema {
	if s == nil {
		out, _ := schema.New()
		return out
	}
	tables := make([]*schema.Table, len(s.Tables))
	for i, t := range s.Tables {
		tables[i] = copyTable(t)
	}
	out := &schema.Schema{Tables: tables}
	_ = out.Init()
	return out
}

// tableSchema is the schema of the one table name in s, with the tables it
// refers to, for telling the leader tab about a table.
func tableSchema(s *schema.Schema, name string) *schema.Schema {
	if s == nil {
		return nil
	}
	want := map[string]bool{name: true}
	for changed := true; changed; {
		changed = false
		for _, t := range s.Tables {
			if !want[t.Name] {
				continue
			}
			for _, c := range t.Columns {
				if c.Type == schema.Ref && !want[c.Ref] {
					want[c.Ref] = true
					changed = true
				}
			}
		}
	}
	var tables []*schema.Table
	for _, t := range s.Tables {
		if want[t.Name] {
			tables = append(tables, copyTable(t))
		}
	}
	if len(tables) == 0 {
		return nil
	}
	out := &schema.Schema{Tables: tables}
	if out.Init() != nil {
		return nil
	}
	return out
}

func decodeQuery(s string) (*query.Query, error) { return query.Decode([]byte(s)) }
