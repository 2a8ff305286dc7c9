package engine

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
)

// State is everything Decide looks at: one run, its step runs and their
// tasks, as the doer read them. It is plain data; Decide never changes it.
type State struct {
	Run   RunState
	Steps []StepState
}

// RunState is the part of a run that Decide needs.
type RunState struct {
	ID     string
	Status run.RunStatus
	// Canceled is set once someone asked for the run to be canceled; the
	// run keeps its status until Decide finishes it.
	Canceled bool
	// Deadline is when a running run times out; zero for none.
	Deadline time.Time
	// Approval is the run-level approval of a waiting_approval run (nil
	// otherwise, or when it cannot be found).
	Approval *ApprovalState
}

// ApprovalState is an approval (core/approval) as Decide sees it.
type ApprovalState struct {
	Status approval.Status
	// Deadline: a pending approval is expired from then on.
	Deadline time.Time
}

// StepState is one step run with its definition's scheduling fields.
type StepState struct {
	Name         string
	Index        int // position in the job's steps; orders ties
	Needs        []string
	Condition    job.Condition // "" means job.ConditionOnSuccess
	Strategy     job.Strategy
	Retries      int
	RetryBackoff time.Duration
	// ApprovalStep says the step waits for an approval instead of running
	// tasks; Approval is its approval once it waits (nil before).
	ApprovalStep bool
	Approval     *ApprovalState
	Status       run.StepStatus
	// Tasks in host order: rolling batches and dispatch follow this order.
	Tasks []TaskState
}

// TaskState is one task as Decide sees it.
//
// Status is the outcome of the task's latest attempt. A task whose attempt
// failed but that may be tried again is presented as failed, error or lost
// with Retryable set and FinishedAt the end of that attempt; Decide answers
// with RetryTask (see the package documentation on retries).
type TaskState struct {
	ID         string
	Status     run.TaskStatus
	Attempt    int // 1 for the first attempt; 0 is read as 1
	FinishedAt time.Time
	// Retryable says the failure of the latest attempt may be retried (set
	// by the executor's error, or by the step's policy for lost tasks).
	Retryable bool
}

// Kind names what a Decision asks for.
type Kind string

// The decision kinds. Each documents the fields of Decision it uses and the
// conditional transition the doer applies.
const (
	// KindStartStep: Step pending → running.
	KindStartStep Kind = "start_step"
	// KindDispatchTasks: Tasks of Step pending → queued, then published.
	KindDispatchTasks Kind = "dispatch_tasks"
	// KindRetryTask: Task of Step, whose attempt Attempt failed, is tried
	// again (attempt Attempt+1), not before NotBefore.
	KindRetryTask Kind = "retry_task"
	// KindCancelTasks: Tasks of Step (pending, queued or running) →
	// canceled, for Reason; queued and running ones are told to stop.
	KindCancelTasks Kind = "cancel_tasks"
	// KindSkipStep: Step pending → skipped (its condition is false).
	KindSkipStep Kind = "skip_step"
	// KindFinishStep: Step → StepStatus.
	KindFinishStep Kind = "finish_step"
	// KindFinishRun: the run → RunStatus.
	KindFinishRun Kind = "finish_run"
	// KindAwaitApproval: approval Step pending → waiting_approval, and its
	// approval created (pending) in the same transaction.
	KindAwaitApproval Kind = "await_approval"
	// KindQueueRun: the run waiting_approval → queued (its approval was
	// approved); admission starts it.
	KindQueueRun Kind = "queue_run"
)

// Reason says why tasks are canceled (KindCancelTasks) or why a run ended
// other than by its steps (KindFinishRun after an abort).
type Reason string

// The reasons.
const (
	ReasonRunCanceled      Reason = "run_canceled"      // cancel requested
	ReasonDeadline         Reason = "deadline"          // the run passed its deadline
	ReasonInvalidState     Reason = "invalid_state"     // Check failed: unknown need, cycle…
	ReasonFailureThreshold Reason = "failure_threshold" // the step stopped at its threshold
	ReasonStepSkipped      Reason = "step_skipped"      // the step's condition was false
	ReasonStepFinal        Reason = "step_final"        // leftovers of a step already final
	ReasonApprovalRejected Reason = "approval_rejected" // a held run's approval was rejected
	ReasonApprovalExpired  Reason = "approval_expired"  // a held run's approval expired
)

