package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
)

// RunJob is the resolver for the runJob field.
func (r *mutationResolver) RunJob(ctx context.Context, input model.RunJobInput) (*model.RunJobPayload, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	params, err := jsonObject("params", input.Params)
	if err != nil {
		return nil, err
	}
	x, err := e.RunJob(ctx, engine.RunJobRequest{
		JobID: input.JobID, Params: params, Priority: deref(input.Priority), Actor: callerFrom(ctx).principal.Actor(),
	})
	if err != nil {
		return nil, err
	}
	return &model.RunJobPayload{Run: toModelRun(x)}, nil
}

// AdHocRun is the resolver for the adHocRun field.
func (r *mutationResolver) AdHocRun(ctx context.Context, input model.AdHocRunInput) (*model.AdHocRunPayload, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	req, err := fromModelAdHoc(input)
	if err != nil {
		return nil, err
	}
	req.Actor = callerFrom(ctx).principal.Actor()
	x, err := e.AdHocRun(ctx, req)
	if err != nil {
		return nil, err
	}
	return &model.AdHocRunPayload{Run: toModelRun(x)}, nil
}

// RetryRun is the resolver for the retryRun field.
func (r *mutationResolver) RetryRun(ctx context.Context, input model.RetryRunInput) (*model.RetryRunPayload, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	params, err := jsonObject("params", input.Params)
	if err != nil {
		return nil, err
	}
	x, err := e.RetryRun(ctx, engine.RetryRunRequest{RunID: input.RunID, FailedOnly: deref(input.FailedOnly), Params: params,
		Priority: input.Priority, Actor: callerFrom(ctx).principal.Actor()})
	if err != nil {
		return nil, err
	}
	return &model.RetryRunPayload{Run: toModelRun(x)}, nil
}

// CancelRun is the resolver for the cancelRun field.
func (r *mutationResolver) CancelRun(ctx context.Context, input model.CancelRunInput) (*model.CancelRunPayload, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	x, err := e.CancelRun(ctx, input.ID)
	if err != nil {
		return nil, err
	}
	return &model.CancelRunPayload{Run: toModelRun(x)}, nil
}

// Run is the resolver for the run field.
func (r *queryResolver) Run(ctx context.Context, id string) (*model.Run, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	x, err := e.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	return toModelRun(x), nil
}

// Runs is the resolver for the runs field.
func (r *queryResolver) Runs(ctx context.Context, projectID string, first *int, after *string, filter *model.RunFilter) (*model.RunConnection, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	page, err := e.ListRuns(ctx, fromModelRunFilter(projectID, filter), pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toRunConnection(page), nil
}

// TaskLogs is the resolver for the taskLogs field.
func (r *queryResolver) TaskLogs(ctx context.Context, taskID string, afterSeq *int, first *int) (*model.TaskLogs, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	after := int64(deref(afterSeq))
	chunks, err := e.ReadLogs(ctx, taskID, after, deref(first))
	if err != nil {
		return nil, err
	}
	return toTaskLogs(chunks, after), nil
}

// Project is the resolver for the project field.
func (r *runResolver) Project(ctx context.Context, obj *model.Run) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// Steps is the resolver for the steps field.
func (r *runResolver) Steps(ctx context.Context, obj *model.Run) ([]*model.StepRun, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	steps, err := e.StepRuns(ctx, obj.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.StepRun, len(steps))
	for i, s := range steps {
		out[i] = toModelStepRun(s)
	}
	return out, nil
}

// Tasks is the resolver for the tasks field.
func (r *runResolver) Tasks(ctx context.Context, obj *model.Run, first *int, after *string, stepName *string) (*model.TaskConnection, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	f := run.TaskFilter{RunID: obj.ID}
	if stepName != nil {
		steps, err := e.StepRuns(ctx, obj.ID)
		if err != nil {
			return nil, err
		}
		for _, s := range steps {
			if s.Name == *stepName {
				f.StepRunID = s.ID
			}
		}
		if f.StepRunID == "" {
			return nil, core.Invalid("stepName", "the run has no step %q", *stepName)
		}
	}
	page, err := e.ListTasks(ctx, f, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toTaskConnection(page), nil
}

// Kind is the resolver for the kind field.
func (r *runUpdateResolver) Kind(ctx context.Context, obj *model.RunUpdate) (model.RunUpdateKind, error) {
	if obj.Err != nil {
		return "", obj.Err
	}
	return obj.Kind, nil
}

// RunUpdates is the resolver for the runUpdates field.
func (r *subscriptionResolver) RunUpdates(ctx context.Context, runID string) (<-chan *model.RunUpdate, error) {
	return r.followRun(ctx, runID)
}

// TaskLog is the resolver for the taskLog field.
func (r *subscriptionResolver) TaskLog(ctx context.Context, taskID string, afterSeq *int) (<-chan *model.TaskLogUpdate, error) {
	return r.followLog(ctx, taskID, int64(deref(afterSeq)))
}

// ProjectRuns is the resolver for the projectRuns field.
func (r *subscriptionResolver) ProjectRuns(ctx context.Context, projectID string) (<-chan *model.RunUpdate, error) {
	return r.followProject(ctx, projectID)
}

// Chunks is the resolver for the chunks field.
func (r *taskLogUpdateResolver) Chunks(ctx context.Context, obj *model.TaskLogUpdate) ([]*model.LogChunk, error) {
	if obj.Err != nil {
		return nil, obj.Err
	}
	return nonNil(obj.Chunks), nil
}

// Run returns generated.RunResolver implementation.
func (r *Resolver) Run() generated.RunResolver { return &runResolver{r} }

// RunUpdate returns generated.RunUpdateResolver implementation.
func (r *Resolver) RunUpdate() generated.RunUpdateResolver { return &runUpdateResolver{r} }

// TaskLogUpdate returns generated.TaskLogUpdateResolver implementation.
func (r *Resolver) TaskLogUpdate() generated.TaskLogUpdateResolver { return &taskLogUpdateResolver{r} }

type (
	runResolver           struct{ *Resolver }
	runUpdateResolver     struct{ *Resolver }
	taskLogUpdateResolver struct{ *Resolver }
)
