package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory/labels"
	"github.com/jobgraph/jobgraph/core/job/template"
)

// ValidateSpec checks spec (see the package documentation for the rules)
// and returns it in canonical form: defaults of their parameter's Go type,
// step parameters as compact JSON with sorted keys, selectors in canonical
// form, the default condition spelled out, and empty lists as nil. The first
// problem found is returned as a *core.ValidationError naming its field path.
// spec itself is not modified.
func ValidateSpec(ctx context.Context, spec Spec, schemas ActionSchemas) (Spec, error) {
	out, err := canonicalSpec(spec)
	if err != nil {
		return Spec{}, err
	}
	if err := checkGraph(out); err != nil {
		return Spec{}, err
	}
	if err := checkTemplates(out); err != nil {
		return Spec{}, err
	}
	if err := checkSchemas(ctx, out, schemas); err != nil {
		return Spec{}, err
	}
	return out, nil
}

func paramField(i int, f string) string { return fmt.Sprintf("parameters[%d].%s", i, f) }
func stepField(i int, f string) string  { return fmt.Sprintf("steps[%d].%s", i, f) }

// checkRefName validates a name that templates refer to: a core name
// without '.', which separates the parts of a reference.
func checkRefName(field, name string) error {
	if err := core.CheckName(field, name, MaxNameLen); err != nil {
		return err
	}
	if strings.Contains(name, ".") {
		return core.Invalid(field, "%q may not contain '.': templates use it to separate names", name)
	}
	return nil
}

// canonicalSpec checks everything that needs neither the graph nor the
// executors, and returns the canonical copy of spec.
func canonicalSpec(spec Spec) (Spec, error) {
	if spec.Concurrency < 0 || spec.Concurrency > MaxConcurrency {
		return Spec{}, core.Invalid("concurrency", "must be between 0 (no limit) and %d, got %d", MaxConcurrency, spec.Concurrency)
	}
	if spec.Timeout < 0 || spec.Timeout > MaxRunTimeout {
		return Spec{}, core.Invalid("timeout", "must be between 0 (none) and %s, got %s", MaxRunTimeout, spec.Timeout)
	}
	out := Spec{Concurrency: spec.Concurrency, Timeout: spec.Timeout}
	if len(spec.Parameters) > MaxParameters {
		return Spec{}, core.Invalid("parameters", "at most %d parameters, got %d", MaxParameters, len(spec.Parameters))
	}
	seen := map[string]int{}
	for i, p := range spec.Parameters {
		p, err := canonicalParameter(i, p)
		if err != nil {
			return Spec{}, err
		}
		if j, dup := seen[p.Name]; dup {
			return Spec{}, core.Invalid(paramField(i, "name"), "parameter %q is already defined by parameters[%d]", p.Name, j)
		}
		seen[p.Name] = i
		out.Parameters = append(out.Parameters, p)
	}
	if len(spec.Steps) == 0 {
		return Spec{}, core.Invalid("steps", "a job needs at least one step")
	}
	if len(spec.Steps) > MaxSteps {
		return Spec{}, core.Invalid("steps", "at most %d steps, got %d", MaxSteps, len(spec.Steps))
	}
	steps := map[string]int{}
	for i, s := range spec.Steps {
		if err := checkRefName(stepField(i, "name"), s.Name); err != nil {
			return Spec{}, err
		}
		if j, dup := steps[s.Name]; dup {
			return Spec{}, core.Invalid(stepField(i, "name"), "step %q is already defined by steps[%d]", s.Name, j)
		}
		steps[s.Name] = i
	}
	for i, s := range spec.Steps {
		s, err := canonicalStep(i, s, out.Parameters, steps)
		if err != nil {
			return Spec{}, err
		}
		out.Steps = append(out.Steps, s)
	}
	return out, nil
}