// Decision is one thing the doer should do. It is a single plain
// struct with a Kind rather than an interface, so that tests compare
// decision lists with one require.Equal; fields a Kind does not use are zero.
type Decision struct {
	Kind       Kind
	Step       string         // every kind but KindFinishRun
	Task       string         // KindRetryTask
	Attempt    int            // KindRetryTask: the attempt that failed
	NotBefore  time.Time      // KindRetryTask
	Tasks      []string       // KindDispatchTasks, KindCancelTasks
	StepStatus run.StepStatus // KindFinishStep
	RunStatus  run.RunStatus  // KindFinishRun
	Reason     Reason         // KindCancelTasks; KindFinishRun after an abort
}

// StartStep asks for step to move pending → running.
func StartStep(step string) Decision { return Decision{Kind: KindStartStep, Step: step} }

// DispatchTasks asks for tasks of step to move pending → queued.
func DispatchTasks(step string, tasks ...string) Decision {
	return Decision{Kind: KindDispatchTasks, Step: step, Tasks: tasks}
}

// RetryTask asks for task of step, whose attempt failed, to run again not
// before notBefore.
func RetryTask(step, task string, attempt int, notBefore time.Time) Decision {
	return Decision{Kind: KindRetryTask, Step: step, Task: task, Attempt: attempt, NotBefore: notBefore}
}

// CancelTasks asks for tasks of step to be canceled for reason.
func CancelTasks(step string, reason Reason, tasks ...string) Decision {
	return Decision{Kind: KindCancelTasks, Step: step, Reason: reason, Tasks: tasks}
}

// SkipStep asks for step to move pending → skipped.
func SkipStep(step string) Decision { return Decision{Kind: KindSkipStep, Step: step} }

// FinishStep asks for step to move to its final status st.
func FinishStep(step string, st run.StepStatus) Decision {
	return Decision{Kind: KindFinishStep, Step: step, StepStatus: st}
}

// FinishRun asks for the run to move to its final status st; reason is
// empty unless the run was aborted (canceled, deadline, invalid state).
func FinishRun(st run.RunStatus, reason Reason) Decision {
	return Decision{Kind: KindFinishRun, RunStatus: st, Reason: reason}
}

// AwaitApproval asks for approval step to move pending → waiting_approval.
func AwaitApproval(step string) Decision { return Decision{Kind: KindAwaitApproval, Step: step} }

// QueueRun asks for a waiting_approval run to move to queued.
func QueueRun() Decision { return Decision{Kind: KindQueueRun} }

// expired reports whether a is past its deadline at now, or marked so.
func (a *ApprovalState) expired(now time.Time) bool {
	return a.Status == approval.StatusExpired || (a.Status == approval.StatusPending && !now.Before(a.Deadline))
}

// ErrInvalidState is what Check reports, wrapped with the detail.
var ErrInvalidState = errors.New("invalid engine state")

// Check reports a State that Decide cannot schedule normally: an unknown
// status or condition, a duplicate step name or task ID, a need on an
// unknown step or on itself, or a cycle. job.Validate refuses all of these
// in a job; Decide fails a run whose state has one (ReasonInvalidState)
// rather than leave it stuck.
func Check(s State) error {
	_, err := order(s)
	return err
}

