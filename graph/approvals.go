package graph

import (
	"context"
	"errors"
	"strings"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/graph/model"
)

// errNoApprovals answers approval requests of a server built without them.
var errNoApprovals = errors.New("this server keeps no approvals")

func (r *Resolver) approvalService() (*approval.Service, error) {
	if r.approvals == nil {
		return nil, errNoApprovals
	}
	return r.approvals, nil
}

// decide records the caller's vote; the role and four-eyes checks are the
// core's (approval.Service.Decide), on top of APPROVAL_DECIDE checked by
// the schema's directive. The audit record (auditing.go) names the
// approval (input.id) and the action says the decision.
func (r *Resolver) decide(ctx context.Context, in model.DecideApprovalInput, d approval.Decision) (*model.DecideApprovalPayload, error) {
	svc, err := r.approvalService()
	if err != nil {
		return nil, err
	}
	a, err := svc.Decide(ctx, in.ID, callerFrom(ctx).subject().UserID, d, deref(in.Comment))
	if err != nil {
		return nil, err
	}
	return &model.DecideApprovalPayload{Approval: r.toModelApproval(ctx, a)}, nil
}

// userByID loads a user through the request's loader; nil once deleted.
func (r *Resolver) userByID(ctx context.Context, id string) (*model.User, error) {
	u, err := r.loadersFor(ctx).user.Load(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return toModelUser(u), nil
}

func (r *Resolver) toModelApproval(ctx context.Context, a approval.Approval) *model.Approval {
	out := &model.Approval{
		ID: a.ID, ProjectID: a.ProjectID, RunID: a.RunID, StepRunID: optional(a.StepRunID), Step: optional(a.Step),
		Role: a.Role, Required: a.Required, Status: model.ApprovalStatus(strings.ToUpper(string(a.Status))),
		Message: a.Message, Reason: a.Reason, RequestedBy: a.RequestedBy, Deadline: a.Deadline, CreatedAt: a.CreatedAt,
		DecidedAt: a.DecidedAt, Votes: make([]*model.ApprovalVote, len(a.Votes)),
	}
	for i, v := range a.Votes {
		out.Votes[i] = &model.ApprovalVote{UserID: v.UserID, Decision: model.ApprovalDecision(strings.ToUpper(string(v.Decision))), Comment: v.Comment, At: v.At}
	}
	if r.approvals != nil && a.Status == approval.StatusPending {
		// Votes are only filled where they were read (one approval, a
		// run's): an inbox row may offer a vote already cast, which
		// approve then refuses with CONFLICT.
		out.CanDecide = r.approvals.CanDecide(a, callerFrom(ctx).subject().UserID)
	}
	return out
}

func (r *Resolver) toApprovalConnection(ctx context.Context, p core.Page[approval.Approval]) *model.ApprovalConnection {
	return &model.ApprovalConnection{PageInfo: pageInfo(p), Edges: edges(p, func(c string, item approval.Approval) *model.ApprovalEdge {
		return &model.ApprovalEdge{Cursor: c, Node: r.toModelApproval(ctx, item)}
	})}
}

func fromModelApprovalFilter(projectID string, status []model.ApprovalStatus) approval.Filter {
	f := approval.Filter{ProjectIDs: []string{projectID}}
	for _, s := range status {
		f.Statuses = append(f.Statuses, approval.Status(strings.ToLower(string(s))))
	}
	return f
}
