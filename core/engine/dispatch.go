package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/events"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/job/template"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// This file is the servers' side of the worker protocol
// (core/queue/protocol.go): tasks go out as queue messages, and workers
// claim them, ship their output and report how they ended. Every report
// is applied with a transition conditioned on the task's status and
// attempt, so a late, repeated or duplicate one changes nothing. The
// rescuer covers what no report says: a queued task whose message the
// queue lost, and a running task whose worker went silent.

// serve starts answering the workers.
func (e *Engine) serve() error {
	ctx := e.ctx
	var svcs []*queue.Service
	for _, start := range []func() (*queue.Service, error){
		func() (*queue.Service, error) { return queue.Serve(ctx, e.o.Queue, queue.OpClaim, e.claim) },
		func() (*queue.Service, error) { return queue.Serve(ctx, e.o.Queue, queue.OpLogs, e.logs) },
		func() (*queue.Service, error) { return queue.Serve(ctx, e.o.Queue, queue.OpTouch, e.touch) },
		func() (*queue.Service, error) { return queue.Serve(ctx, e.o.Queue, queue.OpFinish, e.finish) },
	} {
		s, err := start()
		if err != nil {
			for _, s := range svcs {
				s.Stop()
			}
			return err
		}
		svcs = append(svcs, s)
	}
	e.mu.Lock()
	e.services = svcs
	e.mu.Unlock()
	return nil
}

// taskAttempt names one attempt of a task to publish.
type taskAttempt struct {
	id      string
	attempt int
}

// publish sends the messages of queued tasks of one step. A failure is
// logged, not returned: the tasks are queued in the database, and the
// rescuer publishes them again once they are stale.
func (e *Engine) publish(ctx context.Context, r run.Run, step job.Step, tasks ...taskAttempt) {
	if len(tasks) == 0 {
		return
	}
	ms := make([]queue.TaskMessage, len(tasks))
	for i, t := range tasks {
		ms[i] = queue.TaskMessage{TaskID: t.id, RunID: r.ID, ProjectID: r.ProjectID, Executor: step.Executor,
			Pool: step.Pool, Attempt: t.attempt, Priority: r.Priority}
	}
	if err := e.o.Queue.PublishAll(ctx, ms); err != nil {
		e.log.Warn("publish tasks; the rescuer will publish them again", "run", r.ID, "tasks", len(ms), "err", err)
	}
}

func drop(reason string, args ...any) queue.Assignment {
	return queue.Assignment{Reason: fmt.Sprintf(reason, args...)}
}

// messageOf is the stream sequence of the message in a holder
// ("<worker>@<seq>").
func messageOf(holder string) string {
	if i := strings.LastIndexByte(holder, '@'); i >= 0 {
		return holder[i+1:]
	}
	return ""
}

