package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
)

// Project is the resolver for the project field.
func (r *approvalResolver) Project(ctx context.Context, obj *model.Approval) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// Run is the resolver for the run field.
func (r *approvalResolver) Run(ctx context.Context, obj *model.Approval) (*model.Run, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	x, err := e.GetRun(ctx, obj.RunID)
	if err != nil {
		return nil, err
	}
	return toModelRun(x), nil
}

// User is the resolver for the user field.
func (r *approvalVoteResolver) User(ctx context.Context, obj *model.ApprovalVote) (*model.User, error) {
	return r.userByID(ctx, obj.UserID)
}

// Approve is the resolver for the approve field.
func (r *mutationResolver) Approve(ctx context.Context, input model.DecideApprovalInput) (*model.DecideApprovalPayload, error) {
	return r.decide(ctx, input, approval.DecisionApprove)
}

// Reject is the resolver for the reject field.
func (r *mutationResolver) Reject(ctx context.Context, input model.DecideApprovalInput) (*model.DecideApprovalPayload, error) {
	return r.decide(ctx, input, approval.DecisionReject)
}

// Approvals is the resolver for the approvals field.
func (r *queryResolver) Approvals(ctx context.Context, projectID string, status []model.ApprovalStatus, first *int, after *string) (*model.ApprovalConnection, error) {
	svc, err := r.approvalService()
	if err != nil {
		return nil, err
	}
	p, err := svc.List(ctx, fromModelApprovalFilter(projectID, status), pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return r.toApprovalConnection(ctx, p), nil
}

// Approval is the resolver for the approval field.
func (r *queryResolver) Approval(ctx context.Context, id string) (*model.Approval, error) {
	svc, err := r.approvalService()
	if err != nil {
		return nil, err
	}
	a, err := svc.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.toModelApproval(ctx, a), nil
}

// Approvals is the resolver for the approvals field.
func (r *runResolver) Approvals(ctx context.Context, obj *model.Run) ([]*model.Approval, error) {
	if r.approvals == nil {
		return []*model.Approval{}, nil
	}
	as, err := r.approvals.RunApprovals(ctx, obj.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.Approval, len(as))
	for i, a := range as {
		out[i] = r.toModelApproval(ctx, a)
	}
	return out, nil
}

// Approval returns generated.ApprovalResolver implementation.
func (r *Resolver) Approval() generated.ApprovalResolver { return &approvalResolver{r} }

// ApprovalVote returns generated.ApprovalVoteResolver implementation.
func (r *Resolver) ApprovalVote() generated.ApprovalVoteResolver { return &approvalVoteResolver{r} }

type (
	approvalResolver     struct{ *Resolver }
	approvalVoteResolver struct{ *Resolver }
)
