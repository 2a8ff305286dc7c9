package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/job"
)

// Check runs a project's enabled rules over what a run of spec with the
// parameter values would execute, and returns every match, block ones
// first. The engine calls it before it stores a run: Verdict.Blocked
// refuses the run, Verdict.Approval makes it wait for an approval.
//
// The texts checked are every string of each step's parameters (Field
// "params.<dotted path>"), both as written and with the job's parameters
// rendered in, and every string value of the run's parameters (Field
// "parameters.<name>"). Which executor a step names does not matter: a
// command is dangerous whether ssh or a plugin runs it. A match in a
// secret parameter, or in a rendered string that holds a secret's value,
// has no Excerpt.
func (s *Service) Check(ctx context.Context, projectID string, spec job.Spec, values map[string]any) (Verdict, error) {
	rules, err := s.active(ctx, projectID)
	if err != nil {
		return Verdict{}, err
	}
	c := checker{rules: rules, seen: map[matchKey]bool{}}
	secrets := map[string]bool{}
	for _, p := range spec.Parameters {
		if p.Type == job.ParamSecret {
			secrets[p.Name] = true
		}
	}
	for _, st := range spec.Steps {
		c.checkParams(st.Name, st.Params, values, secrets)
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if str, ok := values[name].(string); ok {
			c.check("", "parameters."+name, str, secrets[name])
		}
	}
	return c.verdict(), nil
}

// CheckText runs a project's enabled rules over one text, for trying them
// out. The matches have Field "text".
func (s *Service) CheckText(ctx context.Context, projectID, text string) ([]Match, error) {
	if err := core.CheckID("projectId", core.KindProject, projectID); err != nil {
		return nil, err
	}
	if len(text) > job.MaxStepParamsLen {
		return nil, core.Invalid("text", "must be at most %d bytes, got %d", job.MaxStepParamsLen, len(text))
	}
	rules, err := s.active(ctx, projectID)
	if err != nil {
		return nil, err
	}
	c := checker{rules: rules, seen: map[matchKey]bool{}}
	c.check("", "text", text, false)
	return c.verdict().Matches, nil
}

type matchKey struct{ rule, step, field string }

// checker collects the matches of one check.
type checker struct {
	rules   []Rule
	seen    map[matchKey]bool
	matches []Match
}

// checkParams checks the strings of one step's parameters, as written and
// rendered.
func (c *checker) checkParams(step string, params json.RawMessage, values map[string]any, secrets map[string]bool) {
	if len(bytes.TrimSpace(params)) == 0 {
		return
	}
	doc, err := decode(params)
	if err != nil {
		// Specs are validated when saved; a step whose parameters do not
		// decode is checked as one text, so that nothing goes unchecked.
		c.check(step, "params", string(params), false)
		return
	}
	walk(doc, "params", 0, func(path, s string) {
		c.check(step, path, s, false)
		if !strings.Contains(s, "${{") {
			return
		}
		r, secret := render(s, values, secrets)
		if r != s {
			c.check(step, path, r, secret)
		}
	})
}

// check runs every rule over one text.
func (c *checker) check(step, field, text string, secret bool) {
	if text == "" {
		return
	}
	lower := strings.ToLower(text)
	for i := range c.rules {
		r := &c.rules[i]
		loc := r.find(text, lower)
		if loc == nil {
			continue
		}
		k := matchKey{r.Name, step, field}
		if c.seen[k] {
			continue
		}
		c.seen[k] = true
		m := Match{
			RuleID: r.ID, RuleName: r.Name, Severity: r.Severity, ApproverRole: r.ApproverRole,
			Step: step, Field: field,
		}
		if !secret {
			m.Excerpt = excerpt(text, loc[0], loc[1])
		}
		c.matches = append(c.matches, m)
	}
}

// verdict orders the matches: block ones first, each group in the order
// found (steps in order, then parameters by name).
func (c *checker) verdict() Verdict {
	slices.SortStableFunc(c.matches, func(a, b Match) int { return severityRank(a.Severity) - severityRank(b.Severity) })
	return Verdict{Matches: c.matches}
}

// render returns s with the job's parameters rendered in, as package
// template renders them into a longer string ("${{ params.NAME }}"; "$${{"
// writes a literal "${{"), and whether a secret's value went in. A step's
// outputs are not known before the run, so their references stay as
// written; a parameter without a value renders as "". (template.Render
// works on a whole document, decoding it again; this renders the one string
// the walk already holds, which divides the check's cost by three.)
func render(s string, values map[string]any, secrets map[string]bool) (string, bool) {
	var b strings.Builder
	secret := false
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), secret
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${{")
			s = s[i+3:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.Index(s[i:], "}}")
		if end < 0 {
			b.WriteString(s[i:])
			return b.String(), secret
		}
		ref := strings.TrimSpace(s[i+3 : i+end])
		name, ok := strings.CutPrefix(ref, "params.")
		if !ok {
			b.WriteString(s[i : i+end+2]) // an output: unknown yet
		} else if v, ok := values[name]; ok && v != nil {
			secret = secret || secrets[name]
			if str, ok := v.(string); ok {
				b.WriteString(str)
			} else if j, err := json.Marshal(v); err == nil {
				b.Write(j)
			}
		}
		s = s[i+end+2:]
	}
}

// maxDepth bounds the nesting walked, as the template package does.
const maxDepth = 64

func decode(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// walk calls fn on every string of v with its dotted path ("params.env.HOME",
// "params.args.0"), object keys in sorted order.
func walk(v any, path string, depth int, fn func(path, s string)) {
	if depth > maxDepth {
		return
	}
	switch v := v.(type) {
	case string:
		fn(path, v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			walk(v[k], path+"."+k, depth+1, fn)
		}
	case []any:
		for i, e := range v {
			walk(e, path+"."+strconv.Itoa(i), depth+1, fn)
		}
	}
}
