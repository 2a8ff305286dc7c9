package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/events"
	"github.com/jobgraph/jobgraph/core/guard"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
)

// This file is the doer: Engine creates runs and drives each active run
// with Decide, applying the decisions with the conditional transitions of
// package run and publishing ready tasks to the queue; dispatch.go answers
// the workers (core/worker) that run them.
//
// One goroutine per active run loads the run's state, decides and applies;
// it is woken when a task finishes, when the run is canceled, when a retry
// becomes due and at the run's deadline. A queued run's loop only waits:
// the admitter (admission.go) starts runs, within their limits. The
// database holds the truth: the only things kept in memory are what the
// database has no column for yet — the values of secret parameters, and a failed attempt awaiting its retry (the row stays
// running until the retry or the final verdict, as the package
// documentation on retries says). One engine drives the runs of a
// database: several server replicas each drive every run, safely (every
// transition is conditional) but wastefully; electing one driver is future
// work.

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

// Options configure an Engine.
type Options struct {
	Store     run.Store
	Jobs      Jobs
	Inventory Inventory
	// Projects gives admission the projects' MaxConcurrentRuns; nil
	// applies no project limit.
	Projects Projects
	// Schemas checks the action and parameters of ad-hoc runs.
	Schemas job.ActionSchemas
	// Events tells subscribers what changed (nil: no one is told).
	Events *events.Bus
	// Notifier hears of the runs that end or wait for an approval (nil: no
	// one does); core/notify turns these into messages.
	Notifier Notifier
	// Approvals keeps the approvals of approval steps and of runs a
	// command guard holds (*store.Store is one); nil refuses such runs.
	Approvals Approvals
	// Guard checks a run's commands before it is stored (nil: no check).
	Guard Guard
	// Queue carries ready tasks to the workers and their reports back.
	Queue  *queue.Queue
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Runs configures logs (the per-task cap).
	Runs run.Options
	// StaleAfter is how long a queued or running task may go without a
	// sign of life before the rescuer acts: a queued one is published
	// again, a running one is lost. Workers touch their tasks every 5s by
	// default. Default 1 minute.
	StaleAfter time.Duration
}

// Approvals is what the engine needs of the approval store
// (core/approval); *store.Store is one. Its writes join the transaction of
// the run or step change that asks for them.
type Approvals interface {
	CreateApproval(ctx context.Context, a approval.Approval) error
	RunApprovals(ctx context.Context, runID string) ([]approval.Approval, error)
	TransitionApproval(ctx context.Context, id string, from []approval.Status, to approval.Status, at time.Time) (bool, error)
}

// Guard checks the commands and scripts of a run before it is stored
// (core/guard's Service is one). values are the run's parameter values,
// secret ones included (nil for an ad-hoc run).
type Guard interface {
	Check(ctx context.Context, projectID string, spec job.Spec, values map[string]any) (guard.Verdict, error)
}

// Notifier hears of runs' milestones. Notify is called once per milestone,
// by the replica that stored it, and must not block: it queues what it
// sends (core/notify stores an outbox row and delivers it later).
type Notifier interface {
	Notify(ctx context.Context, n run.Notice)
}

// RunJobRequest asks for a run of a job's current version.
type RunJobRequest struct {
	// ProjectID, when set, must be the job's project.
	ProjectID string
	JobID     string
	// Params is a JSON object of parameter values (nil for none).
	Params json.RawMessage
	// Actor is the user who asked (a manual run). Trigger, when its Kind
	// is set, says instead what started the run (a schedule, a webhook).
	Actor    string
	Trigger  run.Trigger
	Priority int
}

// maxLoopRounds bounds the decide-apply rounds of one wake-up, so that a
// bug cannot spin a run's goroutine forever.
const maxLoopRounds = 1000

// Engine runs jobs.
type Engine struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	ctx      context.Context
	cancel   context.CancelFunc
	started  chan struct{}
	stopped  bool
	active   map[string]*activeRun
	services []*queue.Service
	gc       *groupCommit
	wg       sync.WaitGroup
	admit    chan struct{} // wakes the admitter
}

