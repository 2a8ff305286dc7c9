package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
)

// ---- the run loop ----

// dispatchChunk is how many tasks one dispatch queues and publishes at a
// time.
const dispatchChunk = 500

// minRound is the least time between two rounds of one run's loop.
const minRound = 20 * time.Millisecond

func (e *Engine) loop(ar *activeRun) {
	defer e.wg.Done()
	ctx := e.ctx
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var last time.Time
	gap := minRound
	for {
		select {
		case <-ctx.Done():
			return
		case <-ar.wake:
		case <-timer.C:
		}
		// A busy run is woken by every task that ends; each round reads
		// the whole run, so rounds are spaced by minRound, or by twice the
		// last round's time for a large run (its loop then takes at most a
		// third of a core), and the wake-ups in between are served together.
		if wait := gap - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		done, next, err := e.drive(ctx, ar)
		gap = max(minRound, 2*time.Since(last))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.log.Warn("run loop", "run", ar.id, "err", err)
			next = e.o.Now().Add(time.Second) // the database may be back by then
		}
		if done {
			// Workers still stopping (a cancel in flight) find the run final
			// and their rows canceled: nothing is left for this loop.
			e.mu.Lock()
			delete(e.active, ar.id)
			e.mu.Unlock()
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if next.IsZero() {
			timer.Reset(time.Hour)
		} else {
			timer.Reset(max(time.Millisecond, next.Sub(e.o.Now())))
		}
	}
}

// loaded is a run's state as read from the store.
type loaded struct {
	run   run.Run
	spec  *job.Spec
	steps []run.StepRun
	tasks map[string][]run.Task // by step run ID, in ID (host) order
	byID  map[string]run.Task
	step  map[string]int // step name → index in spec.Steps
	// partial is set when tasks and byID were not read (a queued run).
	partial bool
	// runApproval is a held run's approval; approvals those of its approval
	// steps, by step run ID. Read only for a run that may have some.
	runApproval *approval.Approval
	approvals   map[string]approval.Approval
}

