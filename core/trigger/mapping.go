package trigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jobgraph/jobgraph/core"
)

// step is one segment of a payload path: an object key or an array index.
type step struct {
	key   string
	index int
	isIdx bool
}

// parsePath parses the documented subset of JSONPath: "$" followed by any
// number of ".name" (letters, digits, "_" and "-"), "[N]" (an array index)
// and `["any key"]` (a JSON string, for keys with other characters).
func parsePath(p string) ([]step, error) {
	if len(p) > MaxPathLen {
		return nil, fmt.Errorf("the path must be at most %d characters", MaxPathLen)
	}
	if !strings.HasPrefix(p, "$") {
		return nil, errors.New(`a path starts with "$"`)
	}
	var steps []step
	rest := p[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			n := 1
			for n < len(rest) && isNameByte(rest[n]) {
				n++
			}
			if n == 1 {
				return nil, fmt.Errorf("path %q: a name must follow %q", p, ".")
			}
			steps = append(steps, step{key: rest[1:n]})
			rest = rest[n:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if strings.HasPrefix(rest, `["`) {
				end = closingQuote(rest)
			}
			if end < 0 {
				return nil, fmt.Errorf("path %q: unclosed %q", p, "[")
			}
			inner := rest[1:end]
			if strings.HasPrefix(inner, `"`) {
				var key string
				if err := json.Unmarshal([]byte(inner), &key); err != nil {
					return nil, fmt.Errorf("path %q: a quoted key must be a JSON string", p)
				}
				steps = append(steps, step{key: key})
			} else {
				i, err := strconv.Atoi(inner)
				if err != nil || i < 0 || inner != strconv.Itoa(i) {
					return nil, fmt.Errorf("path %q: an index must be a number from 0", p)
				}
				steps = append(steps, step{index: i, isIdx: true})
			}
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("path %q: expected %q or %q at %q", p, ".", "[", rest)
		}
	}
	return steps, nil
}

// closingQuote returns the index of the "]" that closes a `["…"]` segment
// at the start of s, or -1.
func closingQuote(s string) int {
	for i := 2; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			if i+1 < len(s) && s[i+1] == ']' {
				return i + 1
			}
			return -1
		}
	}
	return -1
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// lookup follows steps through v (decoded with UseNumber); ok is false when
// a key or index is missing or a value has the wrong shape.
func lookup(v any, steps []step) (any, bool) {
	for _, s := range steps {
		if s.isIdx {
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return nil, false
			}
			v = a[s.index]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// MapPayload builds a run's parameters (a JSON object) from a delivery's
// body. A parameter whose path is missing from the payload, or null there,
// is left out: the job's default applies, or the engine reports a required
// parameter as missing. A body that is not JSON is refused when some
// parameter takes its value from it.
//
// unmapped returns, for the parameters whose path was missing, the path
// that was looked up, so that an error about a parameter can say where its
// value should have come from.
func MapPayload(ps []ParamSource, body []byte) (params json.RawMessage, unmapped map[string]string, err error) {
	out := map[string]any{}
	unmapped = map[string]string{}
	var doc any
	parsed := false
	for _, p := range ps {
		if p.Path == "" {
			out[p.Name] = json.RawMessage(p.Value)
			continue
		}
		if !parsed {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&doc); err != nil {
				return nil, nil, core.Invalid("body", "the payload must be a JSON document")
			}
			if dec.More() {
				return nil, nil, core.Invalid("body", "the payload must be one JSON document")
			}
			parsed = true
		}
		steps, err := parsePath(p.Path)
		if err != nil { // validated when stored; a stored path always parses
			return nil, nil, core.Invalid("params."+p.Name, "%v", err)
		}
		v, ok := lookup(doc, steps)
		if !ok || v == nil {
			unmapped[p.Name] = p.Path
			continue
		}
		out[p.Name] = v
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, nil, err
	}
	return raw, unmapped, nil
}
