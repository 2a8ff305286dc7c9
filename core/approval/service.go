package approval

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// RoleChecker says who holds which role; *rbac.Authorizer is one.
type RoleChecker interface {
	// HasRole reports whether the user holds role in the project (the
	// system admin holds every role).
	HasRole(userID, projectID, role string) bool
	// IsAdmin reports whether the user is the system admin.
	IsAdmin(userID string) bool
}

// Waker wakes the engine's loop of a run, so that it acts on a decided
// approval at once; *engine.Engine is one.
type Waker interface {
	Wake(runID string)
}

// Service decides approvals. The engine creates them and acts on their
// status (package engine); the Service records people's votes.
type Service struct {
	store Store
	roles RoleChecker
	waker Waker
	now   func() time.Time
}

// NewService returns a Service. waker may be nil (no engine to wake: the
// run's loop sees the decision at its next round); now nil is time.Now.
func NewService(store Store, roles RoleChecker, waker Waker, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, roles: roles, waker: waker, now: now}
}

// SetWaker sets the Waker, for wiring in which the engine is made after the
// Service.
func (s *Service) SetWaker(w Waker) { s.waker = w }

// Get returns an approval with its votes.
func (s *Service) Get(ctx context.Context, id string) (Approval, error) {
	if err := core.CheckID("id", core.KindApproval, id); err != nil {
		return Approval{}, err
	}
	return s.store.GetApproval(ctx, id)
}

// List returns a page of approvals, newest first.
func (s *Service) List(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Approval], error) {
	if err := page.Validate(); err != nil {
		return core.Page[Approval]{}, err
	}
	for _, st := range f.Statuses {
		if !st.Valid() {
			return core.Page[Approval]{}, core.Invalid("status", "unknown approval status %q", st)
		}
	}
	return s.store.ListApprovals(ctx, f, page)
}

// RunApprovals returns the approvals of a run, oldest first.
func (s *Service) RunApprovals(ctx context.Context, runID string) ([]Approval, error) {
	return s.store.RunApprovals(ctx, runID)
}

// CanDecide reports whether userID may approve a now: it is pending and
// before its deadline, they hold its role, have not voted yet (as far as
// a.Votes shows), and it is not their own run, unless they are the system
// admin.
func (s *Service) CanDecide(a Approval, userID string) bool {
	if userID == "" || a.Status != StatusPending || !s.now().Before(a.Deadline) || !s.roles.HasRole(userID, a.ProjectID, a.Role) {
		return false
	}
	if sameUser(a.RequestedBy, userID) && !s.roles.IsAdmin(userID) {
		return false
	}
	for _, v := range a.Votes {
		if v.UserID == userID {
			return false
		}
	}
	return true
}

// Decide records userID's decision on approval id, with a comment, and
// returns the approval as it is after it. The rules:
//
//   - the voter must hold the approval's Role in its project (the system
//     admin counts for any role): else *ForbiddenError naming the role;
//   - the run's requester may not approve their own run unless they are
//     the system admin (four eyes): *ForbiddenError; they may reject it;
//   - an approval that is no longer pending, or past its deadline, and a
//     second vote by the same user: *core.ConflictError;
//   - in one transaction the vote is stored and counted, and the approval
//     moves pending → rejected on the first reject, → approved once the
//     approvals reach Required.
//
// After the commit the run's engine loop is woken.
func (s *Service) Decide(ctx context.Context, id, userID string, d Decision, comment string) (Approval, error) {
	if err := core.CheckID("id", core.KindApproval, id); err != nil {
		return Approval{}, err
	}
	if !d.Valid() {
		return Approval{}, core.Invalid("decision", "must be approve or reject, got %q", d)
	}
	if len(comment) > MaxCommentLen {
		return Approval{}, core.Invalid("comment", "at most %d bytes, got %d", MaxCommentLen, len(comment))
	}
	if userID == "" {
		return Approval{}, core.ErrUnauthenticated
	}
	a, err := s.store.GetApproval(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	switch {
	case a.Status != StatusPending:
		return Approval{}, core.Conflict("id", "approval %s is already %s", id, a.Status)
	case !now.Before(a.Deadline):
		s.wake(ctx, a.RunID) // let the engine expire it
		return Approval{}, core.Conflict("id", "approval %s expired at %s", id, a.Deadline.Format(time.RFC3339))
	case !s.roles.HasRole(userID, a.ProjectID, a.Role):
		return Approval{}, &ForbiddenError{Message: "forbidden: deciding approval " + id + " requires the role " + a.Role + " in its project"}
	case d == DecisionApprove && sameUser(a.RequestedBy, userID) && !s.roles.IsAdmin(userID):
		return Approval{}, &ForbiddenError{Message: "forbidden: you started this run, so someone else must approve it (four eyes)"}
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		t, err := s.store.AddVote(ctx, id, Vote{UserID: userID, Decision: d, Comment: comment, At: now})
		if err != nil {
			return err
		}
		to := StatusPending
		switch {
		case t.Rejections > 0:
			to = StatusRejected
		case t.Approvals >= a.Required:
			to = StatusApproved
		}
		if to == StatusPending {
			return nil
		}
		ok, err := s.store.TransitionApproval(ctx, id, []Status{StatusPending}, to, now)
		if err != nil {
			return err
		}
		if !ok { // AddVote holds the row: only a bug gets here
			return errors.New("approval " + id + ": decided concurrently")
		}
		return nil
	})
	if err != nil {
		return Approval{}, err
	}
	s.wake(ctx, a.RunID)
	return s.store.GetApproval(ctx, id)
}

// sameUser reports whether a run's actor (a user ID, or "user:" and one, as
// the API records it) is userID.
func sameUser(actor, userID string) bool {
	return strings.TrimPrefix(actor, "user:") == userID
}

func (s *Service) wake(ctx context.Context, runID string) {
	if s.waker != nil {
		s.store.AfterCommit(ctx, func() { s.waker.Wake(runID) })
	}
}
