package run

import (
	"errors"
	"fmt"
	"slices"
)

// ErrInvalidTransition reports a state change that the transition tables
// forbid. It is a programming error in the caller (the engine), never a
// race: a move that lost a race is reported by a TransitionResult that was
// not Applied.
var ErrInvalidTransition = errors.New("invalid transition")

// ---- runs ----

// RunStatus is the lifecycle state of a run. Allowed moves are in
// runTransitions and in the package documentation.
type RunStatus string

const (
	// RunQueued: created with all its step runs and tasks, waiting for the
	// engine to start it (priority and concurrency limits decide when).
	RunQueued RunStatus = "queued"
	// RunWaitingApproval: created held, because a command guard rule asked
	// for an approval before it may start; approved it becomes queued,
	// rejected or canceled it ends canceled, expired it ends timed out.
	RunWaitingApproval RunStatus = "waiting_approval"
	// RunRunning: the engine has started it; at least one step run has left
	// pending, or is about to.
	RunRunning RunStatus = "running"
	// RunSucceeded: final; every step run succeeded or was skipped by its
	// condition.
	RunSucceeded RunStatus = "succeeded"
	// RunFailed: final; a step run failed, or the run could not start (its
	// targets resolved to no host at start time, say).
	RunFailed RunStatus = "failed"
	// RunCanceled: final; someone canceled it, before or after it started.
	RunCanceled RunStatus = "canceled"
	// RunTimedOut: final; it ran past its deadline and was stopped.
	RunTimedOut RunStatus = "timed_out"
)

var runTransitions = map[RunStatus][]RunStatus{
	RunWaitingApproval: {RunQueued, RunCanceled, RunTimedOut},
	RunQueued:          {RunRunning, RunFailed, RunCanceled},
	RunRunning:         {RunSucceeded, RunFailed, RunCanceled, RunTimedOut},
}

// RunStatuses returns every run status, in lifecycle order.
func RunStatuses() []RunStatus {
	return []RunStatus{RunWaitingApproval, RunQueued, RunRunning, RunSucceeded, RunFailed, RunCanceled, RunTimedOut}
}

// Valid reports whether s is one of RunStatuses.
func (s RunStatus) Valid() bool { return slices.Contains(RunStatuses(), s) }

// Final reports whether s is a terminal status: one that never changes again.
func (s RunStatus) Final() bool { return s.Valid() && len(runTransitions[s]) == 0 }

// CanTransitionTo reports whether a run may move from s to next.
func (s RunStatus) CanTransitionTo(next RunStatus) bool {
	return slices.Contains(runTransitions[s], next)
}

// ---- step runs ----

// StepStatus is the lifecycle state of a step run. Allowed moves are in
// stepTransitions and in the package documentation.
type StepStatus string

const (
	// StepPending: waiting for the steps it needs, or for the run to start.
	StepPending StepStatus = "pending"
	// StepRunning: its tasks are being dispatched by its fan-out strategy.
	StepRunning StepStatus = "running"
	// StepWaitingApproval: an approval step whose needs are met and whose
	// condition holds, waiting for people to approve or reject it (or for
	// its approval to expire). It has no task.
	StepWaitingApproval StepStatus = "waiting_approval"
	// StepSucceeded: final; its tasks finished within the failure threshold
	// (an approval step: it was approved).
	StepSucceeded StepStatus = "succeeded"
	// StepFailed: final; its failures passed the threshold (and it does not
	// continue on error), or its approval was rejected.
	StepFailed StepStatus = "failed"
	// StepSkipped: final; its condition was false once the steps it needs
	// had finished (an on_failure step after success, say). No task ran.
	StepSkipped StepStatus = "skipped"
	// StepCanceled: final; the run was canceled, or failed before this step
	// could run.
	StepCanceled StepStatus = "canceled"
	// StepTimedOut: final; it ran past its step timeout or the run's
	// deadline, or its approval expired.
	StepTimedOut StepStatus = "timed_out"
)

var stepTransitions = map[StepStatus][]StepStatus{
	StepPending:         {StepRunning, StepWaitingApproval, StepSkipped, StepCanceled},
	StepRunning:         {StepSucceeded, StepFailed, StepCanceled, StepTimedOut},
	StepWaitingApproval: {StepSucceeded, StepFailed, StepCanceled, StepTimedOut},
}