// order checks s and returns the indexes of s.Steps in a topological order,
// ties broken by Index then Name.
func order(s State) ([]int, error) {
	bad := func(format string, a ...any) ([]int, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidState, fmt.Sprintf(format, a...))
	}
	if !s.Run.Status.Valid() {
		return bad("run %q: unknown status %q", s.Run.ID, s.Run.Status)
	}
	byName := make(map[string]int, len(s.Steps))
	taskIDs := map[string]bool{}
	for i, st := range s.Steps {
		if _, dup := byName[st.Name]; dup {
			return bad("duplicate step %q", st.Name)
		}
		byName[st.Name] = i
		if !st.Status.Valid() {
			return bad("step %q: unknown status %q", st.Name, st.Status)
		}
		if st.Condition != "" && !slices.Contains(job.Conditions(), st.Condition) {
			return bad("step %q: unknown condition %q", st.Name, st.Condition)
		}
		for _, t := range st.Tasks {
			if taskIDs[t.ID] {
				return bad("duplicate task %q", t.ID)
			}
			taskIDs[t.ID] = true
			if !t.Status.Valid() {
				return bad("task %q: unknown status %q", t.ID, t.Status)
			}
		}
	}
	indegree := make([]int, len(s.Steps))
	dependants := make([][]int, len(s.Steps))
	for i, st := range s.Steps {
		for _, n := range st.Needs {
			j, ok := byName[n]
			if !ok {
				return bad("step %q needs unknown step %q", st.Name, n)
			}
			if j == i {
				return bad("step %q needs itself", st.Name)
			}
			indegree[i]++
			dependants[j] = append(dependants[j], i)
		}
	}
	less := func(a, b int) bool {
		if s.Steps[a].Index != s.Steps[b].Index {
			return s.Steps[a].Index < s.Steps[b].Index
		}
		return s.Steps[a].Name < s.Steps[b].Name
	}
	var ready, out []int
	for i := range s.Steps {
		if indegree[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		best := 0
		for k := range ready {
			if less(ready[k], ready[best]) {
				best = k
			}
		}
		i := ready[best]
		ready = slices.Delete(ready, best, best+1)
		out = append(out, i)
		for _, d := range dependants[i] {
			if indegree[d]--; indegree[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(out) != len(s.Steps) {
		return bad("steps form a cycle")
	}
	return out, nil
}

// abort is how a run ends when it does not end by its steps.
type abort struct {
	run    run.RunStatus
	step   run.StepStatus // for running steps; pending steps are always canceled
	reason Reason
}

// Decide returns what should happen next to the run in s at time now. It is
// pure and deterministic: the same (s, now) always yields the same list,
// and it never assumes that decisions from an earlier call were applied.
// Within one returned list, each decision is computed as if the earlier
// ones of the same list had been applied; the doer applies them in order
// and, when one is not applied (a conditional transition lost a race),
// drops the rest and decides again. The rules are in the package
// documentation.
func Decide(s State, now time.Time) []Decision {
	if !s.Run.Status.Valid() || s.Run.Status.Final() {
		return nil // final runs never change; an unknown status has no legal move
	}
	idx, err := order(s)
	var ab *abort
	switch {
	case err != nil:
		ab = &abort{run: run.RunFailed, step: run.StepCanceled, reason: ReasonInvalidState}
		idx = make([]int, len(s.Steps))
		for i := range idx {
			idx[i] = i
		}
	case s.Run.Canceled:
		ab = &abort{run: run.RunCanceled, step: run.StepCanceled, reason: ReasonRunCanceled}
	case s.Run.Status == run.RunRunning && !s.Run.Deadline.IsZero() && !now.Before(s.Run.Deadline):
		ab = &abort{run: run.RunTimedOut, step: run.StepTimedOut, reason: ReasonDeadline}
	case s.Run.Status == run.RunWaitingApproval:
		a := s.Run.Approval
		switch {
		case a == nil:
			ab = &abort{run: run.RunCanceled, step: run.StepCanceled, reason: ReasonInvalidState}
		case a.Status == approval.StatusApproved:
			return []Decision{QueueRun()}
		case a.Status == approval.StatusRejected || a.Status == approval.StatusCanceled:
			ab = &abort{run: run.RunCanceled, step: run.StepCanceled, reason: ReasonApprovalRejected}
		case a.expired(now):
			ab = &abort{run: run.RunTimedOut, step: run.StepCanceled, reason: ReasonApprovalExpired}
		default:
			return nil // pending: wait for votes or the deadline
		}
	case s.Run.Status != run.RunRunning:
		return nil // queued: admission (priority, limits) starts runs, not Decide
	}
	if ab != nil && ab.run == run.RunFailed && s.Run.Status == run.RunWaitingApproval {
		ab.run = run.RunCanceled // a held run never started: it cannot fail
	}
	d := &decider{s: s, ab: ab, now: now, status: make(map[string]run.StepStatus, len(s.Steps)), coe: map[string]bool{}}
	for _, st := range s.Steps {
		d.status[st.Name] = st.Status
		d.coe[st.Name] = st.Strategy.ContinueOnError
	}
	for _, i := range idx {
		d.step(&s.Steps[i])
	}
	d.finishRun()
	return d.out
}

type decider struct {
	s      State
	now    time.Time
	ab     *abort
	status map[string]run.StepStatus // as if this call's decisions were applied
	coe    map[string]bool
	out    []Decision
}

func (d *decider) emit(x Decision) { d.out = append(d.out, x) }

func (d *decider) step(st *StepState) {
	status := d.status[st.Name]
	switch {
	case status.Final():
		reason := ReasonStepFinal
		if d.ab != nil {
			reason = d.ab.reason
		}
		d.cancel(st, reason, nonFinal)
	case d.ab != nil:
		d.abortStep(st, status)
	case status == run.StepPending:
		d.pending(st)
	case status == run.StepRunning:
		d.running(st)
	case status == run.StepWaitingApproval:
		d.waiting(st)
	}
}

// waiting finishes an approval step whose approval was decided or expired.
// A waiting step without its approval (created in the same transaction, so
// never in practice) fails rather than wait forever.
func (d *decider) waiting(st *StepState) {
	a := st.Approval
	switch {
	case a == nil:
		d.finishStep(st, run.StepFailed)
	case a.Status == approval.StatusApproved:
		d.finishStep(st, run.StepSucceeded)
	case a.Status == approval.StatusRejected:
		d.finishStep(st, run.StepFailed)
	case a.Status == approval.StatusCanceled:
		d.finishStep(st, run.StepCanceled)
	case a.expired(d.now):
		d.finishStep(st, run.StepTimedOut)
	}
}

// cancel emits CancelTasks for the tasks of st that match, if any, and
// reports whether any task of st is still queued or running afterwards
// (pending ones are taken as canceled within the call).
func (d *decider) cancel(st *StepState, reason Reason, match func(run.TaskStatus) bool) (busy bool) {
	var ids []string
	for _, t := range st.Tasks {
		if match(t.Status) {
			ids = append(ids, t.ID)
		}
		if t.Status == run.TaskQueued || t.Status == run.TaskRunning {
			busy = true
		}
	}
	if len(ids) > 0 {
		d.emit(CancelTasks(st.Name, reason, ids...))
	}
	return busy
}

func nonFinal(s run.TaskStatus) bool  { return !s.Final() }
func isPending(s run.TaskStatus) bool { return s == run.TaskPending }

func (d *decider) abortStep(st *StepState, status run.StepStatus) {
	if d.cancel(st, d.ab.reason, nonFinal) {
		return // wait until queued and running tasks have stopped
	}
	final := d.ab.step
	if status == run.StepPending || status == run.StepWaitingApproval {
		final = run.StepCanceled // it never ran (an approval step has no task to time out)
	}
	d.finishStep(st, final)
}

func (d *decider) finishStep(st *StepState, final run.StepStatus) {
	d.emit(FinishStep(st.Name, final))
	d.status[st.Name] = final
}

// outcome of a needed step for its dependants' conditions.
func (d *decider) succeeded(name string) bool {
	st := d.status[name]
	return st == run.StepSucceeded || (st == run.StepFailed && d.coe[name])
}

func (d *decider) failed(name string) bool {
	st := d.status[name]
	return (st == run.StepFailed && !d.coe[name]) || st == run.StepTimedOut
}

func (d *decider) pending(st *StepState) {
	for _, n := range st.Needs {
		if !d.status[n].Final() {
			return
		}
	}
	var runs bool
	switch st.Condition {
	case job.ConditionAlways:
		runs = true
	case job.ConditionOnFailure:
		runs = slices.ContainsFunc(st.Needs, d.failed)
	default: // on_success
		runs = !slices.ContainsFunc(st.Needs, func(n string) bool { return !d.succeeded(n) })
	}
	if !runs {
		d.cancel(st, ReasonStepSkipped, isPending)
		d.emit(SkipStep(st.Name))
		d.status[st.Name] = run.StepSkipped
		return
	}
	if st.ApprovalStep {
		d.emit(AwaitApproval(st.Name))
		d.status[st.Name] = run.StepWaitingApproval
		return
	}
	d.emit(StartStep(st.Name))
	d.status[st.Name] = run.StepRunning
	d.running(st)
}

// awaitingRetry reports whether t's latest attempt failed and it may be
// tried again.
func awaitingRetry(st *StepState, t TaskState) bool {
	switch t.Status {
	case run.TaskFailed, run.TaskError, run.TaskLost:
		return t.Retryable && attempt(t) <= st.Retries
	}
	return false
}

func attempt(t TaskState) int { return max(t.Attempt, 1) }

// failedFinal reports whether t failed for good (retries aside).
func failedStatus(s run.TaskStatus) bool {
	switch s {
	case run.TaskFailed, run.TaskTimedOut, run.TaskError, run.TaskLost:
		return true
	}
	return false
}

// BatchSize is the number of tasks in each rolling batch of a step with
// total tasks, 0 when the step is not rolling. BatchSize wins over
// BatchPercent; a percentage is rounded up and is at least 1.
func BatchSize(s job.Strategy, total int) int {
	switch {
	case s.BatchSize > 0:
		return s.BatchSize
	case s.BatchPercent > 0:
		return max(1, (s.BatchPercent*total+99)/100)
	}
	return 0
}

// ThresholdExceeded reports whether failed tasks out of total pass the
// strategy's failure threshold (count or percentage, whichever is set;
// either passing is enough). With neither set it is never exceeded.
func ThresholdExceeded(s job.Strategy, failed, total int) bool {
	return (s.FailureThreshold > 0 && failed > s.FailureThreshold) ||
		(s.FailurePercent > 0 && failed*100 > s.FailurePercent*total)
}

// Backoff is the wait before retrying a task whose attempt (from 1) failed:
// base × 2^(attempt-1), saturating instead of overflowing.
func Backoff(base time.Duration, attempt int) time.Duration {
	if base <= 0 {
		return 0
	}
	b := base
	for i := 1; i < attempt; i++ {
		if b > time.Duration(1<<62)/2 {
			return time.Duration(1<<63 - 1)
		}
		b *= 2
	}
	return b
}

func (d *decider) running(st *StepState) {
	total := len(st.Tasks)
	var pending, busy, retrying, failed, canceled int
	for _, t := range st.Tasks {
		switch {
		case t.Status == run.TaskPending:
			pending++
		case t.Status == run.TaskQueued || t.Status == run.TaskRunning:
			busy++
		case awaitingRetry(st, t):
			retrying++
		case failedStatus(t.Status):
			failed++
		case t.Status == run.TaskCanceled:
			canceled++
		}
	}
	stopped := ThresholdExceeded(st.Strategy, failed, total)
	if stopped {
		// No new task, no retry: a task waiting for one stays failed.
		d.cancel(st, ReasonFailureThreshold, isPending)
		if busy == 0 {
			d.finishStep(st, d.verdict(st, true, failed+retrying, canceled))
		}
		return
	}
	for _, t := range st.Tasks {
		if awaitingRetry(st, t) {
			a := attempt(t)
			d.emit(RetryTask(st.Name, t.ID, a, t.FinishedAt.Add(Backoff(st.RetryBackoff, a))))
		}
	}
	if pending > 0 {
		d.dispatch(st, busy+retrying)
	}
	if pending == 0 && busy == 0 && retrying == 0 {
		d.finishStep(st, d.verdict(st, false, failed, canceled))
	}
}

func (d *decider) verdict(st *StepState, stopped bool, failed, canceled int) run.StepStatus {
	s := st.Strategy
	bad := stopped || canceled > 0 ||
		(failed > 0 && s.FailureThreshold == 0 && s.FailurePercent == 0)
	if bad && !s.ContinueOnError {
		return run.StepFailed
	}
	return run.StepSucceeded
}

func (d *decider) dispatch(st *StepState, inflight int) {
	slots := len(st.Tasks)
	if mp := st.Strategy.MaxParallel; mp > 0 {
		slots = mp - inflight
	}
	if slots <= 0 {
		return
	}
	candidates := st.Tasks
	if b := BatchSize(st.Strategy, len(st.Tasks)); b > 0 {
		// The current batch is the first one with a task not yet settled;
		// the batches after it wait until it is.
		for start := 0; start < len(st.Tasks); start += b {
			batch := st.Tasks[start:min(start+b, len(st.Tasks))]
			if slices.ContainsFunc(batch, func(t TaskState) bool {
				return !t.Status.Final() || awaitingRetry(st, t)
			}) {
				candidates = batch
				break
			}
		}
	}
	var ids []string
	for _, t := range candidates {
		if len(ids) == slots {
			break
		}
		if t.Status == run.TaskPending {
			ids = append(ids, t.ID)
		}
	}
	if len(ids) > 0 {
		d.emit(DispatchTasks(st.Name, ids...))
	}
}

func (d *decider) finishRun() {
	var failed bool
	for _, st := range d.s.Steps {
		status := d.status[st.Name]
		if !status.Final() {
			return
		}
		switch status {
		case run.StepFailed:
			failed = failed || !st.Strategy.ContinueOnError
		case run.StepTimedOut, run.StepCanceled:
			failed = true
		}
	}
	switch {
	case d.ab != nil:
		d.emit(FinishRun(d.ab.run, d.ab.reason))
	case failed:
		d.emit(FinishRun(run.RunFailed, ""))
	default:
		d.emit(FinishRun(run.RunSucceeded, ""))
	}
}
