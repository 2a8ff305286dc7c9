package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/job/template"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// This file is the doer: Engine creates runs, drives each active run with
// Decide and applies the decisions with the conditional transitions of
// package run, and executes tasks in process on a bounded worker pool.
//
// One goroutine per active run loads the run's state, decides and applies;
// it is woken when a task finishes, when the run is canceled, and when a
// retry becomes due. The database holds the truth: the only things kept in
// memory are what the database has no column for yet — the cancel request,
// the values of secret parameters, and a failed attempt awaiting its retry
// (the row stays running until the retry or the final verdict, as the
// package documentation on retries says).

// Jobs is what the engine reads of jobs; *job.Service is one.
type Jobs interface {
	Get(ctx context.Context, id string) (job.Job, error)
	GetVersion(ctx context.Context, id string, version int) (job.Version, error)
}

// Inventory is what the engine reads of the inventory; *inventory.Service
// is one.
type Inventory interface {
	GetHost(ctx context.Context, id string) (inventory.Host, error)
	ListHosts(ctx context.Context, q inventory.HostQuery, page core.PageArgs) (core.Page[inventory.Host], error)
	GetGroup(ctx context.Context, id string) (inventory.HostGroup, error)
	GroupMembers(ctx context.Context, g inventory.HostGroup, page core.PageArgs) (core.Page[inventory.Host], error)
	GetCredential(ctx context.Context, id string) (inventory.Credential, error)
	OpenSecret(ctx context.Context, id string) (inventory.Secret, error)
}

// Executors runs tasks; *plugins/host.Host is one.
type Executors interface {
	Execute(ctx context.Context, name string, task sdk.Task, out sdk.Output) (sdk.Result, error)
}

// Options configure an Engine.
type Options struct {
	Store     run.Store
	Jobs      Jobs
	Inventory Inventory
	Executors Executors
	Logger    *slog.Logger
	// Workers bounds the tasks executing at once (default 64).
	Workers int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Runs configures logs (the per-task cap).
	Runs run.Options
}

// RunJobRequest asks for a run of a job's current version.
type RunJobRequest struct {
	// ProjectID, when set, must be the job's project.
	ProjectID string
	JobID     string
	// Params is a JSON object of parameter values (nil for none).
	Params   json.RawMessage
	Actor    string
	Priority int
}

// workerID names this process's in-process worker on task rows.
const workerID = "in-process"

// Log batching.
const (
	flushChunks   = 100
	flushInterval = 50 * time.Millisecond
)

// maxLoopRounds bounds the decide-apply rounds of one wake-up, so that a
// bug cannot spin a run's goroutine forever.
const maxLoopRounds = 1000

// Engine runs jobs.
type Engine struct {
	o   Options
	log *slog.Logger
	sem chan struct{}

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	started chan struct{}
	stopped bool
	active  map[string]*activeRun
	wg      sync.WaitGroup
}

// activeRun is the in-memory side of a run that is not final.
type activeRun struct {
	id   string
	wake chan struct{}

	// guarded by Engine.mu
	canceled bool
	secrets  map[string]string
	inflight map[string]context.CancelFunc // tasks handed to a worker
	notes    map[string]note               // failed attempts awaiting a retry or a verdict
	seq      map[string]int64              // last log seq per task
	spec     *job.Spec
}

// note is a failed attempt of a task whose row is still running.
type note struct {
	status    run.TaskStatus
	attempt   int
	finished  time.Time
	retryable bool
	exitCode  *int
	err       string
	outputs   map[string]string
}

// New returns an engine; Start starts it.
func New(o Options) *Engine {
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{o: o, log: o.Logger, sem: make(chan struct{}, o.Workers), started: make(chan struct{}), active: map[string]*activeRun{}}
}

// Start starts the engine and resumes the runs a previous process left
// queued or running. It returns at once.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.ctx != nil || e.stopped {
		e.mu.Unlock()
		return errors.New("engine: already started")
	}
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.mu.Unlock()
	if err := e.resume(ctx); err != nil {
		e.Stop()
		return err
	}
	close(e.started)
	return nil
}

// Started is closed once Start has succeeded.
func (e *Engine) Started() <-chan struct{} { return e.started }

// Stop stops the run loops and the workers and waits for them. Tasks that
// were executing are stopped and left running in the database; the next
// Start finds them and treats them as lost. It is idempotent and safe
// before Start.
func (e *Engine) Stop() {
	e.mu.Lock()
	e.stopped = true
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.wg.Wait()
}

