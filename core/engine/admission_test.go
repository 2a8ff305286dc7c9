package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// limitedJob creates a job of one step in project p with the run limits of
// edit.
func (b *bundle) limitedJob(t *testing.T, p string, edit func(*job.Spec), st job.Step) string {
	t.Helper()
	spec := job.Spec{Steps: []job.Step{st}}
	edit(&spec)
	j, err := b.jobs.Create(context.Background(), job.CreateInput{ProjectID: p, Name: fmt.Sprintf("job-%d", time.Now().UnixNano()), Spec: spec})
	require.NoError(t, err)
	return j.ID
}

// limitProject sets the project's MaxConcurrentRuns.
func (b *bundle) limitProject(t *testing.T, p string, n int) {
	t.Helper()
	_, err := project.NewService(b.s, nil).Update(context.Background(), project.UpdateInput{ID: p, MaxConcurrentRuns: &n})
	require.NoError(t, err)
}

// otherProject creates a second project with one host.
func (b *bundle) otherProject(t *testing.T) (string, inventory.Host) {
	t.Helper()
	ctx := context.Background()
	p, err := project.NewService(b.s, nil).Create(ctx, project.CreateInput{Name: "other"})
	require.NoError(t, err)
	h, err := b.inv.CreateHost(ctx, inventory.CreateHostInput{ProjectID: p.ID, Name: "db1", Address: "10.0.1.1", OS: inventory.OSLinux})
	require.NoError(t, err)
	return p.ID, h
}

// started waits until a "gate" or "block" task has started, and returns
// its host.
func (b *bundle) started(t *testing.T) string {
	t.Helper()
	select {
	case h := <-b.fake.blocked:
		return h
	case <-time.After(20 * time.Second):
		t.Fatal("no task started")
		return ""
	}
}

func (b *bundle) status(t *testing.T, id string) run.RunStatus {
	t.Helper()
	r, err := b.s.GetRun(context.Background(), id)
	require.NoError(t, err)
	return r.Status
}

// oneAtATime asserts that the runs ran one after the other, in this
// order: each started once the one before had finished.
func oneAtATime(t *testing.T, runs []run.Run) {
	t.Helper()
	for i, r := range runs {
		require.NotNil(t, r.StartedAt, r.ID)
		require.NotNil(t, r.FinishedAt, r.ID)
		if i > 0 {
			prev := runs[i-1]
			require.False(t, r.StartedAt.Before(*prev.FinishedAt),
				"run %d started at %s, before run %d finished at %s", i, r.StartedAt, i-1, prev.FinishedAt)
		}
	}
}

func TestJobConcurrencyRunsOneAtATime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		jobID := b.limitedJob(t, b.p, func(s *job.Spec) { s.Concurrency = 1 },
			step("a", "gate", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}}))
		var ids []string
		for range 3 {
			r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: jobID})
			require.NoError(t, err)
			ids = append(ids, r.ID)
		}
		b.started(t)
		// The first run holds the job's only slot: the others wait queued.
		require.Equal(t, run.RunRunning, b.status(t, ids[0]))
		require.Equal(t, run.RunQueued, b.status(t, ids[1]))
		require.Equal(t, run.RunQueued, b.status(t, ids[2]))

		// Another job of the project is not held back by this one's limit.
		other, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.job(t, step("a", "echo", `{"msg":"x"}`, job.Targets{Hosts: []string{b.hosts[1].ID}}))})
		require.NoError(t, err)
		require.Equal(t, run.RunSucceeded, b.wait(t, other.ID).Status)
		require.Equal(t, run.RunQueued, b.status(t, ids[1]))

		close(b.fake.gate)
		var runs []run.Run
		for _, id := range ids {
			r := b.wait(t, id)
			require.Equal(t, run.RunSucceeded, r.Status)
			runs = append(runs, r)
		}
		oneAtATime(t, runs) // oldest first
		b.fake.mu.Lock()
		defer b.fake.mu.Unlock()
		require.Equal(t, 1, b.fake.peak["gate"], "never two tasks of the job at once")
		require.Len(t, b.fake.rendered["gate"], 3)
	})
}

func TestProjectMaxConcurrentRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		b.limitProject(t, b.p, 1)
		gate := step("a", "gate", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}})
		first, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.job(t, gate)})
		require.NoError(t, err)
		b.started(t)
		second, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.job(t, gate)})
		require.NoError(t, err)
		adhoc, err := b.e.AdHocRun(ctx, engine.AdHocRequest{ProjectID: b.p, Executor: "fake", Action: "gate",
			Targets: job.Targets{Hosts: []string{b.hosts[1].ID}}})
		require.NoError(t, err)
		canceled, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.job(t, gate)})
		require.NoError(t, err)
		require.Equal(t, run.RunQueued, b.status(t, second.ID))
		require.Equal(t, run.RunQueued, b.status(t, adhoc.ID), "ad-hoc runs count against their project")

		// A queued run that is canceled ends without ever starting.
		_, err = b.e.CancelRun(ctx, canceled.ID)
		require.NoError(t, err)
		c := b.wait(t, canceled.ID)
		require.Equal(t, run.RunCanceled, c.Status)
		require.Nil(t, c.StartedAt)
		require.Equal(t, run.RunRunning, b.status(t, first.ID))

		close(b.fake.gate)
		var runs []run.Run
		for _, id := range []string{first.ID, second.ID, adhoc.ID} {
			r := b.wait(t, id)
			require.Equal(t, run.RunSucceeded, r.Status)
			runs = append(runs, r)
		}
		oneAtATime(t, runs)
		b.fake.mu.Lock()
		defer b.fake.mu.Unlock()
		require.Equal(t, 1, b.fake.peak["gate"])
	})
}

func TestPriorityOrdersTheQueue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		b.limitProject(t, b.p, 1)
		first, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.job(t, step("a", "gate", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}}))})
		require.NoError(t, err)
		b.started(t)
		echo := b.job(t, step("a", "echo", `{"msg":"x"}`, job.Targets{Hosts: []string{b.hosts[1].ID}}))
		low, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: echo, Priority: -5})
		require.NoError(t, err)
		mid, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: echo})
		require.NoError(t, err)
		high, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: echo, Priority: 10})
		require.NoError(t, err)
		require.Equal(t, run.RunQueued, b.status(t, low.ID))

		close(b.fake.gate)
		var runs []run.Run
		for _, id := range []string{first.ID, high.ID, mid.ID, low.ID} {
			r := b.wait(t, id)
			require.Equal(t, run.RunSucceeded, r.Status)
			runs = append(runs, r)
		}
		oneAtATime(t, runs) // the youngest but highest first, the oldest but lowest last
	})
}

// TestFairnessBetweenProjects: project A queues five runs first, with a
// limit of one; project B's one run, queued last, does not wait behind
// them.
func TestFairnessBetweenProjects(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		b.limitProject(t, b.p, 1)
		pb, hb := b.otherProject(t)
		b.limitProject(t, pb, 1)
		gate := b.job(t, step("a", "gate", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}}))
		var as []string
		for range 5 {
			r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: gate, Priority: 5})
			require.NoError(t, err)
			as = append(as, r.ID)
		}
		require.Equal(t, "web1", b.started(t))
		// B's run has a lower priority than A's, and is the youngest.
		rb, err := b.e.AdHocRun(ctx, engine.AdHocRequest{ProjectID: pb, Executor: "fake", Action: "echo",
			Targets: job.Targets{Hosts: []string{hb.ID}}})
		require.NoError(t, err)
		require.Equal(t, run.RunSucceeded, b.wait(t, rb.ID).Status, "B runs while A's first run still runs")
		statuses := []run.RunStatus{}
		for _, id := range as {
			statuses = append(statuses, b.status(t, id))
		}
		require.Equal(t, []run.RunStatus{run.RunRunning, run.RunQueued, run.RunQueued, run.RunQueued, run.RunQueued}, statuses)

		close(b.fake.gate)
		var runs []run.Run
		for _, id := range as {
			r := b.wait(t, id)
			require.Equal(t, run.RunSucceeded, r.Status)
			runs = append(runs, r)
		}
		oneAtATime(t, runs)
	})
}

