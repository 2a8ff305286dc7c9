// Package template is the one template language of job definitions: it lets
// a step's parameters use the job's parameters and the outputs of the steps
// it needs.
//
// # Syntax
//
// A template is written inside any string value of a step's parameters
// (never in an object key):
//
//	${{ params.NAME }}                   the value of the job parameter NAME
//	${{ steps.STEP.outputs.NAME }}       the output NAME of the step STEP
//
// Spaces around the reference are optional ("${{params.env}}" is the same).
// NAME and STEP are names as jobs define them: 1 to 63 letters, digits, '_'
// and '-'. Nothing else is allowed between the braces: no expressions, no
// filters, no functions. "$${{" writes a literal "${{".
//
// # Rendering
//
// A string that is exactly one template ("${{ params.count }}") is replaced
// by the value itself and keeps its JSON type: a number stays a number, a
// host list stays an array. A template embedded in a longer string is
// replaced by the value's text: a string as it is, any other value as
// compact JSON, null as "". For example, with count = 3 and env = "prod":
//
//	{"n": "${{ params.count }}"}                 → {"n": 3}
//	{"cmd": "deploy --env=${{ params.env }}"}    → {"cmd": "deploy --env=prod"}
//	{"msg": "$${{ not a template }}"}            → {"msg": "${{ not a template }}"}
//
// Values of secret parameters render like any other, and [Render] returns
// them so that the caller can redact them from logs, events and errors.
package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Limits.
const (
	maxNameLen = 63
	// maxDepth bounds the nesting of a parameters document.
	maxDepth = 64
)

// RefKind says what a reference points at.
type RefKind string

// The kinds of reference.
const (
	RefParam  RefKind = "params" // a job parameter
	RefOutput RefKind = "steps"  // an output of an earlier step
)

// Ref is one template's reference.
type Ref struct {
	Kind RefKind
	// Step is the step whose output is referred to (RefOutput only).
	Step string
	// Name is the parameter's or the output's name.
	Name string
}

func (r Ref) String() string {
	if r.Kind == RefOutput {
		return "steps." + r.Step + ".outputs." + r.Name
	}
	return "params." + r.Name
}

// ParseError reports a malformed template in one string of a parameters
// document.
type ParseError struct {
	// Path is the dotted path of the string in the document ("env.HOME",
	// "args.0"); "" for the document itself.
	Path string
	// Pos is the byte offset in the string where the problem is.
	Pos int
	Msg string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("template at position %d: %s", e.Pos, e.Msg)
}

// segment is a literal text or a reference.
type segment struct {
	text string
	ref  *Ref
}

