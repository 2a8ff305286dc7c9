package model

import "time"

// Approval is the API view of an approval (core/approval).
type Approval struct {
	ID          string
	StepRunID   *string
	Step        *string
	Role        string
	Required    int
	Status      ApprovalStatus
	Message     string
	Reason      string
	RequestedBy string
	Deadline    time.Time
	CreatedAt   time.Time
	DecidedAt   *time.Time
	Votes       []*ApprovalVote
	ProjectID   string `json:"-"`
	RunID       string `json:"-"`
	// CanDecide is whether the caller may vote now, computed when the
	// approval is converted (the caller is known then).
	CanDecide bool
}

// ProjectScope implements ProjectScoped.
func (a Approval) ProjectScope() string { return a.ProjectID }

// ApprovalVote is the API view of a vote.
type ApprovalVote struct {
	UserID   string
	Decision ApprovalDecision
	Comment  string
	At       time.Time
}