// activeRun is the in-memory side of a run that is not final.
type activeRun struct {
	id   string
	wake chan struct{}

	// guarded by Engine.mu
	secrets  map[string]string
	notes    map[string]note // failed attempts awaiting a retry or a verdict
	spec     *job.Spec
	cache    runCache
	progress string // the last progress published (events.go)
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
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = time.Minute
	}
	e := &Engine{o: o, log: o.Logger, started: make(chan struct{}), active: map[string]*activeRun{}, admit: make(chan struct{}, 1)}
	e.gc = newGroupCommit(o.Store.InTx)
	return e
}

// Start answers the workers, resumes the runs a previous process left
// queued or running, and starts the rescuer and the admitter. It returns at
// once.
func (e *Engine) Start(ctx context.Context) error {
	if e.o.Queue == nil {
		return errors.New("engine: a queue is required")
	}
	e.mu.Lock()
	if e.ctx != nil || e.stopped {
		e.mu.Unlock()
		return errors.New("engine: already started")
	}
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.mu.Unlock()
	e.wg.Add(1)
	go func() { defer e.wg.Done(); e.gc.run(e.ctx) }()
	if err := e.serve(); err != nil {
		e.Stop()
		return err
	}
	if err := e.resume(ctx); err != nil {
		e.Stop()
		return err
	}
	e.wg.Add(2)
	go e.rescuer()
	go e.admitter()
	close(e.started)
	return nil
}

// Started is closed once Start has succeeded.
func (e *Engine) Started() <-chan struct{} { return e.started }

// Stop stops answering workers and the run loops, and waits for them. Tasks
// running on workers go on; their reports wait for the next Start (workers
// retry). It is idempotent and safe before Start.
func (e *Engine) Stop() {
	e.mu.Lock()
	e.stopped = true
	cancel := e.cancel
	services := e.services
	e.mu.Unlock()
	for _, s := range services {
		s.Stop()
	}
	if cancel != nil {
		cancel()
	}
	e.wg.Wait()
}

func (e *Engine) resume(ctx context.Context) error {
	page := core.PageArgs{First: core.MaxPageSize}
	for {
		p, err := e.o.Store.ListRuns(ctx, run.Filter{Statuses: []run.RunStatus{run.RunWaitingApproval, run.RunQueued, run.RunRunning}}, page)
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
	if ok && ar.secrets == nil && secrets != nil {
		// The admitter or a worker woke the run between its commit and
		// its creator's activation: keep the secrets all the same.
		ar.secrets = secrets
	}
	if !ok {
		ar = &activeRun{id: id, wake: make(chan struct{}, 1), secrets: secrets, notes: map[string]note{}}
		if e.ctx != nil && !e.stopped {
			e.active[id] = ar
			e.wg.Add(1)
			go e.loop(ar)
		}
	}
	ar.poke()
	return ar
}

// Wake pokes the loop of run id, starting it if the run has none here: an
// approval of the run was decided (core/approval's Waker).
func (e *Engine) Wake(runID string) { e.activate(runID, nil) }

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
		Status: run.RunQueued, Priority: req.Priority, Trigger: req.Trigger, CreatedAt: now,
	}
	if r.Trigger.Kind == "" {
		r.Trigger = run.Trigger{Kind: run.TriggerManual, Actor: req.Actor}
	}
	if !r.Trigger.Kind.Valid() {
		return run.Run{}, core.Invalid("trigger", "unknown trigger kind %q", r.Trigger.Kind)
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
	return e.create(ctx, r, j.Spec, values, secrets, func(i int, st job.Step) ([]inventory.Host, error) {
		return e.resolveTargets(ctx, j.ProjectID, i, st.Targets, values)
	})
}

// create stores run r of spec, with one step run per step and one task
// per host that hosts gives for it (approval steps have none), all or
// nothing, and once the caller's transaction commits, activates its loop
// and wakes the admitter, which starts it when its limits allow.
//
// First the Guard, if any, checks spec with the run's values: a block
// verdict refuses the run (its *guard.BlockedError, nothing stored); an
// approve verdict stores it waiting_approval with a run-level approval in
// the same transaction, and tells the Notifier.
func (e *Engine) create(ctx context.Context, r run.Run, spec job.Spec, values map[string]any, secrets map[string]string, hosts func(i int, st job.Step) ([]inventory.Host, error)) (run.Run, error) {
	var err error
	var held *approval.Approval
	if e.o.Guard != nil {
		v, err := e.o.Guard.Check(ctx, r.ProjectID, spec, values)
		if err != nil {
			return run.Run{}, err
		}
		if err := v.Blocked(); err != nil {
			return run.Run{}, err
		}
		if m, ok := v.Approval(); ok {
			r.Status = run.RunWaitingApproval
			held = &approval.Approval{
				ID: core.NewID(core.KindApproval), ProjectID: r.ProjectID, RunID: r.ID, Role: cmp.Or(m.ApproverRole, job.DefaultApprovalRole),
				Required: 1, Status: approval.StatusPending, Reason: guardReason(m), RequestedBy: r.Trigger.Actor,
				Deadline: r.CreatedAt.Add(approval.DefaultTimeout), CreatedAt: r.CreatedAt,
			}
		}
	}
	needApprovals := held != nil || slices.ContainsFunc(spec.Steps, func(s job.Step) bool { return s.Approval != nil })
	if needApprovals && e.o.Approvals == nil {
		return run.Run{}, errors.New("engine: runs that wait for approvals need Options.Approvals")
	}
	if r.Spec, err = job.EncodeSpec(spec); err != nil {
		return run.Run{}, err
	}
	var steps []run.StepRun
	var tasks []run.Task
	for i, st := range spec.Steps {
		var hs []inventory.Host
		if st.Approval == nil {
			if hs, err = hosts(i, st); err != nil {
				return run.Run{}, err
			}
		}
		sr := run.StepRun{ID: core.NewID(core.KindStepRun), RunID: r.ID, Name: st.Name, Index: i, Status: run.StepPending}
		steps = append(steps, sr)
		for _, h := range hs {
			tasks = append(tasks, run.Task{ID: core.NewID(core.KindTask), RunID: r.ID, StepRunID: sr.ID,
				HostID: h.ID, HostName: h.Name, Status: run.TaskPending, Attempt: 1, CreatedAt: r.CreatedAt})
		}
	}
	err = e.o.Store.InTx(ctx, func(ctx context.Context) error {
		if err := e.o.Store.CreateRun(ctx, r, steps, tasks); err != nil {
			return err
		}
		if held != nil {
			return e.o.Approvals.CreateApproval(ctx, *held)
		}
		return nil
	})
	if err != nil {
		return run.Run{}, err
	}
	// Inside a transaction (the API's audit), the run exists for the loop
	// only once it commits.
	e.o.Store.AfterCommit(ctx, func() {
		e.activate(r.ID, secrets)
		e.runEvent(r, r.Status)
		if held != nil {
			e.log.Info("run held for approval", "run", r.ID, "approval", held.ID, "reason", held.Reason)
			e.notify(ctx, run.Notice{Kind: run.NoticeApproval, Run: r, Status: r.Status, ApprovalID: held.ID, Reason: held.Reason})
			return
		}
		e.wakeAdmitter()
	})
	return r, nil
}

// guardReason says in words which rule asked for approval, and where.
func guardReason(m guard.Match) string {
	where := m.Field
	if m.Step != "" {
		where = fmt.Sprintf("step %q %s", m.Step, m.Field)
	}
	s := fmt.Sprintf("command guard rule %q asks for approval by %s: %s matches", m.RuleName, cmp.Or(m.ApproverRole, job.DefaultApprovalRole), where)
	if m.Excerpt != "" {
		s += fmt.Sprintf(" (%q)", m.Excerpt)
	}
	return s
}

// CancelRun asks for a run to be canceled: the request is stored, its
// tasks are stopped (on the workers too) and it ends canceled. Canceling a
// final run changes nothing.
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
	now := e.o.Now().UTC()
	if _, err := e.o.Store.RequestCancel(ctx, id, now); err != nil {
		return run.Run{}, err
	}
	if r.CancelRequestedAt == nil {
		r.CancelRequestedAt = &now
	}
	e.o.Store.AfterCommit(ctx, func() { e.activate(id, nil) })
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