func (e *Engine) load(ctx context.Context, ar *activeRun) (*loaded, error) {
	r, err := e.o.Store.GetRun(ctx, ar.id)
	if err != nil {
		return nil, err
	}
	spec, err := e.spec(ctx, ar, r)
	if err != nil {
		return nil, err
	}
	steps, err := e.o.Store.StepRuns(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	l := &loaded{run: r, spec: spec, steps: steps, tasks: map[string][]run.Task{}, byID: map[string]run.Task{}, step: map[string]int{},
		approvals: map[string]approval.Approval{}}
	hasApprovals := r.Status == run.RunWaitingApproval
	for i, s := range spec.Steps {
		l.step[s.Name] = i
		hasApprovals = hasApprovals || s.Approval != nil
	}
	if hasApprovals && e.o.Approvals != nil {
		as, err := e.o.Approvals.RunApprovals(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			if a.StepRunID == "" {
				l.runApproval = &a
			} else {
				l.approvals[a.StepRunID] = a
			}
		}
	}
	if r.Status == run.RunQueued && r.CancelRequestedAt == nil {
		// A queued run only waits for the admitter, and Decide has nothing
		// for it: reading its tasks (10,000 of them for a large run, twice
		// the time of the round that stores them) would only delay its
		// start. drive reads them if Decide says otherwise.
		l.partial = true
		return l, nil
	}
	return l, e.loadTasks(ctx, l)
}

// loadTasks reads the tasks of l's run.
func (e *Engine) loadTasks(ctx context.Context, l *loaded) error {
	l.partial = false
	page := core.PageArgs{First: core.MaxPageSize}
	for {
		p, err := e.o.Store.ListTasks(ctx, run.TaskFilter{RunID: l.run.ID}, page)
		if err != nil {
			return err
		}
		for _, t := range p.Items {
			l.tasks[t.StepRunID] = append(l.tasks[t.StepRunID], t)
			l.byID[t.ID] = t
		}
		if !p.HasNext || len(p.Cursors) == 0 {
			return nil
		}
		page.After = p.Cursors[len(p.Cursors)-1]
	}
}

func (e *Engine) spec(ctx context.Context, ar *activeRun, r run.Run) (*job.Spec, error) {
	e.mu.Lock()
	s := ar.spec
	e.mu.Unlock()
	if s != nil {
		return s, nil
	}
	var spec job.Spec
	switch {
	case len(r.Spec) > 0:
		var err error
		if spec, err = job.DecodeSpec(r.Spec); err != nil {
			return nil, fmt.Errorf("run %s: spec: %w", r.ID, err)
		}
	case r.JobID != "": // a run stored before runs kept their spec
		v, err := e.o.Jobs.GetVersion(ctx, r.JobID, r.JobVersion)
		if err != nil {
			return nil, fmt.Errorf("job %s version %d: %w", r.JobID, r.JobVersion, err)
		}
		spec = v.Spec
	default:
		return nil, fmt.Errorf("run %s has no spec", r.ID)
	}
	e.mu.Lock()
	ar.spec = &spec
	e.mu.Unlock()
	return &spec, nil
}

// drive decides and applies until nothing is left to do now. It reports
// whether the run is final, and when it wants to be woken at the latest.
func (e *Engine) drive(ctx context.Context, ar *activeRun) (done bool, next time.Time, err error) {
	for range maxLoopRounds {
		l, err := e.load(ctx, ar)
		if err != nil {
			return false, time.Time{}, err
		}
		e.announce(ar, l)
		if l.run.Status.Final() {
			return true, time.Time{}, nil
		}
		now := e.o.Now().UTC()
		canceled := l.run.CancelRequestedAt != nil
		// A queued run waits for the admitter (admission.go), which pokes
		// it once it is running: Decide has nothing for it unless it is
		// canceled (or invalid), and then finishes it here.
		if !l.partial {
			e.pruneNotes(ar, l)
		}
		st := e.state(ar, l, canceled)
		decisions := Decide(st, now)
		if l.partial && len(decisions) > 0 {
			// Not expected of a queued run; decide again over its tasks.
			if err := e.loadTasks(ctx, l); err != nil {
				return false, time.Time{}, err
			}
			e.pruneNotes(ar, l)
			st = e.state(ar, l, canceled)
			decisions = Decide(st, now)
		}
		var again bool
		next = time.Time{}
		for _, d := range decisions {
			applied, wait, err := e.apply(ctx, ar, l, d, now)
			if err != nil {
				return false, time.Time{}, err
			}
			if !wait.IsZero() && (next.IsZero() || wait.Before(next)) {
				next = wait
			}
			if !applied {
				again = true
				break
			}
			if d.Kind == KindFinishRun {
				return true, time.Time{}, nil
			}
		}
		if !again && !progress(decisions) {
			deadlines := []time.Time{st.Run.Deadline} // wake at the deadline to time the run out
			if a := st.Run.Approval; a != nil && a.Status == approval.StatusPending {
				deadlines = append(deadlines, a.Deadline) // and when an approval expires
			}
			for _, ss := range st.Steps {
				if a := ss.Approval; a != nil && ss.Status == run.StepWaitingApproval && a.Status == approval.StatusPending {
					deadlines = append(deadlines, a.Deadline)
				}
			}
			for _, dl := range deadlines {
				if !dl.IsZero() && (next.IsZero() || dl.Before(next)) {
					next = dl
				}
			}
			return false, next, nil
		}
	}
	return false, e.o.Now().Add(time.Second), fmt.Errorf("run %s: no steady state after %d rounds", ar.id, maxLoopRounds)
}

// progress reports whether applying ds may have changed what Decide says.
func progress(ds []Decision) bool {
	for _, d := range ds {
		if d.Kind != KindRetryTask {
			return true
		}
	}
	return false
}

// pruneNotes forgets the notes of tasks that are no longer running.
func (e *Engine) pruneNotes(ar *activeRun, l *loaded) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id := range ar.notes {
		if t, ok := l.byID[id]; !ok || t.Status != run.TaskRunning {
			delete(ar.notes, id)
		}
	}
}

