package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jobgraph/jobgraph/core"
)

// The document header of exported jobs.
const (
	APIVersion   = "jobgraph/v1"
	DocumentKind = "Job"
	// MaxDocumentLen bounds an imported YAML document.
	MaxDocumentLen = 1 << 20
)

// document is the YAML form of a job, and (without name and description)
// the JSON form in which the store keeps each version's spec. Its keys are
// the field names that validation errors use.
type document struct {
	APIVersion  string         `yaml:"apiVersion" json:"apiVersion"`
	Kind        string         `yaml:"kind" json:"kind"`
	Name        string         `yaml:"name" json:"-"`
	Description string         `yaml:"description,omitempty" json:"-"`
	Concurrency int            `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
	Timeout     duration       `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Parameters  []docParameter `yaml:"parameters,omitempty" json:"parameters,omitempty"`
	Steps       []docStep      `yaml:"steps" json:"steps"`
}

type docParameter struct {
	Name        string   `yaml:"name" json:"name"`
	Type        string   `yaml:"type" json:"type"`
	Required    bool     `yaml:"required,omitempty" json:"required,omitempty"`
	Default     docValue `yaml:"default,omitempty" json:"default,omitzero"`
	Choices     []string `yaml:"choices,omitempty,flow" json:"choices,omitempty"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
}

type docStep struct {
	Name         string       `yaml:"name" json:"name"`
	Executor     string       `yaml:"executor,omitempty" json:"executor,omitempty"`
	Action       string       `yaml:"action,omitempty" json:"action,omitempty"`
	Approval     *docApproval `yaml:"approval,omitempty" json:"approval,omitempty"`
	Needs        []string     `yaml:"needs,omitempty,flow" json:"needs,omitempty"`
	Condition    string       `yaml:"condition,omitempty" json:"condition,omitempty"`
	Targets      docTargets   `yaml:"targets,omitempty" json:"targets,omitzero"`
	Params       rawParams    `yaml:"params,omitempty" json:"params,omitempty"`
	Timeout      duration     `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Retries      int          `yaml:"retries,omitempty" json:"retries,omitempty"`
	RetryBackoff duration     `yaml:"retryBackoff,omitempty" json:"retryBackoff,omitempty"`
	Strategy     docStrategy  `yaml:"strategy,omitempty" json:"strategy,omitzero"`
	Outputs      []string     `yaml:"outputs,omitempty,flow" json:"outputs,omitempty"`
	Pool         string       `yaml:"pool,omitempty" json:"pool,omitempty"`
	OnLost       string       `yaml:"onLost,omitempty" json:"onLost,omitempty"`
}

// docApproval is an approval step's approval (job.Approval).
type docApproval struct {
	Role    string   `yaml:"role,omitempty" json:"role,omitempty"`
	Count   int      `yaml:"count,omitempty" json:"count,omitempty"`
	Timeout duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Message string   `yaml:"message,omitempty" json:"message,omitempty"`
}

