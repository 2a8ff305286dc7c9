package approval

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// MaxCommentLen bounds a vote's comment, in bytes.
const MaxCommentLen = 2000

// DefaultTimeout is how long a run held by a command guard waits for its
// approval.
const DefaultTimeout = 24 * time.Hour

// Status is the lifecycle state of an approval. Allowed moves are in
// transitions and in the package documentation.
type Status string

const (
	// StatusPending: waiting for votes, until Deadline.
	StatusPending Status = "pending"
	// StatusApproved: final; Required people approved.
	StatusApproved Status = "approved"
	// StatusRejected: final; someone rejected it.
	StatusRejected Status = "rejected"
	// StatusExpired: final; its deadline passed first.
	StatusExpired Status = "expired"
	// StatusCanceled: final; its run was canceled or aborted first.
	StatusCanceled Status = "canceled"
)

var transitions = map[Status][]Status{
	StatusPending: {StatusApproved, StatusRejected, StatusExpired, StatusCanceled},
}

// Statuses returns every approval status, in lifecycle order.
func Statuses() []Status {
	return []Status{StatusPending, StatusApproved, StatusRejected, StatusExpired, StatusCanceled}
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses(), s) }

// Final reports whether s never changes again.
func (s Status) Final() bool { return s.Valid() && len(transitions[s]) == 0 }

// CanTransitionTo reports whether an approval may move from s to next.
func (s Status) CanTransitionTo(next Status) bool { return slices.Contains(transitions[s], next) }

// Decision is one person's vote.
type Decision string

const (
	DecisionApprove Decision = "approve"
	DecisionReject  Decision = "reject"
)

// Decisions returns every decision.
func Decisions() []Decision { return []Decision{DecisionApprove, DecisionReject} }

// Valid reports whether d is one of Decisions.
func (d Decision) Valid() bool { return slices.Contains(Decisions(), d) }

// Approval is a request for people holding Role in the project to let a run
// go on: a run held before it starts by a command guard rule (StepRunID
// ""), or one of its approval steps.
type Approval struct {
	ID        string
	ProjectID string
	RunID     string
	// StepRunID and Step name the approval step; both "" for a run-level
	// approval.
	StepRunID string
	Step      string
	// Role is the project role a voter must hold; the system admin counts
	// for any role.
	Role string
	// Required is how many approvals let the run go on.
	Required int
	Status   Status
	// Message is the approval step's message to the approvers.
	Message string
	// Reason says why a run-level approval was asked for: the command guard
	// rule that matched, and where.
	Reason string
	// RequestedBy is the run's actor (Trigger.Actor): a user may not approve
	// their own run, unless they are the system admin.
	RequestedBy string
	Deadline    time.Time
	CreatedAt   time.Time
	DecidedAt   *time.Time
	// Votes in the order they were cast (filled by GetApproval and
	// RunApprovals; not by ListApprovals).
	Votes []Vote
}

// Vote is one person's decision on an approval.
type Vote struct {
	UserID   string
	Decision Decision
	Comment  string
	At       time.Time
}

// Tally counts an approval's votes.
type Tally struct {
	Approvals  int
	Rejections int
}

// Filter narrows the approval list. Zero fields do not filter.
type Filter struct {
	// ProjectIDs, when not nil, keeps only approvals of these projects; an
	// empty non-nil list keeps none.
	ProjectIDs []string
	Statuses   []Status
	RunID      string
}

// Store keeps approvals and their votes; *store.Store is one.
type Store interface {
	core.Transactor
	// CreateApproval stores a (pending) approval.
	CreateApproval(ctx context.Context, a Approval) error
	// GetApproval returns an approval with its votes.
	GetApproval(ctx context.Context, id string) (Approval, error)
	// ListApprovals orders newest first (CreatedAt, then ID), without votes.
	ListApprovals(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Approval], error)
	// RunApprovals returns the approvals of a run, oldest first, with their
	// votes.
	RunApprovals(ctx context.Context, runID string) ([]Approval, error)
	// AddVote records v on a pending approval and returns the tally after
	// it. It locks the approval's row first, so that concurrent votes are
	// counted one after the other. An approval that is not pending, or a
	// second vote by the same user, is a *core.ConflictError.
	AddVote(ctx context.Context, id string, v Vote) (Tally, error)
	// TransitionApproval moves an approval to "to" only if its status is
	// one of from, setting DecidedAt to at; it reports whether it did.
	TransitionApproval(ctx context.Context, id string, from []Status, to Status, at time.Time) (bool, error)
}

// CheckTransition reports a move the transition table forbids.
func CheckTransition(from []Status, to Status) error {
	if len(from) == 0 {
		return fmt.Errorf("approval → %s from no status: invalid transition", to)
	}
	for _, f := range from {
		if !f.CanTransitionTo(to) {
			return fmt.Errorf("approval %s → %s: invalid transition", f, to)
		}
	}
	return nil
}

// ForbiddenError refuses a vote: the voter lacks the role, or it is their
// own run. It Is core.ErrForbidden.
type ForbiddenError struct{ Message string }

func (e *ForbiddenError) Error() string { return e.Message }

// Is makes errors.Is(err, core.ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == core.ErrForbidden }
