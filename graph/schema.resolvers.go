package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
)

// Node is the resolver for the node field.
func (r *queryResolver) Node(ctx context.Context, id string) (model.Node, error) {
	var (
		node model.Node
		err  error
	)
	// Each case assigns through a typed variable, so that a failed lookup
	// yields a nil interface rather than an interface holding a nil pointer.
	switch core.KindOf(id) {
	case core.KindProject:
		var p *model.Project
		if p, err = r.Project(ctx, id); err == nil {
			node = p
		}
	case core.KindHost:
		var h *model.Host
		if h, err = r.Host(ctx, id); err == nil {
			node = h
		}
	case core.KindHostGroup:
		var g *model.HostGroup
		if g, err = r.HostGroup(ctx, id); err == nil {
			node = g
		}
	case core.KindCredential:
		var c *model.Credential
		if c, err = r.Credential(ctx, id); err == nil {
			node = c
		}
	case core.KindJob:
		var j *model.Job
		if j, err = r.Job(ctx, id); err == nil {
			node = j
		}
	default:
		err = core.Invalid("id", "%q is not an ID jobgraph issued", id)
	}
	return node, err
}

// Mutation returns generated.MutationResolver implementation.
func (r *Resolver) Mutation() generated.MutationResolver { return &mutationResolver{r} }

// Query returns generated.QueryResolver implementation.
func (r *Resolver) Query() generated.QueryResolver { return &queryResolver{r} }

// Subscription returns generated.SubscriptionResolver implementation.
func (r *Resolver) Subscription() generated.SubscriptionResolver { return &subscriptionResolver{r} }

type (
	mutationResolver     struct{ *Resolver }
	queryResolver        struct{ *Resolver }
	subscriptionResolver struct{ *Resolver }
)
