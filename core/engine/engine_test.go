package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/core/worker"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// fakeExecutors stands in for the plugin host (a process boundary). Its
// actions, all of executor "fake":
//
//	emit   prints "emit on HOST", exports token=tok-HOST
//	echo   prints its "msg" parameter
//	fail   prints "failing" and exits 3
//	failfirst  prints "msg"; fails on its "host" the first time it runs there
//	flaky  prints "attempt N"; attempt 1 fails with a retryable error
//	block  waits until canceled
//	gate   prints "before gate", waits for fakeExecutors.gate, prints "after gate"
//	blockonce  blocks like block on attempt 1, succeeds after
type fakeExecutors struct {
	mu       sync.Mutex
	rendered map[string][]string // action → rendered params, in call order
	running  map[string]int
	peak     map[string]int
	runs     map[string]int // failfirst calls by host
	blocked  chan string
	gate     chan struct{} // "gate" waits for it to be closed
}

func newFake() *fakeExecutors {
	return &fakeExecutors{rendered: map[string][]string{}, running: map[string]int{}, peak: map[string]int{}, runs: map[string]int{}, blocked: make(chan string, 16), gate: make(chan struct{})}
}

func (f *fakeExecutors) Execute(ctx context.Context, name string, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	if name != "fake" {
		return sdk.Result{}, errors.New("unknown executor " + name)
	}
	f.mu.Lock()
	f.rendered[task.Action] = append(f.rendered[task.Action], string(task.Params))
	f.running[task.Action]++
	f.peak[task.Action] = max(f.peak[task.Action], f.running[task.Action])
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running[task.Action]--
		f.mu.Unlock()
	}()
	var p struct {
		Msg string `json:"msg"`
	}
	_ = json.Unmarshal(task.Params, &p)
	switch task.Action {
	case "emit":
		for i := range 3 {
			fmt.Fprintf(out.Stdout(), "emit on %s line %d\n", task.Target.Name, i)
		}
		time.Sleep(5 * time.Millisecond) // long enough for overlapping batches to show
		out.SetOutput("token", "tok-"+task.Target.Name)
		return sdk.Succeeded(), nil
	case "echo":
		fmt.Fprintln(out.Stdout(), p.Msg)
		return sdk.Succeeded(), nil
	case "fail":
		fmt.Fprintln(out.Stderr(), "failing")
		return sdk.Exited(3), nil
	case "failfirst":
		var q struct {
			Host string `json:"host"`
		}
		_ = json.Unmarshal(task.Params, &q)
		f.mu.Lock()
		f.runs[task.Target.Name]++
		first := f.runs[task.Target.Name] == 1
		f.mu.Unlock()
		fmt.Fprintln(out.Stdout(), p.Msg)
		if first && q.Host == task.Target.Name {
			return sdk.Exited(1), nil
		}
		return sdk.Succeeded(), nil
	case "flaky":
		fmt.Fprintf(out.Stdout(), "attempt %d\n", task.Attempt)
		if task.Attempt == 1 {
			return sdk.Result{}, sdk.Retryable(errors.New("connection refused"))
		}
		return sdk.Succeeded(), nil
	case "crashonce":
		if task.Attempt == 1 {
			return sdk.Result{}, fmt.Errorf("executor plugin fake: %w: EOF", sdk.ErrPluginExited)
		}
		return sdk.Succeeded(), nil
	case "gate":
		fmt.Fprintln(out.Stdout(), "before gate")
		f.blocked <- task.Target.Name
		select {
		case <-f.gate:
		case <-ctx.Done():
			return sdk.ContextResult(ctx), nil
		}
		fmt.Fprintln(out.Stdout(), "after gate")
		return sdk.Succeeded(), nil
	case "blockonce":
		if task.Attempt > 1 {
			return sdk.Succeeded(), nil
		}
		fallthrough
	case "block":
		f.blocked <- task.Target.Name
		<-ctx.Done()
		return sdk.ContextResult(ctx), nil
	}
	return sdk.Result{}, errors.New("unknown action " + task.Action)
}

// anySchemas accepts every action of executor "fake".
type anySchemas struct{}

func (anySchemas) Schema(_ context.Context, executor, _ string) (func(json.RawMessage) []job.FieldError, error) {
	if executor != "fake" {
		return nil, job.ErrUnknownExecutor
	}
	return func(json.RawMessage) []job.FieldError { return nil }, nil
}

