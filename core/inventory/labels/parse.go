package labels

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parse parses a label selector (see the package documentation for the
// grammar) and returns it in canonical form.
//
// An empty or all-whitespace selector yields [ErrEmpty]; any other problem
// yields a [*ParseError]. Both match [ErrInvalidSelector].
func Parse(s string) (Selector, error) {
	if len(s) > maxSelectorLen {
		return Selector{}, &ParseError{Input: s, Pos: maxSelectorLen,
			Msg: fmt.Sprintf("selector is longer than %d bytes", maxSelectorLen)}
	}
	if strings.TrimLeft(s, spaces) == "" {
		return Selector{}, ErrEmpty
	}
	p := parser{in: s}
	var reqs []Requirement
	for {
		p.skipSpace()
		if len(reqs) == maxRequirements {
			return Selector{}, p.errorf(p.pos, "too many requirements (at most %d)", maxRequirements)
		}
		start := p.pos
		r, err := p.requirement()
		if err != nil {
			return Selector{}, err
		}
		reqs = append(reqs, r)
		end := p.pos
		p.skipSpace()
		if p.eof() {
			break
		}
		if p.in[p.pos] != ',' {
			return Selector{}, p.errorf(p.pos, `expected "," or end of selector after %q, found %s`,
				s[start:end], p.found())
		}
		p.pos++
	}
	sel := newSelector(reqs)
	// The canonical form can be longer than the input ("k in(v)" prints as
	// "k in (v)"); enforce the limit on it too so that it always re-parses.
	if len(sel.String()) > maxSelectorLen {
		return Selector{}, p.errorf(0, "selector is longer than %d bytes in canonical form", maxSelectorLen)
	}
	return sel, nil
}

// MustParse is like [Parse] but panics on error. It is meant for tests,
// examples and selectors that are constants of the program.
func MustParse(s string) Selector {
	sel, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// spaces are the whitespace characters allowed around tokens.
const spaces = " \t\r\n"

func isSpace(c byte) bool { return strings.IndexByte(spaces, c) >= 0 }

// isKeyEnd reports whether c ends a key (or an "in"/"notin" word).
func isKeyEnd(c byte) bool { return isSpace(c) || strings.IndexByte(",()=!", c) >= 0 }

// isValueEnd reports whether c ends a value.
func isValueEnd(c byte) bool { return isSpace(c) || strings.IndexByte(",()", c) >= 0 }

// parser is a recursive-descent parser over the bytes of a selector.
type parser struct {
	in  string
	pos int
}

func (p *parser) errorf(pos int, format string, args ...any) *ParseError {
	return &ParseError{Input: p.in, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) eof() bool { return p.pos >= len(p.in) }

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.in[p.pos]) {
		p.pos++
	}
}

// found describes the character at p.pos for error messages.
func (p *parser) found() string {
	if p.eof() {
		return "end of selector"
	}
	_, size := utf8.DecodeRuneInString(p.in[p.pos:])
	return strconv.Quote(p.in[p.pos : p.pos+size])
}

// token consumes and returns the bytes up to the next one for which end
// reports true, or to the end of the input.
func (p *parser) token(end func(byte) bool) string {
	start := p.pos
	for !p.eof() && !end(p.in[p.pos]) {
		p.pos++
	}
	return p.in[start:p.pos]
}

// requirement parses one requirement, starting at a non-space byte (or the
// end of the input) and stopping right after its last token.
func (p *parser) requirement() (Requirement, error) {
	if !p.eof() && p.in[p.pos] == '!' {
		p.pos++
		p.skipSpace()
		key, err := p.key(` after "!"`)
		if err != nil {
			return Requirement{}, err
		}
		return Requirement{Key: key, Operator: NotExists}, nil
	}

	key, err := p.key("")
	if err != nil {
		return Requirement{}, err
	}
	afterKey := p.pos
	p.skipSpace()
	if p.eof() || p.in[p.pos] == ',' {
		p.pos = afterKey
		return Requirement{Key: key, Operator: Exists}, nil
	}

	rest := p.in[p.pos:]
	var op Operator
	switch {
	case strings.HasPrefix(rest, "=="):
		op, p.pos = Equals, p.pos+2
	case strings.HasPrefix(rest, "="):
		op, p.pos = Equals, p.pos+1
	case strings.HasPrefix(rest, "!="):
		op, p.pos = NotEquals, p.pos+2
	default:
		opPos := p.pos
		word := p.token(isKeyEnd)
		switch word {
		case "in":
			op = In
		case "notin":
			op = NotIn
		default:
			found := strconv.Quote(word)
			p.pos = opPos
			if word == "" {
				found = p.found()
			}
			return Requirement{}, p.errorf(opPos, `expected "=", "!=", "in" or "notin" after key %q, found %s`, key, found)
		}
	}

	if op == Equals || op == NotEquals {
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return Requirement{}, err
		}
		return Requirement{Key: key, Operator: op, Values: []string{v}}, nil
	}
	values, err := p.valueList(op)
	if err != nil {
		return Requirement{}, err
	}
	return Requirement{Key: key, Operator: op, Values: values}, nil
}

// key parses and validates a key; after describes the context of a missing
// key in the error message.
func (p *parser) key(after string) (string, error) {
	start := p.pos
	k := p.token(isKeyEnd)
	if k == "" {
		return "", p.errorf(start, "expected key%s, found %s", after, p.found())
	}
	if err := ValidateKey(k); err != nil {
		return "", p.errorf(start, "%s", err)
	}
	return k, nil
}

// value parses and validates a possibly empty value.
func (p *parser) value() (string, error) {
	start := p.pos
	v := p.token(isValueEnd)
	if err := ValidateValue(v); err != nil {
		return "", p.errorf(start, "%s", err)
	}
	return v, nil
}

// valueList parses `"(" value { "," value } ")"` after the operator op.
func (p *parser) valueList(op Operator) ([]string, error) {
	p.skipSpace()
	if p.eof() || p.in[p.pos] != '(' {
		return nil, p.errorf(p.pos, `expected "(" after %q, found %s`, string(op), p.found())
	}
	open := p.pos
	p.pos++
	var values []string
	for {
		p.skipSpace()
		if p.eof() {
			return nil, p.errorf(open, "unterminated value list")
		}
		if c := p.in[p.pos]; isValueEnd(c) {
			if c == ')' && len(values) == 0 {
				return nil, p.errorf(p.pos, "empty value list: %q needs at least one value", string(op))
			}
			return nil, p.errorf(p.pos, "expected value, found %s", p.found())
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		p.skipSpace()
		if p.eof() {
			return nil, p.errorf(open, "unterminated value list")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return values, nil
		default:
			return nil, p.errorf(p.pos, `expected "," or ")" in value list, found %s`, p.found())
		}
	}
}
