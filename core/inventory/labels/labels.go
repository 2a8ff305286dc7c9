// Package labels validates host labels and parses the label selectors that
// host groups use to pick hosts.
//
// Hosts carry labels, a map[string]string such as {"env": "prod", "tier":
// "web"}. A host group selects hosts with a selector written in the
// Kubernetes label-selector syntax, for example
//
//	env=prod, tier in (api,web), !canary
//
// A host is selected when it satisfies every requirement of the selector.
//
// # Grammar
//
//	selector    = requirement { "," requirement }
//	requirement = "!" key
//	            | key
//	            | key ( "=" | "==" | "!=" ) value
//	            | key ( "in" | "notin" ) "(" value { "," value } ")"
//
// Spaces, tabs, carriage returns and newlines may appear around any token.
// Because a key may itself contain letters, "in" and "notin" must be
// separated from the key by whitespace ("tier in (web)", not "tierin(web)").
//
// A key is an optional prefix and "/" followed by a name:
//
//   - the name is 1 to 63 characters of [A-Za-z0-9._-] and starts and ends
//     with a letter or digit;
//   - the prefix, if present, is 1 to 253 characters of [a-z0-9.-] (a DNS
//     subdomain such as "jobgraph.io") and starts and ends with a lowercase
//     letter or digit;
//   - the whole key is at most 317 characters.
//
// A value is 0 to 63 characters of [A-Za-z0-9._-]; a non-empty value starts
// and ends with a letter or digit. "env=" requires the value of env to be
// the empty string. Values inside an "in" or "notin" list must not be empty,
// and a list needs at least one value.
//
// A selector must contain at least one requirement: an empty selector would
// silently select every host, so [Parse] rejects it with [ErrEmpty]. A
// selector may hold at most 64 requirements and be at most 4096 bytes long,
// both as written and in canonical form.
//
// # Semantics
//
// Each requirement tests a single label:
//
//	env=prod          the host has env and its value is "prod"
//	env!=prod         the host has no env label, or its value is not "prod"
//	env in (a,b)      the host has env and its value is "a" or "b"
//	env notin (a,b)   the host has no env label, or its value is neither
//	env               the host has an env label (any value)
//	!env              the host has no env label
//
// As in Kubernetes, "!=" and "notin" also match hosts that lack the key
// altogether; combine them with an existence requirement ("env,env!=prod")
// to select only hosts that have the label.
//
// Every requirement maps to one subquery over a host_labels(host_id, key,
// value) table: "=", "in" and exists become EXISTS (...), and "!=", "notin"
// and "!" become NOT EXISTS over the same condition as their positive
// counterpart. [Selector.Requirements] exposes the parsed form for that
// purpose.
//
// # Canonical form
//
// [Parse] normalises a selector: "==" becomes "=", the values of an "in" or
// "notin" list are sorted and de-duplicated, identical requirements are
// merged, and requirements are sorted by key, then operator (in the order
// the [Operator] constants are declared), then values. [Selector.String]
// prints that canonical form, so two selectors that differ only in spelling
// print the same, and Parse(s.String()) yields a selector equal to s.
package labels

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Limits.
const (
	maxSelectorLen  = 4096
	maxRequirements = 64
	maxKeyLen       = maxPrefixLen + 1 + maxNameLen
	maxPrefixLen    = 253
	maxNameLen      = 63
	maxValueLen     = 63
)

// Operator is the relation a [Requirement] tests.
type Operator string

// Operators, in canonical order.
const (
	// Equals matches hosts that have the key with exactly the value.
	// The input may spell it "=" or "=="; Parse normalises it to "=".
	Equals Operator = "="
	// NotEquals matches hosts whose value for the key differs, and hosts
	// that do not have the key at all.
	NotEquals Operator = "!="
	// In matches hosts that have the key with one of the values.
	In Operator = "in"
	// NotIn matches hosts whose value for the key is none of the values,
	// and hosts that do not have the key at all.
	NotIn Operator = "notin"
	// Exists matches hosts that have the key, whatever its value.
	Exists Operator = "exists"
	// NotExists matches hosts that do not have the key.
	NotExists Operator = "!"
)

// rank orders operators for the canonical form.
func (op Operator) rank() int {
	switch op {
	case Equals:
		return 0
	case NotEquals:
		return 1
	case In:
		return 2
	case NotIn:
		return 3
	case Exists:
		return 4
	case NotExists:
		return 5
	}
	return 6
}