func (e *Engine) resume(ctx context.Context) error {
	page := core.PageArgs{First: core.MaxPageSize}
	for {
		p, err := e.o.Store.ListRuns(ctx, run.Filter{Statuses: []run.RunStatus{run.RunQueued, run.RunRunning}}, page)
		if err != nil {
			return fmt.Errorf("engine: resume: %w", err)
		}
		for _, r := range p.Items {
			e.log.Info("resuming run", "run", r.ID, "status", r.Status)
			e.activate(r.ID, nil)
		}
		if !p.HasNext || len(p.Cursors) == 0 {
			return nil
		}
		page.After = p.Cursors[len(p.Cursors)-1]
	}
}

// activate starts the loop of run id if it has none, and wakes it.
func (e *Engine) activate(id string, secrets map[string]string) *activeRun {
	e.mu.Lock()
	defer e.mu.Unlock()
	ar, ok := e.active[id]
	if !ok {
		ar = &activeRun{id: id, wake: make(chan struct{}, 1), secrets: secrets,
			inflight: map[string]context.CancelFunc{}, notes: map[string]note{}, seq: map[string]int64{}}
		if e.ctx != nil && !e.stopped {
			e.active[id] = ar
			e.wg.Add(1)
			go e.loop(ar)
		}
	}
	ar.poke()
	return ar
}

func (ar *activeRun) poke() {
	select {
	case ar.wake <- struct{}{}:
	default:
	}
}

// RunJob validates the request, resolves every step's targets to hosts now,
// stores the run with its step runs and tasks, and starts it.
func (e *Engine) RunJob(ctx context.Context, req RunJobRequest) (run.Run, error) {
	if err := core.CheckID("jobId", core.KindJob, req.JobID); err != nil {
		return run.Run{}, err
	}
	if err := run.CheckPriority("priority", req.Priority); err != nil {
		return run.Run{}, err
	}
	j, err := e.o.Jobs.Get(ctx, req.JobID)
	if err != nil {
		return run.Run{}, err
	}
	if req.ProjectID != "" && req.ProjectID != j.ProjectID {
		return run.Run{}, core.NotFound("job", req.JobID)
	}
	values, secrets, err := checkParams(j.Spec.Parameters, req.Params)
	if err != nil {
		return run.Run{}, err
	}
	now := e.o.Now().UTC()
	r := run.Run{
		ID: core.NewID(core.KindRun), ProjectID: j.ProjectID, JobID: j.ID, JobVersion: j.Version, Name: j.Name,
		Status: run.RunQueued, Priority: req.Priority, Trigger: run.Trigger{Kind: run.TriggerManual, Actor: req.Actor},
		CreatedAt: now,
	}
	public := map[string]any{}
	for k, v := range values {
		if _, secret := secrets[k]; !secret {
			public[k] = v
		}
	}
	if r.Params, err = json.Marshal(public); err != nil {
		return run.Run{}, err
	}
	for k := range secrets {
		r.SecretParams = append(r.SecretParams, k)
	}
	slices.Sort(r.SecretParams)
	var steps []run.StepRun
	var tasks []run.Task
	for i, st := range j.Spec.Steps {
		hosts, err := e.resolveTargets(ctx, j.ProjectID, i, st.Targets, values)
		if err != nil {
			return run.Run{}, err
		}
		sr := run.StepRun{ID: core.NewID(core.KindStepRun), RunID: r.ID, Name: st.Name, Index: i, Status: run.StepPending}
		steps = append(steps, sr)
		for _, h := range hosts {
			tasks = append(tasks, run.Task{ID: core.NewID(core.KindTask), RunID: r.ID, StepRunID: sr.ID,
				HostID: h.ID, HostName: h.Name, Status: run.TaskPending, Attempt: 1, CreatedAt: now})
		}
	}
	if err := e.o.Store.CreateRun(ctx, r, steps, tasks); err != nil {
		return run.Run{}, err
	}
	// Inside a transaction (the API's audit), the run exists for the loop
	// only once it commits.
	e.o.Store.AfterCommit(ctx, func() { e.activate(r.ID, secrets) })
	return r, nil
}