// StepStatuses returns every step status, in lifecycle order.
func StepStatuses() []StepStatus {
	return []StepStatus{StepPending, StepRunning, StepWaitingApproval, StepSucceeded, StepFailed, StepSkipped, StepCanceled, StepTimedOut}
}

// Valid reports whether s is one of StepStatuses.
func (s StepStatus) Valid() bool { return slices.Contains(StepStatuses(), s) }

// Final reports whether s is a terminal status.
func (s StepStatus) Final() bool { return s.Valid() && len(stepTransitions[s]) == 0 }

// CanTransitionTo reports whether a step run may move from s to next.
func (s StepStatus) CanTransitionTo(next StepStatus) bool {
	return slices.Contains(stepTransitions[s], next)
}

// ---- tasks ----

// TaskStatus is the lifecycle state of a task: one step on one host. Allowed
// moves are in taskTransitions and in the package documentation.
type TaskStatus string

const (
	// TaskPending: created with its run; waiting for its step to start and
	// for a slot in the step's fan-out strategy.
	TaskPending TaskStatus = "pending"
	// TaskQueued: claimed by a dispatcher (ClaimTasks) and published to the
	// queue; no worker has started it yet.
	TaskQueued TaskStatus = "queued"
	// TaskRunning: a worker has started it and holds its lease.
	TaskRunning TaskStatus = "running"
	// TaskSucceeded: final; the action completed (exit code 0 for a command).
	TaskSucceeded TaskStatus = "succeeded"
	// TaskFailed: final; the action ran and reported failure (a non-zero exit
	// code, an HTTP error status), with no retry left.
	TaskFailed TaskStatus = "failed"
	// TaskCanceled: final; the run or step was canceled, or the step stopped
	// at its failure threshold before this task started.
	TaskCanceled TaskStatus = "canceled"
	// TaskTimedOut: final; it ran past the step's timeout and was stopped.
	TaskTimedOut TaskStatus = "timed_out"
	// TaskError: final; jobgraph could not carry the action out (parameters
	// that fail to render, a plugin that crashed, a credential that cannot be
	// opened), as opposed to the action itself failing.
	TaskError TaskStatus = "error"
	// TaskLost: final; its worker stopped heartbeating and the step's policy
	// was not to run it again.
	TaskLost TaskStatus = "lost"
)

// A retry, and the redelivery of a task whose worker died, move the task
// from running back to queued with Attempt incremented: the same row, so
// that final states stay final and a task is never counted twice.
var taskTransitions = map[TaskStatus][]TaskStatus{
	TaskPending: {TaskQueued, TaskCanceled, TaskError},
	TaskQueued:  {TaskRunning, TaskCanceled, TaskError, TaskLost},
	TaskRunning: {TaskQueued, TaskSucceeded, TaskFailed, TaskCanceled, TaskTimedOut, TaskError, TaskLost},
}

// TaskStatuses returns every task status, in lifecycle order.
func TaskStatuses() []TaskStatus {
	return []TaskStatus{TaskPending, TaskQueued, TaskRunning, TaskSucceeded, TaskFailed, TaskCanceled, TaskTimedOut, TaskError, TaskLost}
}

// Valid reports whether s is one of TaskStatuses.
func (s TaskStatus) Valid() bool { return slices.Contains(TaskStatuses(), s) }

// Final reports whether s is a terminal status.
func (s TaskStatus) Final() bool { return s.Valid() && len(taskTransitions[s]) == 0 }

// CanTransitionTo reports whether a task may move from s to next.
func (s TaskStatus) CanTransitionTo(next TaskStatus) bool {
	return slices.Contains(taskTransitions[s], next)
}

// CheckTransition reports an *invalid* conditional transition: to must be
// reachable from every state in from, and from must not be empty. Stores
// call it before they touch the database.
func CheckTransition[S interface {
	~string
	CanTransitionTo(S) bool
}](from []S, to S) error {
	if len(from) == 0 {
		return fmt.Errorf("transition to %s from no state: %w", to, ErrInvalidTransition)
	}
	for _, f := range from {
		if !f.CanTransitionTo(to) {
			return fmt.Errorf("%s → %s: %w", f, to, ErrInvalidTransition)
		}
	}
	return nil
}

// TransitionResult is the outcome of a conditional state change. Applied is
// false when the object was no longer in one of the expected states (a
// redelivered message, a concurrent cancel); Status is then the status it
// has, and nothing was changed. When Applied, Status is the new status.
type TransitionResult[S ~string] struct {
	Applied bool
	Status  S
}