// claim answers a worker that received a task message.
func (e *Engine) claim(ctx context.Context, c queue.Claim) (queue.Assignment, error) {
	t, err := e.o.Store.GetTask(ctx, c.TaskID)
	if errors.Is(err, core.ErrNotFound) {
		return drop("no such task"), nil
	}
	if err != nil {
		return queue.Assignment{}, err
	}
	if t.Attempt != c.Attempt {
		return drop("the task is at attempt %d", t.Attempt), nil
	}
	switch {
	case t.Status == run.TaskQueued:
	case t.Status == run.TaskRunning && t.WorkerID == c.Holder:
		// A repeated claim (its answer was lost): the same answer again.
	case t.Status == run.TaskRunning && messageOf(t.WorkerID) == messageOf(c.Holder):
		// The message that started this attempt came back: the worker that
		// held it stopped without a word.
		e.lose(ctx, t, "lost: its worker "+strings.TrimSuffix(t.WorkerID, "@"+messageOf(t.WorkerID))+" stopped while it ran")
		return drop("lost with its previous worker"), nil
	default:
		return drop("the task is %s", t.Status), nil // done, or a duplicate message
	}
	a, failure, err := e.prepare(ctx, t)
	if err != nil {
		return queue.Assignment{}, err
	}
	now := e.o.Now().UTC()
	if failure != "" {
		_, err := e.o.Store.TransitionTask(ctx, t.ID, []run.TaskStatus{run.TaskQueued, run.TaskRunning}, run.TaskError,
			run.TaskPatch{IfAttempt: t.Attempt, At: now, Error: &failure, FinishedAt: &now})
		if err != nil {
			return queue.Assignment{}, err
		}
		e.taskEvent(e.projectOf(ctx, t.RunID), t, run.TaskError, t.Attempt)
		e.poke(t.RunID)
		return drop("%s", failure), nil
	}
	if t.Status == run.TaskQueued {
		var res run.TransitionResult[run.TaskStatus]
		err := e.gc.do(ctx, func(ctx context.Context) (err error) {
			res, err = e.o.Store.TransitionTask(ctx, t.ID, []run.TaskStatus{run.TaskQueued}, run.TaskRunning,
				run.TaskPatch{IfAttempt: t.Attempt, At: now, StartedAt: &now, WorkerID: &c.Holder})
			return err
		})
		if err != nil {
			return queue.Assignment{}, err
		}
		if !res.Applied {
			return drop("the task is %s", res.Status), nil
		}
		e.taskEvent(e.projectOf(ctx, t.RunID), t, run.TaskRunning, t.Attempt)
	}
	a.Run = true
	return a, nil
}

// prepare builds the assignment of a task: its rendered parameters, its
// target and credential. A problem that trying again cannot fix (a host
// deleted, a template that cannot render) is returned as failure, and the
// task ends in error.
func (e *Engine) prepare(ctx context.Context, t run.Task) (a queue.Assignment, failure string, err error) {
	ar := e.activate(t.RunID, nil)
	r, err := e.runOf(ctx, ar)
	if err != nil {
		return a, "", err
	}
	spec, err := e.spec(ctx, ar, r)
	if err != nil {
		return a, "", err
	}
	step, ok, err := e.stepOfTask(ctx, ar, spec, t)
	if err != nil {
		return a, "", err
	}
	if !ok {
		return a, "the step of this task is not in the run's spec", nil
	}
	params, secrets, err := e.render(ctx, ar, r, spec, step, t)
	if err != nil {
		return a, "render parameters: " + err.Error(), nil
	}
	task := sdk.Task{ID: fmt.Sprintf("%s.%d", t.ID, t.Attempt), Action: step.Action, Params: params, Attempt: t.Attempt, Timeout: step.Timeout}
	h, err := e.o.Inventory.GetHost(ctx, t.HostID)
	if errors.Is(err, core.ErrNotFound) {
		return a, "the host " + t.HostName + " no longer exists", nil
	}
	if err != nil {
		return a, "", err
	}
	task.Target = sdk.Target{ID: h.ID, Name: h.Name, Address: h.Address, OS: string(h.OS), Labels: h.Labels}
	if h.Port != nil {
		task.Target.Port = *h.Port
	}
	if h.DefaultCredentialID != "" {
		c, err := e.o.Inventory.GetCredential(ctx, h.DefaultCredentialID)
		if err != nil {
			return a, "credential of host " + h.Name + ": " + err.Error(), nil
		}
		sec, err := e.o.Inventory.OpenSecret(ctx, c.ID)
		if err != nil {
			return a, "credential " + c.Name + " cannot be opened", nil
		}
		task.Credential = &sdk.Credential{Kind: string(c.Kind), Username: c.Username, Secret: []byte(sec.Value), Passphrase: []byte(sec.Passphrase)}
		secrets = append(secrets, sec.Value, sec.Passphrase)
	}
	var seq int64
	if t.Attempt > 1 || t.StartedAt != nil { // else it never ran: no log yet
		if seq, err = e.o.Store.LastLogSeq(ctx, t.ID); err != nil {
			return a, "", err
		}
	}
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return s == "" })
	return queue.Assignment{Executor: step.Executor, Task: task, SeqBase: seq, Redact: secrets}, "", nil
}