type bundle struct {
	s      *store.Store
	q      *queue.Queue
	e      *engine.Engine
	w      *worker.Worker
	fake   *fakeExecutors
	jobs   *job.Service
	p      string
	hosts  []inventory.Host
	inv    *inventory.Service
	cancel context.CancelFunc
	// guard and notes are the engine's Guard and Notifier (approval_test.go).
	guard *stubGuard
	notes *notes
}

func setup(t testing.TB, s *store.Store) *bundle {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	p := project.Project{ID: core.NewID(core.KindProject), Name: "ops", CreatedAt: now, UpdatedAt: now}
	require.NoError(t, s.CreateProject(ctx, p))
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	ring, err := secrets.NewKeyring(key)
	require.NoError(t, err)
	inv := inventory.NewService(s, ring)
	b := &bundle{s: s, fake: newFake(), jobs: job.NewService(s, anySchemas{}), p: p.ID, guard: &stubGuard{}, notes: &notes{}}
	for i := range 3 {
		h, err := inv.CreateHost(ctx, inventory.CreateHostInput{ProjectID: p.ID, Name: fmt.Sprintf("web%d", i+1),
			Address: fmt.Sprintf("10.0.0.%d", i+1), OS: inventory.OSLinux, Labels: map[string]string{"role": "web"}})
		require.NoError(t, err)
		b.hosts = append(b.hosts, h)
	}
	b.inv = inv
	q, err := queue.Open(ctx, queue.Options{DataDir: t.TempDir(), AckWait: time.Second, Logger: testLogger()})
	require.NoError(t, err)
	t.Cleanup(q.Close)
	b.q = q
	b.e = b.engine(t)
	b.w = b.worker(t)
	return b
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// engine starts an engine over the bundle's store and queue.
func (b *bundle) engine(t testing.TB) *engine.Engine {
	t.Helper()
	e := engine.New(engine.Options{Store: b.s, Jobs: b.jobs, Inventory: b.inv, Projects: project.NewService(b.s, nil), Schemas: anySchemas{}, Queue: b.q, StaleAfter: 3 * time.Second, Logger: testLogger(),
		Approvals: b.s, Guard: b.guard, Notifier: b.notes})
	require.NoError(t, e.Start(context.Background()))
	<-e.Started()
	t.Cleanup(e.Stop)
	return e
}

// worker starts a worker on the bundle's queue, executing on the fake.
func (b *bundle) worker(t testing.TB) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Options{Queue: b.q, Executors: b.fake, Slots: 8, TouchEvery: 200 * time.Millisecond,
		FlushEvery: 10 * time.Millisecond, Grace: 500 * time.Millisecond, Logger: testLogger()})
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(w.Stop)
	return w
}

func (b *bundle) job(t testing.TB, steps ...job.Step) string {
	t.Helper()
	j, err := b.jobs.Create(context.Background(), job.CreateInput{ProjectID: b.p, Name: fmt.Sprintf("job-%d", time.Now().UnixNano()),
		Spec: job.Spec{
			Parameters: []job.Parameter{{Name: "env", Type: job.ParamString, Default: "dev"}},
			Steps:      steps,
		}})
	require.NoError(t, err)
	return j.ID
}

// wait polls the run until it is final.
func (b *bundle) wait(t testing.TB, id string) run.Run {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := b.s.GetRun(context.Background(), id)
		require.NoError(t, err)
		if r.Status.Final() {
			return r
		}
		select {
		case <-deadline:
			steps, _ := b.s.StepRuns(context.Background(), id)
			t.Fatalf("run %s is still %s: steps %+v", id, r.Status, steps)
		case <-tick.C:
		}
	}
}

func (b *bundle) tasks(t testing.TB, runID string) map[string][]run.Task {
	t.Helper()
	ctx := context.Background()
	steps, err := b.s.StepRuns(ctx, runID)
	require.NoError(t, err)
	out := map[string][]run.Task{}
	for _, sr := range steps {
		p, err := b.s.ListTasks(ctx, run.TaskFilter{RunID: runID, StepRunID: sr.ID}, core.PageArgs{First: 100})
		require.NoError(t, err)
		out[sr.Name] = p.Items
	}
	return out
}