// CancelRun asks for a run to be canceled: its tasks are stopped and it
// ends canceled. Canceling a final run changes nothing.
func (e *Engine) CancelRun(ctx context.Context, id string) (run.Run, error) {
	if err := core.CheckID("id", core.KindRun, id); err != nil {
		return run.Run{}, err
	}
	r, err := e.o.Store.GetRun(ctx, id)
	if err != nil {
		return run.Run{}, err
	}
	if r.Status.Final() {
		return r, nil
	}
	e.o.Store.AfterCommit(ctx, func() {
		ar := e.activate(id, nil)
		e.mu.Lock()
		ar.canceled = true
		for _, cancel := range ar.inflight {
			cancel()
		}
		e.mu.Unlock()
		ar.poke()
	})
	return r, nil
}

// checkParams validates raw against the job's parameters and fills in
// defaults. It returns every value by name, and the secret ones again.
func checkParams(params []job.Parameter, raw json.RawMessage) (map[string]any, map[string]string, error) {
	in := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&in); err != nil {
			return nil, nil, core.Invalid("params", "must be a JSON object")
		}
	}
	for name := range in {
		if !slices.ContainsFunc(params, func(p job.Parameter) bool { return p.Name == name }) {
			return nil, nil, core.Invalid("params."+name, "the job has no parameter %q", name)
		}
	}
	values := map[string]any{}
	secrets := map[string]string{}
	for _, p := range params {
		field := "params." + p.Name
		v, ok := in[p.Name]
		if !ok || v == nil {
			switch {
			case p.Default != nil:
				v = p.Default
			case p.Required:
				return nil, nil, core.Invalid(field, "required")
			default:
				continue
			}
		}
		switch p.Type {
		case job.ParamString, job.ParamSecret, job.ParamChoice:
			s, ok := v.(string)
			if !ok {
				return nil, nil, core.Invalid(field, "must be a string")
			}
			if p.Type == job.ParamChoice && !slices.Contains(p.Choices, s) {
				return nil, nil, core.Invalid(field, "must be one of %q", p.Choices)
			}
			if p.Type == job.ParamSecret {
				secrets[p.Name] = s
			}
			values[p.Name] = s
		case job.ParamNumber:
			var f float64
			switch n := v.(type) {
			case json.Number:
				var err error
				if f, err = n.Float64(); err != nil {
					return nil, nil, core.Invalid(field, "must be a number")
				}
			case float64:
				f = n
			case int:
				f = float64(n)
			default:
				return nil, nil, core.Invalid(field, "must be a number")
			}
			values[p.Name] = f
		case job.ParamBoolean:
			b, ok := v.(bool)
			if !ok {
				return nil, nil, core.Invalid(field, "must be true or false")
			}
			values[p.Name] = b
		case job.ParamHosts:
			var ids []string
			switch l := v.(type) {
			case []string:
				ids = slices.Clone(l)
			case []any:
				for _, x := range l {
					s, ok := x.(string)
					if !ok {
						return nil, nil, core.Invalid(field, "must be a list of host IDs")
					}
					ids = append(ids, s)
				}
			default:
				return nil, nil, core.Invalid(field, "must be a list of host IDs")
			}
			for _, id := range ids {
				if err := core.CheckID(field, core.KindHost, id); err != nil {
					return nil, nil, err
				}
			}
			values[p.Name] = ids
		default:
			return nil, nil, core.Invalid(field, "unknown parameter type %q", p.Type)
		}
	}
	return values, secrets, nil
}