// state builds Decide's view of the run.
func (e *Engine) state(ar *activeRun, l *loaded, canceled bool) State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := State{Run: RunState{ID: l.run.ID, Status: l.run.Status, Canceled: canceled}}
	if a := l.runApproval; a != nil {
		s.Run.Approval = &ApprovalState{Status: a.Status, Deadline: a.Deadline}
	}
	if l.run.Status == run.RunRunning && l.run.StartedAt != nil && l.spec.Timeout > 0 {
		s.Run.Deadline = l.run.StartedAt.Add(l.spec.Timeout) // the job's timeout bounds the whole run
	}
	for _, sr := range l.steps {
		ss := StepState{Name: sr.Name, Index: sr.Index, Status: sr.Status}
		if i, ok := l.step[sr.Name]; ok {
			d := l.spec.Steps[i]
			ss.Needs, ss.Condition, ss.Strategy, ss.Retries, ss.RetryBackoff = d.Needs, d.Condition, d.Strategy, d.Retries, d.RetryBackoff
			ss.ApprovalStep = d.Approval != nil
		}
		if a, ok := l.approvals[sr.ID]; ok {
			ss.Approval = &ApprovalState{Status: a.Status, Deadline: a.Deadline}
		}
		for _, t := range l.tasks[sr.ID] {
			ts := TaskState{ID: t.ID, Status: t.Status, Attempt: t.Attempt}
			if t.FinishedAt != nil {
				ts.FinishedAt = *t.FinishedAt
			}
			if n, ok := ar.notes[t.ID]; ok && t.Status == run.TaskRunning {
				ts.Status, ts.FinishedAt, ts.Retryable = n.status, n.finished, n.retryable
			}
			ss.Tasks = append(ss.Tasks, ts)
		}
		s.Steps = append(s.Steps, ss)
	}
	return s
}

// stepSpec is the job's definition of step name.
func (l *loaded) stepSpec(name string) job.Step {
	if i, ok := l.step[name]; ok {
		return l.spec.Steps[i]
	}
	return job.Step{Name: name}
}

func (l *loaded) stepRun(name string) (run.StepRun, bool) {
	for _, s := range l.steps {
		if s.Name == name {
			return s, true
		}
	}
	return run.StepRun{}, false
}

