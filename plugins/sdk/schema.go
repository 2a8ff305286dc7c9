package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is a compiled JSON Schema of an action's parameters.
type Schema struct {
	raw      json.RawMessage
	compiled *jsonschema.Schema
}

var schemaSeq atomic.Int64

// CompileSchema compiles a JSON Schema (draft 2020-12 unless it says
// otherwise). It fails for a schema that is not valid JSON Schema, or does
// not describe an object.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parameters schema: %w", err)
	}
	if m, ok := doc.(map[string]any); !ok || (m["type"] != nil && m["type"] != "object") {
		return nil, errors.New(`parameters schema: must describe an object ("type": "object")`)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // "format": "uri" means it, as authors expect
	url := fmt.Sprintf("mem://params/%d.json", schemaSeq.Add(1))
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("parameters schema: %w", err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("parameters schema: %w", err)
	}
	return &Schema{raw: raw, compiled: s}, nil
}

// MustSchema compiles a schema given as a string, panicking on error; for
// the literal schemas in an executor's Describe.
func MustSchema(s string) json.RawMessage {
	raw := json.RawMessage(s)
	if _, err := CompileSchema(raw); err != nil {
		panic(err)
	}
	return raw
}

// Validate checks params (a JSON object) against the schema and returns one
// FieldError per problem, with the JSON pointer of the parameter at fault as
// a dotted path.
func (s *Schema) Validate(params json.RawMessage) []FieldError {
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage("{}")
	}
	doc, err := jsonschema.UnmarshalJSON(bytesReader(params))
	if err != nil {
		return []FieldError{{Field: "", Message: "parameters are not valid JSON"}}
	}
	err = s.compiled.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []FieldError{{Message: err.Error()}}
	}
	var out []FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, FieldError{Field: strings.Join(e.InstanceLocation, "."), Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// Raw returns the schema as given.
func (s *Schema) Raw() json.RawMessage { return s.raw }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

var printer = message.NewPrinter(language.English)