// lose records that a running attempt was lost: the run loop retries it
// or ends it as the step's onLost policy and retries say.
func (e *Engine) lose(ctx context.Context, t run.Task, why string) {
	retryable := true
	if st, ok := e.taskStep(ctx, t); ok {
		retryable = st.OnLost != job.LostFail
	}
	e.note(t, note{status: run.TaskLost, attempt: t.Attempt, finished: e.o.Now().UTC(), retryable: retryable, err: why}, false)
}

// note records a failed attempt for the run loop to retry or settle, unless
// one is recorded already (and replace is false), and wakes the loop.
func (e *Engine) note(t run.Task, n note, replace bool) {
	ar := e.activate(t.RunID, nil)
	e.mu.Lock()
	if _, ok := ar.notes[t.ID]; replace || !ok {
		ar.notes[t.ID] = n
	}
	e.mu.Unlock()
	ar.poke()
}

// taskStep returns the definition of t's step, or false when it cannot be
// read.
func (e *Engine) taskStep(ctx context.Context, t run.Task) (job.Step, bool) {
	ar := e.activate(t.RunID, nil)
	r, err := e.runOf(ctx, ar)
	if err != nil {
		return job.Step{}, false
	}
	spec, err := e.spec(ctx, ar, r)
	if err != nil {
		return job.Step{}, false
	}
	st, ok, err := e.stepOfTask(ctx, ar, spec, t)
	return st, ok && err == nil
}

// poke wakes the loop of a run.
func (e *Engine) poke(runID string) { e.activate(runID, nil) }

// logs stores a batch of output lines. Lines of an attempt that is no
// longer the task's are dropped and the worker told to stop it.
func (e *Engine) logs(ctx context.Context, b queue.Logs) (queue.Stop, error) {
	ids := make([]string, 0, 8)
	for _, l := range b.Lines {
		if !slices.Contains(ids, l.TaskID) {
			ids = append(ids, l.TaskID)
		}
	}
	tasks, err := e.o.Store.GetTasks(ctx, ids)
	if err != nil {
		return queue.Stop{}, err
	}
	current := make(map[string]run.Task, len(tasks))
	for _, t := range tasks {
		current[t.ID] = t
	}
	var stop []string
	chunks := make([]run.LogChunk, 0, len(b.Lines))
	for _, l := range b.Lines {
		t, ok := current[l.TaskID]
		if !ok || t.Attempt != l.Attempt {
			if !slices.Contains(stop, l.TaskID) {
				stop = append(stop, l.TaskID)
			}
			continue
		}
		if !l.Stream.Valid() || l.Seq < 1 {
			return queue.Stop{}, fmt.Errorf("task %s: bad line (stream %q, seq %d)", l.TaskID, l.Stream, l.Seq)
		}
		chunks = append(chunks, run.LogChunk{TaskID: l.TaskID, Seq: l.Seq, Stream: l.Stream, Data: l.Data, At: l.At})
	}
	var full []string
	if len(chunks) > 0 {
		res, err := e.o.Store.AppendLogs(ctx, chunks, e.o.Runs.LogCap())
		if err != nil {
			return queue.Stop{}, err
		}
		e.logEvents(res.Written, current)
		full = res.Truncated
	}
	for _, t := range tasks {
		if t.Status.Final() && !slices.Contains(stop, t.ID) {
			stop = append(stop, t.ID)
		}
		// Its cap was reached by an earlier batch: what it still prints is
		// dropped here, so the worker need not ship it (issue 10,
		// benchmark 8: a task printing 200 MB shipped 190 MB past a 10 MiB
		// cap, all the way to this point, for nothing).
		if t.LogTruncated && !slices.Contains(full, t.ID) {
			full = append(full, t.ID)
		}
	}
	return queue.Stop{Tasks: stop, LogFull: full}, nil
}

