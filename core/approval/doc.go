// Package approval keeps the approvals that hold runs: people holding a
// project role must approve before the run goes on.
//
// An Approval is made by the engine (core/engine), never through this
// package's Service, in the same transaction as the change that asks for
// it:
//
//   - a run-level approval (StepRunID "") when a command guard rule with
//     severity approve matched the run: the run is stored waiting_approval,
//     Required 1, Role the rule's ApproverRole, Reason naming the rule and
//     where it matched, Deadline 24h (DefaultTimeout) later;
//   - a step approval when an approval step's needs are met and its
//     condition holds: the step run moves pending → waiting_approval,
//     Required, Role, Message and Deadline come from the step's
//     job.Approval.
//
// # States
//
//	pending  → approved, rejected, expired, canceled
//	approved  final: Required people approved
//	rejected  final: someone rejected
//	expired   final: the deadline passed first (set by the engine)
//	canceled  final: the run was canceled or aborted first (by the engine)
//
// Service.Decide records one vote: in one transaction AddVote locks the
// row (a conditional UPDATE of the counts, which finds nothing once the
// approval is decided), stores the vote (one per person: a second is a
// CONFLICT), and the approval moves pending → rejected on the first
// reject, → approved once the approvals reach Required. After the commit
// the engine's loop of the run is woken (Waker) and acts on it: the step
// succeeds or fails, the held run becomes queued or ends canceled.
//
// # Who may vote
//
// The voter must hold the approval's Role in its project, or a role there
// that includes all of its permissions (rbac.Authorizer.HasRole): an owner
// counts for an approval that asks for operators, an operator does not for
// one that asks for owners, and the system admin counts for any. The run's requester (Trigger.Actor) may not approve
// their own run — four eyes — unless they are the system admin; they may
// reject it. The API also requires the approval:decide permission in the
// project (graph); the role check is here because every caller needs it.
package approval
