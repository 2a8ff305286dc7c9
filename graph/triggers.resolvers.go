package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/core/trigger"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/rbac"
)

// CreateTrigger is the resolver for the createTrigger field.
func (r *mutationResolver) CreateTrigger(ctx context.Context, input model.CreateTriggerInput) (*model.TriggerSecretPayload, error) {
	svc, err := r.triggerService()
	if err != nil {
		return nil, err
	}
	// Its deliveries run the job: making one takes the right to run it.
	if err := r.authz.Check(ctx, callerFrom(ctx).subject(), input.ProjectID, rbac.JobRun); err != nil {
		return nil, err
	}
	params, err := fromTriggerParams(input.Params)
	if err != nil {
		return nil, err
	}
	t, secret, err := svc.Create(ctx, trigger.CreateInput{
		ProjectID: input.ProjectID, JobID: input.JobID, Name: input.Name, Secret: input.Secret, Params: params,
		RequireTimestamp: deref(input.RequireTimestamp), Priority: deref(input.Priority), Enabled: input.Enabled,
		CreatedBy: callerFrom(ctx).principal.Actor(),
	})
	if err != nil {
		return nil, err
	}
	return &model.TriggerSecretPayload{Trigger: r.toModelTrigger(t), Secret: secret}, nil
}

// UpdateTrigger is the resolver for the updateTrigger field.
func (r *mutationResolver) UpdateTrigger(ctx context.Context, input model.UpdateTriggerInput) (*model.UpdateTriggerPayload, error) {
	svc, err := r.triggerService()
	if err != nil {
		return nil, err
	}
	in := trigger.UpdateInput{ID: input.ID, Name: input.Name, RequireTimestamp: input.RequireTimestamp, Priority: input.Priority, Enabled: input.Enabled}
	if input.Params != nil {
		params, err := fromTriggerParams(input.Params)
		if err != nil {
			return nil, err
		}
		in.Params = &params
	}
	t, err := svc.Update(ctx, in)
	if err != nil {
		return nil, err
	}
	return &model.UpdateTriggerPayload{Trigger: r.toModelTrigger(t)}, nil
}

// RotateTriggerSecret is the resolver for the rotateTriggerSecret field.
func (r *mutationResolver) RotateTriggerSecret(ctx context.Context, input model.RotateTriggerSecretInput) (*model.TriggerSecretPayload, error) {
	svc, err := r.triggerService()
	if err != nil {
		return nil, err
	}
	t, secret, err := svc.RotateSecret(ctx, input.ID, input.Secret)
	if err != nil {
		return nil, err
	}
	return &model.TriggerSecretPayload{Trigger: r.toModelTrigger(t), Secret: secret}, nil
}

// DeleteTrigger is the resolver for the deleteTrigger field.
func (r *mutationResolver) DeleteTrigger(ctx context.Context, input model.DeleteTriggerInput) (*model.DeleteTriggerPayload, error) {
	svc, err := r.triggerService()
	if err != nil {
		return nil, err
	}
	if err := svc.Delete(ctx, input.ID); err != nil {
		return nil, err
	}
	return &model.DeleteTriggerPayload{DeletedID: input.ID}, nil
}

// Triggers is the resolver for the triggers field.
func (r *queryResolver) Triggers(ctx context.Context, projectID string, first *int, after *string) (*model.WebhookTriggerConnection, error) {
	svc, err := r.triggerService()
	if err != nil {
		return nil, err
	}
	f := trigger.Filter{ProjectID: projectID}
	page, err := svc.List(ctx, f, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return r.toTriggerConnection(page, counter(f, svc.Count)), nil
}

// Trigger is the resolver for the trigger field.
func (r *queryResolver) Trigger(ctx context.Context, id string) (*model.WebhookTrigger, error) {
	svc, err := r.triggerService()
	if err != nil {
		return nil, err
	}
	t, err := svc.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.toModelTrigger(t), nil
}

// Project is the resolver for the project field.
func (r *webhookTriggerResolver) Project(ctx context.Context, obj *model.WebhookTrigger) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// Job is the resolver for the job field.
func (r *webhookTriggerResolver) Job(ctx context.Context, obj *model.WebhookTrigger) (*model.Job, error) {
	return r.jobOfTrigger(ctx, obj)
}

// TotalCount is the resolver for the totalCount field.
func (r *webhookTriggerConnectionResolver) TotalCount(ctx context.Context, obj *model.WebhookTriggerConnection) (int, error) {
	return obj.Count(ctx)
}

// WebhookTrigger returns generated.WebhookTriggerResolver implementation.
func (r *Resolver) WebhookTrigger() generated.WebhookTriggerResolver {
	return &webhookTriggerResolver{r}
}

// WebhookTriggerConnection returns generated.WebhookTriggerConnectionResolver implementation.
func (r *Resolver) WebhookTriggerConnection() generated.WebhookTriggerConnectionResolver {
	return &webhookTriggerConnectionResolver{r}
}

type (
	webhookTriggerResolver           struct{ *Resolver }
	webhookTriggerConnectionResolver struct{ *Resolver }
)