func canonicalParameter(i int, p Parameter) (Parameter, error) {
	if err := checkRefName(paramField(i, "name"), p.Name); err != nil {
		return Parameter{}, err
	}
	if !p.Type.valid() {
		return Parameter{}, core.Invalid(paramField(i, "type"), "unknown type %q; want one of %s", p.Type, joinQuoted(ParamTypes()))
	}
	if err := core.CheckText(paramField(i, "description"), p.Description, MaxDescriptionLen); err != nil {
		return Parameter{}, err
	}
	if p.Type == ParamChoice {
		if len(p.Choices) == 0 {
			return Parameter{}, core.Invalid(paramField(i, "choices"), "a choice parameter needs at least one choice")
		}
		if len(p.Choices) > MaxChoices {
			return Parameter{}, core.Invalid(paramField(i, "choices"), "at most %d choices, got %d", MaxChoices, len(p.Choices))
		}
		for j, c := range p.Choices {
			if c == "" {
				return Parameter{}, core.Invalid(paramField(i, "choices"), "choice %d is empty", j)
			}
			if err := core.CheckText(paramField(i, "choices"), c, 1024); err != nil {
				return Parameter{}, err
			}
			if slices.Index(p.Choices, c) != j {
				return Parameter{}, core.Invalid(paramField(i, "choices"), "choice %q is listed twice", c)
			}
		}
		p.Choices = slices.Clone(p.Choices)
	} else if len(p.Choices) > 0 {
		return Parameter{}, core.Invalid(paramField(i, "choices"), "only a choice parameter has choices")
	} else {
		p.Choices = nil
	}
	if p.Default != nil {
		if p.Type == ParamSecret {
			return Parameter{}, core.Invalid(paramField(i, "default"), "a secret parameter cannot have a default: it would be stored in clear")
		}
		d, ok := normalizeDefault(p.Type, p.Default)
		if !ok {
			return Parameter{}, core.Invalid(paramField(i, "default"), "must be a %s", typeNoun(p.Type))
		}
		switch p.Type {
		case ParamChoice:
			if !slices.Contains(p.Choices, d.(string)) {
				return Parameter{}, core.Invalid(paramField(i, "default"), "%q is not one of the choices", d)
			}
		case ParamHosts:
			for _, id := range d.([]string) {
				if err := core.CheckID(paramField(i, "default"), core.KindHost, id); err != nil {
					return Parameter{}, err
				}
			}
		case ParamString:
			if err := core.CheckText(paramField(i, "default"), d.(string), MaxDescriptionLen); err != nil {
				return Parameter{}, err
			}
		}
		p.Default = d
	}
	return p, nil
}

func typeNoun(t ParamType) string {
	switch t {
	case ParamHosts:
		return "list of host IDs"
	case ParamChoice:
		return "string"
	}
	return string(t)
}

// normalizeDefault converts a decoded value (from Go, JSON or YAML) to the
// Go type of t, and reports whether it has that type.
func normalizeDefault(t ParamType, v any) (any, bool) {
	switch t {
	case ParamString, ParamChoice, ParamSecret:
		s, ok := v.(string)
		return s, ok
	case ParamBoolean:
		b, ok := v.(bool)
		return b, ok
	case ParamNumber:
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case float32:
			f = float64(n)
		case int:
			f = float64(n)
		case int64:
			f = float64(n)
		case uint64:
			f = float64(n)
		case json.Number:
			var err error
			if f, err = n.Float64(); err != nil {
				return nil, false
			}
		default:
			return nil, false
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return f, true
	case ParamHosts:
		switch l := v.(type) {
		case []string:
			return slices.Clone(l), true
		case []any:
			out := make([]string, len(l))
			for i, e := range l {
				s, ok := e.(string)
				if !ok {
					return nil, false
				}
				out[i] = s
			}
			return out, true
		}
	}
	return nil, false
}

// canonicalApprovalStep checks an approval step: none of an action step's
// fields, and an Approval within its limits, defaults filled in.
func canonicalApprovalStep(i int, s Step) (Step, error) {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"executor", s.Executor != ""}, {"action", s.Action != ""},
		{"params", len(bytes.TrimSpace(s.Params)) > 0 && !bytes.Equal(bytes.TrimSpace(s.Params), []byte("{}")) && !bytes.Equal(bytes.TrimSpace(s.Params), []byte("null"))},
		{"targets", s.Targets.Param != "" || s.Targets.Selector != "" || len(s.Targets.Hosts) > 0 || len(s.Targets.Groups) > 0},
		{"timeout", s.Timeout != 0}, {"retries", s.Retries != 0}, {"retryBackoff", s.RetryBackoff != 0},
		{"strategy", s.Strategy != Strategy{}}, {"outputs", len(s.Outputs) > 0}, {"pool", s.Pool != ""},
	} {
		if f.set {
			return Step{}, core.Invalid(stepField(i, f.name), "an approval step has no %s: a step has either an executor or an approval", f.name)
		}
	}
	a := *s.Approval
	if a.Role == "" {
		a.Role = DefaultApprovalRole
	}
	if err := core.CheckName(stepField(i, "approval.role"), a.Role, MaxNameLen); err != nil {
		return Step{}, err
	}
	if a.Count == 0 {
		a.Count = DefaultApprovalCount
	}
	if a.Count < 1 || a.Count > MaxApprovalCount {
		return Step{}, core.Invalid(stepField(i, "approval.count"), "must be between 1 and %d, got %d", MaxApprovalCount, a.Count)
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultApprovalTimeout
	}
	if a.Timeout < 0 || a.Timeout > MaxApprovalTimeout {
		return Step{}, core.Invalid(stepField(i, "approval.timeout"), "must be between 1s and %s (0 for the default, %s)", MaxApprovalTimeout, DefaultApprovalTimeout)
	}
	if len(a.Message) > MaxApprovalMessageLen {
		return Step{}, core.Invalid(stepField(i, "approval.message"), "at most %d bytes, got %d", MaxApprovalMessageLen, len(a.Message))
	}
	s.Approval = &a
	s.Params, s.Targets, s.OnLost = nil, Targets{}, ""
	return s, nil
}

