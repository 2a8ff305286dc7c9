package graph

import (
	"context"
	"errors"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/scheduler"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
)

// CreateSchedule is the resolver for the createSchedule field.
func (r *mutationResolver) CreateSchedule(ctx context.Context, input model.CreateScheduleInput) (*model.CreateSchedulePayload, error) {
	svc, err := r.scheduleService()
	if err != nil {
		return nil, err
	}
	if err := r.mayRun(ctx, input.ProjectID); err != nil {
		return nil, err
	}
	params, err := paramsJSON(input.Params)
	if err != nil {
		return nil, err
	}
	in := scheduler.CreateInput{
		ProjectID: input.ProjectID, JobID: input.JobID, Name: input.Name, Expression: input.Expression,
		TimeZone: deref(input.TimeZone), Params: params, Priority: deref(input.Priority),
		Jitter: deref(fromJitterSeconds(input.JitterSeconds)), Overlap: deref(fromModelOverlap(input.Overlap)),
		Missed: deref(fromModelMissed(input.Missed)), Enabled: input.Enabled == nil || *input.Enabled,
		CreatedBy: callerFrom(ctx).principal.Actor(),
	}
	s, err := svc.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	return &model.CreateSchedulePayload{Schedule: toModelSchedule(s)}, nil
}

// UpdateSchedule is the resolver for the updateSchedule field.
func (r *mutationResolver) UpdateSchedule(ctx context.Context, input model.UpdateScheduleInput) (*model.UpdateSchedulePayload, error) {
	svc, err := r.scheduleService()
	if err != nil {
		return nil, err
	}
	pid, err := r.authz.ProjectOf(ctx, input.ID)
	if err != nil {
		return nil, err
	}
	if err := r.mayRun(ctx, pid); err != nil {
		return nil, err
	}
	in := scheduler.UpdateInput{
		ID: input.ID, Name: input.Name, Expression: input.Expression, TimeZone: input.TimeZone, Priority: input.Priority,
		Jitter: fromJitterSeconds(input.JitterSeconds), Overlap: fromModelOverlap(input.Overlap),
		Missed: fromModelMissed(input.Missed), Enabled: input.Enabled,
	}
	if input.Params != nil {
		p, err := paramsJSON(input.Params)
		if err != nil {
			return nil, err
		}
		in.Params = &p
	}
	s, err := svc.Update(ctx, in)
	if err != nil {
		return nil, err
	}
	return &model.UpdateSchedulePayload{Schedule: toModelSchedule(s)}, nil
}

// SetScheduleEnabled is the resolver for the setScheduleEnabled field.
func (r *mutationResolver) SetScheduleEnabled(ctx context.Context, input model.SetScheduleEnabledInput) (*model.UpdateSchedulePayload, error) {
	return r.UpdateSchedule(ctx, model.UpdateScheduleInput{ID: input.ID, Enabled: &input.Enabled})
}

// DeleteSchedule is the resolver for the deleteSchedule field.
func (r *mutationResolver) DeleteSchedule(ctx context.Context, input model.DeleteScheduleInput) (*model.DeleteSchedulePayload, error) {
	svc, err := r.scheduleService()
	if err != nil {
		return nil, err
	}
	if _, err := svc.Delete(ctx, input.ID); err != nil {
		return nil, err
	}
	return &model.DeleteSchedulePayload{DeletedID: input.ID}, nil
}

// Schedules is the resolver for the schedules field.
func (r *queryResolver) Schedules(ctx context.Context, projectID string) ([]*model.Schedule, error) {
	svc, err := r.scheduleService()
	if err != nil {
		return nil, err
	}
	list, err := svc.List(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.Schedule, len(list))
	for i, s := range list {
		out[i] = toModelSchedule(s)
	}
	return out, nil
}

// Schedule is the resolver for the schedule field.
func (r *queryResolver) Schedule(ctx context.Context, id string) (*model.Schedule, error) {
	svc, err := r.scheduleService()
	if err != nil {
		return nil, err
	}
	s, err := svc.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return toModelSchedule(s), nil
}

// CronPreview is the resolver for the cronPreview field.
func (r *queryResolver) CronPreview(ctx context.Context, expression string, timeZone *string, count int, after *time.Time) ([]*time.Time, error) {
	svc, err := r.scheduleService()
	if err != nil {
		return nil, err
	}
	ts, err := svc.Preview(expression, deref(timeZone), count, deref(after))
	if err != nil {
		return nil, err
	}
	return timePtrs(ts), nil
}

// Project is the resolver for the project field.
func (r *scheduleResolver) Project(ctx context.Context, obj *model.Schedule) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// Job is the resolver for the job field.
func (r *scheduleResolver) Job(ctx context.Context, obj *model.Schedule) (*model.Job, error) {
	j, err := r.jobs.Get(ctx, obj.JobID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return toModelJob(j), nil
}

// LastRun is the resolver for the lastRun field.
func (r *scheduleResolver) LastRun(ctx context.Context, obj *model.Schedule) (*model.Run, error) {
	if obj.LastRunID == "" || r.runs == nil {
		return nil, nil
	}
	x, err := r.runs.GetRun(ctx, obj.LastRunID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil // removed by retention
	}
	if err != nil {
		return nil, err
	}
	return toModelRun(x), nil
}

// NextFireTimes is the resolver for the nextFireTimes field.
func (r *scheduleResolver) NextFireTimes(ctx context.Context, obj *model.Schedule, count int) ([]*time.Time, error) {
	svc, err := r.scheduleService()
	if err != nil {
		return nil, err
	}
	ts, err := svc.NextFireTimes(obj.Core, count)
	if err != nil {
		return nil, err
	}
	return timePtrs(ts), nil
}

// Fires is the resolver for the fires field.
func (r *scheduleResolver) Fires(ctx context.Context, obj *model.Schedule, last *int) ([]*model.ScheduleFire, error) {
	svc, err := r.scheduleService()
	if err != nil {
		return nil, err
	}
	n := 20
	if last != nil {
		if *last < 1 || *last > 100 {
			return nil, core.Invalid("last", "must be between 1 and 100")
		}
		n = *last
	}
	fs, err := svc.Fires(ctx, obj.ID, n)
	if err != nil {
		return nil, err
	}
	out := make([]*model.ScheduleFire, len(fs))
	for i, f := range fs {
		out[i] = toModelScheduleFire(f)
	}
	return out, nil
}

// Schedule returns generated.ScheduleResolver implementation.
func (r *Resolver) Schedule() generated.ScheduleResolver { return &scheduleResolver{r} }

type scheduleResolver struct{ *Resolver }
