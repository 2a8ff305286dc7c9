package graph

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core/scheduler"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/rbac"
)

// errNoSchedulerService answers schedule requests of a server built
// without a scheduler (nor an engine).
var errNoSchedulerService = errNoEngine

func (r *Resolver) scheduleService() (*scheduler.Service, error) {
	if r.schedules == nil {
		return nil, errNoSchedulerService
	}
	return r.schedules, nil
}

// mayRun checks that the caller may run jobs in project: a schedule starts
// runs as its creator could, so making or changing one needs JOB_RUN too.
func (r *Resolver) mayRun(ctx context.Context, projectID string) error {
	if err := r.authz.Check(ctx, callerFrom(ctx).subject(), projectID, rbac.JobRun); err != nil {
		return r.deny(ctx, err)
	}
	return nil
}

func toModelSchedule(s scheduler.Schedule) *model.Schedule {
	params := map[string]any{}
	if len(s.Params) > 0 {
		_ = json.Unmarshal(s.Params, &params) // validated as an object when stored
	}
	return &model.Schedule{
		ID: s.ID, JobID: s.JobID, Name: s.Name, Expression: s.Expression, TimeZone: s.TimeZone, Params: params,
		Priority: s.Priority, JitterSeconds: int(s.Jitter / time.Second),
		Overlap: model.ScheduleOverlap(strings.ToUpper(string(s.Overlap))),
		Missed:  model.ScheduleMissed(strings.ToUpper(string(s.Missed))),
		Enabled: s.Enabled, NextFireAt: s.NextFireAt, DueAt: s.DueAt, LastFireAt: s.LastFireAt,
		LastError: s.LastError, CreatedBy: s.CreatedBy, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		ProjectID: s.ProjectID, LastRunID: s.LastRunID, Core: s,
	}
}

func toModelScheduleFire(f scheduler.Fire) *model.ScheduleFire {
	return &model.ScheduleFire{
		At: f.At, FiredAt: f.FiredAt, Outcome: model.ScheduleFireOutcome(strings.ToUpper(string(f.Outcome))),
		RunID: optional(f.RunID), Error: f.Error,
	}
}

func fromModelOverlap(o *model.ScheduleOverlap) *scheduler.Overlap {
	if o == nil {
		return nil
	}
	v := scheduler.Overlap(strings.ToLower(string(*o)))
	return &v
}

func fromModelMissed(m *model.ScheduleMissed) *scheduler.Missed {
	if m == nil {
		return nil
	}
	v := scheduler.Missed(strings.ToLower(string(*m)))
	return &v
}

func fromJitterSeconds(s *int) *time.Duration {
	if s == nil {
		return nil
	}
	d := time.Duration(*s) * time.Second
	return &d
}

// paramsJSON encodes a JSONObject argument; nil stays nil.
func paramsJSON(p map[string]any) (json.RawMessage, error) {
	if p == nil {
		return nil, nil
	}
	return json.Marshal(p)
}

func timePtrs(ts []time.Time) []*time.Time {
	out := make([]*time.Time, len(ts))
	for i := range ts {
		out[i] = &ts[i]
	}
	return out
}