// Requirement is one condition of a [Selector].
//
// Values holds exactly one value (possibly "") for [Equals] and [NotEquals],
// one or more sorted, distinct values for [In] and [NotIn], and is nil for
// [Exists] and [NotExists].
type Requirement struct {
	Key      string
	Operator Operator
	Values   []string
}

// String returns the requirement in canonical selector syntax, for example
// "env=prod", "tier in (api,web)" or "!canary".
func (r Requirement) String() string {
	switch r.Operator {
	case Equals, NotEquals:
		v := ""
		if len(r.Values) > 0 {
			v = r.Values[0]
		}
		return r.Key + string(r.Operator) + v
	case In, NotIn:
		return r.Key + " " + string(r.Operator) + " (" + strings.Join(r.Values, ",") + ")"
	case Exists:
		return r.Key
	case NotExists:
		return "!" + r.Key
	}
	return fmt.Sprintf("%s <invalid operator %q> %v", r.Key, string(r.Operator), r.Values)
}

// matches reports whether labels satisfy r.
func (r Requirement) matches(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Operator {
	case Equals:
		return ok && v == r.Values[0]
	case NotEquals:
		return !ok || v != r.Values[0]
	case In:
		return ok && slices.Contains(r.Values, v)
	case NotIn:
		return !ok || !slices.Contains(r.Values, v)
	case Exists:
		return ok
	case NotExists:
		return !ok
	}
	return false
}

func compareRequirements(a, b Requirement) int {
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Operator.rank(), b.Operator.rank()); c != 0 {
		return c
	}
	return slices.Compare(a.Values, b.Values)
}

// Selector is a parsed label selector: a set of requirements that a host's
// labels must all satisfy. Build one with [Parse].
//
// The zero Selector has no requirements and matches no host; Parse never
// returns it without an error.
type Selector struct {
	reqs []Requirement // canonical: see newSelector
}

// newSelector canonicalises reqs (which it takes ownership of).
func newSelector(reqs []Requirement) Selector {
	for i := range reqs {
		if r := &reqs[i]; r.Operator == In || r.Operator == NotIn {
			slices.Sort(r.Values)
			r.Values = slices.Compact(r.Values)
		}
	}
	slices.SortFunc(reqs, compareRequirements)
	reqs = slices.CompactFunc(reqs, func(a, b Requirement) bool {
		return compareRequirements(a, b) == 0
	})
	return Selector{reqs: reqs}
}

// Requirements returns a copy of the selector's requirements in canonical
// order: by key, then operator, then values.
func (s Selector) Requirements() []Requirement {
	out := make([]Requirement, len(s.reqs))
	for i, r := range s.reqs {
		r.Values = slices.Clone(r.Values)
		out[i] = r
	}
	return out
}

// Matches reports whether labels satisfy every requirement of s. A nil map
// is a host without labels. The zero Selector matches nothing.
func (s Selector) Matches(labels map[string]string) bool {
	if len(s.reqs) == 0 {
		return false
	}
	for _, r := range s.reqs {
		if !r.matches(labels) {
			return false
		}
	}
	return true
}