func step(name, action string, params string, targets job.Targets, needs ...string) job.Step {
	return job.Step{Name: name, Executor: "fake", Action: action, Params: json.RawMessage(params), Targets: targets, Needs: needs}
}

func TestDAGRollingRunsToSuccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		a := step("a", "emit", `{"msg":"a"}`, job.Targets{Selector: "role=web"})
		a.Strategy = job.Strategy{BatchSize: 1}
		a.Outputs = []string{"token"}
		bStep := step("b", "echo", `{"msg":"got ${{ steps.a.outputs.token }} in ${{ params.env }}"}`, job.Targets{Hosts: []string{b.hosts[1].ID}}, "a")
		c := step("c", "echo", `{"msg":"c on all"}`, job.Targets{Hosts: []string{b.hosts[0].ID, b.hosts[2].ID}}, "a")
		c.Targets.Selector = "role=web" // overlaps the hosts: de-duplicated
		jobID := b.job(t, a, bStep, c)

		r, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: jobID, Params: json.RawMessage(`{"env":"prod"}`), Actor: "usr_test"})
		require.NoError(t, err)
		r = b.wait(t, r.ID)
		require.Equal(t, run.RunSucceeded, r.Status)
		require.NotNil(t, r.StartedAt)
		require.NotNil(t, r.FinishedAt)

		tasks := b.tasks(t, r.ID)
		require.Len(t, tasks["a"], 3)
		require.Len(t, tasks["b"], 1)
		require.Len(t, tasks["c"], 3)
		for name, ts := range tasks {
			for _, x := range ts {
				require.Equal(t, run.TaskSucceeded, x.Status, "%s on %s", name, x.HostName)
			}
		}
		require.Equal(t, map[string]string{"token": "tok-web1"}, tasks["a"][0].Outputs)
		b.fake.mu.Lock()
		require.Equal(t, 1, b.fake.peak["emit"], "rolling batches of one never overlap")
		require.Contains(t, b.fake.rendered["echo"], `{"msg":"got tok-web2 in prod"}`, "b on web2 gets web2's token")
		b.fake.mu.Unlock()

		// Logs are stored in order and readable.
		logs, err := s.ReadLogs(context.Background(), tasks["a"][1].ID, 0, 100)
		require.NoError(t, err)
		var text strings.Builder
		for i, l := range logs {
			require.Equal(t, int64(i+1), l.Seq)
			require.Equal(t, run.StreamStdout, l.Stream)
			text.Write(l.Data)
		}
		require.Equal(t, "emit on web2 line 0\nemit on web2 line 1\nemit on web2 line 2\n", text.String())
	})
}

func TestFailingTaskFailsRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		jobID := b.job(t,
			step("a", "fail", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}}),
			step("b", "echo", `{"msg":"never"}`, job.Targets{Hosts: []string{b.hosts[0].ID}}, "a"))
		r, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: jobID})
		require.NoError(t, err)
		r = b.wait(t, r.ID)
		require.Equal(t, run.RunFailed, r.Status)
		tasks := b.tasks(t, r.ID)
		require.Equal(t, run.TaskFailed, tasks["a"][0].Status)
		require.NotNil(t, tasks["a"][0].ExitCode)
		require.Equal(t, 3, *tasks["a"][0].ExitCode)
		require.Equal(t, run.TaskCanceled, tasks["b"][0].Status)
		steps, err := s.StepRuns(context.Background(), r.ID)
		require.NoError(t, err)
		require.Equal(t, run.StepFailed, steps[0].Status)
		require.Equal(t, run.StepSkipped, steps[1].Status)
		logs, err := s.ReadLogs(context.Background(), tasks["a"][0].ID, 0, 10)
		require.NoError(t, err)
		require.Len(t, logs, 1)
		require.Equal(t, run.StreamStderr, logs[0].Stream)
	})
}

func TestRetryGoesOnWithTheSameRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		flaky := step("a", "flaky", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}})
		flaky.Retries = 2
		flaky.RetryBackoff = 10 * time.Millisecond
		fails := step("b", "fail", `{}`, job.Targets{Hosts: []string{b.hosts[1].ID}}, "a")
		fails.Retries = 2 // an exit code is not retryable: it fails at once
		jobID := b.job(t, flaky, fails)
		r, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: jobID})
		require.NoError(t, err)
		r = b.wait(t, r.ID)
		require.Equal(t, run.RunFailed, r.Status)
		tasks := b.tasks(t, r.ID)
		require.Equal(t, run.TaskSucceeded, tasks["a"][0].Status)
		require.Equal(t, 2, tasks["a"][0].Attempt)
		require.Equal(t, run.TaskFailed, tasks["b"][0].Status)
		require.Equal(t, 1, tasks["b"][0].Attempt)
		logs, err := s.ReadLogs(context.Background(), tasks["a"][0].ID, 0, 10)
		require.NoError(t, err)
		require.Len(t, logs, 2)
		require.Equal(t, int64(1), logs[0].Seq)
		require.Equal(t, "attempt 1\n", string(logs[0].Data))
		require.Equal(t, int64(2), logs[1].Seq, "seq goes on across attempts")
		require.Equal(t, "attempt 2\n", string(logs[1].Data))
	})
}

// TestPluginCrashIsRetried: a task whose plugin crashed under it is retried
// when its step allows, and fails when it does not.
func TestPluginCrashIsRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		retried := step("a", "crashonce", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}})
		retried.Retries = 1
		r, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: b.job(t, retried)})
		require.NoError(t, err)
		r = b.wait(t, r.ID)
		require.Equal(t, run.RunSucceeded, r.Status)
		require.Equal(t, 2, b.tasks(t, r.ID)["a"][0].Attempt)

		once := step("a", "crashonce", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}})
		r, err = b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: b.job(t, once)})
		require.NoError(t, err)
		r = b.wait(t, r.ID)
		require.Equal(t, run.RunFailed, r.Status)
		task := b.tasks(t, r.ID)["a"][0]
		require.Equal(t, run.TaskError, task.Status)
		require.Contains(t, task.Error, "plugin exited")
	})
}

func TestCancelMidRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		jobID := b.job(t,
			step("a", "block", `{}`, job.Targets{Selector: "role=web"}),
			step("b", "echo", `{"msg":"never"}`, job.Targets{Hosts: []string{b.hosts[0].ID}}, "a"))
		r, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: jobID})
		require.NoError(t, err)
		for range 3 {
			select {
			case <-b.fake.blocked:
			case <-time.After(20 * time.Second):
				t.Fatal("the tasks did not start")
			}
		}
		_, err = b.e.CancelRun(context.Background(), r.ID)
		require.NoError(t, err)
		r = b.wait(t, r.ID)
		require.Equal(t, run.RunCanceled, r.Status)
		for name, ts := range b.tasks(t, r.ID) {
			for _, x := range ts {
				require.Equal(t, run.TaskCanceled, x.Status, "%s on %s", name, x.HostName)
			}
		}
	})
}

func TestRunJobRejectsBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		jobID := b.job(t, step("a", "echo", `{"msg":"x"}`, job.Targets{Selector: "role=db"}))
		_, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: jobID})
		var ve *core.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "steps[0].targets", ve.Field)

		_, err = b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: jobID, Params: json.RawMessage(`{"nope":1}`)})
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "params.nope", ve.Field)

		_, err = b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: jobID, Params: json.RawMessage(`{"env":3}`)})
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "params.env", ve.Field)

		p, err := s.ListRuns(context.Background(), run.Filter{}, core.PageArgs{First: 10})
		require.NoError(t, err)
		require.Empty(t, p.Items, "nothing half-created")
	})
}

func TestRestartResumesRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		retried := step("a", "blockonce", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}})
		retried.Retries = 1
		lost := step("a", "blockonce", `{}`, job.Targets{Hosts: []string{b.hosts[1].ID}})
		r1, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: b.job(t, retried)})
		require.NoError(t, err)
		r2, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: b.job(t, lost)})
		require.NoError(t, err)
		for range 2 {
			select {
			case <-b.fake.blocked:
			case <-time.After(20 * time.Second):
				t.Fatal("the tasks did not start")
			}
		}
		b.e.Stop() // the process dies with both tasks running: the server
		b.w.Stop() // first, so that the worker cannot report
		for _, id := range []string{r1.ID, r2.ID} {
			r, err := s.GetRun(context.Background(), id)
			require.NoError(t, err)
			require.Equal(t, run.RunRunning, r.Status)
		}

		b.e = b.engine(t)
		b.w = b.worker(t)
		require.Equal(t, run.RunSucceeded, b.wait(t, r1.ID).Status)
		task := b.tasks(t, r1.ID)["a"][0]
		require.Equal(t, run.TaskSucceeded, task.Status)
		require.Equal(t, 2, task.Attempt)

		require.Equal(t, run.RunFailed, b.wait(t, r2.ID).Status)
		task = b.tasks(t, r2.ID)["a"][0]
		require.Equal(t, run.TaskLost, task.Status)
		require.Equal(t, 1, task.Attempt)
	})
}

func TestAdHocRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		r, err := b.e.AdHocRun(ctx, engine.AdHocRequest{ProjectID: b.p, Executor: "fake", Action: "echo",
			Params: json.RawMessage(`{"msg":"hello from ad hoc"}`), Targets: job.Targets{Selector: "role=web"}, Actor: "usr_x"})
		require.NoError(t, err)
		require.Empty(t, r.JobID)
		require.Equal(t, "fake echo", r.Name)
		r = b.wait(t, r.ID)
		require.Equal(t, run.RunSucceeded, r.Status)
		tasks := b.tasks(t, r.ID)[engine.AdHocStep]
		require.Len(t, tasks, 3)
		logs, err := b.e.ReadLogs(ctx, tasks[0].ID, 0, 10)
		require.NoError(t, err)
		require.Len(t, logs, 1)
		require.Equal(t, "hello from ad hoc\n", string(logs[0].Data))

		var ve *core.ValidationError
		for _, c := range []struct {
			req   engine.AdHocRequest
			field string
		}{
			{engine.AdHocRequest{ProjectID: b.p, Executor: "nope", Action: "echo", Targets: job.Targets{Selector: "role=web"}}, "executor"},
			{engine.AdHocRequest{ProjectID: b.p, Executor: "fake", Action: "echo", Targets: job.Targets{Selector: "role=db"}}, "targets"},
			{engine.AdHocRequest{ProjectID: b.p, Executor: "fake", Action: "echo"}, "targets"},
			{engine.AdHocRequest{ProjectID: b.p, Executor: "fake", Action: "echo", Params: json.RawMessage(`{"msg":"${{ params.x }}"}`),
				Targets: job.Targets{Selector: "role=web"}}, "params.msg"},
			{engine.AdHocRequest{ProjectID: b.p, Executor: "fake", Action: "echo", Targets: job.Targets{Selector: "role=web"}, Priority: 101}, "priority"},
			{engine.AdHocRequest{ProjectID: "prj_nope", Executor: "fake", Action: "echo", Targets: job.Targets{Selector: "role=web"}}, "projectId"},
		} {
			_, err := b.e.AdHocRun(ctx, c.req)
			require.ErrorAs(t, err, &ve, c.field)
			require.Equal(t, c.field, ve.Field)
		}
		p, err := s.ListRuns(ctx, run.Filter{}, core.PageArgs{First: 10})
		require.NoError(t, err)
		require.Len(t, p.Items, 1, "nothing half-created")
	})
}

// TestRetryFailedHosts re-runs only the host that failed; the step it
// does not run again succeeds at once, and its outputs come from the
// original run.
func TestRetryFailedHosts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		a := step("a", "emit", `{}`, job.Targets{Selector: "role=web"})
		a.Outputs = []string{"token"}
		jobID := b.job(t, a, step("b", "failfirst", `{"host":"web2","msg":"got ${{ steps.a.outputs.token }}"}`, job.Targets{Selector: "role=web"}, "a"))
		orig, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: jobID})
		require.NoError(t, err)
		orig = b.wait(t, orig.ID)
		require.Equal(t, run.RunFailed, orig.Status)

		_, err = b.e.RetryRun(ctx, engine.RetryRunRequest{RunID: orig.ID, FailedOnly: true, Params: json.RawMessage(`{"env":"x"}`)})
		var ve *core.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "params.env", ve.Field)

		r, err := b.e.RetryRun(ctx, engine.RetryRunRequest{RunID: orig.ID, FailedOnly: true, Actor: "usr_x"})
		require.NoError(t, err)
		require.Equal(t, run.Trigger{Kind: run.TriggerRetry, Actor: "usr_x", RetryOf: orig.ID}, r.Trigger)
		r = b.wait(t, r.ID)
		require.Equal(t, run.RunSucceeded, r.Status)
		tasks := b.tasks(t, r.ID)
		require.Empty(t, tasks["a"])
		require.Len(t, tasks["b"], 1)
		require.Equal(t, "web2", tasks["b"][0].HostName)
		logs, err := b.e.ReadLogs(ctx, tasks["b"][0].ID, 0, 10)
		require.NoError(t, err)
		require.Equal(t, "got tok-web2\n", string(logs[0].Data), "the output of a step not run again is the original's")

		_, err = b.e.RetryRun(ctx, engine.RetryRunRequest{RunID: r.ID, FailedOnly: true})
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "failedOnly", ve.Field)
		all, err := b.e.RetryRun(ctx, engine.RetryRunRequest{RunID: r.ID})
		require.NoError(t, err)
		require.Equal(t, run.RunSucceeded, b.wait(t, all.ID).Status)
		require.Len(t, b.tasks(t, all.ID)["b"], 1, "a full re-run of a re-run runs what that run had")
	})
}

