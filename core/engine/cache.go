package engine

import (
	"context"
	"fmt"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
)

// What a run's tasks need of it that never changes once written — its
// spec, the IDs of its step runs, the outputs of its finished steps — is
// read once per run and kept in its activeRun, so that claiming a task
// costs a few indexed reads however large the run.

// runCache is the immutable part of a run, filled lazily; guarded by
// Engine.mu.
type runCache struct {
	run      *run.Run          // as read once: only its immutable fields are used
	stepName map[string]string // step run ID → step name
	stepID   map[string]string // step name → step run ID
	outputs  map[string][]hostOutputs
}

// hostOutputs are the outputs one task of a finished step exported.
type hostOutputs struct {
	hostID  string
	outputs map[string]string
}

// runOf returns the run, as read the first time: its parameters, trigger,
// spec and project, which never change (not its status).
func (e *Engine) runOf(ctx context.Context, ar *activeRun) (run.Run, error) {
	e.mu.Lock()
	r := ar.cache.run
	e.mu.Unlock()
	if r != nil {
		return *r, nil
	}
	x, err := e.o.Store.GetRun(ctx, ar.id)
	if err != nil {
		return run.Run{}, err
	}
	e.mu.Lock()
	ar.cache.run = &x
	e.mu.Unlock()
	return x, nil
}

// stepRuns returns the step run ID → name map of run r.
func (e *Engine) stepRuns(ctx context.Context, ar *activeRun, runID string) (map[string]string, map[string]string, error) {
	e.mu.Lock()
	c := ar.cache.stepName
	byName := ar.cache.stepID
	e.mu.Unlock()
	if c != nil {
		return c, byName, nil
	}
	steps, err := e.o.Store.StepRuns(ctx, runID)
	if err != nil {
		return nil, nil, err
	}
	c, byName = make(map[string]string, len(steps)), make(map[string]string, len(steps))
	for _, sr := range steps {
		c[sr.ID], byName[sr.Name] = sr.Name, sr.ID
	}
	e.mu.Lock()
	ar.cache.stepName, ar.cache.stepID = c, byName
	e.mu.Unlock()
	return c, byName, nil
}

// stepOfTask returns the spec's definition of t's step.
func (e *Engine) stepOfTask(ctx context.Context, ar *activeRun, spec *job.Spec, t run.Task) (job.Step, bool, error) {
	names, _, err := e.stepRuns(ctx, ar, t.RunID)
	if err != nil {
		return job.Step{}, false, err
	}
	name, ok := names[t.StepRunID]
	if !ok {
		return job.Step{}, false, nil
	}
	for _, s := range spec.Steps {
		if s.Name == name {
			return s, true, nil
		}
	}
	return job.Step{}, false, nil
}

// stepOutputs returns the outputs of the tasks of step name of run r,
// which is final. A step a re-run of failed hosts did not run again has
// the original run's.
func (e *Engine) stepOutputs(ctx context.Context, ar *activeRun, r run.Run, name string) ([]hostOutputs, error) {
	e.mu.Lock()
	outs, ok := ar.cache.outputs[name]
	e.mu.Unlock()
	if ok {
		return outs, nil
	}
	_, byName, err := e.stepRuns(ctx, ar, r.ID)
	if err != nil {
		return nil, err
	}
	id, ok := byName[name]
	if !ok {
		return nil, fmt.Errorf("run %s has no step %q", r.ID, name)
	}
	runID := r.ID
	tasks, err := e.allTasks(ctx, runID, id)
	if err != nil {
		return nil, err
	}
	if len(tasks) == 0 && r.Trigger.RetryOf != "" {
		if tasks, err = e.originalTasks(ctx, r.Trigger.RetryOf, name); err != nil {
			return nil, err
		}
	}
	settled := true
	for _, t := range tasks {
		settled = settled && t.Status.Final()
		if len(t.Outputs) > 0 {
			outs = append(outs, hostOutputs{hostID: t.HostID, outputs: t.Outputs})
		}
	}
	if settled {
		e.mu.Lock()
		if ar.cache.outputs == nil {
			ar.cache.outputs = map[string][]hostOutputs{}
		}
		ar.cache.outputs[name] = outs
		e.mu.Unlock()
	}
	return outs, nil
}

// allTasks returns every task of one step run.
func (e *Engine) allTasks(ctx context.Context, runID, stepRunID string) ([]run.Task, error) {
	var out []run.Task
	page := core.PageArgs{First: core.MaxPageSize}
	for {
		p, err := e.o.Store.ListTasks(ctx, run.TaskFilter{RunID: runID, StepRunID: stepRunID}, page)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if !p.HasNext || len(p.Cursors) == 0 {
			return out, nil
		}
		page.After = p.Cursors[len(p.Cursors)-1]
	}
}

// originalTasks returns the tasks of step name in run runID (the run a
// retry re-runs), following its own RetryOf while the step has none.
func (e *Engine) originalTasks(ctx context.Context, runID, name string) ([]run.Task, error) {
	for range 100 { // a chain of retries, bounded
		r, err := e.o.Store.GetRun(ctx, runID)
		if err != nil {
			return nil, err
		}
		steps, err := e.o.Store.StepRuns(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		for _, sr := range steps {
			if sr.Name != name {
				continue
			}
			tasks, err := e.allTasks(ctx, r.ID, sr.ID)
			if err != nil || len(tasks) > 0 || r.Trigger.RetryOf == "" {
				return tasks, err
			}
		}
		if r.Trigger.RetryOf == "" {
			return nil, nil
		}
		runID = r.Trigger.RetryOf
	}
	return nil, nil
}