func canonicalStep(i int, s Step, params []Parameter, steps map[string]int) (Step, error) {
	var err error
	if s.Approval != nil {
		s, err = canonicalApprovalStep(i, s)
	} else {
		s, err = canonicalActionStep(i, s, params)
	}
	if err != nil {
		return Step{}, err
	}
	var needs []string
	for _, n := range s.Needs {
		j, ok := steps[n]
		switch {
		case !ok:
			return Step{}, core.Invalid(stepField(i, "needs"), "no step named %q", n)
		case j == i:
			return Step{}, core.Invalid(stepField(i, "needs"), "a step cannot need itself")
		case slices.Contains(needs, n):
			return Step{}, core.Invalid(stepField(i, "needs"), "step %q is listed twice", n)
		}
		needs = append(needs, n)
	}
	s.Needs = needs
	if s.Condition == "" {
		s.Condition = ConditionOnSuccess
	}
	if !s.Condition.valid() {
		return Step{}, core.Invalid(stepField(i, "condition"), "unknown condition %q; want one of %s", s.Condition, joinQuoted(Conditions()))
	}
	return s, nil
}

// canonicalActionStep checks the fields of a step that runs an executor
// action.
func canonicalActionStep(i int, s Step, params []Parameter) (Step, error) {
	if s.Executor == "" {
		return Step{}, core.Invalid(stepField(i, "executor"), "must not be empty: a step has either an executor (with an action and targets) or an approval")
	}
	if err := core.CheckName(stepField(i, "executor"), s.Executor, MaxNameLen); err != nil {
		return Step{}, err
	}
	if err := core.CheckName(stepField(i, "action"), s.Action, MaxNameLen); err != nil {
		return Step{}, err
	}
	raw, err := canonicalParams(s.Params)
	if err != nil {
		return Step{}, core.Invalid(stepField(i, "params"), "%s", err.Error())
	}
	s.Params = raw
	if s.Targets, err = canonicalTargets(i, s.Targets, params); err != nil {
		return Step{}, err
	}
	if s.Timeout < 0 || s.Timeout > MaxTimeout {
		return Step{}, core.Invalid(stepField(i, "timeout"), "must be between 0 (the default) and %s", MaxTimeout)
	}
	if s.Retries < 0 || s.Retries > MaxRetries {
		return Step{}, core.Invalid(stepField(i, "retries"), "must be between 0 and %d, got %d", MaxRetries, s.Retries)
	}
	if s.RetryBackoff < 0 || s.RetryBackoff > MaxRetryBackoff {
		return Step{}, core.Invalid(stepField(i, "retryBackoff"), "must be between 0 and %s", MaxRetryBackoff)
	}
	if err := checkStrategy(i, s.Strategy); err != nil {
		return Step{}, err
	}
	if len(s.Outputs) > MaxOutputs {
		return Step{}, core.Invalid(stepField(i, "outputs"), "at most %d outputs, got %d", MaxOutputs, len(s.Outputs))
	}
	var outputs []string
	for _, o := range s.Outputs {
		if err := checkRefName(stepField(i, "outputs"), o); err != nil {
			return Step{}, err
		}
		if slices.Contains(outputs, o) {
			return Step{}, core.Invalid(stepField(i, "outputs"), "output %q is exported twice", o)
		}
		outputs = append(outputs, o)
	}
	s.Outputs = outputs
	if s.Pool != "" && (len(s.Pool) > 63 || strings.ContainsAny(s.Pool, ".*> \t\r\n") || s.Pool == "any") {
		return Step{}, core.Invalid(stepField(i, "pool"), "must be a worker pool label without spaces, dots, '*' or '>' (at most 63 characters), and not \"any\"")
	}
	if s.OnLost == "" {
		s.OnLost = LostRetry
	}
	if !slices.Contains(LostPolicies(), s.OnLost) {
		return Step{}, core.Invalid(stepField(i, "onLost"), "unknown policy %q; want one of %s", s.OnLost, joinQuoted(LostPolicies()))
	}
	return s, nil
}

