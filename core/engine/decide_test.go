package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// ---- builder ----

type stepOpt func(*StepState)

func needs(n ...string) stepOpt            { return func(s *StepState) { s.Needs = n } }
func cond(c job.Condition) stepOpt         { return func(s *StepState) { s.Condition = c } }
func strategy(st job.Strategy) stepOpt     { return func(s *StepState) { s.Strategy = st } }
func stepStatus(st run.StepStatus) stepOpt { return func(s *StepState) { s.Status = st } }
func retries(n int, b time.Duration) stepOpt {
	return func(s *StepState) { s.Retries, s.RetryBackoff = n, b }
}

// tasks sets the statuses of the step's tasks, in order.
func tasks(sts ...run.TaskStatus) stepOpt {
	return func(s *StepState) {
		for i, st := range sts {
			s.Tasks[i].Status = st
		}
	}
}

func task(i int, f func(*TaskState)) stepOpt { return func(s *StepState) { f(&s.Tasks[i]) } }

type builder struct{ s State }

func newState() *builder { return &builder{s: State{Run: RunState{ID: "r1", Status: run.RunRunning}}} }

// step adds a step with n pending tasks named step-1…step-n.
func (b *builder) step(name string, n int, opts ...stepOpt) *builder {
	st := StepState{Name: name, Index: len(b.s.Steps), Status: run.StepPending}
	for i := range n {
		st.Tasks = append(st.Tasks, TaskState{ID: fmt.Sprintf("%s-%d", name, i+1), Status: run.TaskPending, Attempt: 1})
	}
	for _, o := range opts {
		o(&st)
	}
	b.s.Steps = append(b.s.Steps, st)
	return b
}

func (b *builder) run(f func(*RunState)) *builder { f(&b.s.Run); return b }
func (b *builder) state() State                   { return b.s }

// ---- table tests of single decisions ----

func TestDecide(t *testing.T) {
	t.Parallel()
	const (
		P  = run.TaskPending
		Q  = run.TaskQueued
		R  = run.TaskRunning
		S  = run.TaskSucceeded
		F  = run.TaskFailed
		C  = run.TaskCanceled
		TO = run.TaskTimedOut
	)
	running := stepStatus(run.StepRunning)
	failedAt := t0.Add(-time.Minute)
	retryable := func(i, attempt int) stepOpt {
		return task(i, func(ts *TaskState) { ts.Retryable, ts.Attempt, ts.FinishedAt = true, attempt, failedAt })
	}
	tests := []struct {
		name  string
		state State
		want  []Decision
	}{
		{"final run: nothing", newState().run(func(r *RunState) { r.Status = run.RunSucceeded }).step("a", 1).state(), nil},
		{"queued run: admission starts it, not Decide", newState().run(func(r *RunState) { r.Status = run.RunQueued }).step("a", 1).state(), nil},
		{"root starts and dispatches all", newState().step("a", 3).step("b", 1, needs("a")).state(),
			[]Decision{StartStep("a"), DispatchTasks("a", "a-1", "a-2", "a-3")}},
		{"max parallel counts queued, running and awaiting retry",
			newState().step("a", 5, running, retries(1, time.Second), strategy(job.Strategy{MaxParallel: 3}), tasks(Q, F, S, P, P), retryable(1, 1)).state(),
			[]Decision{RetryTask("a", "a-2", 1, failedAt.Add(time.Second)), DispatchTasks("a", "a-4")}},
		{"rolling: next batch waits for the whole batch",
			newState().step("a", 6, running, strategy(job.Strategy{BatchSize: 2}), tasks(S, R, P, P, P, P)).state(), nil},
		{"rolling: next batch once settled",
			newState().step("a", 6, running, strategy(job.Strategy{BatchSize: 2}), tasks(S, F, P, P, P, P), task(1, func(ts *TaskState) { ts.Status = F })).step("z", 0).state(),
			[]Decision{DispatchTasks("a", "a-3", "a-4"), StartStep("z"), FinishStep("z", run.StepSucceeded)}},
		{"rolling percent rounds up", newState().step("a", 5, strategy(job.Strategy{BatchPercent: 25})).state(),
			[]Decision{StartStep("a"), DispatchTasks("a", "a-1", "a-2")}},
		{"threshold passed: cancel pending, wait for running",
			newState().step("a", 5, running, strategy(job.Strategy{FailureThreshold: 1}), tasks(F, TO, R, P, P)).state(),
			[]Decision{CancelTasks("a", ReasonFailureThreshold, "a-4", "a-5")}},
		{"threshold passed, nothing running: finish failed, dependants skip",
			newState().step("a", 4, running, strategy(job.Strategy{FailureThreshold: 1}), tasks(F, F, P, P)).step("b", 1, needs("a")).state(),
			[]Decision{CancelTasks("a", ReasonFailureThreshold, "a-3", "a-4"), FinishStep("a", run.StepFailed),
				CancelTasks("b", ReasonStepSkipped, "b-1"), SkipStep("b"), FinishRun(run.RunFailed, "")}},
		{"failure within threshold tolerated",
			newState().step("a", 3, running, strategy(job.Strategy{FailureThreshold: 1}), tasks(S, F, S)).state(),
			[]Decision{FinishStep("a", run.StepSucceeded), FinishRun(run.RunSucceeded, "")}},
		{"no threshold: any failure fails the step",
			newState().step("a", 3, running, tasks(S, F, S)).state(),
			[]Decision{FinishStep("a", run.StepFailed), FinishRun(run.RunFailed, "")}},
		{"retry exhausted counts as failed",
			newState().step("a", 1, running, retries(1, time.Second), tasks(F), retryable(0, 2)).state(),
			[]Decision{FinishStep("a", run.StepFailed), FinishRun(run.RunFailed, "")}},
		{"backoff doubles per attempt",
			newState().step("a", 1, running, retries(5, 10*time.Second), tasks(F), retryable(0, 3)).state(),
			[]Decision{RetryTask("a", "a-1", 3, failedAt.Add(40*time.Second))}},
		{"not retryable: failed for good",
			newState().step("a", 1, running, retries(5, time.Second), tasks(F)).state(),
			[]Decision{FinishStep("a", run.StepFailed), FinishRun(run.RunFailed, "")}},
		{"cancel: tasks first, running step waits",
			newState().run(func(r *RunState) { r.Canceled = true }).step("a", 3, running, tasks(S, R, P)).step("b", 1, needs("a")).state(),
			[]Decision{CancelTasks("a", ReasonRunCanceled, "a-2", "a-3"), CancelTasks("b", ReasonRunCanceled, "b-1"), FinishStep("b", run.StepCanceled)}},
		{"cancel: all stopped, run ends canceled",
			newState().run(func(r *RunState) { r.Canceled = true }).step("a", 2, running, tasks(S, C)).step("b", 1, needs("a"), stepStatus(run.StepCanceled), tasks(C)).state(),
			[]Decision{FinishStep("a", run.StepCanceled), FinishRun(run.RunCanceled, ReasonRunCanceled)}},
		{"cancel of a queued run",
			newState().run(func(r *RunState) { r.Status, r.Canceled = run.RunQueued, true }).step("a", 1).state(),
			[]Decision{CancelTasks("a", ReasonRunCanceled, "a-1"), FinishStep("a", run.StepCanceled), FinishRun(run.RunCanceled, ReasonRunCanceled)}},
		{"deadline: running step times out",
			newState().run(func(r *RunState) { r.Deadline = t0 }).step("a", 2, running, tasks(S, C)).step("b", 1, needs("a")).state(),
			[]Decision{FinishStep("a", run.StepTimedOut), CancelTasks("b", ReasonDeadline, "b-1"), FinishStep("b", run.StepCanceled), FinishRun(run.RunTimedOut, ReasonDeadline)}},
		{"deadline not yet", newState().run(func(r *RunState) { r.Deadline = t0.Add(time.Nanosecond) }).step("a", 1, running, tasks(R)).state(), nil},
		{"invalid state fails the run",
			newState().step("a", 1, needs("nope")).state(),
			[]Decision{CancelTasks("a", ReasonInvalidState, "a-1"), FinishStep("a", run.StepCanceled), FinishRun(run.RunFailed, ReasonInvalidState)}},
		{"cycle fails the run",
			newState().step("a", 0, needs("b")).step("b", 0, needs("a")).state(),
			[]Decision{FinishStep("a", run.StepCanceled), FinishStep("b", run.StepCanceled), FinishRun(run.RunFailed, ReasonInvalidState)}},
		{"leftover tasks of a final step are canceled",
			newState().step("a", 2, stepStatus(run.StepSkipped), tasks(P, C)).state(),
			[]Decision{CancelTasks("a", ReasonStepFinal, "a-1"), FinishRun(run.RunSucceeded, "")}},
		{"empty step succeeds", newState().step("a", 0).state(),
			[]Decision{StartStep("a"), FinishStep("a", run.StepSucceeded), FinishRun(run.RunSucceeded, "")}},
		{"continue on error: succeeded, on_success runs, on_failure skips",
			newState().step("a", 2, running, strategy(job.Strategy{ContinueOnError: true}), tasks(F, S)).
				step("b", 1, needs("a")).step("c", 1, needs("a"), cond(job.ConditionOnFailure)).state(),
			[]Decision{FinishStep("a", run.StepSucceeded), StartStep("b"), DispatchTasks("b", "b-1"),
				CancelTasks("c", ReasonStepSkipped, "c-1"), SkipStep("c")}},
		{"steps visited in DAG order, not Index order",
			newState().step("late", 0, needs("early")).step("early", 0).state(),
			[]Decision{StartStep("early"), FinishStep("early", run.StepSucceeded), StartStep("late"), FinishStep("late", run.StepSucceeded), FinishRun(run.RunSucceeded, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Decide(tt.state, t0)
			require.Equal(t, tt.want, got)
			require.Equal(t, got, Decide(tt.state, t0), "deciding twice must give the same decisions")
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	require.Equal(t, 5*time.Second, Backoff(5*time.Second, 1))
	require.Equal(t, 10*time.Second, Backoff(5*time.Second, 2))
	require.Equal(t, 20*time.Second, Backoff(5*time.Second, 3))
	require.Equal(t, time.Duration(0), Backoff(0, 3))
	require.Positive(t, Backoff(time.Hour, 200), "saturates instead of overflowing")
}

func TestBatchSizeAndThreshold(t *testing.T) {
	t.Parallel()
	require.Equal(t, 2, BatchSize(job.Strategy{BatchPercent: 25}, 8))
	require.Equal(t, 1, BatchSize(job.Strategy{BatchPercent: 1}, 3))
	require.Equal(t, 3, BatchSize(job.Strategy{BatchSize: 3, BatchPercent: 50}, 10))
	require.Equal(t, 0, BatchSize(job.Strategy{}, 10))
	require.False(t, ThresholdExceeded(job.Strategy{FailurePercent: 20}, 2, 10))
	require.True(t, ThresholdExceeded(job.Strategy{FailurePercent: 20}, 3, 10))
	require.False(t, ThresholdExceeded(job.Strategy{}, 10, 10))
}

// ---- simulator ----

// sim applies decisions to a state as a faithful doer would (checking every
// move against the run package's transition tables), plays the workers
// (queued → running in one round, running → the scripted outcome in the
// next, a retried task not before its NotBefore), and loops until the run
// is final. It records what was dispatched.
type sim struct {
	t        testing.TB
	s        State
	now      time.Time
	outcome  map[string][]run.TaskStatus // per task, per attempt; default succeeded
	before   func(round int, s *sim)
	notReady map[string]time.Time // retried tasks: not before
	// dispatched lists, in order, each DispatchTasks as "step:task,task".
	dispatched []string
	started    map[string]bool // steps that started
	retries    []Decision
	rounds     int
	startedAt  map[string][]time.Time // per task, per attempt
	finishedAt map[string][]time.Time
}

func newSim(t testing.TB, s State) *sim {
	return &sim{t: t, s: s, now: t0, outcome: map[string][]run.TaskStatus{}, notReady: map[string]time.Time{}, started: map[string]bool{},
		startedAt: map[string][]time.Time{}, finishedAt: map[string][]time.Time{}}
}

func (m *sim) stepByName(name string) *StepState {
	for i := range m.s.Steps {
		if m.s.Steps[i].Name == name {
			return &m.s.Steps[i]
		}
	}
	m.t.Fatalf("no step %q", name)
	return nil
}

func (m *sim) taskByID(st *StepState, id string) *TaskState {
	for i := range st.Tasks {
		if st.Tasks[i].ID == id {
			return &st.Tasks[i]
		}
	}
	m.t.Fatalf("no task %q in step %q", id, st.Name)
	return nil
}

func (m *sim) moveTask(t *TaskState, to run.TaskStatus) {
	m.t.Helper()
	require.True(m.t, t.Status.CanTransitionTo(to), "task %s: %s → %s", t.ID, t.Status, to)
	t.Status = to
}

func (m *sim) moveStep(st *StepState, to run.StepStatus) {
	m.t.Helper()
	require.True(m.t, st.Status.CanTransitionTo(to), "step %s: %s → %s", st.Name, st.Status, to)
	st.Status = to
}

func (m *sim) apply(d Decision) {
	m.t.Helper()
	switch d.Kind {
	case KindStartStep:
		st := m.stepByName(d.Step)
		m.moveStep(st, run.StepRunning)
		m.started[st.Name] = true
	case KindDispatchTasks:
		st := m.stepByName(d.Step)
		require.Equal(m.t, run.StepRunning, st.Status)
		if b := BatchSize(st.Strategy, len(st.Tasks)); b > 0 {
			// every task of an earlier batch is settled
			for _, id := range d.Tasks {
				i := slices.IndexFunc(st.Tasks, func(x TaskState) bool { return x.ID == id })
				for _, prev := range st.Tasks[:i/b*b] {
					require.True(m.t, prev.Status.Final() && !awaitingRetry(st, prev), "batch of %s dispatched before %s settled", id, prev.ID)
				}
			}
		}
		for _, id := range d.Tasks {
			m.moveTask(m.taskByID(st, id), run.TaskQueued)
		}
		m.dispatched = append(m.dispatched, fmt.Sprintf("%s:%v", d.Step, d.Tasks))
	case KindRetryTask:
		st := m.stepByName(d.Step)
		tk := m.taskByID(st, d.Task)
		// The row is running with a failed attempt (see TaskState); the
		// store's move is running → queued with Attempt+1.
		require.True(m.t, awaitingRetry(st, *tk), "retry of %s which is not awaiting one", tk.ID)
		require.Equal(m.t, tk.Attempt, d.Attempt)
		require.True(m.t, run.TaskRunning.CanTransitionTo(run.TaskQueued))
		tk.Status, tk.Attempt, tk.Retryable = run.TaskQueued, tk.Attempt+1, false
		m.notReady[tk.ID] = d.NotBefore
		m.retries = append(m.retries, d)
	case KindCancelTasks:
		st := m.stepByName(d.Step)
		for _, id := range d.Tasks {
			m.moveTask(m.taskByID(st, id), run.TaskCanceled)
		}
	case KindSkipStep:
		st := m.stepByName(d.Step)
		require.False(m.t, slices.ContainsFunc(st.Tasks, func(t TaskState) bool { return !t.Status.Final() }), "skip of %s with live tasks", st.Name)
		m.moveStep(st, run.StepSkipped)
	case KindFinishStep:
		st := m.stepByName(d.Step)
		for _, tk := range st.Tasks {
			require.True(m.t, tk.Status.Final(), "finish of %s with task %s %s", st.Name, tk.ID, tk.Status)
		}
		m.moveStep(st, d.StepStatus)
	case KindFinishRun:
		for _, st := range m.s.Steps {
			require.True(m.t, st.Status.Final(), "run finished with step %s %s", st.Name, st.Status)
		}
		require.True(m.t, m.s.Run.Status.CanTransitionTo(d.RunStatus), "run %s → %s", m.s.Run.Status, d.RunStatus)
		m.s.Run.Status = d.RunStatus
	default:
		m.t.Fatalf("unknown decision %+v", d)
	}
}

// inflight is an independent count of a step's queued, running and
// awaiting-retry tasks.
func inflight(st *StepState) int {
	n := 0
	for _, t := range st.Tasks {
		switch t.Status {
		case run.TaskQueued, run.TaskRunning:
			n++
		case run.TaskFailed, run.TaskError, run.TaskLost:
			if t.Retryable && max(t.Attempt, 1) <= st.Retries {
				n++
			}
		}
	}
	return n
}

func (m *sim) work() {
	for i := range m.s.Steps {
		st := &m.s.Steps[i]
		for j := range st.Tasks {
			tk := &st.Tasks[j]
			switch tk.Status {
			case run.TaskRunning:
				out := run.TaskSucceeded
				if o := m.outcome[tk.ID]; len(o) >= tk.Attempt {
					out = o[tk.Attempt-1]
				}
				m.moveTask(tk, out)
				tk.FinishedAt = m.now
				tk.Retryable = true
				m.finishedAt[tk.ID] = append(m.finishedAt[tk.ID], m.now)
			case run.TaskQueued:
				if !m.now.Before(m.notReady[tk.ID]) {
					m.moveTask(tk, run.TaskRunning)
					m.startedAt[tk.ID] = append(m.startedAt[tk.ID], m.now)
				}
			}
		}
	}
}

// play runs the simulation to the end and returns the run's final status.
func (m *sim) play() run.RunStatus {
	m.t.Helper()
	for m.rounds = 0; ; m.rounds++ {
		require.Less(m.t, m.rounds, 2000, "the run never finished")
		if m.before != nil {
			m.before(m.rounds, m)
		}
		ds := Decide(m.s, m.now)
		require.Equal(m.t, ds, Decide(m.s, m.now), "Decide is not deterministic")
		for _, d := range ds {
			m.apply(d)
			for i := range m.s.Steps {
				st := &m.s.Steps[i]
				if mp := st.Strategy.MaxParallel; mp > 0 {
					require.LessOrEqual(m.t, inflight(st), mp, "step %s over MaxParallel", st.Name)
				}
			}
		}
		if m.s.Run.Status.Final() {
			for _, st := range m.s.Steps {
				require.True(m.t, st.Status.Final(), "step %s %s", st.Name, st.Status)
				for _, tk := range st.Tasks {
					require.True(m.t, tk.Status.Final(), "task %s %s", tk.ID, tk.Status)
				}
			}
			require.Empty(m.t, Decide(m.s, m.now), "a final run gets no decision")
			return m.s.Run.Status
		}
		m.work()
		m.now = m.now.Add(time.Second)
	}
}

func (m *sim) stepStatuses() map[string]run.StepStatus {
	out := map[string]run.StepStatus{}
	for _, st := range m.s.Steps {
		out[st.Name] = st.Status
	}
	return out
}

// ---- scenarios ----

func TestSimDAGConditions(t *testing.T) {
	t.Parallel()
	build := func() State {
		return newState().
			step("a", 2).
			step("b", 1, needs("a")).
			step("c", 1, needs("a"), cond(job.ConditionOnFailure)).
			step("d", 1, needs("b", "c"), cond(job.ConditionAlways)).state()
	}
	tests := []struct {
		name    string
		fail    bool
		wantRun run.RunStatus
		want    map[string]run.StepStatus
		started []string
	}{
		{"a succeeds", false, run.RunSucceeded,
			map[string]run.StepStatus{"a": run.StepSucceeded, "b": run.StepSucceeded, "c": run.StepSkipped, "d": run.StepSucceeded},
			[]string{"a", "b", "d"}},
		{"a fails", true, run.RunFailed,
			map[string]run.StepStatus{"a": run.StepFailed, "b": run.StepSkipped, "c": run.StepSucceeded, "d": run.StepSucceeded},
			[]string{"a", "c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newSim(t, build())
			if tt.fail {
				m.outcome["a-2"] = []run.TaskStatus{run.TaskFailed}
			}
			require.Equal(t, tt.wantRun, m.play())
			require.Equal(t, tt.want, m.stepStatuses())
			var started []string
			for _, st := range m.s.Steps {
				if m.started[st.Name] {
					started = append(started, st.Name)
				}
			}
			require.Equal(t, tt.started, started)
			// the skipped step's task was canceled, never dispatched
			for _, d := range m.dispatched {
				for _, name := range []string{"b", "c"} {
					if !slices.Contains(tt.started, name) {
						require.NotContains(t, d, name+":")
					}
				}
			}
		})
	}
}

func TestSimMaxParallel(t *testing.T) {
	t.Parallel()
	m := newSim(t, newState().step("a", 5, strategy(job.Strategy{MaxParallel: 2})).state())
	require.Equal(t, run.RunSucceeded, m.play()) // play checks the cap after every decision
	require.Equal(t, []string{"a:[a-1 a-2]", "a:[a-3 a-4]", "a:[a-5]"}, m.dispatched)
}

func TestSimRollingPercent(t *testing.T) {
	t.Parallel()
	m := newSim(t, newState().step("a", 8, strategy(job.Strategy{BatchPercent: 25})).state())
	require.Equal(t, run.RunSucceeded, m.play())
	require.Equal(t, []string{"a:[a-1 a-2]", "a:[a-3 a-4]", "a:[a-5 a-6]", "a:[a-7 a-8]"}, m.dispatched)
}

func TestSimRollingWithMaxParallel(t *testing.T) {
	t.Parallel()
	m := newSim(t, newState().step("a", 6, strategy(job.Strategy{BatchSize: 3, MaxParallel: 2})).state())
	require.Equal(t, run.RunSucceeded, m.play())
	require.Equal(t, []string{"a:[a-1 a-2]", "a:[a-3]", "a:[a-4 a-5]", "a:[a-6]"}, m.dispatched)
}

func TestSimFailureThreshold(t *testing.T) {
	t.Parallel()
	m := newSim(t, newState().step("a", 6, strategy(job.Strategy{MaxParallel: 1, FailureThreshold: 1})).step("b", 1, needs("a")).state())
	m.outcome["a-2"] = []run.TaskStatus{run.TaskFailed}
	m.outcome["a-3"] = []run.TaskStatus{run.TaskError}
	require.Equal(t, run.RunFailed, m.play())
	require.Equal(t, []string{"a:[a-1]", "a:[a-2]", "a:[a-3]"}, m.dispatched, "stops after the second failure")
	a := m.stepByName("a")
	require.Equal(t, run.StepFailed, a.Status)
	for _, tk := range a.Tasks[3:] {
		require.Equal(t, run.TaskCanceled, tk.Status, "never dispatched")
	}
	require.Equal(t, run.StepSkipped, m.stepByName("b").Status)
}

func TestSimFailurePercent(t *testing.T) {
	t.Parallel()
	// 10 tasks, 20%: two failures are tolerated, the third stops the step.
	m := newSim(t, newState().step("a", 10, strategy(job.Strategy{BatchSize: 2, FailurePercent: 20})).state())
	m.outcome["a-1"] = []run.TaskStatus{run.TaskFailed}
	m.outcome["a-4"] = []run.TaskStatus{run.TaskLost}
	m.outcome["a-5"] = []run.TaskStatus{run.TaskTimedOut}
	require.Equal(t, run.RunFailed, m.play())
	require.Equal(t, []string{"a:[a-1 a-2]", "a:[a-3 a-4]", "a:[a-5 a-6]"}, m.dispatched)

	// Within the percentage the step succeeds.
	m = newSim(t, newState().step("a", 10, strategy(job.Strategy{BatchSize: 2, FailurePercent: 20})).state())
	m.outcome["a-1"] = []run.TaskStatus{run.TaskFailed}
	m.outcome["a-9"] = []run.TaskStatus{run.TaskFailed}
	require.Equal(t, run.RunSucceeded, m.play())
	require.Len(t, m.dispatched, 5)
}

func TestSimContinueOnError(t *testing.T) {
	t.Parallel()
	m := newSim(t, newState().
		step("a", 3, strategy(job.Strategy{ContinueOnError: true})).
		step("b", 1, needs("a")).
		step("c", 1, needs("a"), cond(job.ConditionOnFailure)).state())
	m.outcome["a-2"] = []run.TaskStatus{run.TaskFailed}
	require.Equal(t, run.RunSucceeded, m.play())
	require.Equal(t, map[string]run.StepStatus{"a": run.StepSucceeded, "b": run.StepSucceeded, "c": run.StepSkipped}, m.stepStatuses())
	require.Equal(t, run.TaskFailed, m.stepByName("a").Tasks[1].Status, "the failure stays visible")
}

func TestSimRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	m := newSim(t, newState().step("a", 2, retries(2, 10*time.Second)).state())
	m.outcome["a-1"] = []run.TaskStatus{run.TaskFailed, run.TaskError, run.TaskSucceeded}
	require.Equal(t, run.RunSucceeded, m.play())
	require.Len(t, m.retries, 2)
	fin, start := m.finishedAt["a-1"], m.startedAt["a-1"]
	require.Len(t, fin, 3)
	require.Equal(t, RetryTask("a", "a-1", 1, fin[0].Add(10*time.Second)), m.retries[0])
	require.Equal(t, RetryTask("a", "a-1", 2, fin[1].Add(20*time.Second)), m.retries[1])
	require.Equal(t, fin[0].Add(10*time.Second), start[1], "attempt 2 starts at its NotBefore, not earlier")
	require.Equal(t, fin[1].Add(20*time.Second), start[2], "attempt 3 starts at its NotBefore, not earlier")
	tk := m.stepByName("a").Tasks[0]
	require.Equal(t, 3, tk.Attempt)

	// Retries exhausted: the third failure is final and fails the step.
	m = newSim(t, newState().step("a", 1, retries(2, time.Second)).state())
	m.outcome["a-1"] = []run.TaskStatus{run.TaskFailed, run.TaskFailed, run.TaskFailed}
	require.Equal(t, run.RunFailed, m.play())
	require.Len(t, m.retries, 2)
	require.Equal(t, 3, m.stepByName("a").Tasks[0].Attempt)
}

func TestSimCancel(t *testing.T) {
	t.Parallel()
	m := newSim(t, newState().step("a", 4, strategy(job.Strategy{MaxParallel: 2})).step("b", 1, needs("a")).state())
	var seenLive bool
	m.before = func(round int, m *sim) {
		if round == 3 {
			a := m.stepByName("a")
			seenLive = slices.ContainsFunc(a.Tasks, func(t TaskState) bool { return t.Status == run.TaskQueued || t.Status == run.TaskRunning })
			m.s.Run.Canceled = true
		}
	}
	require.Equal(t, run.RunCanceled, m.play())
	require.True(t, seenLive, "the cancel came while tasks were in flight")
	require.Equal(t, map[string]run.StepStatus{"a": run.StepCanceled, "b": run.StepCanceled}, m.stepStatuses())
	counts := map[run.TaskStatus]int{}
	for _, tk := range m.stepByName("a").Tasks {
		counts[tk.Status]++
	}
	require.Equal(t, map[run.TaskStatus]int{run.TaskSucceeded: 2, run.TaskCanceled: 2}, counts)
	require.Less(t, m.rounds, 5)
}

func TestSimDeadline(t *testing.T) {
	t.Parallel()
	m := newSim(t, newState().run(func(r *RunState) { r.Deadline = t0.Add(3 * time.Second) }).
		step("a", 6, strategy(job.Strategy{MaxParallel: 1})).step("b", 1, needs("a")).state())
	require.Equal(t, run.RunTimedOut, m.play())
	require.Equal(t, map[string]run.StepStatus{"a": run.StepTimedOut, "b": run.StepCanceled}, m.stepStatuses())
}

func TestIdempotent(t *testing.T) {
	t.Parallel()
	s := newState().
		step("a", 5, stepStatus(run.StepRunning), strategy(job.Strategy{MaxParallel: 3, BatchSize: 4}), retries(1, time.Second),
			tasks(run.TaskFailed, run.TaskRunning, run.TaskPending, run.TaskPending, run.TaskPending),
			task(0, func(ts *TaskState) { ts.Retryable = true })).
		step("b", 2, needs("a")).state()
	first := Decide(s, t0)
	require.NotEmpty(t, first)
	require.Equal(t, first, Decide(s, t0))
	require.Equal(t, first, Decide(s, t0))
}

// TestSimRandom plays random small DAGs with random strategies, outcomes,
// cancels and deadlines: every run terminates with every step and task
// final, never with more in flight than MaxParallel, and only through
// transitions the tables allow (the simulator checks each move).
func TestSimRandom(t *testing.T) {
	t.Parallel()
	statuses := []run.TaskStatus{run.TaskSucceeded, run.TaskSucceeded, run.TaskSucceeded, run.TaskFailed, run.TaskError, run.TaskLost, run.TaskTimedOut}
	conds := []job.Condition{"", job.ConditionOnSuccess, job.ConditionOnFailure, job.ConditionAlways}
	seen := map[run.RunStatus]int{}
	var retried, stopped int
	for seed := range uint64(500) {
		r := rand.New(rand.NewPCG(seed, 42))
		b := newState()
		nSteps := 1 + r.IntN(5)
		for i := range nSteps {
			var ns []string
			for j := range i {
				if r.IntN(3) == 0 {
					ns = append(ns, fmt.Sprintf("s%d", j))
				}
			}
			st := job.Strategy{MaxParallel: r.IntN(4), ContinueOnError: r.IntN(4) == 0}
			switch r.IntN(3) {
			case 1:
				st.BatchSize = 1 + r.IntN(3)
			case 2:
				st.BatchPercent = 1 + r.IntN(100)
			}
			switch r.IntN(3) {
			case 1:
				st.FailureThreshold = 1 + r.IntN(2)
			case 2:
				st.FailurePercent = 1 + r.IntN(100)
			}
			b.step(fmt.Sprintf("s%d", i), r.IntN(7), needs(ns...), cond(conds[r.IntN(len(conds))]), strategy(st),
				retries(r.IntN(3), time.Duration(r.IntN(3))*time.Second))
		}
		if r.IntN(4) == 0 {
			b.run(func(rs *RunState) { rs.Deadline = t0.Add(time.Duration(r.IntN(20)) * time.Second) })
		}
		// Shuffle the order of Steps: Decide must not depend on it.
		r.Shuffle(len(b.s.Steps), func(i, j int) { b.s.Steps[i], b.s.Steps[j] = b.s.Steps[j], b.s.Steps[i] })
		m := newSim(t, b.state())
		for _, st := range m.s.Steps {
			for _, tk := range st.Tasks {
				for range 3 {
					m.outcome[tk.ID] = append(m.outcome[tk.ID], statuses[r.IntN(len(statuses))])
				}
			}
		}
		cancelAt := -1
		if r.IntN(5) == 0 {
			cancelAt = r.IntN(15)
		}
		m.before = func(round int, m *sim) {
			if round == cancelAt {
				m.s.Run.Canceled = true
			}
		}
		final := m.play()
		require.True(t, final.Final(), "seed %d", seed)
		seen[final]++
		retried += len(m.retries)
		for _, st := range m.s.Steps {
			if st.Status == run.StepFailed && slices.ContainsFunc(st.Tasks, func(t TaskState) bool { return t.Status == run.TaskCanceled }) {
				stopped++
			}
		}
		if cancelAt >= 0 && cancelAt < m.rounds {
			require.Equal(t, run.RunCanceled, final, "seed %d", seed)
		}
	}
	// The random cases do reach every ending, retries and thresholds.
	for _, st := range []run.RunStatus{run.RunSucceeded, run.RunFailed, run.RunCanceled, run.RunTimedOut} {
		require.Positive(t, seen[st], "no random run ended %s: %v", st, seen)
	}
	require.Positive(t, retried)
	require.Positive(t, stopped)
	t.Logf("endings %v, retries %d, steps stopped at threshold %d", seen, retried, stopped)
}