// logEvents tells the subscribers of each task's log what was stored.
func (e *Engine) logEvents(written []run.LogChunk, tasks map[string]run.Task) {
	if e.o.Events == nil {
		return
	}
	for i := 0; i < len(written); {
		j := i
		for j < len(written) && written[j].TaskID == written[i].TaskID {
			j++
		}
		t := tasks[written[i].TaskID]
		e.o.Events.PublishLogs(events.LogEvent{RunID: t.RunID, TaskID: t.ID, Chunks: written[i:j]})
		i = j
	}
}

// touch moves the heartbeat of the tasks a worker runs, and names the ones
// it must stop: final (canceled), or at another attempt.
func (e *Engine) touch(ctx context.Context, tc queue.Touch) (queue.Stop, error) {
	ids := make([]string, len(tc.Tasks))
	for i, r := range tc.Tasks {
		ids[i] = r.TaskID
	}
	tasks, err := e.o.Store.GetTasks(ctx, ids)
	if err != nil {
		return queue.Stop{}, err
	}
	byID := make(map[string]run.Task, len(tasks))
	for _, t := range tasks {
		byID[t.ID] = t
	}
	var alive, stop []string
	for _, r := range tc.Tasks {
		t, ok := byID[r.TaskID]
		if ok && t.Attempt == r.Attempt && !t.Status.Final() {
			alive = append(alive, t.ID)
		} else {
			stop = append(stop, r.TaskID)
		}
	}
	if len(alive) > 0 {
		if err := e.o.Store.TouchTasks(ctx, alive, e.o.Now().UTC()); err != nil {
			return queue.Stop{}, err
		}
	}
	return queue.Stop{Tasks: stop}, nil
}

// finish records how an attempt ended. A failure that may be retried is
// noted for the run loop (the row stays running until it retries or gives
// up); anything else is final at once.
func (e *Engine) finish(ctx context.Context, f queue.Finish) (queue.Done, error) {
	if !f.Status.Final() || f.Status == run.TaskSucceeded && f.Retryable {
		return queue.Done{}, fmt.Errorf("task %s: %q is not a final status", f.TaskID, f.Status)
	}
	t, err := e.o.Store.GetTask(ctx, f.TaskID)
	if errors.Is(err, core.ErrNotFound) {
		return queue.Done{}, nil
	}
	if err != nil {
		return queue.Done{}, err
	}
	if t.Status != run.TaskRunning || t.Attempt != f.Attempt || t.WorkerID != f.Holder {
		return queue.Done{}, nil // settled already (canceled, lost): too late
	}
	at := f.At.UTC()
	if at.IsZero() {
		at = e.o.Now().UTC()
	}
	n := note{status: f.Status, attempt: f.Attempt, finished: at, retryable: f.Retryable, exitCode: f.ExitCode, err: f.Error, outputs: f.Outputs}
	if f.Status == run.TaskFailed || f.Status == run.TaskError || f.Status == run.TaskLost {
		st, ok := e.taskStep(ctx, t)
		if !ok {
			return queue.Done{}, fmt.Errorf("task %s: cannot read its step", t.ID)
		}
		if f.Status == run.TaskLost {
			n.retryable = st.OnLost != job.LostFail
		}
		if n.retryable && t.Attempt <= st.Retries {
			e.note(t, n, true)
			return queue.Done{}, nil
		}
	}
	var res run.TransitionResult[run.TaskStatus]
	err = e.gc.do(ctx, func(ctx context.Context) (err error) {
		res, err = e.o.Store.TransitionTask(ctx, t.ID, []run.TaskStatus{run.TaskRunning}, n.status,
			run.TaskPatch{IfAttempt: f.Attempt, At: at, ExitCode: n.exitCode, Error: &n.err, Outputs: n.outputs, FinishedAt: &at})
		return err
	})
	if err != nil {
		return queue.Done{}, err
	}
	if res.Applied {
		e.taskEvent(e.projectOf(ctx, t.RunID), t, n.status, t.Attempt)
	}
	e.poke(t.RunID)
	return queue.Done{}, nil
}

