// Package engine runs jobs. Engine (engine.go) is the doer: RunJob,
// AdHocRun and RetryRun validate a run's parameters, resolve its targets
// and store it; the admitter (admission.go) starts queued runs within their
// limits; a loop per active run (loop.go) applies Decide's decisions with
// the conditional transitions of package run and publishes ready tasks to
// the queue; dispatch.go answers the workers (core/worker) that claim and
// run them, and stores their logs, outputs and results; the rescuer there
// republishes tasks the queue lost and loses tasks whose worker went
// silent.
//
// The decision core of the job engine is Decide: it reads
// one run's State (plain data: the run, its step runs, their tasks) and
// returns the Decisions that move it on. It does nothing itself: no
// database, no queue, no plugins, no clock (now is an argument). The doer
// (the dispatcher loop) applies the decisions with the conditional
// transitions of package run, and tests record them (CONVENTIONS.md
// item 12).
//
// # Applying decisions
//
// Decide is pure and deterministic, and it never assumes that decisions
// of an earlier call were applied: deciding twice on the same state gives
// the same list, and re-applying a decision that was already applied is a
// conditional transition that changes nothing. Within one list, each
// decision is computed as if the earlier ones had been applied (StartStep
// then DispatchTasks for the same step; CancelTasks of pending tasks then
// FinishStep); the doer applies them in order and, if one is not applied,
// drops the rest and decides again. Steps are visited in a topological
// order (ties by Index, then Name), so a finish cascades through the DAG in
// one call (a → skipped b → skipped c).
//
// Decision kinds and their transitions:
//
//	StartStep(step)                  step pending → running
//	DispatchTasks(step, tasks)       tasks pending → queued (then published)
//	RetryTask(step, task, n, nb)     attempt n failed; attempt n+1 queued, not before nb
//	CancelTasks(step, reason, tasks) tasks pending|queued|running → canceled
//	SkipStep(step)                   step pending → skipped
//	FinishStep(step, status)         step → status (final)
//	FinishRun(status, reason)        run → status (final)
//	AwaitApproval(step)              approval step pending → waiting_approval, its approval created
//	QueueRun()                       run waiting_approval → queued (its approval was approved)
//
// # The run
//
//   - A final run gets no decision. A queued run gets none either unless it
//     is canceled or its state is invalid: starting a run is admission's
//     job (priority, limits), not Decide's. Deadline applies only to a
//     running run.
//   - Abort: when cancel is requested (Canceled, which wins), when a running
//     run's Deadline has passed (now ≥ Deadline), or when Check fails (an
//     unknown need, a cycle, a duplicate name: the run is failed rather than
//     left stuck), every pending, queued or running task is canceled
//     (CancelTasks with ReasonRunCanceled, ReasonDeadline or
//     ReasonInvalidState; the doer may record deadline victims as timed
//     out); no retry is made. A pending step finishes canceled at once
//     (its tasks were only pending). A running step finishes — canceled on
//     cancel or invalid state, timed_out on deadline — once none of its
//     tasks is queued or running any more. Then the run finishes canceled,
//     timed_out or failed, with the reason.
//   - Otherwise the run finishes once every step is final (skipped counts):
//     failed if a step failed (without ContinueOnError), timed out or was
//     canceled; else succeeded.
//
// # Approvals
//
// A step with job.Step.Approval has no task. When its needs are final and
// its condition holds, Decide emits AwaitApproval instead of StartStep: the
// doer moves it pending → waiting_approval and creates its approval
// (core/approval: Role, Required, Message, Deadline = now + Timeout) in
// the same transaction, then tells the Notifier (run.NoticeApproval). The
// run stays running; other branches go on. Decide reads the approval in
// StepState.Approval and finishes the step: approved → succeeded, rejected
// → failed, expired or pending past its Deadline → timed_out (the doer
// first moves the approval pending → expired; if a vote beat it, it decides
// again), canceled → canceled. An abort (cancel, the run's deadline,
// invalid state) finishes a waiting step canceled, and the doer cancels its
// approval. The loop wakes at the earliest pending approval's deadline, and
// approval.Service wakes it (Engine.Wake) after each decision.
//
// Before a run is stored, Options.Guard (nil: none) checks its spec and
// values, for RunJob, AdHocRun and RetryRun alike. A block verdict refuses
// the run with the guard's *guard.BlockedError (FORBIDDEN, naming the
// rule): nothing is stored. An approve verdict stores the run
// waiting_approval, with a run-level approval (Required 1, the rule's
// ApproverRole, Reason naming the rule and where it matched, Deadline 24h)
// in the same transaction, and tells the Notifier. Admission never sees it
// (it reads queued runs). Decide reads its approval in RunState.Approval:
// approved → QueueRun (then admission starts it as usual); rejected →
// the run ends canceled (ReasonApprovalRejected), its steps canceled;
// expired or past its deadline → timed_out (ReasonApprovalExpired); a
// cancel request → canceled. A held run never fails: it never started.
//
// # Admission
//
// Decide never starts a run: a run is created queued, and the admitter
// (admission.go; one goroutine of the Engine, woken when a run is created
// or ends, and every few seconds) starts it, queued → running with its
// StartedAt, then wakes its loop. Each pass reads the queued runs (oldest
// first, up to a few thousand) and the running runs counted per project and
// per job, and admits:
//
//   - higher Priority first;
//   - within a priority, fairly between projects, round-robin: the project
//     with the fewest running runs (counting those this pass admitted) goes
//     next, ties to the project whose oldest waiting run is older; within a
//     project, oldest first;
//   - a run whose project is at its MaxConcurrentRuns, or whose job is at
//     its Concurrency (the job's current version; runs count against it by
//     JobID, so ad-hoc runs never do), is skipped until a run ends. A
//     skipped run holds back nothing else: lower-priority runs of other
//     projects, and of other jobs of its project, still start. So one
//     project queueing many runs cannot starve another: while both have
//     runs waiting, their slots alternate.
//
// A queued run with a cancel request is not admitted; its loop finishes it
// canceled. A run's Deadline is StartedAt + the job's Timeout, so time spent
// queued does not count against it.
//
// # Steps and conditions
//
// A pending step waits until every step it needs is final, then:
//
//   - on_success (and ""): runs when every needed step succeeded. A needed
//     step that is skipped or canceled did not succeed, so skipping
//     cascades down on_success chains.
//   - on_failure: runs when at least one needed step failed or timed out.
//   - always: runs.
//
// A step that runs gets StartStep (and its first dispatch in the same
// list); one that does not gets CancelTasks(ReasonStepSkipped) for its
// pending tasks, then SkipStep.
//
// ContinueOnError: such a step finishes succeeded even when its tasks
// failed or it stopped at its threshold (the failures stay visible in its
// task counts, as run.StepSucceeded documents). It therefore counts as
// succeeded everywhere: its on_success dependants run, its on_failure
// dependants are skipped, and it does not fail the run. A ContinueOnError
// step recorded as failed anyway (by an older engine) is read the same way.
//
// A step with no task (the planner refuses empty targets, so this is a
// corner) finishes succeeded as soon as it starts.
//
// # Fan-out within a running step
//
// A task is in flight when it is queued, running, or awaiting a retry (its
// latest attempt failed and it will be retried: it keeps its slot). A task
// is settled when it is final and not awaiting a retry. A task failed for
// good when it is failed, timed_out, error or lost and not awaiting a retry.
//
//   - MaxParallel > 0: pending tasks are dispatched, in Tasks order, only
//     while fewer than MaxParallel are in flight.
//   - Rolling (BatchSize, else BatchPercent of the step's task count rounded
//     up, at least 1): batches are consecutive runs of Tasks; only the
//     pending tasks of the first batch that is not wholly settled are
//     dispatched, so a batch starts only when the previous one is settled.
//     MaxParallel applies inside a batch.
//   - Failure threshold: when the tasks failed for good exceed
//     FailureThreshold, or exceed FailurePercent of the step's tasks
//     (failed×100 > percent×total), the step stops: its pending tasks are
//     canceled (ReasonFailureThreshold), tasks awaiting a retry are not
//     retried and stay failed, queued and running ones finish, and then the
//     step finishes failed (succeeded with ContinueOnError).
//   - Verdict once every task is settled: failed if the threshold was
//     passed, if a task was canceled, or — when no threshold is set at all —
//     if any task failed for good. Failures within a set threshold are
//     tolerated: the step succeeds ("its tasks finished within the failure
//     threshold", run.StepSucceeded). ContinueOnError turns failed into
//     succeeded.
//
// # Retries
//
// A task whose latest attempt (Attempt, from 1) ended failed, error or lost
// with Retryable set and Attempt ≤ Retries is awaiting a retry: Decide
// emits RetryTask(step, task, Attempt, FinishedAt + RetryBackoff ×
// 2^(Attempt-1)) on every call until it is applied (the doer applies it
// once, conditioned on the attempt number, and delays delivery until
// NotBefore). timed_out is not retried. A task is tried at most Retries+1
// times.
//
// core/run stores failed as final and models a retry as running → queued
// with Attempt+1; the doer therefore presents a retryable failed attempt to
// Decide (Status failed, Retryable, FinishedAt) while the row is still
// running, and marks it failed for good only when no RetryTask comes.
package engine
