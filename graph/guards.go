package graph

import (
	"github.com/jobgraph/jobgraph/core/guard"
	"github.com/jobgraph/jobgraph/graph/model"
)

// This file maps command guard rules and matches (core/guard) onto the API.

var severityToModel = map[guard.Severity]model.GuardSeverity{
	guard.SeverityBlock:   model.GuardSeverityBlock,
	guard.SeverityApprove: model.GuardSeverityApprove,
}

var severityFromModel = reverse(severityToModel)

func toModelGuardRule(r guard.Rule) *model.GuardRule {
	m := &model.GuardRule{
		ID: r.ID, Name: r.Name, Pattern: r.Pattern, Severity: severityToModel[r.Severity],
		ApproverRole: optional(r.ApproverRole), Description: r.Description, Enabled: r.Enabled, BuiltIn: r.BuiltIn,
	}
	if !r.BuiltIn {
		m.CreatedAt, m.UpdatedAt = &r.CreatedAt, &r.UpdatedAt
	}
	return m
}

func toModelGuardMatch(m guard.Match) *model.GuardMatch {
	return &model.GuardMatch{
		RuleID: m.RuleID, RuleName: m.RuleName, Severity: severityToModel[m.Severity],
		ApproverRole: optional(m.ApproverRole), Step: optional(m.Step), Field: m.Field, Excerpt: m.Excerpt,
	}
}

// severityPtr converts an optional severity; an unknown one cannot come
// through gqlgen's enum validation.
func severityPtr(s *model.GuardSeverity) *guard.Severity {
	if s == nil {
		return nil
	}
	v := severityFromModel[*s]
	return &v
}
