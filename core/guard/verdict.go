package guard

import (
	"fmt"

	"github.com/jobgraph/jobgraph/core"
)

// Severity is what a matching rule does to a run.
type Severity string

// The severities.
const (
	// SeverityBlock refuses the run: it is never stored.
	SeverityBlock Severity = "block"
	// SeverityApprove stores the run waiting for an approval by the rule's
	// ApproverRole before it may start.
	SeverityApprove Severity = "approve"
)

// Match is one rule matching one text of a run.
type Match struct {
	RuleID   string // "" for a built-in rule
	RuleName string
	Severity Severity
	// ApproverRole is the project role whose approval an approve rule asks
	// for.
	ApproverRole string
	// Step is the step whose parameters matched; "" for a run parameter.
	Step string
	// Field says where: "params.command" of the step, or "parameters.NAME".
	Field string
	// Excerpt is the matched text, at most 80 characters; "" when it came
	// from a secret parameter.
	Excerpt string
}

// Verdict is what the guard says of a run before it is stored.
type Verdict struct {
	Matches []Match
}

// Blocked returns a *BlockedError for the first block match, nil if no
// rule blocks the run.
func (v Verdict) Blocked() error {
	for _, m := range v.Matches {
		if m.Severity == SeverityBlock {
			return &BlockedError{Match: m}
		}
	}
	return nil
}

// Approval returns the first approve match when no rule blocks the run.
func (v Verdict) Approval() (Match, bool) {
	if v.Blocked() != nil {
		return Match{}, false
	}
	for _, m := range v.Matches {
		if m.Severity == SeverityApprove {
			return m, true
		}
	}
	return Match{}, false
}

// BlockedError refuses a run that a block rule matched. It is a
// core.ErrForbidden: the API answers FORBIDDEN and says which rule.
type BlockedError struct {
	Match Match
}

func (e *BlockedError) Error() string {
	where := e.Match.Field
	if e.Match.Step != "" {
		where = fmt.Sprintf("step %q %s", e.Match.Step, e.Match.Field)
	}
	return fmt.Sprintf("command guard rule %q blocks the run: %s matches", e.Match.RuleName, where)
}

// Is makes a *BlockedError match core.ErrForbidden.
func (e *BlockedError) Is(target error) bool { return target == core.ErrForbidden }