// TestPoolsRouteTasks: a step that requires a pool waits until a worker of
// that pool runs it; the workers of other pools never take it.
func TestPoolsRouteTasks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		pooled := step("a", "echo", `{"msg":"in zone-a"}`, job.Targets{Hosts: []string{b.hosts[0].ID}})
		pooled.Pool = "zone-a"
		r, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: b.job(t, pooled)})
		require.NoError(t, err)
		// The bundle's worker takes only unpooled tasks: the task stays
		// queued while an unpooled run goes through.
		other, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: b.job(t,
			step("a", "echo", `{"msg":"anywhere"}`, job.Targets{Hosts: []string{b.hosts[0].ID}}))})
		require.NoError(t, err)
		require.Equal(t, run.RunSucceeded, b.wait(t, other.ID).Status)
		require.Eventually(t, func() bool {
			return b.tasks(t, r.ID)["a"][0].Status == run.TaskQueued
		}, 10*time.Second, 10*time.Millisecond)
		require.Equal(t, run.TaskQueued, b.tasks(t, r.ID)["a"][0].Status, "no worker of zone-a yet")

		w, err := worker.New(worker.Options{Queue: b.q, Executors: b.fake, Pools: []string{"zone-a"}, ID: "zone-a-worker", Logger: testLogger()})
		require.NoError(t, err)
		require.NoError(t, w.Start(context.Background()))
		t.Cleanup(w.Stop)
		require.Equal(t, run.RunSucceeded, b.wait(t, r.ID).Status)
		task := b.tasks(t, r.ID)["a"][0]
		require.True(t, strings.HasPrefix(task.WorkerID, "zone-a-worker@"), task.WorkerID)
	})
}

// A step on more hosts than one dispatch chunk (500) has every task queued
// and published: the chunks after the first are not lost.
func TestDispatchesLargeStepInChunks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		b.w.Stop() // nothing runs: the tasks stay queued, their messages in the stream
		ctx := context.Background()
		db, err := s.SQLDB()
		require.NoError(t, err)
		const n = 600 // two chunks: 500 and 100
		now := time.Now().UTC()
		var hosts, labels [][]any
		for i := range n {
			id := core.NewID(core.KindHost)
			hosts = append(hosts, []any{id, b.p, fmt.Sprintf("many%04d", i), "10.9.0.1", "linux", now, now})
			labels = append(labels, []any{id, "role", "many"})
		}
		require.NoError(t, storetest.Insert(ctx, db, "hosts", []string{"id", "project_id", "name", "address", "os", "created_at", "updated_at"}, hosts, 100))
		require.NoError(t, storetest.Insert(ctx, db, "host_labels", []string{"host_id", "label_key", "label_value"}, labels, 100))
		jobID := b.job(t, step("a", "echo", `{"msg":"hi"}`, job.Targets{Selector: "role=many"}))

		r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: jobID})
		require.NoError(t, err)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(30 * time.Second)
		for {
			steps, err := s.StepRuns(ctx, r.ID)
			require.NoError(t, err)
			depth, err := b.q.Depth(ctx)
			require.NoError(t, err)
			if steps[0].Counts.Queued == n && depth == n {
				break
			}
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatalf("%d of %d tasks queued, %d messages", steps[0].Counts.Queued, n, depth)
			}
		}
		_, err = b.e.CancelRun(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, run.RunCanceled, b.wait(t, r.ID).Status)
	})
}