// parse splits s into literal text and references.
func parse(s string) ([]segment, error) {
	var out []segment
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${{"):
			lit.WriteString("${{")
			i += 4
		case strings.HasPrefix(s[i:], "${{"):
			end := strings.Index(s[i+3:], "}}")
			if end < 0 {
				return nil, &ParseError{Pos: i, Msg: `unterminated "${{": missing "}}"`}
			}
			ref, err := parseRef(s[i+3 : i+3+end])
			if err != nil {
				return nil, &ParseError{Pos: i, Msg: err.Error()}
			}
			if lit.Len() > 0 {
				out = append(out, segment{text: lit.String()})
				lit.Reset()
			}
			out = append(out, segment{ref: &ref})
			i += 3 + end + 2
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 {
		out = append(out, segment{text: lit.String()})
	}
	return out, nil
}

func parseRef(body string) (Ref, error) {
	expr := strings.TrimSpace(body)
	parts := strings.Split(expr, ".")
	bad := func() (Ref, error) {
		return Ref{}, fmt.Errorf("%q is not a reference: use params.NAME or steps.STEP.outputs.NAME", truncate(expr, 64))
	}
	switch {
	case len(parts) == 2 && parts[0] == "params":
		if err := checkName(parts[1]); err != nil {
			return Ref{}, fmt.Errorf("parameter name %s", err)
		}
		return Ref{Kind: RefParam, Name: parts[1]}, nil
	case len(parts) == 4 && parts[0] == "steps" && parts[2] == "outputs":
		if err := checkName(parts[1]); err != nil {
			return Ref{}, fmt.Errorf("step name %s", err)
		}
		if err := checkName(parts[3]); err != nil {
			return Ref{}, fmt.Errorf("output name %s", err)
		}
		return Ref{Kind: RefOutput, Step: parts[1], Name: parts[3]}, nil
	}
	return bad()
}

func checkName(n string) error {
	if n == "" {
		return fmt.Errorf("is empty")
	}
	if len(n) > maxNameLen {
		return fmt.Errorf("%q is longer than %d characters", truncate(n, 64), maxNameLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%q may contain only letters, digits, '_' and '-'", truncate(n, 64))
		}
	}
	return nil
}

// Leaf is one string of a parameters document that holds templates.
type Leaf struct {
	// Path is the dotted path of the string ("cmd", "env.HOME", "args.0").
	Path string
	// Whole reports a string that is exactly one template, which renders
	// to the value with its own JSON type.
	Whole bool
	Refs  []Ref
}

// Scan parses every string value of params (a JSON document) and returns
// the strings that hold templates, in document order (object keys sorted).
// A malformed template is a *ParseError naming its path.
func Scan(params json.RawMessage) ([]Leaf, error) {
	if len(bytes.TrimSpace(params)) == 0 {
		return nil, nil
	}
	v, err := decode(params)
	if err != nil {
		return nil, err
	}
	var leaves []Leaf
	err = walk(v, "", 0, func(path string, s string) (any, error) {
		segs, err := parse(s)
		if err != nil {
			err.(*ParseError).Path = path
			return nil, err
		}
		var refs []Ref
		for _, sg := range segs {
			if sg.ref != nil {
				refs = append(refs, *sg.ref)
			}
		}
		if len(refs) > 0 {
			leaves = append(leaves, Leaf{Path: path, Whole: len(segs) == 1, Refs: refs})
		}
		return s, nil
	})
	return leaves, err
}

// Values are what templates render to.
type Values struct {
	// Params holds the job parameters' values: string, bool, float64 or
	// any other number type, []string for a host list, or anything that
	// encoding/json marshals.
	Params map[string]any
	// Secrets names the parameters whose values are secret.
	Secrets map[string]bool
	// Outputs holds the outputs of finished steps: step name → output name
	// → value.
	Outputs map[string]map[string]any
}

// Render replaces every template in params (a JSON document) by its value.
// It returns the rendered document and the text of every secret value it
// used (sorted, without duplicates), for the caller to redact. A reference
// without a value is an error; Render never panics, whatever params holds.
func Render(params json.RawMessage, values Values) (json.RawMessage, []string, error) {
	if len(bytes.TrimSpace(params)) == 0 {
		return nil, nil, nil
	}
	v, err := decode(params)
	if err != nil {
		return nil, nil, err
	}
	var secrets []string
	lookup := func(r Ref) (any, error) {
		switch r.Kind {
		case RefParam:
			val, ok := values.Params[r.Name]
			if !ok {
				return nil, fmt.Errorf("parameter %s has no value", r.Name)
			}
			if values.Secrets[r.Name] {
				text, err := stringify(val)
				if err != nil {
					return nil, err
				}
				if text != "" {
					secrets = append(secrets, text)
				}
			}
			return val, nil
		default:
			val, ok := values.Outputs[r.Step][r.Name]
			if !ok {
				return nil, fmt.Errorf("step %s has no output %s", r.Step, r.Name)
			}
			return val, nil
		}
	}
	out, err := walkRoot(v, func(path string, s string) (any, error) {
		segs, err := parse(s)
		if err != nil {
			err.(*ParseError).Path = path
			return nil, err
		}
		if len(segs) == 1 && segs[0].ref != nil {
			val, err := lookup(*segs[0].ref)
			if err != nil {
				return nil, pathError(path, err)
			}
			return val, nil
		}
		var b strings.Builder
		for _, sg := range segs {
			if sg.ref == nil {
				b.WriteString(sg.text)
				continue
			}
			val, err := lookup(*sg.ref)
			if err != nil {
				return nil, pathError(path, err)
			}
			text, err := stringify(val)
			if err != nil {
				return nil, pathError(path, err)
			}
			b.WriteString(text)
		}
		return b.String(), nil
	})
	if err != nil {
		return nil, nil, err
	}
	raw, err := marshal(out)
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(secrets)
	return raw, slices.Compact(secrets), nil
}

func pathError(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// stringify is a value's text when embedded in a longer string.
func stringify(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	b, err := marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func decode(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("parameters are not valid JSON")
	}
	if dec.More() {
		return nil, fmt.Errorf("parameters are not valid JSON: trailing data")
	}
	return v, nil
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("value is not JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func walkRoot(v any, fn func(path, s string) (any, error)) (any, error) {
	var out any
	err := walkInto(v, "", 0, fn, &out)
	return out, err
}

func walk(v any, path string, depth int, fn func(path, s string) (any, error)) error {
	var discard any
	return walkInto(v, path, depth, fn, &discard)
}

// walkInto calls fn on every string value of v and stores in out a copy of
// v with each string replaced by what fn returned.
func walkInto(v any, path string, depth int, fn func(path, s string) (any, error), out *any) error {
	if depth > maxDepth {
		return &ParseError{Path: path, Msg: fmt.Sprintf("parameters are nested more than %d levels deep", maxDepth)}
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch v := v.(type) {
	case string:
		r, err := fn(path, v)
		if err != nil {
			return err
		}
		*out = r
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		m := make(map[string]any, len(v))
		for _, k := range keys {
			var r any
			if err := walkInto(v[k], join(k), depth+1, fn, &r); err != nil {
				return err
			}
			m[k] = r
		}
		*out = m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			if err := walkInto(e, join(strconv.Itoa(i)), depth+1, fn, &s[i]); err != nil {
				return err
			}
		}
		*out = s
	default:
		*out = v
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
