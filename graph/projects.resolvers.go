package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
)

// CreateProject is the resolver for the createProject field.
func (r *mutationResolver) CreateProject(ctx context.Context, input model.CreateProjectInput) (*model.CreateProjectPayload, error) {
	p, err := r.projects.Create(ctx, project.CreateInput{
		Name: input.Name, Description: deref(input.Description), MaxConcurrentRuns: deref(input.MaxConcurrentRuns),
		OwnerID: callerFrom(ctx).principal.User.ID,
	})
	if err != nil {
		return nil, err
	}
	return &model.CreateProjectPayload{Project: toModelProject(p)}, nil
}

// UpdateProject is the resolver for the updateProject field.
func (r *mutationResolver) UpdateProject(ctx context.Context, input model.UpdateProjectInput) (*model.UpdateProjectPayload, error) {
	p, err := r.projects.Update(ctx, project.UpdateInput{ID: input.ID, Name: input.Name, Description: input.Description,
		MaxConcurrentRuns: input.MaxConcurrentRuns})
	if err != nil {
		return nil, err
	}
	return &model.UpdateProjectPayload{Project: toModelProject(p)}, nil
}

// DeleteProject is the resolver for the deleteProject field.
func (r *mutationResolver) DeleteProject(ctx context.Context, input model.DeleteProjectInput) (*model.DeleteProjectPayload, error) {
	if err := r.projects.Delete(ctx, input.ID); err != nil {
		return nil, err
	}
	return &model.DeleteProjectPayload{DeletedID: input.ID}, nil
}

// Hosts is the resolver for the hosts field.
func (r *projectResolver) Hosts(ctx context.Context, obj *model.Project, first *int, after *string, filter *model.HostFilter) (*model.HostConnection, error) {
	return r.Query().Hosts(ctx, obj.ID, first, after, filter)
}

// HostGroups is the resolver for the hostGroups field.
func (r *projectResolver) HostGroups(ctx context.Context, obj *model.Project, first *int, after *string, filter *model.HostGroupFilter) (*model.HostGroupConnection, error) {
	return r.Query().HostGroups(ctx, obj.ID, first, after, filter)
}

// Credentials is the resolver for the credentials field.
func (r *projectResolver) Credentials(ctx context.Context, obj *model.Project, first *int, after *string, filter *model.CredentialFilter) (*model.CredentialConnection, error) {
	return r.Query().Credentials(ctx, obj.ID, first, after, filter)
}

// TotalCount is the resolver for the totalCount field.
func (r *projectConnectionResolver) TotalCount(ctx context.Context, obj *model.ProjectConnection) (int, error) {
	return obj.Count(ctx)
}

// Project is the resolver for the project field.
func (r *queryResolver) Project(ctx context.Context, id string) (*model.Project, error) {
	p, err := r.projects.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return toModelProject(p), nil
}

// Projects is the resolver for the projects field.
func (r *queryResolver) Projects(ctx context.Context, first *int, after *string, filter *model.ProjectFilter) (*model.ProjectConnection, error) {
	var f project.Filter
	if filter != nil {
		f.Search = deref(filter.Search)
	}
	if all, ids := r.authz.VisibleProjects(callerFrom(ctx).subject()); !all {
		f.IDs = ids
	}
	page, err := r.projects.List(ctx, f, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toProjectConnection(page, counter(f, r.projects.Count)), nil
}

// Project returns generated.ProjectResolver implementation.
func (r *Resolver) Project() generated.ProjectResolver { return &projectResolver{r} }

// ProjectConnection returns generated.ProjectConnectionResolver implementation.
func (r *Resolver) ProjectConnection() generated.ProjectConnectionResolver {
	return &projectConnectionResolver{r}
}

type (
	projectResolver           struct{ *Resolver }
	projectConnectionResolver struct{ *Resolver }
)