// rescuer acts on tasks without a sign of life for StaleAfter: it
// publishes a queued one again (the queue may have lost its message) and
// declares a running one lost. It starts after one StaleAfter, so that
// workers that kept running while this server was down can touch their
// tasks first.
func (e *Engine) rescuer() {
	defer e.wg.Done()
	every := max(e.o.StaleAfter/4, 10*time.Millisecond)
	wait := e.o.StaleAfter
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = every
		if err := e.rescue(e.ctx); err != nil && e.ctx.Err() == nil {
			e.log.Warn("rescuer", "err", err)
		}
	}
}

func (e *Engine) rescue(ctx context.Context) error {
	now := e.o.Now().UTC()
	stale, err := e.o.Store.StaleTasks(ctx, now.Add(-e.o.StaleAfter), 500)
	if err != nil {
		return err
	}
	var touched []string
	for _, t := range stale {
		switch t.Status {
		case run.TaskRunning:
			e.lose(ctx, t, fmt.Sprintf("lost: no sign of life from its worker for %s", e.o.StaleAfter))
		case run.TaskQueued:
			r, err := e.o.Store.GetRun(ctx, t.RunID)
			if err != nil {
				return err
			}
			st, _ := e.taskStep(ctx, t)
			e.log.Info("publishing a stale queued task again", "run", r.ID, "task", t.ID, "attempt", t.Attempt)
			e.publish(ctx, r, st, taskAttempt{t.ID, t.Attempt})
		}
		touched = append(touched, t.ID)
	}
	if len(touched) > 0 {
		return e.o.Store.TouchTasks(ctx, touched, now)
	}
	return nil
}

// render renders the step's parameters with the run's parameters and the
// outputs of the steps they refer to (finished: they are the step's
// ancestors).
func (e *Engine) render(ctx context.Context, ar *activeRun, r run.Run, spec *job.Spec, step job.Step, t run.Task) (json.RawMessage, []string, error) {
	v := template.Values{Params: map[string]any{}, Secrets: map[string]bool{}, Outputs: map[string]map[string]any{}}
	if len(r.Params) > 0 {
		if err := json.Unmarshal(r.Params, &v.Params); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range spec.Parameters {
		if p.Type == job.ParamHosts {
			if l, ok := v.Params[p.Name].([]any); ok {
				ids := make([]string, 0, len(l))
				for _, x := range l {
					s, _ := x.(string)
					ids = append(ids, s)
				}
				v.Params[p.Name] = ids
			}
		}
	}
	e.mu.Lock()
	for _, name := range r.SecretParams {
		v.Secrets[name] = true
		if s, ok := ar.secrets[name]; ok {
			v.Params[name] = s
		}
	}
	e.mu.Unlock()
	leaves, err := template.Scan(step.Params)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range leaves {
		for _, ref := range l.Refs {
			if ref.Kind != template.RefOutput {
				continue
			}
			if _, done := v.Outputs[ref.Step]; done {
				continue
			}
			tasks, err := e.stepOutputs(ctx, ar, r, ref.Step)
			if err != nil {
				return nil, nil, err
			}
			// The output of the task on the same host when there is one,
			// else the first task's that has it.
			outs := map[string]any{}
			for _, x := range tasks {
				for k, val := range x.outputs {
					if _, ok := outs[k]; !ok || x.hostID == t.HostID {
						outs[k] = val
					}
				}
			}
			v.Outputs[ref.Step] = outs
		}
	}
	params := step.Params
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage(`{}`)
	}
	return template.Render(params, v)
}