// apply carries out one decision. It reports whether it was applied, and,
// for a retry not yet due, when it will be.
func (e *Engine) apply(ctx context.Context, ar *activeRun, l *loaded, d Decision, now time.Time) (bool, time.Time, error) {
	sr, _ := l.stepRun(d.Step)
	switch d.Kind {
	case KindStartStep:
		res, err := e.o.Store.TransitionStep(ctx, sr.ID, []run.StepStatus{run.StepPending}, run.StepRunning, run.StepPatch{StartedAt: &now})
		return res.Applied, time.Time{}, err
	case KindSkipStep:
		res, err := e.o.Store.TransitionStep(ctx, sr.ID, []run.StepStatus{run.StepPending}, run.StepSkipped, run.StepPatch{FinishedAt: &now})
		return res.Applied, time.Time{}, err
	case KindFinishStep:
		if err := e.settleNotes(ctx, ar, l.tasks[sr.ID], now); err != nil {
			return false, time.Time{}, err
		}
		from := []run.StepStatus{run.StepRunning, run.StepWaitingApproval}
		if d.StepStatus == run.StepCanceled {
			from = append(from, run.StepPending)
		}
		if a, ok := l.approvals[sr.ID]; ok && a.Status == approval.StatusPending {
			// The approval ends first: a vote that beat us wins, and the
			// step is decided again.
			if ok, err := e.settleApproval(ctx, a.ID, d.StepStatus == run.StepTimedOut, now); !ok || err != nil {
				return false, time.Time{}, err
			}
		}
		res, err := e.o.Store.TransitionStep(ctx, sr.ID, from, d.StepStatus, run.StepPatch{FinishedAt: &now})
		return res.Applied, time.Time{}, err
	case KindAwaitApproval:
		return e.awaitApproval(ctx, l, sr, now)
	case KindQueueRun:
		res, err := e.o.Store.TransitionRun(ctx, l.run.ID, []run.RunStatus{run.RunWaitingApproval}, run.RunQueued, run.RunPatch{})
		if err == nil && res.Applied {
			e.log.Info("run approved", "run", l.run.ID)
			e.runEvent(l.run, run.RunQueued)
			e.wakeAdmitter()
		}
		return res.Applied, time.Time{}, err
	case KindFinishRun:
		var all []run.Task
		for _, ts := range l.tasks {
			all = append(all, ts...)
		}
		if err := e.settleNotes(ctx, ar, all, now); err != nil {
			return false, time.Time{}, err
		}
		from := []run.RunStatus{run.RunRunning}
		if d.RunStatus != run.RunSucceeded && d.RunStatus != run.RunTimedOut {
			from = append(from, run.RunQueued)
		}
		if d.RunStatus == run.RunCanceled || d.RunStatus == run.RunTimedOut {
			from = append(from, run.RunWaitingApproval)
		}
		if a := l.runApproval; a != nil && a.Status == approval.StatusPending {
			if ok, err := e.settleApproval(ctx, a.ID, d.RunStatus == run.RunTimedOut, now); !ok || err != nil {
				return false, time.Time{}, err
			}
		}
		res, err := e.o.Store.TransitionRun(ctx, l.run.ID, from, d.RunStatus, run.RunPatch{FinishedAt: &now})
		if err == nil && res.Applied {
			e.log.Info("run finished", "run", l.run.ID, "status", d.RunStatus, "reason", d.Reason)
			e.runEvent(l.run, d.RunStatus)
			e.notify(ctx, run.Notice{Kind: run.NoticeFinished, Run: l.run, Status: d.RunStatus, Reason: string(d.Reason)})
			e.wakeAdmitter() // its slot is free
		}
		return res.Applied, time.Time{}, err
	case KindDispatchTasks:
		// Per dispatchChunk tasks, queued then published, so that workers
		// start on the first ones while the rest are being queued (10,000
		// tasks take about a second to queue on MariaDB). A failure leaves
		// the chunks before it queued and published.
		all := 0
		for chunk := range slices.Chunk(d.Tasks, dispatchChunk) {
			moved, err := e.o.Store.TransitionTasks(ctx, chunk, []run.TaskStatus{run.TaskPending}, run.TaskQueued,
				run.TaskPatch{At: now, QueuedAt: &now})
			if err != nil {
				return false, time.Time{}, err
			}
			refs := make([]taskAttempt, len(moved))
			for i, id := range moved {
				refs[i] = taskAttempt{id, l.byID[id].Attempt}
				e.taskEvent(l.run.ProjectID, l.byID[id], run.TaskQueued, l.byID[id].Attempt)
			}
			e.publish(ctx, l.run, l.stepSpec(d.Step), refs...)
			all += len(moved)
		}
		return all == len(d.Tasks), time.Time{}, nil
	case KindRetryTask:
		if now.Before(d.NotBefore) {
			return true, d.NotBefore, nil
		}
		attempt := d.Attempt + 1
		res, err := e.o.Store.TransitionTask(ctx, d.Task, []run.TaskStatus{run.TaskRunning}, run.TaskQueued,
			run.TaskPatch{IfAttempt: d.Attempt, At: now, Attempt: &attempt, QueuedAt: &now, WorkerID: ptr("")})
		if err != nil {
			return false, time.Time{}, err
		}
		e.mu.Lock()
		delete(ar.notes, d.Task)
		e.mu.Unlock()
		if res.Applied {
			e.log.Info("retrying task", "run", l.run.ID, "task", d.Task, "attempt", attempt)
			e.taskEvent(l.run.ProjectID, l.byID[d.Task], run.TaskQueued, attempt)
			e.publish(ctx, l.run, l.stepSpec(d.Step), taskAttempt{d.Task, attempt})
		}
		return res.Applied, time.Time{}, nil
	case KindCancelTasks:
		// Two batched transitions (canceled; timed out for the running
		// tasks of a run past its deadline), not one UPDATE per task: a
		// 10,000-task run is canceled in 40 statements.
		msg := string(d.Reason)
		var cancel, timeOut []string
		for _, id := range d.Tasks {
			if d.Reason == ReasonDeadline && l.byID[id].Status == run.TaskRunning {
				timeOut = append(timeOut, id)
			} else {
				cancel = append(cancel, id)
			}
		}
		var stop []string
		moved := 0
		for _, g := range []struct {
			ids  []string
			from []run.TaskStatus
			to   run.TaskStatus
		}{
			{cancel, []run.TaskStatus{run.TaskPending, run.TaskQueued, run.TaskRunning}, run.TaskCanceled},
			{timeOut, []run.TaskStatus{run.TaskRunning}, run.TaskTimedOut},
		} {
			if len(g.ids) == 0 {
				continue
			}
			done, err := e.o.Store.TransitionTasks(ctx, g.ids, g.from, g.to, run.TaskPatch{At: now, FinishedAt: &now, Error: &msg})
			if err != nil {
				return false, time.Time{}, err
			}
			for _, id := range done {
				e.taskEvent(l.run.ProjectID, l.byID[id], g.to, l.byID[id].Attempt)
				if l.byID[id].Status == run.TaskRunning {
					stop = append(stop, id)
				}
			}
			moved += len(done)
		}
		if len(stop) > 0 {
			if err := e.o.Queue.PublishCancel(queue.CancelNotice{Tasks: stop}); err != nil {
				e.log.Warn("tell workers to stop tasks", "run", l.run.ID, "err", err)
			}
		}
		e.mu.Lock()
		for _, id := range d.Tasks {
			delete(ar.notes, id)
		}
		e.mu.Unlock()
		return moved == len(d.Tasks), time.Time{}, nil
	}
	return false, time.Time{}, fmt.Errorf("unknown decision %q", d.Kind)
}