func TestRunTimeout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		// Long enough for both tasks to be running at the deadline on a
		// loaded machine: the test waits for them below.
		const timeout = 3 * time.Second
		jobID := b.limitedJob(t, b.p, func(s *job.Spec) { s.Timeout = timeout },
			step("a", "block", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID, b.hosts[1].ID}}))
		j, err := b.jobs.Get(ctx, jobID)
		require.NoError(t, err)
		require.Equal(t, timeout, j.Spec.Timeout, "the timeout is kept")
		r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: jobID})
		require.NoError(t, err)
		for range 2 {
			select {
			case <-b.fake.blocked:
			case <-time.After(20 * time.Second):
				t.Fatal("the tasks did not start")
			}
		}
		r = b.wait(t, r.ID)
		require.Equal(t, run.RunTimedOut, r.Status)
		require.GreaterOrEqual(t, r.FinishedAt.Sub(*r.StartedAt), timeout-time.Millisecond) // stored to the µs
		steps, err := s.StepRuns(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, run.StepTimedOut, steps[0].Status)
		tasks := b.tasks(t, r.ID)["a"]
		require.Len(t, tasks, 2)
		for _, x := range tasks {
			require.Contains(t, []run.TaskStatus{run.TaskTimedOut, run.TaskCanceled}, x.Status, x.HostName)
			require.Equal(t, string(engine.ReasonDeadline), x.Error)
		}
		require.True(t, slices.ContainsFunc(tasks, func(x run.Task) bool { return x.Status == run.TaskTimedOut }),
			"a task running at the deadline is timed out")
	})
}

func TestLimitsRejectBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		st := step("a", "echo", `{}`, job.Targets{Hosts: []string{b.hosts[0].ID}})
		var ve *core.ValidationError
		for _, c := range []struct {
			edit  func(*job.Spec)
			field string
		}{
			{func(s *job.Spec) { s.Concurrency = -1 }, "concurrency"},
			{func(s *job.Spec) { s.Concurrency = 1001 }, "concurrency"},
			{func(s *job.Spec) { s.Timeout = 8 * 24 * time.Hour }, "timeout"},
			{func(s *job.Spec) { s.Timeout = -time.Second }, "timeout"},
		} {
			spec := job.Spec{Steps: []job.Step{st}}
			c.edit(&spec)
			_, err := b.jobs.Create(ctx, job.CreateInput{ProjectID: b.p, Name: "bad", Spec: spec})
			require.ErrorAs(t, err, &ve)
			require.Equal(t, c.field, ve.Field)
		}
		jobs, err := b.jobs.List(ctx, job.Filter{ProjectID: b.p}, core.PageArgs{First: 10})
		require.NoError(t, err)
		require.Empty(t, jobs.Items, "nothing half-created")

		projects := project.NewService(s, nil)
		for _, n := range []int{-1, 10001} {
			_, err := projects.Create(ctx, project.CreateInput{Name: "bad", MaxConcurrentRuns: n})
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "maxConcurrentRuns", ve.Field)
			_, err = projects.Update(ctx, project.UpdateInput{ID: b.p, MaxConcurrentRuns: &n})
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "maxConcurrentRuns", ve.Field)
		}
		n, err := projects.Count(ctx, project.Filter{})
		require.NoError(t, err)
		require.Equal(t, 1, n, "no project half-created")
		p, err := projects.Get(ctx, b.p)
		require.NoError(t, err)
		require.Zero(t, p.MaxConcurrentRuns, "unchanged")
		limit := 10000
		p, err = projects.Update(ctx, project.UpdateInput{ID: b.p, MaxConcurrentRuns: &limit})
		require.NoError(t, err)
		require.Equal(t, 10000, p.MaxConcurrentRuns)
	})
}
