//go:build js && wasm

package bridge

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
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
		return nil, jsapi.BadArgument("jazz: values must be a JSON object")
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

func decodeQuery(s string) (*query.Query, error) { return query.Decode([]byte(s)) }