type docTargets struct {
	Hosts    []string `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	Groups   []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	Selector string   `yaml:"selector,omitempty" json:"selector,omitempty"`
	Param    string   `yaml:"param,omitempty" json:"param,omitempty"`
}

type docStrategy struct {
	MaxParallel      int  `yaml:"maxParallel,omitempty" json:"maxParallel,omitempty"`
	BatchSize        int  `yaml:"batchSize,omitempty" json:"batchSize,omitempty"`
	BatchPercent     int  `yaml:"batchPercent,omitempty" json:"batchPercent,omitempty"`
	FailureThreshold int  `yaml:"failureThreshold,omitempty" json:"failureThreshold,omitempty"`
	FailurePercent   int  `yaml:"failurePercent,omitempty" json:"failurePercent,omitempty"`
	ContinueOnError  bool `yaml:"continueOnError,omitempty" json:"continueOnError,omitempty"`
}

// Definition is what a YAML document defines: a job's identity and spec.
type Definition struct {
	Name        string
	Description string
	Spec        Spec
}

// Export returns j as a YAML document. The output is stable: the same job
// always exports to the same bytes, keys in a fixed order, parameters of a
// step sorted by key, durations written as "30s".
func Export(j Job) ([]byte, error) {
	doc := toDocument(j.Spec)
	doc.Name, doc.Description = j.Name, j.Description
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("export job %s: %w", j.ID, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Import parses a YAML document made by Export or by hand. It is strict: an
// unknown field, a value of the wrong type or a second document is an error
// naming the line, as a *core.ValidationError on field "yaml". It does not
// validate the spec (ValidateSpec does, which needs the executors), but it
// returns it in the form ValidateSpec keeps, so that Import(Export(j))
// yields j's spec exactly.
func Import(data []byte) (Definition, error) {
	if len(data) > MaxDocumentLen {
		return Definition{}, core.Invalid("yaml", "must be at most %d bytes, got %d", MaxDocumentLen, len(data))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Definition{}, core.Invalid("yaml", "empty document")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return Definition{}, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Definition{}, core.Invalid("yaml", "a file holds one job: found a second document")
	}
	if doc.APIVersion != APIVersion {
		return Definition{}, core.Invalid("yaml", "apiVersion must be %q, got %q", APIVersion, doc.APIVersion)
	}
	if doc.Kind != DocumentKind {
		return Definition{}, core.Invalid("yaml", "kind must be %q, got %q", DocumentKind, doc.Kind)
	}
	return Definition{Name: doc.Name, Description: doc.Description, Spec: fromDocument(doc)}, nil
}

var (
	unknownFieldRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	goTypeRE       = regexp.MustCompile(` into (\[\])?job\.\w+| in type (\[\])?job\.\w+`)
)

// yamlError turns a decoder error into a *core.ValidationError in the
// document's terms (no Go type names).
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
			return core.Invalid("yaml", "line %s: unknown field %q", m[1], m[2])
		}
		return core.Invalid("yaml", "%s", goTypeRE.ReplaceAllString(msg, ""))
	}
	var ve *core.ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	return core.Invalid("yaml", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// EncodeSpec returns the JSON form in which the store keeps a spec.
func EncodeSpec(s Spec) ([]byte, error) {
	return json.Marshal(toDocument(s))
}

// DecodeSpec parses what EncodeSpec returned. It is lenient about unknown
// fields, so that an older binary still reads specs a newer one wrote.
func DecodeSpec(data []byte) (Spec, error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return Spec{}, fmt.Errorf("decode job spec: %w", err)
	}
	if doc.APIVersion != APIVersion {
		return Spec{}, fmt.Errorf("decode job spec: unknown apiVersion %q", doc.APIVersion)
	}
	return fromDocument(doc), nil
}

func toDocument(s Spec) document {
	doc := document{APIVersion: APIVersion, Kind: DocumentKind, Concurrency: s.Concurrency, Timeout: duration(s.Timeout)}
	for _, p := range s.Parameters {
		doc.Parameters = append(doc.Parameters, docParameter{
			Name: p.Name, Type: string(p.Type), Required: p.Required, Default: docValue{p.Default},
			Choices: p.Choices, Description: p.Description,
		})
	}
	for _, st := range s.Steps {
		cond := string(st.Condition)
		if st.Condition == ConditionOnSuccess {
			cond = "" // the default goes without saying
		}
		onLost := string(st.OnLost)
		if st.OnLost == LostRetry {
			onLost = ""
		}
		var appr *docApproval
		if a := st.Approval; a != nil {
			appr = &docApproval{Role: a.Role, Count: a.Count, Timeout: duration(a.Timeout), Message: a.Message}
		}
		doc.Steps = append(doc.Steps, docStep{
			Name: st.Name, Executor: st.Executor, Action: st.Action, Approval: appr, Needs: st.Needs, Condition: cond,
			Targets: docTargets(st.Targets), Params: rawParams(st.Params),
			Timeout: duration(st.Timeout), Retries: st.Retries, RetryBackoff: duration(st.RetryBackoff),
			Strategy: docStrategy(st.Strategy), Outputs: st.Outputs, Pool: st.Pool, OnLost: onLost,
		})
	}
	return doc
}

func fromDocument(doc document) Spec {
	s := Spec{Concurrency: doc.Concurrency, Timeout: time.Duration(doc.Timeout)}
	for _, p := range doc.Parameters {
		t := ParamType(p.Type)
		def := p.Default.v
		if def != nil {
			if d, ok := normalizeDefault(t, def); ok {
				def = d
			}
		}
		s.Parameters = append(s.Parameters, Parameter{
			Name: p.Name, Type: t, Required: p.Required, Default: def,
			Choices: nilIfEmpty(p.Choices), Description: p.Description,
		})
	}
	for _, st := range doc.Steps {
		cond := Condition(st.Condition)
		if cond == "" {
			cond = ConditionOnSuccess
		}
		onLost := LostPolicy(st.OnLost)
		var appr *Approval
		if a := st.Approval; a != nil {
			appr = &Approval{Role: a.Role, Count: a.Count, Timeout: time.Duration(a.Timeout), Message: a.Message}
		}
		if onLost == "" && appr == nil {
			onLost = LostRetry
		}
		t := Targets(st.Targets)
		t.Hosts, t.Groups = nilIfEmpty(t.Hosts), nilIfEmpty(t.Groups)
		params := json.RawMessage(st.Params)
		if canon, err := canonicalParams(params); err == nil {
			params = canon
		}
		s.Steps = append(s.Steps, Step{
			Name: st.Name, Executor: st.Executor, Action: st.Action, Approval: appr, Params: params, Targets: t,
			Needs: nilIfEmpty(st.Needs), Condition: cond, Timeout: time.Duration(st.Timeout),
			Retries: st.Retries, RetryBackoff: time.Duration(st.RetryBackoff),
			Strategy: Strategy(st.Strategy), Outputs: nilIfEmpty(st.Outputs),
			Pool: st.Pool, OnLost: onLost,
		})
	}
	return s
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// duration is a time.Duration written as "1m30s".
type duration time.Duration

func (d duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return core.Invalid("yaml", "line %d: a duration is a string such as \"30s\" or \"5m\"", n.Line)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return core.Invalid("yaml", "line %d: %s", n.Line, err)
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := parseDuration(s)
	*d = duration(v)
	return err
}

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as \"30s\" or \"5m\"", s)
	}
	return v, nil
}

// docValue is a parameter's default: any JSON value, read from YAML
// without YAML's extra types (a date stays the string it was written as).
type docValue struct{ v any }

func (d docValue) IsZero() bool { return d.v == nil }

func (d docValue) MarshalYAML() (any, error) { return yamlValue(d.v), nil }

func (d *docValue) UnmarshalYAML(n *yaml.Node) error {
	v, err := nodeValue(n, 0)
	d.v = v
	return err
}

func (d docValue) MarshalJSON() ([]byte, error) { return marshalCanonical(d.v) }

func (d *docValue) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(&d.v)
}

// rawParams is a step's parameters: canonical JSON, written in YAML as a
// mapping.
type rawParams json.RawMessage

func (p rawParams) MarshalYAML() (any, error) {
	if len(p) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return yamlValue(normalizeNumbers(v)), nil
}

func (p *rawParams) UnmarshalYAML(n *yaml.Node) error {
	if n.ShortTag() == "!!null" {
		*p = nil
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return core.Invalid("yaml", "line %d: params must be a mapping", n.Line)
	}
	v, err := nodeValue(n, 0)
	if err != nil {
		return err
	}
	raw, err := marshalCanonical(v)
	if err != nil {
		return core.Invalid("yaml", "line %d: %s", n.Line, err)
	}
	*p = rawParams(raw)
	return nil
}

func (p rawParams) MarshalJSON() ([]byte, error) {
	if len(p) == 0 {
		return []byte("null"), nil
	}
	return p, nil
}

func (p *rawParams) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*p = nil
		return nil
	}
	*p = append((*p)[:0], b...)
	return nil
}

// yamlValue prepares a JSON value for the YAML encoder: numbers too large
// for float64 keep their literal.
func yamlValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: string(v)}
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = yamlValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = yamlValue(e)
		}
		return out
	}
	return v
}

// nodeValue converts a YAML node to a JSON value: mappings with string keys,
// sequences, strings, numbers (int64 when they fit, else float64), booleans
// and null. Timestamps and other YAML-only scalars stay strings.
func nodeValue(n *yaml.Node, depth int) (any, error) {
	if depth > 64 {
		return nil, core.Invalid("yaml", "line %d: nested too deeply", n.Line)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return nodeValue(n.Alias, depth+1)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, core.Invalid("yaml", "line %d: mapping keys must be strings", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, core.Invalid("yaml", "line %d: key %q is repeated", k.Line, k.Value)
			}
			v, err := nodeValue(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := nodeValue(c, depth+1)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, core.Invalid("yaml", "line %d: %s", n.Line, err)
			}
			return b, nil
		case "!!int", "!!float":
			var i int64
			if n.ShortTag() == "!!int" && n.Decode(&i) == nil {
				return i, nil
			}
			var f float64
			if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				if _, perr := strconv.ParseFloat(n.Value, 64); perr != nil && json.Valid([]byte(n.Value)) {
					return json.Number(n.Value), nil // too large for float64: keep the literal
				}
				return nil, core.Invalid("yaml", "line %d: %q is not a JSON number", n.Line, n.Value)
			}
			return f, nil
		}
		return n.Value, nil
	}
	return nil, core.Invalid("yaml", "line %d: unexpected YAML node", n.Line)
}
