package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/core/guard"
	"github.com/jobgraph/jobgraph/graph/model"
)

// CreateGuardRule is the resolver for the createGuardRule field.
func (r *mutationResolver) CreateGuardRule(ctx context.Context, input model.CreateGuardRuleInput) (*model.CreateGuardRulePayload, error) {
	rule, err := r.guards.Create(ctx, guard.CreateInput{
		ProjectID: input.ProjectID, Name: input.Name, Pattern: input.Pattern, Severity: severityFromModel[input.Severity],
		ApproverRole: deref(input.ApproverRole), Description: deref(input.Description), Enabled: input.Enabled,
		CreatedBy: callerFrom(ctx).principal.Actor(),
	})
	if err != nil {
		return nil, err
	}
	return &model.CreateGuardRulePayload{Rule: toModelGuardRule(rule)}, nil
}

// UpdateGuardRule is the resolver for the updateGuardRule field.
func (r *mutationResolver) UpdateGuardRule(ctx context.Context, input model.UpdateGuardRuleInput) (*model.UpdateGuardRulePayload, error) {
	rule, err := r.guards.Update(ctx, guard.UpdateInput{
		ID: input.ID, Name: input.Name, Pattern: input.Pattern, Severity: severityPtr(input.Severity),
		ApproverRole: input.ApproverRole, Description: input.Description, Enabled: input.Enabled,
	})
	if err != nil {
		return nil, err
	}
	return &model.UpdateGuardRulePayload{Rule: toModelGuardRule(rule)}, nil
}

// DeleteGuardRule is the resolver for the deleteGuardRule field.
func (r *mutationResolver) DeleteGuardRule(ctx context.Context, input model.DeleteGuardRuleInput) (*model.DeleteGuardRulePayload, error) {
	if err := r.guards.Delete(ctx, input.ID); err != nil {
		return nil, err
	}
	return &model.DeleteGuardRulePayload{DeletedID: input.ID}, nil
}

// SetGuardRuleEnabled is the resolver for the setGuardRuleEnabled field.
func (r *mutationResolver) SetGuardRuleEnabled(ctx context.Context, input model.SetGuardRuleEnabledInput) (*model.SetGuardRuleEnabledPayload, error) {
	rule, err := r.guards.SetEnabled(ctx, input.ProjectID, input.Rule, input.Enabled, callerFrom(ctx).principal.Actor())
	if err != nil {
		return nil, err
	}
	return &model.SetGuardRuleEnabledPayload{Rule: toModelGuardRule(rule)}, nil
}

// GuardRules is the resolver for the guardRules field.
func (r *queryResolver) GuardRules(ctx context.Context, projectID string) ([]*model.GuardRule, error) {
	rules, err := r.guards.Rules(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.GuardRule, len(rules))
	for i, rule := range rules {
		out[i] = toModelGuardRule(rule)
	}
	return out, nil
}

// CheckCommand is the resolver for the checkCommand field.
func (r *queryResolver) CheckCommand(ctx context.Context, projectID string, text string) ([]*model.GuardMatch, error) {
	matches, err := r.guards.CheckText(ctx, projectID, text)
	if err != nil {
		return nil, err
	}
	out := make([]*model.GuardMatch, len(matches))
	for i, m := range matches {
		out[i] = toModelGuardMatch(m)
	}
	return out, nil
}
