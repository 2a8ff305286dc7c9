package guard

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// Limits on rules.
const (
	MaxNameLen        = 63
	MaxPatternLen     = 4096
	MaxDescriptionLen = 4096
	// DefaultApproverRole approves what an approve rule matched when the
	// rule names no role.
	DefaultApproverRole = "owner"
	// maxExcerptLen bounds Match.Excerpt, in characters.
	maxExcerptLen = 80
)

// Severities lists every severity, for exhaustive mapping tests.
func Severities() []Severity { return []Severity{SeverityBlock, SeverityApprove} }

func (s Severity) valid() bool { return s == SeverityBlock || s == SeverityApprove }

// Rule is a regular expression checked against the commands and scripts of
// a run before it starts.
type Rule struct {
	ID string
	// ProjectID is "" for a built-in rule, which applies to every project.
	ProjectID string
	// Name is unique among the project's rules and the built-ins.
	Name string
	// Pattern is a Go (RE2) regular expression, compiled when saved.
	Pattern  string
	Severity Severity
	// ApproverRole is the project role whose approval an approve rule
	// asks for; "" for a block rule.
	ApproverRole string
	Description  string
	// Enabled rules are checked. For a built-in it is the state in the
	// project it was listed for.
	Enabled bool
	BuiltIn bool
	// CreatedAt, UpdatedAt and CreatedBy are zero for a built-in.
	CreatedAt time.Time
	UpdatedAt time.Time
	CreatedBy string

	re *regexp.Regexp // compiled Pattern; set by compile or builtin
	// keywords, if any, are lower-case words one of which every match
	// holds (see builtin).
	keywords []string
}

// find returns the location of the rule's first match in text, nil for
// none. lower is strings.ToLower(text), computed once by the caller for all
// the rules.
func (r *Rule) find(text, lower string) []int {
	if len(r.keywords) > 0 && !slices.ContainsFunc(r.keywords, func(k string) bool { return strings.Contains(lower, k) }) {
		return nil
	}
	return r.re.FindStringIndex(text)
}

// compilePattern checks and compiles a rule's pattern. A pattern that
// matches the empty text would match every command of every run, and is
// refused as surely a mistake.
func compilePattern(p string) (*regexp.Regexp, error) {
	if strings.TrimSpace(p) == "" {
		return nil, core.Invalid("pattern", "must not be empty")
	}
	if len(p) > MaxPatternLen {
		return nil, core.Invalid("pattern", "must be at most %d bytes, got %d", MaxPatternLen, len(p))
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, core.Invalid("pattern", "does not compile: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	if re.MatchString("") {
		return nil, core.Invalid("pattern", "matches the empty text, so it would match every command")
	}
	return re, nil
}

// validate checks r as it is about to be stored and sets its compiled
// pattern. roles validates an approver role.
func (r *Rule) validate(roles RoleValidator) error {
	if err := core.CheckName("name", r.Name, MaxNameLen); err != nil {
		return err
	}
	if _, ok := builtinByRef(r.Name); ok {
		return core.Conflict("name", "%q is the name of a built-in rule", r.Name)
	}
	re, err := compilePattern(r.Pattern)
	if err != nil {
		return err
	}
	r.re = re
	if !r.Severity.valid() {
		return core.Invalid("severity", "must be block or approve, got %q", r.Severity)
	}
	switch r.Severity {
	case SeverityBlock:
		if r.ApproverRole != "" {
			return core.Invalid("approverRole", "only an approve rule has an approver role")
		}
	case SeverityApprove:
		if r.ApproverRole == "" {
			r.ApproverRole = DefaultApproverRole
		}
		if roles != nil {
			if err := roles.ValidateRole(r.ApproverRole); err != nil {
				return core.Invalid("approverRole", "%s", strings.TrimPrefix(err.Error(), "role: "))
			}
		}
	}
	return core.CheckText("description", r.Description, MaxDescriptionLen)
}

// excerpt is what Match.Excerpt shows of text[lo:hi]: at most
// maxExcerptLen characters, cut at a character boundary.
func excerpt(text string, lo, hi int) string {
	s := text[lo:hi]
	n := 0
	for i := range s {
		if n == maxExcerptLen {
			return s[:i]
		}
		n++
	}
	return s
}
