package graph

import (
	"context"
	"strings"

	"github.com/jobgraph/jobgraph/core/notify"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
)

// CreateNotificationChannel is the resolver for the createNotificationChannel field.
func (r *mutationResolver) CreateNotificationChannel(ctx context.Context, input model.CreateNotificationChannelInput) (*model.CreateNotificationChannelPayload, error) {
	if r.notify == nil {
		return nil, errNoNotifications
	}
	cfg, err := channelConfigFromModel(input.Webhook, input.Slack, input.Email)
	if err != nil {
		return nil, err
	}
	enabled := input.Enabled == nil || *input.Enabled
	c, err := r.notify.CreateChannel(ctx, notify.CreateChannelInput{
		ProjectID: input.ProjectID, Name: input.Name, Events: eventsFromModel(input.Events), Enabled: enabled,
		Config: cfg, CreatedBy: callerFrom(ctx).principal.Actor(),
	})
	if err != nil {
		return nil, err
	}
	m, err := toModelChannel(c)
	return &model.CreateNotificationChannelPayload{Channel: m}, err
}

// UpdateNotificationChannel is the resolver for the updateNotificationChannel field.
func (r *mutationResolver) UpdateNotificationChannel(ctx context.Context, input model.UpdateNotificationChannelInput) (*model.UpdateNotificationChannelPayload, error) {
	if r.notify == nil {
		return nil, errNoNotifications
	}
	cfg, err := channelConfigFromModel(input.Webhook, input.Slack, input.Email)
	if err != nil {
		return nil, err
	}
	c, err := r.notify.UpdateChannel(ctx, notify.UpdateChannelInput{
		ID: input.ID, Name: input.Name, Events: eventsFromModel(input.Events), Enabled: input.Enabled, Config: cfg,
	})
	if err != nil {
		return nil, err
	}
	m, err := toModelChannel(c)
	return &model.UpdateNotificationChannelPayload{Channel: m}, err
}

// DeleteNotificationChannel is the resolver for the deleteNotificationChannel field.
func (r *mutationResolver) DeleteNotificationChannel(ctx context.Context, input model.DeleteNotificationChannelInput) (*model.DeleteNotificationChannelPayload, error) {
	if r.notify == nil {
		return nil, errNoNotifications
	}
	if err := r.notify.DeleteChannel(ctx, input.ID); err != nil {
		return nil, err
	}
	return &model.DeleteNotificationChannelPayload{DeletedID: input.ID}, nil
}

// TestNotificationChannel is the resolver for the testNotificationChannel field.
func (r *mutationResolver) TestNotificationChannel(ctx context.Context, input model.TestNotificationChannelInput) (*model.TestNotificationChannelPayload, error) {
	if r.notify == nil {
		return nil, errNoNotifications
	}
	sendErr, err := r.notify.TestChannel(ctx, input.ID)
	if err != nil {
		return nil, err
	}
	c, err := r.notify.GetChannel(ctx, input.ID)
	if err != nil {
		return nil, err
	}
	m, err := toModelChannel(c)
	if err != nil {
		return nil, err
	}
	p := &model.TestNotificationChannelPayload{Channel: m, Ok: sendErr == nil}
	if sendErr != nil {
		p.Error = optional(sendErr.Error())
	}
	return p, nil
}

// Project is the resolver for the project field.
func (r *notificationChannelResolver) Project(ctx context.Context, obj *model.NotificationChannel) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// NotificationChannels is the resolver for the notificationChannels field.
func (r *queryResolver) NotificationChannels(ctx context.Context, projectID string, first *int, after *string) (*model.NotificationChannelConnection, error) {
	if r.notify == nil {
		return nil, errNoNotifications
	}
	page, err := r.notify.ListChannels(ctx, projectID, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	total, err := r.notify.CountChannels(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return toChannelConnection(page, total)
}

// NotificationDeliveries is the resolver for the notificationDeliveries field.
func (r *queryResolver) NotificationDeliveries(ctx context.Context, projectID string, channelID *string, status *model.NotificationDeliveryStatus, first *int, after *string) (*model.NotificationDeliveryConnection, error) {
	if r.notify == nil {
		return nil, errNoNotifications
	}
	f := notify.DeliveryFilter{ProjectID: projectID, ChannelID: deref(channelID)}
	if status != nil {
		f.Status = notify.DeliveryStatus(strings.ToLower(string(*status)))
	}
	page, err := r.notify.ListDeliveries(ctx, f, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	total, err := r.notify.CountDeliveries(ctx, f)
	if err != nil {
		return nil, err
	}
	return toDeliveryConnection(page, total), nil
}

// NotificationChannel returns generated.NotificationChannelResolver implementation.
func (r *Resolver) NotificationChannel() generated.NotificationChannelResolver {
	return &notificationChannelResolver{r}
}

type notificationChannelResolver struct{ *Resolver }
