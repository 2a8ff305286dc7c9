package graph

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/trigger"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/rbac"
)

// triggerService returns the trigger service, or an error if this server
// has none.
func (r *Resolver) triggerService() (*trigger.Service, error) {
	if r.triggers == nil {
		return nil, core.Invalid("", "webhook triggers are not enabled on this server")
	}
	return r.triggers, nil
}

// triggerURL is where a trigger's deliveries go: the public URL, if the
// server knows one, then /hooks/<id>.
func (r *Resolver) triggerURL(id string) string {
	return strings.TrimRight(r.publicURL, "/") + "/hooks/" + id
}

func (r *Resolver) toModelTrigger(t trigger.Trigger) *model.WebhookTrigger {
	m := &model.WebhookTrigger{
		ID: t.ID, ProjectID: t.ProjectID, JobID: t.JobID, Name: t.Name, URL: r.triggerURL(t.ID),
		RequireTimestamp: t.RequireTimestamp, Priority: t.Priority, Enabled: t.Enabled, CreatedBy: t.CreatedBy,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Params: make([]*model.TriggerParam, len(t.Params)),
	}
	if !t.LastDeliveryAt.IsZero() {
		at := t.LastDeliveryAt
		m.LastDeliveryAt = &at
	}
	for i, p := range t.Params {
		mp := &model.TriggerParam{Name: p.Name, Path: optional(p.Path)}
		if len(p.Value) > 0 {
			var v any
			_ = json.Unmarshal(p.Value, &v) // validated when stored
			mp.Value = v
		}
		m.Params[i] = mp
	}
	return m
}

func (r *Resolver) toTriggerConnection(p core.Page[trigger.Trigger], count model.Counter) *model.WebhookTriggerConnection {
	return &model.WebhookTriggerConnection{PageInfo: pageInfo(p), Count: count, Edges: edges(p, func(c string, t trigger.Trigger) *model.WebhookTriggerEdge {
		return &model.WebhookTriggerEdge{Cursor: c, Node: r.toModelTrigger(t)}
	})}
}

// fromTriggerParams converts a mapping; a value is kept as the JSON the
// caller sent.
func fromTriggerParams(in []*model.TriggerParamInput) ([]trigger.ParamSource, error) {
	out := make([]trigger.ParamSource, 0, len(in))
	for _, p := range in {
		ps := trigger.ParamSource{Name: p.Name, Path: deref(p.Path)}
		if p.Value != nil {
			raw, err := json.Marshal(p.Value)
			if err != nil {
				return nil, core.Invalid("params."+p.Name, "the value must be JSON")
			}
			ps.Value = raw
		}
		out = append(out, ps)
	}
	return out, nil
}

// jobOfTrigger loads a trigger's job for a caller who may read jobs; nil
// otherwise, or if it is gone.
func (r *Resolver) jobOfTrigger(ctx context.Context, t *model.WebhookTrigger) (*model.Job, error) {
	if !r.authz.Allowed(callerFrom(ctx).subject(), t.ProjectID, rbac.JobRead) {
		return nil, nil
	}
	j, err := r.jobs.Get(ctx, t.JobID)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return toModelJob(j), nil
}