// String returns the canonical form of s, for example
// "!canary,env=prod,tier in (api,web)". The zero Selector prints as "".
func (s Selector) String() string {
	var b strings.Builder
	for i, r := range s.reqs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// ErrInvalidSelector matches (with [errors.Is]) every error returned by
// [Parse], including [ErrEmpty] and every [*ParseError].
var ErrInvalidSelector = errors.New("invalid selector")

// ErrEmpty is returned by [Parse] for a selector that is empty or contains
// only whitespace. errors.Is(ErrEmpty, ErrInvalidSelector) is true.
var ErrEmpty error = emptyError{}

type emptyError struct{}

func (emptyError) Error() string        { return "empty selector" }
func (emptyError) Is(target error) bool { return target == ErrInvalidSelector }

// ParseError describes a syntax or validation error in a selector.
type ParseError struct {
	Input string // the selector as given to Parse
	Pos   int    // 0-based byte offset in Input where the problem was found
	Msg   string // what is wrong, without the input or position
}

// Error returns `invalid selector "<input>" at position <pos>: <msg>`. An
// input over the 4096-byte limit is shortened to its first 64 bytes.
func (e *ParseError) Error() string {
	in, more := e.Input, ""
	if len(in) > maxSelectorLen {
		in, more = in[:64], "..."
	}
	return fmt.Sprintf("invalid selector %q%s at position %d: %s", in, more, e.Pos, e.Msg)
}

// Is reports whether target is [ErrInvalidSelector].
func (e *ParseError) Is(target error) bool { return target == ErrInvalidSelector }

// ErrInvalidKey matches (with [errors.Is]) the errors returned by
// [ValidateKey], and those returned by [Validate] for a bad key.
var ErrInvalidKey = errors.New("invalid label key")

// ErrInvalidValue matches (with [errors.Is]) the errors returned by
// [ValidateValue], and those returned by [Validate] for a bad value.
var ErrInvalidValue = errors.New("invalid label value")

// labelError is a key or value that fails validation.
type labelError struct {
	kind   error  // ErrInvalidKey or ErrInvalidValue
	key    string // the key, or for a value error the key it belongs to ("" if unknown)
	value  string // the value, for ErrInvalidValue
	reason string
}

func (e *labelError) Error() string {
	switch {
	case e.kind == ErrInvalidKey:
		return fmt.Sprintf("invalid key %q: %s", e.key, e.reason)
	case e.key != "":
		return fmt.Sprintf("invalid value %q for key %q: %s", e.value, e.key, e.reason)
	default:
		return fmt.Sprintf("invalid value %q: %s", e.value, e.reason)
	}
}

func (e *labelError) Unwrap() error { return e.kind }

// ValidateKey reports whether k is a valid label key (see the package
// documentation). The error matches [ErrInvalidKey] and reads like
// `invalid key "-x": must start and end with a letter or digit`.
func ValidateKey(k string) error {
	if reason := keyProblem(k); reason != "" {
		return &labelError{kind: ErrInvalidKey, key: k, reason: reason}
	}
	return nil
}

// ValidateValue reports whether v is a valid label value (see the package
// documentation). The empty string is valid. The error matches
// [ErrInvalidValue].
func ValidateValue(v string) error {
	if reason := valueProblem(v); reason != "" {
		return &labelError{kind: ErrInvalidValue, value: v, reason: reason}
	}
	return nil
}

// Validate checks a host's labels. It reports the first invalid key or value
// with keys taken in sorted order, so the result is deterministic. The error
// matches [ErrInvalidKey] or [ErrInvalidValue] and names the key.
func Validate(labels map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if err := ValidateKey(k); err != nil {
			return err
		}
		v := labels[k]
		if reason := valueProblem(v); reason != "" {
			return &labelError{kind: ErrInvalidValue, key: k, value: v, reason: reason}
		}
	}
	return nil
}

// keyProblem returns why k is not a valid key, or "".
func keyProblem(k string) string {
	if k == "" {
		return "must not be empty"
	}
	if len(k) > maxKeyLen {
		return fmt.Sprintf("must be at most %d characters", maxKeyLen)
	}
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		return nameProblem(k, "")
	}
	if strings.Contains(name, "/") {
		return "must contain at most one '/'"
	}
	if reason := prefixProblem(prefix); reason != "" {
		return "prefix " + reason
	}
	return nameProblem(name, "name ")
}

// nameProblem returns why name is not a valid key name, or "". what is
// prepended to the reason.
func nameProblem(name, what string) string {
	if name == "" {
		return what + "must not be empty"
	}
	if reason := tokenProblem(name, maxNameLen); reason != "" {
		return what + reason
	}
	return ""
}

// valueProblem returns why v is not a valid value, or "".
func valueProblem(v string) string {
	if v == "" {
		return ""
	}
	return tokenProblem(v, maxValueLen)
}

// tokenProblem checks the rules shared by names and non-empty values.
func tokenProblem(s string, maxLen int) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return "must consist of letters, digits, '-', '_' or '.'"
		}
	}
	if len(s) > maxLen {
		return fmt.Sprintf("must be at most %d characters", maxLen)
	}
	if !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return "must start and end with a letter or digit"
	}
	return ""
}

// prefixProblem returns why prefix is not a valid key prefix, or "".
func prefixProblem(prefix string) string {
	if prefix == "" {
		return "must not be empty"
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !isLowerAlnum(c) && c != '-' && c != '.' {
			return "must consist of lowercase letters, digits, '-' or '.'"
		}
	}
	if len(prefix) > maxPrefixLen {
		return fmt.Sprintf("must be at most %d characters", maxPrefixLen)
	}
	if !isLowerAlnum(prefix[0]) || !isLowerAlnum(prefix[len(prefix)-1]) {
		return "must start and end with a lowercase letter or digit"
	}
	return ""
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }
