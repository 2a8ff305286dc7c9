package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
)

// Actions is the resolver for the actions field.
func (r *executorResolver) Actions(ctx context.Context, obj *model.Executor) ([]*model.ExecutorAction, error) {
	info, err := r.executors.Describe(ctx, obj.Name)
	if err != nil {
		return nil, err
	}
	return toModelActions(info.Actions)
}

// Executors is the resolver for the executors field.
func (r *queryResolver) Executors(ctx context.Context) ([]*model.Executor, error) {
	list := r.executors.List()
	out := make([]*model.Executor, len(list))
	for i, st := range list {
		out[i] = toModelExecutor(st)
	}
	return out, nil
}

// Executor returns generated.ExecutorResolver implementation.
func (r *Resolver) Executor() generated.ExecutorResolver { return &executorResolver{r} }

type executorResolver struct{ *Resolver }
