package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
)

// Project is the resolver for the project field.
func (r *jobResolver) Project(ctx context.Context, obj *model.Job) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// Yaml is the resolver for the yaml field.
func (r *jobResolver) Yaml(ctx context.Context, obj *model.Job, version *int) (string, error) {
	if version == nil || *version == obj.Version {
		doc, err := job.Export(job.Job{Name: obj.Name, Description: obj.Description, Spec: obj.Spec})
		return string(doc), err
	}
	doc, err := r.jobs.ExportYAML(ctx, obj.ID, *version)
	return string(doc), err
}

// Parameters is the resolver for the parameters field.
func (r *jobResolver) Parameters(ctx context.Context, obj *model.Job) ([]*model.JobParameter, error) {
	return toModelJobParameters(obj.Spec.Parameters), nil
}

// Steps is the resolver for the steps field.
func (r *jobResolver) Steps(ctx context.Context, obj *model.Job) ([]*model.JobStep, error) {
	return toModelJobSteps(obj.Spec.Steps), nil
}

// Versions is the resolver for the versions field.
func (r *jobResolver) Versions(ctx context.Context, obj *model.Job, first *int, after *string) (*model.JobVersionConnection, error) {
	page, err := r.jobs.ListVersions(ctx, obj.ID, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toJobVersionConnection(page), nil
}

// TotalCount is the resolver for the totalCount field.
func (r *jobConnectionResolver) TotalCount(ctx context.Context, obj *model.JobConnection) (int, error) {
	return obj.Count(ctx)
}

// ImportJob is the resolver for the importJob field.
func (r *mutationResolver) ImportJob(ctx context.Context, input model.ImportJobInput) (*model.ImportJobPayload, error) {
	j, err := r.jobs.ImportYAML(ctx, input.ProjectID, []byte(input.Yaml), callerFrom(ctx).principal.Actor())
	if err != nil {
		return nil, err
	}
	return &model.ImportJobPayload{Job: toModelJob(j)}, nil
}

// UpdateJob is the resolver for the updateJob field.
func (r *mutationResolver) UpdateJob(ctx context.Context, input model.UpdateJobInput) (*model.UpdateJobPayload, error) {
	def, err := job.Import([]byte(input.Yaml))
	if err != nil {
		return nil, err
	}
	j, err := r.jobs.Update(ctx, job.UpdateInput{
		ID: input.ID, Name: &def.Name, Description: &def.Description, Spec: &def.Spec,
		IfVersion: deref(input.IfVersion), UpdatedBy: callerFrom(ctx).principal.Actor(),
	})
	if err != nil {
		return nil, err
	}
	return &model.UpdateJobPayload{Job: toModelJob(j)}, nil
}

// DeleteJob is the resolver for the deleteJob field.
func (r *mutationResolver) DeleteJob(ctx context.Context, input model.DeleteJobInput) (*model.DeleteJobPayload, error) {
	if err := r.jobs.Delete(ctx, input.ID); err != nil {
		return nil, err
	}
	return &model.DeleteJobPayload{DeletedID: input.ID}, nil
}

// Jobs is the resolver for the jobs field.
func (r *queryResolver) Jobs(ctx context.Context, projectID string, first *int, after *string, filter *model.JobFilter) (*model.JobConnection, error) {
	f := job.Filter{ProjectID: projectID}
	if filter != nil {
		f.Search = deref(filter.Search)
	}
	page, err := r.jobs.List(ctx, f, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toJobConnection(page, counter(f, r.jobs.Count)), nil
}

// Job is the resolver for the job field.
func (r *queryResolver) Job(ctx context.Context, id string) (*model.Job, error) {
	j, err := r.jobs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return toModelJob(j), nil
}

// Job returns generated.JobResolver implementation.
func (r *Resolver) Job() generated.JobResolver { return &jobResolver{r} }

// JobConnection returns generated.JobConnectionResolver implementation.
func (r *Resolver) JobConnection() generated.JobConnectionResolver { return &jobConnectionResolver{r} }

type (
	jobResolver           struct{ *Resolver }
	jobConnectionResolver struct{ *Resolver }
)
