package httpexec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// jsonPath is a parsed JSONPath of the subset this executor supports: a
// path that selects one value, which is all json_path and extract need.
// (The maintained Go JSONPath library, github.com/AsaiYusuke/jsonpath/v2,
// is not served by the module proxy this project builds from, and
// built-in executors depend on plugins/sdk and the standard library only.)
//
//	$                    the whole document
//	.name                a member (letters, digits, _ and -; not starting with a digit)
//	['name'] ["name"]    a member with any name (\' \" and \\ escape)
//	[3] [-1]             an array element; negative counts from the end
//
// For example $.data.items[0]['last-state'] or $[-1].id. Wildcards,
// recursive descent (..), slices, unions and filters are refused when the
// path is parsed, so a job never silently gets "not found" for them.
type jsonPath struct {
	steps []pathStep
}

// pathStep is one member name or one array index.
type pathStep struct {
	name    string
	index   int
	isIndex bool
}

func parseJSONPath(s string) (*jsonPath, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, errors.New(`a JSONPath starts with "$"`)
	}
	p := &jsonPath{}
	i := 1
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			if i < len(s) && s[i] == '.' {
				return nil, errors.New(`recursive descent ("..") is not supported`)
			}
			start := i
			for i < len(s) && isNameByte(s[i]) {
				i++
			}
			if i == start {
				if i < len(s) && s[i] == '*' {
					return nil, errors.New(`wildcards ("*") are not supported`)
				}
				return nil, fmt.Errorf("a member name is expected at offset %d", start)
			}
			if c := s[start]; c >= '0' && c <= '9' {
				return nil, fmt.Errorf("member name %q starts with a digit: write [%s] for an index or ['%s'] for a name", s[start:i], s[start:i], s[start:i])
			}
			p.steps = append(p.steps, pathStep{name: s[start:i]})
		case '[':
			i++
			if i >= len(s) {
				return nil, errors.New(`unclosed "["`)
			}
			switch c := s[i]; {
			case c == '\'' || c == '"':
				name, n, err := quotedName(s[i:])
				if err != nil {
					return nil, err
				}
				i += n
				p.steps = append(p.steps, pathStep{name: name})
			case c == '-' || (c >= '0' && c <= '9'):
				start := i
				i++
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
				idx, err := strconv.Atoi(s[start:i])
				if err != nil {
					return nil, fmt.Errorf("index %q is not a number", s[start:i])
				}
				p.steps = append(p.steps, pathStep{index: idx, isIndex: true})
			case c == '*':
				return nil, errors.New(`wildcards ("*") are not supported`)
			case c == '?':
				return nil, errors.New(`filters ("?(...)") are not supported`)
			default:
				return nil, fmt.Errorf("an index or a quoted name is expected at offset %d", i)
			}
			if i >= len(s) || s[i] != ']' {
				if i < len(s) && (s[i] == ':' || s[i] == ',') {
					return nil, errors.New("slices and unions are not supported")
				}
				return nil, fmt.Errorf(`"]" is expected at offset %d`, i)
			}
			i++
		default:
			return nil, fmt.Errorf(`"." or "[" is expected at offset %d, not %q`, i, s[i])
		}
	}
	return p, nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// quotedName reads a quoted member name at the start of s and returns it
// and how many bytes it took.
func quotedName(s string) (string, int, error) {
	quote := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) {
				return "", 0, errors.New("unterminated quoted name")
			}
			i++
			b.WriteByte(s[i])
		case quote:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errors.New("unterminated quoted name")
}

// lookup returns the value p selects in doc (as decoded by encoding/json
// into any), and whether it exists. A JSON null that exists is found.
func (p *jsonPath) lookup(doc any) (any, bool) {
	v := doc
	for _, st := range p.steps {
		if st.isIndex {
			arr, ok := v.([]any)
			if !ok {
				return nil, false
			}
			i := st.index
			if i < 0 {
				i += len(arr)
			}
			if i < 0 || i >= len(arr) {
				return nil, false
			}
			v = arr[i]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[st.name]; !ok {
			return nil, false
		}
	}
	return v, true
}
