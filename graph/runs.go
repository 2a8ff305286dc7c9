package graph

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/graph/model"
)

// Runs is what the API uses of the engine; *core/engine.Engine is it.
type Runs interface {
	RunJob(ctx context.Context, req engine.RunJobRequest) (run.Run, error)
	AdHocRun(ctx context.Context, req engine.AdHocRequest) (run.Run, error)
	RetryRun(ctx context.Context, req engine.RetryRunRequest) (run.Run, error)
	CancelRun(ctx context.Context, id string) (run.Run, error)
	GetRun(ctx context.Context, id string) (run.Run, error)
	ListRuns(ctx context.Context, f run.Filter, page core.PageArgs) (core.Page[run.Run], error)
	StepRuns(ctx context.Context, runID string) ([]run.StepRun, error)
	ListTasks(ctx context.Context, f run.TaskFilter, page core.PageArgs) (core.Page[run.Task], error)
	GetTask(ctx context.Context, id string) (run.Task, error)
	ReadLogs(ctx context.Context, taskID string, afterSeq int64, limit int) ([]run.LogChunk, error)
}

var _ Runs = (*engine.Engine)(nil)

// errNoEngine answers run requests of a server built without an engine.
var errNoEngine = errors.New("this server runs no jobs")

func (r *Resolver) engine() (Runs, error) {
	if r.runs == nil {
		return nil, errNoEngine
	}
	return r.runs, nil
}

func toModelRun(x run.Run) *model.Run {
	params := map[string]any{}
	if len(x.Params) > 0 {
		_ = json.Unmarshal(x.Params, &params) // the engine stored it as an object
	}
	return &model.Run{
		ID: x.ID, ProjectID: x.ProjectID, JobID: optional(x.JobID), JobVersion: x.JobVersion, Name: x.Name,
		Status: model.RunStatus(strings.ToUpper(string(x.Status))), Priority: x.Priority,
		TriggerKind: string(x.Trigger.Kind), TriggeredBy: x.Trigger.Actor, RetryOf: optional(x.Trigger.RetryOf), Params: params, SecretParams: nonNil(x.SecretParams),
		CreatedAt: x.CreatedAt, StartedAt: x.StartedAt, FinishedAt: x.FinishedAt,
	}
}

func toModelStepRun(s run.StepRun) *model.StepRun {
	c := s.Counts
	return &model.StepRun{
		ID: s.ID, Name: s.Name, Index: s.Index, Status: model.StepStatus(strings.ToUpper(string(s.Status))),
		Counts: &model.TaskCounts{Total: c.Total, Pending: c.Pending, Queued: c.Queued, Running: c.Running, Succeeded: c.Succeeded,
			Failed: c.Failed, Canceled: c.Canceled, TimedOut: c.TimedOut, Error: c.Error, Lost: c.Lost},
		StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
	}
}

func toModelTask(t run.Task) *model.Task {
	outputs := make(map[string]any, len(t.Outputs))
	for k, v := range t.Outputs {
		outputs[k] = v
	}
	return &model.Task{
		ID: t.ID, StepRunID: t.StepRunID, HostID: t.HostID, HostName: t.HostName,
		Status: model.TaskStatus(strings.ToUpper(string(t.Status))), Attempt: t.Attempt, ExitCode: t.ExitCode,
		Error: t.Error, Outputs: outputs, LogBytes: int(t.LogBytes), LogTruncated: t.LogTruncated,
		StartedAt: t.StartedAt, FinishedAt: t.FinishedAt,
	}
}

func toRunConnection(p core.Page[run.Run]) *model.RunConnection {
	return &model.RunConnection{PageInfo: pageInfo(p), Edges: edges(p, func(c string, item run.Run) *model.RunEdge {
		return &model.RunEdge{Cursor: c, Node: toModelRun(item)}
	})}
}

func toTaskConnection(p core.Page[run.Task]) *model.TaskConnection {
	return &model.TaskConnection{PageInfo: pageInfo(p), Edges: edges(p, func(c string, item run.Task) *model.TaskEdge {
		return &model.TaskEdge{Cursor: c, Node: toModelTask(item)}
	})}
}

func toTaskLogs(chunks []run.LogChunk, afterSeq int64) *model.TaskLogs {
	out := &model.TaskLogs{Chunks: make([]*model.LogChunk, len(chunks)), LastSeq: int(afterSeq)}
	for i, c := range chunks {
		out.Chunks[i] = toModelChunk(c)
		out.LastSeq = int(c.Seq)
	}
	return out
}

func toModelChunk(c run.LogChunk) *model.LogChunk {
	data := string(c.Data)
	if !utf8.ValidString(data) {
		data = strings.ToValidUTF8(data, "\uFFFD")
	}
	return &model.LogChunk{Seq: int(c.Seq), Stream: model.LogStream(strings.ToUpper(string(c.Stream))), Data: data, At: c.At}
}

func fromModelRunFilter(projectID string, f *model.RunFilter) run.Filter {
	out := run.Filter{ProjectIDs: []string{projectID}}
	if f == nil {
		return out
	}
	for _, s := range f.Status {
		out.Statuses = append(out.Statuses, run.RunStatus(strings.ToLower(string(s))))
	}
	out.JobID = deref(f.JobID)
	out.TriggerKind = run.TriggerKind(deref(f.TriggerKind))
	out.HostID = deref(f.HostID)
	if f.CreatedAfter != nil {
		out.CreatedAfter = *f.CreatedAfter
	}
	if f.CreatedBefore != nil {
		out.CreatedBefore = *f.CreatedBefore
	}
	return out
}

// jsonObject encodes an optional JSON object argument (nil stays nil).
func jsonObject(field string, m map[string]any) (json.RawMessage, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, core.Invalid(field, "must be a JSON object")
	}
	return b, nil
}

// fromModelAdHoc converts an adHocRun input to the engine's request.
func fromModelAdHoc(in model.AdHocRunInput) (engine.AdHocRequest, error) {
	params, err := jsonObject("params", in.Params)
	if err != nil {
		return engine.AdHocRequest{}, err
	}
	req := engine.AdHocRequest{ProjectID: in.ProjectID, Executor: in.Executor, Action: in.Action, Params: params,
		Pool: deref(in.Pool), Priority: deref(in.Priority)}
	if in.Targets != nil {
		req.Targets = job.Targets{Hosts: in.Targets.Hosts, Groups: in.Targets.Groups, Selector: deref(in.Targets.Selector)}
	}
	if s := in.Strategy; s != nil {
		req.Strategy = job.Strategy{MaxParallel: deref(s.MaxParallel), BatchSize: deref(s.BatchSize), BatchPercent: deref(s.BatchPercent),
			FailureThreshold: deref(s.FailureThreshold), FailurePercent: deref(s.FailurePercent), ContinueOnError: deref(s.ContinueOnError)}
	}
	if t := deref(in.TimeoutSeconds); t != 0 {
		if t < 0 || t > int(job.MaxTimeout/time.Second) {
			return engine.AdHocRequest{}, core.Invalid("timeoutSeconds", "must be between 0 and %d", int(job.MaxTimeout/time.Second))
		}
		req.Timeout = time.Duration(t) * time.Second
	}
	return req, nil
}
