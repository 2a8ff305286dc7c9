package engine

import (
	"context"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/run"
)

// The reads below let the API show runs without a store handle of its own.

// GetRun returns one run.
func (e *Engine) GetRun(ctx context.Context, id string) (run.Run, error) {
	if err := core.CheckID("id", core.KindRun, id); err != nil {
		return run.Run{}, err
	}
	return e.o.Store.GetRun(ctx, id)
}

// ListRuns returns one page of runs, newest first.
func (e *Engine) ListRuns(ctx context.Context, f run.Filter, page core.PageArgs) (core.Page[run.Run], error) {
	if err := page.Validate(); err != nil {
		return core.Page[run.Run]{}, err
	}
	for _, s := range f.Statuses {
		if !s.Valid() {
			return core.Page[run.Run]{}, core.Invalid("filter.status", "unknown status %q", s)
		}
	}
	if f.JobID != "" {
		if err := core.CheckID("filter.jobId", core.KindJob, f.JobID); err != nil {
			return core.Page[run.Run]{}, err
		}
	}
	if f.TriggerKind != "" && !f.TriggerKind.Valid() {
		return core.Page[run.Run]{}, core.Invalid("filter.triggerKind", "unknown trigger %q", f.TriggerKind)
	}
	if f.HostID != "" {
		if err := core.CheckID("filter.hostId", core.KindHost, f.HostID); err != nil {
			return core.Page[run.Run]{}, err
		}
	}
	if !f.CreatedAfter.IsZero() && !f.CreatedBefore.IsZero() && !f.CreatedAfter.Before(f.CreatedBefore) {
		return core.Page[run.Run]{}, core.Invalid("filter.createdBefore", "must be after createdAfter")
	}
	return e.o.Store.ListRuns(ctx, f, page)
}

// StepRuns returns a run's step runs in the job's order, with their counts.
func (e *Engine) StepRuns(ctx context.Context, runID string) ([]run.StepRun, error) {
	return e.o.Store.StepRuns(ctx, runID)
}

// ListTasks returns one page of a run's tasks, in creation (host) order.
func (e *Engine) ListTasks(ctx context.Context, f run.TaskFilter, page core.PageArgs) (core.Page[run.Task], error) {
	if err := page.Validate(); err != nil {
		return core.Page[run.Task]{}, err
	}
	return e.o.Store.ListTasks(ctx, f, page)
}

// GetTask returns one task.
func (e *Engine) GetTask(ctx context.Context, id string) (run.Task, error) {
	if err := core.CheckID("taskId", core.KindTask, id); err != nil {
		return run.Task{}, err
	}
	return e.o.Store.GetTask(ctx, id)
}

// ReadLogs returns up to limit (1 to run.MaxReadLogs, default 100) chunks
// of a task's log after afterSeq.
func (e *Engine) ReadLogs(ctx context.Context, taskID string, afterSeq int64, limit int) ([]run.LogChunk, error) {
	if err := core.CheckID("taskId", core.KindTask, taskID); err != nil {
		return nil, err
	}
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > run.MaxReadLogs:
		return nil, core.Invalid("first", "must be between 1 and %d", run.MaxReadLogs)
	}
	if afterSeq < 0 {
		return nil, core.Invalid("afterSeq", "must not be negative")
	}
	if _, err := e.o.Store.GetTask(ctx, taskID); err != nil {
		return nil, err
	}
	return e.o.Store.ReadLogs(ctx, taskID, afterSeq, limit)
}