func checkStrategy(i int, st Strategy) error {
	f := func(name string) string { return stepField(i, "strategy."+name) }
	for _, c := range []struct {
		name string
		v    int
	}{{"maxParallel", st.MaxParallel}, {"batchSize", st.BatchSize}, {"failureThreshold", st.FailureThreshold}} {
		if c.v < 0 || c.v > MaxStrategyCount {
			return core.Invalid(f(c.name), "must be between 0 and %d, got %d", MaxStrategyCount, c.v)
		}
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"batchPercent", st.BatchPercent}, {"failurePercent", st.FailurePercent}} {
		if c.v < 0 || c.v > 100 {
			return core.Invalid(f(c.name), "must be a percentage between 1 and 100 (or 0 for none), got %d", c.v)
		}
	}
	if st.BatchSize > 0 && st.BatchPercent > 0 {
		return core.Invalid(f("batchPercent"), "set either batchSize or batchPercent, not both")
	}
	return nil
}

func canonicalTargets(i int, t Targets, params []Parameter) (Targets, error) {
	f := func(name string) string { return stepField(i, "targets."+name) }
	if len(t.Hosts)+len(t.Groups) == 0 && t.Selector == "" && t.Param == "" {
		return Targets{}, core.Invalid(stepField(i, "targets"), "name at least one of hosts, groups, selector or param")
	}
	if n := len(t.Hosts) + len(t.Groups); n > MaxTargets {
		return Targets{}, core.Invalid(stepField(i, "targets"), "at most %d hosts and groups, got %d", MaxTargets, n)
	}
	out := Targets{Param: t.Param}
	for _, id := range t.Hosts {
		if err := core.CheckID(f("hosts"), core.KindHost, id); err != nil {
			return Targets{}, err
		}
		if slices.Contains(out.Hosts, id) {
			return Targets{}, core.Invalid(f("hosts"), "host %q is listed twice", id)
		}
		out.Hosts = append(out.Hosts, id)
	}
	for _, id := range t.Groups {
		if err := core.CheckID(f("groups"), core.KindHostGroup, id); err != nil {
			return Targets{}, err
		}
		if slices.Contains(out.Groups, id) {
			return Targets{}, core.Invalid(f("groups"), "group %q is listed twice", id)
		}
		out.Groups = append(out.Groups, id)
	}
	if t.Selector != "" {
		sel, err := labels.Parse(t.Selector)
		if err != nil {
			return Targets{}, core.Invalid(f("selector"), "%s", err.Error())
		}
		out.Selector = sel.String()
	}
	if t.Param != "" {
		j := slices.IndexFunc(params, func(p Parameter) bool { return p.Name == t.Param })
		if j < 0 {
			return Targets{}, core.Invalid(f("param"), "no parameter named %q", t.Param)
		}
		if params[j].Type != ParamHosts {
			return Targets{}, core.Invalid(f("param"), "parameter %q is a %s, not a list of hosts", t.Param, params[j].Type)
		}
	}
	return out, nil
}

// canonicalParams returns params as compact JSON with sorted keys, integers
// that fit an int64 as integers and other numbers as float64, and no HTML
// escaping; nil for no parameters or an empty object. It is the one form
// both JSON and YAML input end up in, so that a spec survives a round trip
// through either unchanged.
func canonicalParams(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	if len(raw) > MaxStepParamsLen {
		return nil, fmt.Errorf("must be at most %d bytes, got %d", MaxStepParamsLen, len(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, errors.New("must be a JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("must be a JSON object")
	}
	if len(m) == 0 {
		return nil, nil
	}
	return marshalCanonical(normalizeNumbers(m))
}

func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n
		}
		f, err := v.Float64()
		if err != nil {
			return v // beyond float64: keep the literal
		}
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = normalizeNumbers(e)
		}
	}
	return v
}

