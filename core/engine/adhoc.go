package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
)

// AdHocStep is the name of the one step of an ad-hoc run.
const AdHocStep = "adhoc"

// AdHocRequest asks to run one executor action on targets without a job.
type AdHocRequest struct {
	ProjectID string
	Executor  string
	Action    string
	// Params is the action's parameters, a JSON object (no templates).
	Params  json.RawMessage
	Targets job.Targets
	// Strategy, Timeout and Pool are those of a job step.
	Strategy job.Strategy
	Timeout  time.Duration
	Pool     string
	Actor    string
	Priority int
}

// AdHocRun checks the action and its parameters against the executor's
// schema, resolves the targets and starts a run of one step. Problems are
// reported on the request's fields (params.command, targets.selector...).
func (e *Engine) AdHocRun(ctx context.Context, req AdHocRequest) (run.Run, error) {
	if err := core.CheckID("projectId", core.KindProject, req.ProjectID); err != nil {
		return run.Run{}, err
	}
	if err := run.CheckPriority("priority", req.Priority); err != nil {
		return run.Run{}, err
	}
	if e.o.Schemas == nil {
		return run.Run{}, fmt.Errorf("engine: ad-hoc runs need Options.Schemas")
	}
	step := job.Step{Name: AdHocStep, Executor: req.Executor, Action: req.Action, Params: req.Params, Targets: req.Targets,
		Strategy: req.Strategy, Timeout: req.Timeout, Pool: req.Pool}
	spec, err := job.ValidateSpec(ctx, job.Spec{Steps: []job.Step{step}}, e.o.Schemas)
	if err != nil {
		return run.Run{}, unstep(err)
	}
	step = spec.Steps[0]
	now := e.o.Now().UTC()
	r := run.Run{
		ID: core.NewID(core.KindRun), ProjectID: req.ProjectID, Name: adHocName(step),
		Status: run.RunQueued, Priority: req.Priority, Trigger: run.Trigger{Kind: run.TriggerManual, Actor: req.Actor},
		Params: json.RawMessage(`{}`), CreatedAt: now,
	}
	return e.create(ctx, r, spec, nil, nil, func(i int, st job.Step) ([]inventory.Host, error) {
		hs, err := e.resolveTargets(ctx, req.ProjectID, i, st.Targets, nil)
		return hs, unstep(err)
	})
}

// unstep reports a validation error of the ad-hoc step on the request's
// own fields: steps[0].params.command becomes params.command.
func unstep(err error) error {
	if ve, ok := err.(*core.ValidationError); ok {
		c := *ve
		c.Field = strings.TrimPrefix(c.Field, "steps[0].")
		return &c
	}
	return err
}

func adHocName(st job.Step) string {
	name := st.Executor + " " + st.Action
	var p map[string]any
	if json.Unmarshal(st.Params, &p) == nil {
		for _, k := range []string{"command", "script", "url", "statement", "query", "dest"} {
			if v, ok := p[k].(string); ok && v != "" {
				v = strings.Join(strings.Fields(v), " ")
				if r := []rune(v); len(r) > 80 {
					v = string(r[:77]) + "..."
				}
				return name + ": " + v
			}
		}
	}
	return name
}

// RetryRunRequest asks to run a finished run again.
type RetryRunRequest struct {
	RunID string
	// FailedOnly keeps only the hosts whose task did not succeed, step by
	// step; a step with none left succeeds at once, and later steps read
	// its outputs from the original run.
	FailedOnly bool
	// Params gives the values of the original's secret parameters again
	// (they are never stored); other values are the original's.
	Params   json.RawMessage
	Actor    string
	Priority *int
}

// RetryRun starts a run of the same spec and parameters as a final run, on
// all its hosts or on those that did not succeed, linked to it (trigger
// retry, RetryOf).
func (e *Engine) RetryRun(ctx context.Context, req RetryRunRequest) (run.Run, error) {
	if err := core.CheckID("runId", core.KindRun, req.RunID); err != nil {
		return run.Run{}, err
	}
	orig, err := e.o.Store.GetRun(ctx, req.RunID)
	if err != nil {
		return run.Run{}, err
	}
	if !orig.Status.Final() {
		return run.Run{}, core.Invalid("runId", "the run is still %s: wait for it to end, or cancel it, before running it again", orig.Status)
	}
	priority := orig.Priority
	if req.Priority != nil {
		priority = *req.Priority
	}
	if err := run.CheckPriority("priority", priority); err != nil {
		return run.Run{}, err
	}
	spec, err := e.spec(ctx, &activeRun{id: orig.ID}, orig)
	if err != nil {
		return run.Run{}, err
	}
	secrets, err := retrySecrets(orig, req.Params)
	if err != nil {
		return run.Run{}, err
	}
	// The hosts of each step, in the original's task order.
	steps, err := e.o.Store.StepRuns(ctx, orig.ID)
	if err != nil {
		return run.Run{}, err
	}
	byStep := map[string][]inventory.Host{}
	some := false
	for _, sr := range steps {
		page := core.PageArgs{First: core.MaxPageSize}
		for {
			p, err := e.o.Store.ListTasks(ctx, run.TaskFilter{RunID: orig.ID, StepRunID: sr.ID}, page)
			if err != nil {
				return run.Run{}, err
			}
			for _, t := range p.Items {
				if req.FailedOnly && t.Status == run.TaskSucceeded {
					continue
				}
				byStep[sr.Name] = append(byStep[sr.Name], inventory.Host{ID: t.HostID, Name: t.HostName})
				some = true
			}
			if !p.HasNext || len(p.Cursors) == 0 {
				break
			}
			page.After = p.Cursors[len(p.Cursors)-1]
		}
	}
	if !some {
		return run.Run{}, core.Invalid("failedOnly", "every task of run %s succeeded: there is nothing to run again", orig.ID)
	}
	now := e.o.Now().UTC()
	r := run.Run{
		ID: core.NewID(core.KindRun), ProjectID: orig.ProjectID, JobID: orig.JobID, JobVersion: orig.JobVersion, Name: orig.Name,
		Status: run.RunQueued, Priority: priority, Trigger: run.Trigger{Kind: run.TriggerRetry, Actor: req.Actor, RetryOf: orig.ID},
		Params: orig.Params, SecretParams: orig.SecretParams, CreatedAt: now,
	}
	values := map[string]any{}
	_ = json.Unmarshal(orig.Params, &values) // stored by runFromCore: a JSON object
	for k, v := range secrets {
		values[k] = v
	}
	return e.create(ctx, r, *spec, values, secrets, func(_ int, st job.Step) ([]inventory.Host, error) {
		return byStep[st.Name], nil
	})
}

// retrySecrets checks that raw gives every secret parameter of orig, and
// nothing else.
func retrySecrets(orig run.Run, raw json.RawMessage) (map[string]string, error) {
	given := map[string]any{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &given); err != nil {
			return nil, core.Invalid("params", "must be a JSON object")
		}
	}
	secrets := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if !slices.Contains(orig.SecretParams, name) {
			return nil, core.Invalid("params."+name, "only secret parameters are given again; the others keep the original run's values")
		}
		v, ok := given[name].(string)
		if !ok {
			return nil, core.Invalid("params."+name, "must be a string")
		}
		secrets[name] = v
	}
	for _, name := range orig.SecretParams {
		if _, ok := secrets[name]; !ok {
			return nil, core.Invalid("params."+name, "is a secret parameter, which is never stored: give its value again")
		}
	}
	return secrets, nil
}