// resolveTargets returns the hosts step i targets now, without duplicates,
// in the order they are named.
func (e *Engine) resolveTargets(ctx context.Context, projectID string, i int, t job.Targets, values map[string]any) ([]inventory.Host, error) {
	field := fmt.Sprintf("steps[%d].targets", i)
	var out []inventory.Host
	seen := map[string]bool{}
	add := func(h inventory.Host) {
		if !seen[h.ID] && h.ProjectID == projectID {
			seen[h.ID] = true
			out = append(out, h)
		}
	}
	byID := func(sub string, ids []string) error {
		for _, id := range ids {
			h, err := e.o.Inventory.GetHost(ctx, id)
			if errors.Is(err, core.ErrNotFound) || (err == nil && h.ProjectID != projectID) {
				return core.Invalid(field+"."+sub, "host %s does not exist", id)
			}
			if err != nil {
				return err
			}
			add(h)
		}
		return nil
	}
	if err := byID("hosts", t.Hosts); err != nil {
		return nil, err
	}
	if t.Param != "" {
		ids, _ := values[t.Param].([]string)
		if err := byID("param", ids); err != nil {
			return nil, err
		}
	}
	pages := func(list func(core.PageArgs) (core.Page[inventory.Host], error)) error {
		page := core.PageArgs{First: core.MaxPageSize}
		for {
			p, err := list(page)
			if err != nil {
				return err
			}
			for _, h := range p.Items {
				add(h)
			}
			if !p.HasNext || len(p.Cursors) == 0 {
				return nil
			}
			page.After = p.Cursors[len(p.Cursors)-1]
		}
	}
	for _, gid := range t.Groups {
		g, err := e.o.Inventory.GetGroup(ctx, gid)
		if errors.Is(err, core.ErrNotFound) || (err == nil && g.ProjectID != projectID) {
			return nil, core.Invalid(field+".groups", "host group %s does not exist", gid)
		}
		if err != nil {
			return nil, err
		}
		if err := pages(func(p core.PageArgs) (core.Page[inventory.Host], error) { return e.o.Inventory.GroupMembers(ctx, g, p) }); err != nil {
			return nil, err
		}
	}
	if t.Selector != "" {
		q := inventory.HostQuery{ProjectID: projectID, Selector: t.Selector}
		if err := pages(func(p core.PageArgs) (core.Page[inventory.Host], error) { return e.o.Inventory.ListHosts(ctx, q, p) }); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, core.Invalid(field, "resolve to no host")
	}
	return out, nil
}

// ---- the run loop ----