// settleApproval ends a pending approval whose step or run ends without
// it: expired past its deadline, else canceled. It reports false when the
// approval was decided meanwhile.
func (e *Engine) settleApproval(ctx context.Context, id string, expired bool, now time.Time) (bool, error) {
	to := approval.StatusCanceled
	if expired {
		to = approval.StatusExpired
	}
	return e.o.Approvals.TransitionApproval(ctx, id, []approval.Status{approval.StatusPending}, to, now)
}

// awaitApproval moves approval step sr pending → waiting_approval and
// creates its approval in the same transaction, then tells the Notifier.
func (e *Engine) awaitApproval(ctx context.Context, l *loaded, sr run.StepRun, now time.Time) (bool, time.Time, error) {
	if e.o.Approvals == nil {
		return false, time.Time{}, fmt.Errorf("run %s: step %s waits for an approval: the engine has no Options.Approvals", l.run.ID, sr.Name)
	}
	spec := l.stepSpec(sr.Name).Approval
	if spec == nil {
		return false, time.Time{}, fmt.Errorf("run %s: step %s is not an approval step", l.run.ID, sr.Name)
	}
	a := approval.Approval{
		ID: core.NewID(core.KindApproval), ProjectID: l.run.ProjectID, RunID: l.run.ID, StepRunID: sr.ID, Step: sr.Name,
		Role: spec.Role, Required: max(spec.Count, 1), Status: approval.StatusPending, Message: spec.Message,
		RequestedBy: l.run.Trigger.Actor, Deadline: now.Add(spec.Timeout), CreatedAt: now,
	}
	var applied bool
	err := e.o.Store.InTx(ctx, func(ctx context.Context) error {
		res, err := e.o.Store.TransitionStep(ctx, sr.ID, []run.StepStatus{run.StepPending}, run.StepWaitingApproval, run.StepPatch{StartedAt: &now})
		if err != nil || !res.Applied {
			return err
		}
		applied = true
		return e.o.Approvals.CreateApproval(ctx, a)
	})
	if err != nil || !applied {
		return false, time.Time{}, err
	}
	e.log.Info("step waits for approval", "run", l.run.ID, "step", sr.Name, "approval", a.ID, "role", a.Role, "required", a.Required)
	e.notify(ctx, run.Notice{Kind: run.NoticeApproval, Run: l.run, Status: l.run.Status, ApprovalID: a.ID, Step: sr.Name, Reason: a.Message})
	return true, time.Time{}, nil
}

// settleNotes makes the failed attempts of tasks final: no retry came.
func (e *Engine) settleNotes(ctx context.Context, ar *activeRun, tasks []run.Task, now time.Time) error {
	for _, t := range tasks {
		e.mu.Lock()
		n, ok := ar.notes[t.ID]
		delete(ar.notes, t.ID)
		e.mu.Unlock()
		if !ok || t.Status != run.TaskRunning {
			continue
		}
		res, err := e.o.Store.TransitionTask(ctx, t.ID, []run.TaskStatus{run.TaskRunning}, n.status,
			run.TaskPatch{At: now, ExitCode: n.exitCode, Error: &n.err, Outputs: n.outputs, FinishedAt: &n.finished})
		if err != nil {
			return err
		}
		if res.Applied {
			e.taskEvent(e.projectOf(ctx, t.RunID), t, n.status, t.Attempt)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
