package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
)

// approvalStep makes a step an approval step, waiting with approval a (nil:
// not waiting yet).
func approvalStep(a *ApprovalState) stepOpt {
	return func(s *StepState) {
		s.ApprovalStep, s.Approval = true, a
		if a != nil {
			s.Status = run.StepWaitingApproval
		}
	}
}

func pendingUntil(d time.Time) *ApprovalState {
	return &ApprovalState{Status: approval.StatusPending, Deadline: d}
}

func decided(st approval.Status) *ApprovalState {
	return &ApprovalState{Status: st, Deadline: t0.Add(time.Hour)}
}

func TestDecideApprovals(t *testing.T) {
	t.Parallel()
	succeeded := stepStatus(run.StepSucceeded)
	failed := stepStatus(run.StepFailed)
	held := func(a *ApprovalState) func(*RunState) {
		return func(r *RunState) { r.Status, r.Approval = run.RunWaitingApproval, a }
	}
	later := t0.Add(time.Minute)
	tests := []struct {
		name  string
		state State
		want  []Decision
	}{
		// Approval steps.
		{"needs not final: the approval step waits for them",
			newState().step("build", 1, stepStatus(run.StepRunning), tasks(run.TaskRunning)).step("ok", 0, approvalStep(nil), needs("build")).state(), nil},
		{"needs met: await approval, no StartStep",
			newState().step("build", 1, succeeded, tasks(run.TaskSucceeded)).step("ok", 0, approvalStep(nil), needs("build")).step("deploy", 1, needs("ok")).state(),
			[]Decision{AwaitApproval("ok")}},
		{"condition false: the approval step is skipped, and on_success after it",
			newState().step("build", 1, failed, tasks(run.TaskFailed)).step("ok", 0, approvalStep(nil), needs("build")).step("deploy", 1, needs("ok")).state(),
			[]Decision{SkipStep("ok"), CancelTasks("deploy", ReasonStepSkipped, "deploy-1"), SkipStep("deploy"), FinishRun(run.RunFailed, "")}},
		{"on_failure approval step after a failure awaits",
			newState().step("build", 1, failed, tasks(run.TaskFailed)).step("ok", 0, approvalStep(nil), needs("build"), cond(job.ConditionOnFailure)).state(),
			[]Decision{AwaitApproval("ok")}},
		{"pending approval before its deadline: nothing",
			newState().step("ok", 0, approvalStep(pendingUntil(later))).step("deploy", 1, needs("ok")).state(), nil},
		{"approved: the step succeeds and the next starts",
			newState().step("ok", 0, approvalStep(decided(approval.StatusApproved))).step("deploy", 1, needs("ok")).state(),
			[]Decision{FinishStep("ok", run.StepSucceeded), StartStep("deploy"), DispatchTasks("deploy", "deploy-1")}},
		{"rejected: the step fails, and the run",
			newState().step("ok", 0, approvalStep(decided(approval.StatusRejected))).step("deploy", 1, needs("ok")).state(),
			[]Decision{FinishStep("ok", run.StepFailed), CancelTasks("deploy", ReasonStepSkipped, "deploy-1"), SkipStep("deploy"), FinishRun(run.RunFailed, "")}},
		{"past the deadline: timed out",
			newState().step("ok", 0, approvalStep(pendingUntil(t0))).state(),
			[]Decision{FinishStep("ok", run.StepTimedOut), FinishRun(run.RunFailed, "")}},
		{"expired: timed out",
			newState().step("ok", 0, approvalStep(decided(approval.StatusExpired))).state(),
			[]Decision{FinishStep("ok", run.StepTimedOut), FinishRun(run.RunFailed, "")}},
		{"waiting without its approval: fails rather than hang",
			newState().step("ok", 0, stepStatus(run.StepWaitingApproval), func(s *StepState) { s.ApprovalStep = true }).state(),
			[]Decision{FinishStep("ok", run.StepFailed), FinishRun(run.RunFailed, "")}},
		{"other branches go on while a step waits",
			newState().step("ok", 0, approvalStep(pendingUntil(later))).step("side", 2).state(),
			[]Decision{StartStep("side"), DispatchTasks("side", "side-1", "side-2")}},
		{"cancel: the waiting step is canceled",
			newState().run(func(r *RunState) { r.Canceled = true }).step("ok", 0, approvalStep(pendingUntil(later))).step("deploy", 1, needs("ok")).state(),
			[]Decision{FinishStep("ok", run.StepCanceled), CancelTasks("deploy", ReasonRunCanceled, "deploy-1"), FinishStep("deploy", run.StepCanceled), FinishRun(run.RunCanceled, ReasonRunCanceled)}},
		{"run deadline: the waiting step is canceled, the run times out",
			newState().run(func(r *RunState) { r.Deadline = t0 }).step("ok", 0, approvalStep(pendingUntil(later))).state(),
			[]Decision{FinishStep("ok", run.StepCanceled), FinishRun(run.RunTimedOut, ReasonDeadline)}},

		// Runs held by a command guard.
		{"held, pending: nothing", newState().run(held(pendingUntil(later))).step("a", 1).state(), nil},
		{"held, approved: queued (admission starts it)", newState().run(held(decided(approval.StatusApproved))).step("a", 1).state(),
			[]Decision{QueueRun()}},
		{"held, rejected: canceled", newState().run(held(decided(approval.StatusRejected))).step("a", 1).state(),
			[]Decision{CancelTasks("a", ReasonApprovalRejected, "a-1"), FinishStep("a", run.StepCanceled), FinishRun(run.RunCanceled, ReasonApprovalRejected)}},
		{"held, past the deadline: timed out", newState().run(held(pendingUntil(t0))).step("a", 1).state(),
			[]Decision{CancelTasks("a", ReasonApprovalExpired, "a-1"), FinishStep("a", run.StepCanceled), FinishRun(run.RunTimedOut, ReasonApprovalExpired)}},
		{"held, canceled: canceled even if approved", newState().run(held(decided(approval.StatusApproved))).run(func(r *RunState) { r.Canceled = true }).step("a", 1).state(),
			[]Decision{CancelTasks("a", ReasonRunCanceled, "a-1"), FinishStep("a", run.StepCanceled), FinishRun(run.RunCanceled, ReasonRunCanceled)}},
		{"held without an approval: canceled, not failed", newState().run(held(nil)).step("a", 1).state(),
			[]Decision{CancelTasks("a", ReasonInvalidState, "a-1"), FinishStep("a", run.StepCanceled), FinishRun(run.RunCanceled, ReasonInvalidState)}},
		{"held with an invalid state: canceled, not failed", newState().run(held(pendingUntil(later))).step("a", 1, needs("zz")).state(),
			[]Decision{CancelTasks("a", ReasonInvalidState, "a-1"), FinishStep("a", run.StepCanceled), FinishRun(run.RunCanceled, ReasonInvalidState)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Decide(tt.state, t0)
			require.Equal(t, tt.want, got)
			require.Equal(t, got, Decide(tt.state, t0), "deciding twice must give the same decisions")
			// Every transition asked for is one the tables allow.
			for _, d := range got {
				switch d.Kind {
				case KindFinishRun:
					require.True(t, tt.state.Run.Status.CanTransitionTo(d.RunStatus), "%s → %s", tt.state.Run.Status, d.RunStatus)
				case KindQueueRun:
					require.True(t, tt.state.Run.Status.CanTransitionTo(run.RunQueued))
				}
			}
		})
	}
}