func marshalCanonical(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkGraph makes sure needs form a DAG. A cycle is reported on the step
// whose needs close it, with its path read as "needs": "a → b → a" is a
// needing b, which needs a.
func checkGraph(spec Spec) error {
	index := make(map[string]int, len(spec.Steps))
	for i, s := range spec.Steps {
		index[s.Name] = i
	}
	const (
		white = iota // not visited
		grey         // on the current path
		black        // done: no cycle through it
	)
	color := make([]int, len(spec.Steps))
	var path []int
	var visit func(i int) error
	visit = func(i int) error {
		color[i] = grey
		path = append(path, i)
		for _, n := range spec.Steps[i].Needs {
			j := index[n]
			switch color[j] {
			case grey:
				start := slices.Index(path, j)
				names := make([]string, 0, len(path)-start+1)
				for _, k := range path[start:] {
					names = append(names, spec.Steps[k].Name)
				}
				names = append(names, spec.Steps[j].Name)
				return core.Invalid(stepField(i, "needs"), "steps form a cycle: %s", strings.Join(names, " → "))
			case white:
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		color[i] = black
		return nil
	}
	for i := range spec.Steps {
		if color[i] == white {
			if err := visit(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// ancestors returns, for each step, the set of steps it needs directly or
// through other steps. The graph is acyclic.
func ancestors(spec Spec) []map[string]bool {
	index := make(map[string]int, len(spec.Steps))
	for i, s := range spec.Steps {
		index[s.Name] = i
	}
	memo := make([]map[string]bool, len(spec.Steps))
	var of func(i int) map[string]bool
	of = func(i int) map[string]bool {
		if memo[i] != nil {
			return memo[i]
		}
		set := map[string]bool{}
		for _, n := range spec.Steps[i].Needs {
			set[n] = true
			for a := range of(index[n]) {
				set[a] = true
			}
		}
		memo[i] = set
		return set
	}
	for i := range spec.Steps {
		of(i)
	}
	return memo
}

// checkTemplates parses every template of every step's parameters and
// checks what each refers to.
func checkTemplates(spec Spec) error {
	params := map[string]bool{}
	for _, p := range spec.Parameters {
		params[p.Name] = true
	}
	index := make(map[string]int, len(spec.Steps))
	for i, s := range spec.Steps {
		index[s.Name] = i
	}
	anc := ancestors(spec)
	for i, s := range spec.Steps {
		leaves, err := template.Scan(s.Params)
		if err != nil {
			var pe *template.ParseError
			if errors.As(err, &pe) {
				return core.Invalid(paramsField(i, pe.Path), "%s", pe.Error())
			}
			return core.Invalid(stepField(i, "params"), "%s", err.Error())
		}
		for _, l := range leaves {
			field := paramsField(i, l.Path)
			for _, r := range l.Refs {
				switch r.Kind {
				case template.RefParam:
					if !params[r.Name] {
						return core.Invalid(field, "refers to parameter %s, which the job does not define", r.Name)
					}
				case template.RefOutput:
					j, ok := index[r.Step]
					switch {
					case !ok:
						return core.Invalid(field, "refers to output %s of step %s, which does not exist", r.Name, r.Step)
					case !anc[i][r.Step]:
						return core.Invalid(field, "refers to output %s of step %s, which this step does not need (directly or through other steps)", r.Name, r.Step)
					case !slices.Contains(spec.Steps[j].Outputs, r.Name):
						return core.Invalid(field, "refers to output %s of step %s, which that step does not export", r.Name, r.Step)
					}
				}
			}
		}
	}
	return nil
}

func paramsField(i int, path string) string {
	if path == "" {
		return stepField(i, "params")
	}
	return stepField(i, "params."+path)
}

// checkSchemas validates each step's parameters against its action's
// schema. A string holding a template has no value yet: the schema's
// complaints about it are ignored here, and the engine checks the rendered
// value before it queues a task.
func checkSchemas(ctx context.Context, spec Spec, schemas ActionSchemas) error {
	for i, s := range spec.Steps {
		if s.Approval != nil {
			continue // no executor
		}
		validate, err := schemas.Schema(ctx, s.Executor, s.Action)
		switch {
		case errors.Is(err, ErrUnknownExecutor):
			return core.Invalid(stepField(i, "executor"), "no executor named %q", s.Executor)
		case errors.Is(err, ErrUnknownAction):
			return core.Invalid(stepField(i, "action"), "executor %q has no action %q", s.Executor, s.Action)
		case err != nil:
			return fmt.Errorf("schema of %s/%s: %w", s.Executor, s.Action, err)
		}
		leaves, _ := template.Scan(s.Params) // parsed by checkTemplates
		templated := map[string]bool{}
		for _, l := range leaves {
			templated[l.Path] = true
		}
		params := s.Params
		if params == nil {
			params = json.RawMessage("{}")
		}
		for _, fe := range validate(params) {
			if templated[fe.Field] {
				continue
			}
			return core.Invalid(paramsField(i, fe.Field), "%s", fe.Message)
		}
	}
	return nil
}

func joinQuoted[T ~string](vs []T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(string(v))
	}
	return strings.Join(q, ", ")
}
