package jsapi

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// MaxConfig bounds a createDb or createBackend config's JSON.
const MaxConfig = 64 << 10

// maxNewIDs bounds one newIds call (a batch holds at most as many writes).
const maxNewIDs = 1001

// dbConfig is createDb's configJSON.
type dbConfig struct {
	client.Config
	// Storage is "indexeddb" (the default) or "memory".
	Storage string `json:"storage"`
}

func decodeConfig(s string) (dbConfig, error) {
	var c dbConfig
	if len(s) > MaxConfig {
		return c, fmt.Errorf("%w: config is over %d bytes", client.ErrConfig, MaxConfig)
	}
	if err := StrictJSON(s, &c); err != nil {
		return c, fmt.Errorf("%w: configJSON: %v", client.ErrConfig, err)
	}
	switch c.Storage {
	case "", Persistent, Memory:
	default:
		return c, fmt.Errorf("%w: storage must be \"indexeddb\" or \"memory\", got %q", client.ErrConfig, c.Storage)
	}
	if err := c.Config.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// StrictJSON decodes one JSON value with no unknown fields and nothing
// after it; numbers stay exact (json.Number).
func StrictJSON(s string, v any) error {
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

// DecodeValues reads a JSON object of column values, keeping numbers exact.
func DecodeValues(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, BadArgument("jazz: values must be a JSON object")
	}
	return m, nil
}

// DecodeSchema reads useSchema's {"tables":[...]}.
func DecodeSchema(s string) (*schema.Schema, error) {
	var w struct {
		Tables []*schema.Table `json:"tables"`
	}
	if err := StrictJSON(s, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", schema.ErrInvalidSchema, err)
	}
	sc := &schema.Schema{Tables: w.Tables}
	if err := sc.Init(); err != nil {
		return nil, err
	}
	return sc, nil
}

// DecodeOps reads a batch's writes (engine.Op JSON), numbers as
// json.Number, as the single writes' values are read.
func DecodeOps(s string) ([]engine.Op, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var ops []engine.Op
	if err := dec.Decode(&ops); err != nil {
		return nil, BadArgument("jazz: a batch's writes must be a JSON array of {kind, table, row?, values?}: %v", err)
	}
	return ops, nil
}

// Marshal is json.Marshal as a string, for results going to JavaScript.
func Marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// Where a Db keeps its data, as storageMode() reports it.
const (
	Persistent = "indexeddb"
	Memory     = "memory"
)