func (e *Engine) loop(ar *activeRun) {
	defer e.wg.Done()
	ctx := e.ctx
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ar.wake:
		case <-timer.C:
		}
		done, next, err := e.drive(ctx, ar)
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
	l := &loaded{run: r, spec: spec, steps: steps, tasks: map[string][]run.Task{}, byID: map[string]run.Task{}, step: map[string]int{}}
	for i, s := range spec.Steps {
		l.step[s.Name] = i
	}
	page := core.PageArgs{First: core.MaxPageSize}
	for {
		p, err := e.o.Store.ListTasks(ctx, run.TaskFilter{RunID: r.ID}, page)
		if err != nil {
			return nil, err
		}
		for _, t := range p.Items {
			l.tasks[t.StepRunID] = append(l.tasks[t.StepRunID], t)
			l.byID[t.ID] = t
		}
		if !p.HasNext || len(p.Cursors) == 0 {
			return l, nil
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
	if r.JobID == "" {
		return nil, fmt.Errorf("run %s has no job", r.ID)
	}
	v, err := e.o.Jobs.GetVersion(ctx, r.JobID, r.JobVersion)
	if err != nil {
		return nil, fmt.Errorf("job %s version %d: %w", r.JobID, r.JobVersion, err)
	}
	e.mu.Lock()
	ar.spec = &v.Spec
	e.mu.Unlock()
	return &v.Spec, nil
}

// drive decides and applies until nothing is left to do now. It reports
// whether the run is final, and when it wants to be woken at the latest.
func (e *Engine) drive(ctx context.Context, ar *activeRun) (done bool, next time.Time, err error) {
	for range maxLoopRounds {
		// What this process holds, read before the store: a task found
		// queued or running that is not in it belongs to no one.
		e.mu.Lock()
		held := make(map[string]bool, len(ar.inflight))
		for id := range ar.inflight {
			held[id] = true
		}
		canceled := ar.canceled
		e.mu.Unlock()

		l, err := e.load(ctx, ar)
		if err != nil {
			return false, time.Time{}, err
		}
		if l.run.Status.Final() {
			return true, time.Time{}, nil
		}
		now := e.o.Now().UTC()
		if l.run.Status == run.RunQueued && !canceled {
			// Admission: no limits yet, a run starts at once.
			if _, err := e.o.Store.TransitionRun(ctx, l.run.ID, []run.RunStatus{run.RunQueued}, run.RunRunning, run.RunPatch{StartedAt: &now}); err != nil {
				return false, time.Time{}, err
			}
			continue
		}
		e.adopt(ctx, ar, l, held, now)
		st := e.state(ar, l, canceled)
		decisions := Decide(st, now)
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

// adopt takes over the tasks no one holds: queued ones are handed to a
// worker, running ones (their worker died with the previous process) are
// lost, and retried if the step allows.
func (e *Engine) adopt(ctx context.Context, ar *activeRun, l *loaded, held map[string]bool, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id := range ar.notes {
		if t, ok := l.byID[id]; !ok || t.Status != run.TaskRunning {
			delete(ar.notes, id)
		}
	}
	for _, t := range l.byID {
		if held[t.ID] {
			continue
		}
		switch t.Status {
		case run.TaskQueued:
			e.submitLocked(ar, t.ID)
		case run.TaskRunning:
			if _, ok := ar.notes[t.ID]; !ok {
				ar.notes[t.ID] = note{status: run.TaskLost, attempt: t.Attempt, finished: now, retryable: true,
					err: "lost: its worker stopped while it ran"}
			}
		}
	}
}

// state builds Decide's view of the run.
func (e *Engine) state(ar *activeRun, l *loaded, canceled bool) State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := State{Run: RunState{ID: l.run.ID, Status: l.run.Status, Canceled: canceled}}
	for _, sr := range l.steps {
		ss := StepState{Name: sr.Name, Index: sr.Index, Status: sr.Status}
		if i, ok := l.step[sr.Name]; ok {
			d := l.spec.Steps[i]
			ss.Needs, ss.Condition, ss.Strategy, ss.Retries, ss.RetryBackoff = d.Needs, d.Condition, d.Strategy, d.Retries, d.RetryBackoff
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
		from := []run.StepStatus{run.StepRunning}
		if d.StepStatus == run.StepCanceled {
			from = append(from, run.StepPending)
		}
		res, err := e.o.Store.TransitionStep(ctx, sr.ID, from, d.StepStatus, run.StepPatch{FinishedAt: &now})
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
		res, err := e.o.Store.TransitionRun(ctx, l.run.ID, from, d.RunStatus, run.RunPatch{FinishedAt: &now})
		if err == nil && res.Applied {
			e.log.Info("run finished", "run", l.run.ID, "status", d.RunStatus, "reason", d.Reason)
		}
		return res.Applied, time.Time{}, err
	case KindDispatchTasks:
		all := true
		for _, id := range d.Tasks {
			res, err := e.o.Store.TransitionTask(ctx, id, []run.TaskStatus{run.TaskPending}, run.TaskQueued,
				run.TaskPatch{At: now, QueuedAt: &now, WorkerID: ptr(workerID)})
			if err != nil {
				return false, time.Time{}, err
			}
			if !res.Applied {
				all = false
				continue
			}
			e.submit(ar, id)
		}
		return all, time.Time{}, nil
	case KindRetryTask:
		if now.Before(d.NotBefore) {
			return true, d.NotBefore, nil
		}
		attempt := d.Attempt + 1
		res, err := e.o.Store.TransitionTask(ctx, d.Task, []run.TaskStatus{run.TaskRunning}, run.TaskQueued,
			run.TaskPatch{At: now, Attempt: &attempt, QueuedAt: &now, WorkerID: ptr(workerID)})
		if err != nil {
			return false, time.Time{}, err
		}
		e.mu.Lock()
		delete(ar.notes, d.Task)
		e.mu.Unlock()
		if res.Applied {
			e.log.Info("retrying task", "run", l.run.ID, "task", d.Task, "attempt", attempt)
			e.submit(ar, d.Task)
		}
		return res.Applied, time.Time{}, nil
	case KindCancelTasks:
		all := true
		msg := string(d.Reason)
		for _, id := range d.Tasks {
			to, from := run.TaskCanceled, []run.TaskStatus{run.TaskPending, run.TaskQueued, run.TaskRunning}
			if d.Reason == ReasonDeadline && l.byID[id].Status == run.TaskRunning {
				to, from = run.TaskTimedOut, []run.TaskStatus{run.TaskRunning}
			}
			res, err := e.o.Store.TransitionTask(ctx, id, from, to, run.TaskPatch{At: now, FinishedAt: &now, Error: &msg})
			if err != nil {
				return false, time.Time{}, err
			}
			e.mu.Lock()
			if cancel, ok := ar.inflight[id]; ok {
				cancel()
			}
			delete(ar.notes, id)
			e.mu.Unlock()
			all = all && res.Applied
		}
		return all, time.Time{}, nil
	}
	return false, time.Time{}, fmt.Errorf("unknown decision %q", d.Kind)
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
		if _, err := e.o.Store.TransitionTask(ctx, t.ID, []run.TaskStatus{run.TaskRunning}, n.status,
			run.TaskPatch{At: now, ExitCode: n.exitCode, Error: &n.err, Outputs: n.outputs, FinishedAt: &n.finished}); err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// ---- workers ----

func (e *Engine) submit(ar *activeRun, taskID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.submitLocked(ar, taskID)
}

// submitLocked hands a queued task to a worker; e.mu is held.
func (e *Engine) submitLocked(ar *activeRun, taskID string) {
	if _, ok := ar.inflight[taskID]; ok || e.ctx == nil || e.stopped {
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	if ar.canceled {
		cancel()
	}
	ar.inflight[taskID] = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() {
			e.mu.Lock()
			delete(ar.inflight, taskID)
			e.mu.Unlock()
			cancel()
			ar.poke()
		}()
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			return // canceled while waiting: the loop cancels the row
		}
		defer func() { <-e.sem }()
		if err := e.execute(ctx, ar, taskID); err != nil && e.ctx.Err() == nil {
			e.log.Warn("task", "run", ar.id, "task", taskID, "err", err)
		}
	}()
}

// execute runs one attempt of a queued task and records how it ended.
func (e *Engine) execute(ctx context.Context, ar *activeRun, taskID string) error {
	store := e.o.Store
	bg := context.WithoutCancel(ctx) // records outlive a canceled attempt
	t, err := store.GetTask(bg, taskID)
	if err != nil {
		return err
	}
	if t.Status != run.TaskQueued {
		return nil // someone else moved it on: nothing is due
	}
	r, err := store.GetRun(bg, t.RunID)
	if err != nil {
		return err
	}
	spec, err := e.spec(bg, ar, r)
	if err != nil {
		return err
	}
	steps, err := store.StepRuns(bg, r.ID)
	if err != nil {
		return err
	}
	var step job.Step
	var found bool
	for _, sr := range steps {
		if sr.ID == t.StepRunID {
			for _, s := range spec.Steps {
				if s.Name == sr.Name {
					step, found = s, true
				}
			}
		}
	}
	now := e.o.Now().UTC()
	fail := func(msg string) error {
		_, err := store.TransitionTask(bg, t.ID, []run.TaskStatus{run.TaskQueued}, run.TaskError,
			run.TaskPatch{At: now, Error: &msg, FinishedAt: &now})
		return err
	}
	if !found {
		return fail("the step of this task is not in the job version")
	}
	// Prerun: render the parameters, find the target and its credential.
	rendered, secrets, err := e.render(bg, ar, r, spec, steps, step, t)
	if err != nil {
		return fail("render parameters: " + err.Error())
	}
	task := sdk.Task{ID: fmt.Sprintf("%s.%d", t.ID, t.Attempt), Action: step.Action, Params: rendered, Attempt: t.Attempt, Timeout: step.Timeout}
	h, err := e.o.Inventory.GetHost(bg, t.HostID)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return fail("the host " + t.HostName + " no longer exists")
		}
		return err
	}
	task.Target = sdk.Target{ID: h.ID, Name: h.Name, Address: h.Address, OS: string(h.OS), Labels: h.Labels}
	if h.Port != nil {
		task.Target.Port = *h.Port
	}
	if h.DefaultCredentialID != "" {
		c, err := e.o.Inventory.GetCredential(bg, h.DefaultCredentialID)
		if err != nil {
			return fail("credential of host " + h.Name + ": " + err.Error())
		}
		sec, err := e.o.Inventory.OpenSecret(bg, c.ID)
		if err != nil {
			return fail("credential " + c.Name + " cannot be opened")
		}
		task.Credential = &sdk.Credential{Kind: string(c.Kind), Username: c.Username, Secret: []byte(sec.Value), Passphrase: []byte(sec.Passphrase)}
		if sec.Value != "" {
			secrets = append(secrets, sec.Value)
		}
	}
	seq, err := e.lastSeq(bg, ar, t.ID)
	if err != nil {
		return err
	}
	started := e.o.Now().UTC()
	res, err2 := store.TransitionTask(bg, t.ID, []run.TaskStatus{run.TaskQueued}, run.TaskRunning,
		run.TaskPatch{At: started, StartedAt: &started, WorkerID: ptr(workerID)})
	if err2 != nil || !res.Applied {
		return err2
	}
	execCtx := ctx
	if step.Timeout > 0 {
		var cancel context.CancelFunc
		execCtx, cancel = context.WithTimeout(ctx, step.Timeout)
		defer cancel()
	}
	out := newOutput(e, t.ID, seq, secrets)
	result, xerr := e.o.Executors.Execute(execCtx, step.Executor, task, out)
	out.close()
	e.mu.Lock()
	ar.seq[t.ID] = out.lastSeq()
	e.mu.Unlock()
	if e.ctx.Err() != nil {
		return nil // the engine is stopping: the next start finds the task lost
	}

	// Postrun: record how the attempt ended.
	end := e.o.Now().UTC()
	n := note{attempt: t.Attempt, finished: end, outputs: out.outputs()}
	timedOut := errors.Is(execCtx.Err(), context.DeadlineExceeded)
	switch {
	case xerr != nil:
		// A plugin that crashed took the attempt with it, not the target's
		// answer: trying again (on the restarted plugin) may well work.
		retryable := sdk.IsRetryable(xerr) || errors.Is(xerr, sdk.ErrPluginExited)
		n.status, n.retryable, n.err = run.TaskError, retryable, redact(xerr.Error(), secrets)
		if ctx.Err() != nil {
			n.status = run.TaskCanceled
		} else if timedOut {
			n.status = run.TaskTimedOut
		}
	default:
		n.exitCode = &result.ExitCode
		n.err = redact(result.Error, secrets)
		n.retryable = result.Retryable
		switch result.Status {
		case sdk.StatusSucceeded:
			n.status = run.TaskSucceeded
		case sdk.StatusFailed:
			n.status = run.TaskFailed
		case sdk.StatusTimedOut:
			n.status = run.TaskTimedOut
		case sdk.StatusCanceled:
			n.status = run.TaskCanceled
			if timedOut {
				n.status = run.TaskTimedOut
			}
		default:
			n.status = run.TaskError
		}
	}
	if (n.status == run.TaskFailed || n.status == run.TaskError) && n.retryable && t.Attempt <= step.Retries {
		// The row stays running until the loop retries it or gives up.
		e.mu.Lock()
		ar.notes[t.ID] = n
		e.mu.Unlock()
		return nil
	}
	_, err = store.TransitionTask(bg, t.ID, []run.TaskStatus{run.TaskRunning}, n.status,
		run.TaskPatch{At: end, ExitCode: n.exitCode, Error: &n.err, Outputs: n.outputs, FinishedAt: &end})
	return err
}

// render renders the step's parameters with the run's parameters and the
// outputs of the finished steps (the output of the task on the same host
// when there is one, else the first task's that has it).
func (e *Engine) render(ctx context.Context, ar *activeRun, r run.Run, spec *job.Spec, steps []run.StepRun, step job.Step, t run.Task) (json.RawMessage, []string, error) {
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
	for _, sr := range steps {
		if !sr.Status.Final() {
			continue
		}
		p, err := e.o.Store.ListTasks(ctx, run.TaskFilter{RunID: r.ID, StepRunID: sr.ID}, core.PageArgs{First: core.MaxPageSize})
		if err != nil {
			return nil, nil, err
		}
		outs := map[string]any{}
		for _, x := range p.Items {
			for k, val := range x.Outputs {
				if _, ok := outs[k]; !ok || x.HostID == t.HostID {
					outs[k] = val
				}
			}
		}
		v.Outputs[sr.Name] = outs
	}
	params := step.Params
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage(`{}`)
	}
	return template.Render(params, v)
}

// lastSeq is the last log sequence number stored for a task, so that a
// new attempt goes on from it.
func (e *Engine) lastSeq(ctx context.Context, ar *activeRun, taskID string) (int64, error) {
	e.mu.Lock()
	seq, ok := ar.seq[taskID]
	e.mu.Unlock()
	if ok {
		return seq, nil
	}
	for {
		chunks, err := e.o.Store.ReadLogs(ctx, taskID, seq, run.MaxReadLogs)
		if err != nil {
			return 0, err
		}
		if len(chunks) > 0 {
			seq = chunks[len(chunks)-1].Seq
		}
		if len(chunks) < run.MaxReadLogs {
			return seq, nil
		}
	}
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = string(bytes.ReplaceAll([]byte(s), []byte(sec), []byte("[redacted]")))
		}
	}
	return s
}

var (
	_ Jobs      = (*job.Service)(nil)
	_ Inventory = (*inventory.Service)(nil)
)
