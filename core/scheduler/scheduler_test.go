package scheduler_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/scheduler"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/internal/testlog"
)

// testLogger sends warnings and errors to t (package testlog).
func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelWarn) }

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// jobs is a fake job catalogue.
type jobs map[string]job.Job

func (j jobs) Get(_ context.Context, id string) (job.Job, error) {
	if v, ok := j[id]; ok {
		return v, nil
	}
	return job.Job{}, core.NotFound("job", id)
}

// starter stands in for the engine: it stores the run in the caller's
// transaction, as the engine does, and counts it once committed.
type starter struct {
	s    *store.Store
	now  func() time.Time
	mu   sync.Mutex
	runs []run.Run
	fail error
}

func (st *starter) RunJob(ctx context.Context, req engine.RunJobRequest) (run.Run, error) {
	st.mu.Lock()
	fail := st.fail
	st.mu.Unlock()
	if fail != nil {
		return run.Run{}, fail
	}
	r := run.Run{
		ID: core.NewID(core.KindRun), ProjectID: req.ProjectID, JobID: req.JobID, JobVersion: 1, Name: "backup",
		Status: run.RunQueued, Priority: req.Priority, Trigger: req.Trigger, Params: req.Params,
		Spec: json.RawMessage(`{}`), CreatedAt: st.now().UTC(),
	}
	if err := st.s.CreateRun(ctx, r, nil, nil); err != nil {
		return run.Run{}, err
	}
	st.s.AfterCommit(ctx, func() {
		st.mu.Lock()
		st.runs = append(st.runs, r)
		st.mu.Unlock()
	})
	return r, nil
}

func (st *starter) started() []run.Run {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]run.Run(nil), st.runs...)
}

type bundle struct {
	ctx     context.Context
	s       *store.Store
	clock   *clock
	svc     *scheduler.Service
	starter *starter
	sched   *scheduler.Scheduler
	project string
	job     job.Job
}

var t0 = time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)

func setup(t *testing.T, s *store.Store) *bundle {
	t.Helper()
	ctx := context.Background()
	p := project.Project{ID: core.NewID(core.KindProject), Name: "ops", CreatedAt: t0, UpdatedAt: t0}
	require.NoError(t, s.CreateProject(ctx, p))
	j := job.Job{ID: core.NewID(core.KindJob), ProjectID: p.ID, Name: "backup", Version: 1, Spec: job.Spec{
		Parameters: []job.Parameter{
			{Name: "target", Type: job.ParamString, Required: true},
			{Name: "token", Type: job.ParamSecret, Default: "dflt"},
		},
	}}
	c := &clock{t: t0}
	b := &bundle{ctx: ctx, s: s, clock: c, project: p.ID, job: j}
	b.svc = scheduler.NewService(s, jobs{j.ID: j}).WithClock(c.Now)
	b.starter = &starter{s: s, now: c.Now}
	b.sched = scheduler.NewScheduler(scheduler.SchedulerOptions{
		Store: s, Runs: s, Starter: b.starter, Logger: testLogger(t), Now: c.Now,
	})
	return b
}

func (b *bundle) create(t *testing.T, expr string, mut func(*scheduler.CreateInput)) scheduler.Schedule {
	t.Helper()
	in := scheduler.CreateInput{
		ProjectID: b.project, JobID: b.job.ID, Name: "every-10m", Expression: expr,
		Params: json.RawMessage(`{"target":"db"}`), Enabled: true, CreatedBy: "usr_alice",
	}
	if mut != nil {
		mut(&in)
	}
	sc, err := b.svc.Create(b.ctx, in)
	require.NoError(t, err)
	return sc
}

// tickAt sets the clock to t and ticks once.
func (b *bundle) tickAt(t *testing.T, at time.Time) int {
	t.Helper()
	b.clock.Set(at)
	n, err := b.sched.Tick(b.ctx)
	require.NoError(t, err)
	return n
}

func (b *bundle) get(t *testing.T, id string) scheduler.Schedule {
	t.Helper()
	sc, err := b.svc.Get(b.ctx, id)
	require.NoError(t, err)
	return sc
}

func (b *bundle) finish(t *testing.T, runID string, at time.Time) {
	t.Helper()
	_, err := b.s.TransitionRun(b.ctx, runID, []run.RunStatus{run.RunQueued}, run.RunRunning, run.RunPatch{StartedAt: &at})
	require.NoError(t, err)
	_, err = b.s.TransitionRun(b.ctx, runID, []run.RunStatus{run.RunRunning}, run.RunSucceeded, run.RunPatch{FinishedAt: &at})
	require.NoError(t, err)
}

func (b *bundle) fires(t *testing.T, id string) []scheduler.Fire {
	t.Helper()
	f, err := b.svc.Fires(b.ctx, id, 100)
	require.NoError(t, err)
	return f
}

func at(hm string) time.Time {
	v, err := time.Parse("15:04:05", hm)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 1, 1, v.Hour(), v.Minute(), v.Second(), 0, time.UTC)
}

func TestSchedulerFiresOnTime(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	sc := b.create(t, "*/10 * * * *", nil)
	require.NotNil(t, sc.NextFireAt)
	assert.Equal(t, at("00:10:00"), *sc.NextFireAt)

	assert.Equal(t, 0, b.tickAt(t, at("00:09:59")))
	assert.Empty(t, b.starter.started())
	assert.Equal(t, 1, b.tickAt(t, at("00:10:00")))
	runs := b.starter.started()
	require.Len(t, runs, 1)
	assert.Equal(t, run.Trigger{Kind: run.TriggerSchedule, Actor: sc.ID}, runs[0].Trigger)
	assert.JSONEq(t, `{"target":"db"}`, string(runs[0].Params))
	got := b.get(t, sc.ID)
	assert.Equal(t, at("00:20:00"), *got.NextFireAt)
	assert.Equal(t, at("00:10:00"), *got.LastFireAt)
	assert.Equal(t, runs[0].ID, got.LastRunID)
	assert.Equal(t, 0, b.tickAt(t, at("00:10:01")), "a fire time fires once")
	f := b.fires(t, sc.ID)
	require.Len(t, f, 1)
	assert.Equal(t, scheduler.OutcomeStarted, f[0].Outcome)
	assert.Equal(t, runs[0].ID, f[0].RunID)
}

func TestSchedulerOverlap(t *testing.T) {
	t.Parallel()
	t.Run("skip", func(t *testing.T) {
		b := setup(t, storetest.New(t, store.SQLite))
		sc := b.create(t, "*/10 * * * *", func(in *scheduler.CreateInput) { in.Overlap = scheduler.OverlapSkip })
		b.tickAt(t, at("00:10:00"))
		assert.Equal(t, 1, b.tickAt(t, at("00:20:00")))
		assert.Len(t, b.starter.started(), 1, "the first run has not ended: skipped")
		assert.Equal(t, scheduler.OutcomeSkippedBusy, b.fires(t, sc.ID)[0].Outcome)
		assert.Equal(t, at("00:30:00"), *b.get(t, sc.ID).NextFireAt)
		b.finish(t, b.starter.started()[0].ID, at("00:25:00"))
		b.tickAt(t, at("00:30:00"))
		assert.Len(t, b.starter.started(), 2)
	})
	t.Run("queue", func(t *testing.T) {
		b := setup(t, storetest.New(t, store.SQLite))
		sc := b.create(t, "*/10 * * * *", func(in *scheduler.CreateInput) {
			in.Overlap, in.Name = scheduler.OverlapQueue, "queued"
		})
		b.tickAt(t, at("00:10:00"))
		assert.Equal(t, 0, b.tickAt(t, at("00:20:00")), "waits for the run")
		assert.Equal(t, 0, b.tickAt(t, at("00:26:00")))
		assert.Len(t, b.starter.started(), 1)
		assert.Equal(t, at("00:20:00"), *b.get(t, sc.ID).NextFireAt, "the fire stays pending")
		b.finish(t, b.starter.started()[0].ID, at("00:27:00"))
		assert.Equal(t, 1, b.tickAt(t, at("00:27:00")))
		runs := b.starter.started()
		require.Len(t, runs, 2)
		f := b.fires(t, sc.ID)
		assert.Equal(t, at("00:20:00"), f[0].At)
		assert.Equal(t, runs[1].ID, f[0].RunID)
		assert.Equal(t, at("00:30:00"), *b.get(t, sc.ID).NextFireAt)
	})
	t.Run("allow", func(t *testing.T) {
		b := setup(t, storetest.New(t, store.SQLite))
		b.create(t, "*/10 * * * *", func(in *scheduler.CreateInput) {
			in.Overlap, in.Name = scheduler.OverlapAllow, "allowed"
		})
		b.tickAt(t, at("00:10:00"))
		b.tickAt(t, at("00:20:00"))
		assert.Len(t, b.starter.started(), 2)
	})
}

func TestSchedulerMissed(t *testing.T) {
	t.Parallel()
	t.Run("skip", func(t *testing.T) {
		b := setup(t, storetest.New(t, store.SQLite))
		sc := b.create(t, "*/10 * * * *", func(in *scheduler.CreateInput) { in.Missed = scheduler.MissedSkip })
		assert.Equal(t, 1, b.tickAt(t, at("01:05:00")), "down from 00:09 to 01:05")
		assert.Empty(t, b.starter.started())
		f := b.fires(t, sc.ID)
		require.Len(t, f, 1)
		assert.Equal(t, scheduler.OutcomeSkippedMissed, f[0].Outcome)
		assert.Equal(t, at("01:10:00"), *b.get(t, sc.ID).NextFireAt)
	})
	t.Run("run once", func(t *testing.T) {
		b := setup(t, storetest.New(t, store.SQLite))
		sc := b.create(t, "*/10 * * * *", func(in *scheduler.CreateInput) {
			in.Missed, in.Name = scheduler.MissedRunOnce, "once"
		})
		assert.Equal(t, 1, b.tickAt(t, at("01:05:00")))
		assert.Len(t, b.starter.started(), 1)
		assert.Equal(t, at("01:10:00"), *b.get(t, sc.ID).NextFireAt)
		assert.Equal(t, 0, b.tickAt(t, at("01:05:01")))
	})
	t.Run("within the grace every fire is made up", func(t *testing.T) {
		b := setup(t, storetest.New(t, store.SQLite))
		sc := b.create(t, "*/10 * * * * *", func(in *scheduler.CreateInput) {
			in.Name, in.Overlap = "grace", scheduler.OverlapAllow
		})
		assert.Equal(t, 4, b.tickAt(t, at("00:01:10")), "00:00:40 .. 00:01:10")
		assert.Len(t, b.starter.started(), 4)
		assert.Equal(t, at("00:01:20"), *b.get(t, sc.ID).NextFireAt)
	})
}

func TestSchedulerFireThatCannotStart(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	sc := b.create(t, "*/10 * * * *", nil)
	b.starter.fail = core.NotFound("job", b.job.ID)
	assert.Equal(t, 1, b.tickAt(t, at("00:10:00")))
	got := b.get(t, sc.ID)
	assert.Contains(t, got.LastError, "not found")
	assert.Equal(t, at("00:20:00"), *got.NextFireAt, "the schedule moves on")
	assert.Equal(t, scheduler.OutcomeFailed, b.fires(t, sc.ID)[0].Outcome)

	b.starter.fail = nil
	b.tickAt(t, at("00:20:00"))
	assert.Empty(t, b.get(t, sc.ID).LastError, "a good fire clears the error")
}

func TestServiceBadInputStoresNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	other := core.NewID(core.KindProject)
	tests := []struct {
		name  string
		mut   func(*scheduler.CreateInput)
		field string
	}{
		{"expression", func(in *scheduler.CreateInput) { in.Expression = "every day" }, "expression"},
		{"time zone", func(in *scheduler.CreateInput) { in.TimeZone = "Europe/Atlantis" }, "timeZone"},
		{"tz prefix", func(in *scheduler.CreateInput) { in.Expression = "CRON_TZ=UTC * * * * *" }, "expression"},
		{"never", func(in *scheduler.CreateInput) { in.Expression = "0 0 30 2 *" }, "expression"},
		{"jitter", func(in *scheduler.CreateInput) { in.Jitter = 2 * time.Hour }, "jitter"},
		{"overlap", func(in *scheduler.CreateInput) { in.Overlap = "sometimes" }, "overlap"},
		{"missed", func(in *scheduler.CreateInput) { in.Missed = "later" }, "missed"},
		{"priority", func(in *scheduler.CreateInput) { in.Priority = 1000 }, "priority"},
		{"name", func(in *scheduler.CreateInput) { in.Name = "no spaces" }, "name"},
		{"unknown param", func(in *scheduler.CreateInput) { in.Params = json.RawMessage(`{"target":"x","nope":1}`) }, "params.nope"},
		{"missing param", func(in *scheduler.CreateInput) { in.Params = nil }, "params.target"},
		{"secret param", func(in *scheduler.CreateInput) { in.Params = json.RawMessage(`{"target":"x","token":"s3cret"}`) }, "params.token"},
		{"params not an object", func(in *scheduler.CreateInput) { in.Params = json.RawMessage(`[1]`) }, "params"},
		{"job id", func(in *scheduler.CreateInput) { in.JobID = "nope" }, "jobId"},
	}
	for _, tc := range tests {
		in := scheduler.CreateInput{ProjectID: b.project, JobID: b.job.ID, Name: "s", Expression: "* * * * *",
			Params: json.RawMessage(`{"target":"db"}`), Enabled: true}
		tc.mut(&in)
		_, err := b.svc.Create(b.ctx, in)
		require.ErrorIs(t, err, core.ErrInvalidInput, tc.name)
		assert.Equal(t, tc.field, core.FieldOf(err), "%s: %v", tc.name, err)
		assert.NotContains(t, err.Error(), "s3cret")
	}
	_, err := b.svc.Create(b.ctx, scheduler.CreateInput{ProjectID: other, JobID: b.job.ID, Name: "s", Expression: "* * * * *",
		Params: json.RawMessage(`{"target":"db"}`)})
	require.ErrorIs(t, err, core.ErrNotFound, "a job of another project is not found")
	list, err := b.svc.List(b.ctx, b.project)
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestServiceUpdateReplans(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	sc := b.create(t, "*/10 * * * *", nil)
	expr := "0 3 * * *"
	tz := "Europe/Berlin"
	got, err := b.svc.Update(b.ctx, scheduler.UpdateInput{ID: sc.ID, Expression: &expr, TimeZone: &tz})
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC), *got.NextFireAt, "03:00 CET")

	got, err = b.svc.SetEnabled(b.ctx, sc.ID, false)
	require.NoError(t, err)
	assert.Nil(t, got.NextFireAt)
	assert.Equal(t, 0, b.tickAt(t, at("05:00:00")))

	b.clock.Set(time.Date(2026, 1, 3, 12, 0, 0, 0, time.UTC))
	got, err = b.svc.SetEnabled(b.ctx, sc.ID, true)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 1, 4, 2, 0, 0, 0, time.UTC), *got.NextFireAt, "no make-up for the disabled days")

	bad := "61 * * * *"
	_, err = b.svc.Update(b.ctx, scheduler.UpdateInput{ID: sc.ID, Expression: &bad})
	require.ErrorIs(t, err, core.ErrInvalidInput)
	assert.Equal(t, "0 3 * * *", b.get(t, sc.ID).Expression, "nothing changed")

	times, err := b.svc.NextFireTimes(got, 3)
	require.NoError(t, err)
	assert.Equal(t, []time.Time{
		time.Date(2026, 1, 4, 2, 0, 0, 0, time.UTC), time.Date(2026, 1, 5, 2, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 6, 2, 0, 0, 0, time.UTC),
	}, times)

	_, err = b.svc.Delete(b.ctx, sc.ID)
	require.NoError(t, err)
	_, err = b.svc.Get(b.ctx, sc.ID)
	require.ErrorIs(t, err, core.ErrNotFound)
}

func TestServiceJitterIsDrawnOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	sc := b.create(t, "*/10 * * * *", func(in *scheduler.CreateInput) { in.Jitter = 5 * time.Minute })
	require.NotNil(t, sc.DueAt)
	assert.False(t, sc.DueAt.Before(*sc.NextFireAt))
	assert.True(t, sc.DueAt.Before(sc.NextFireAt.Add(5*time.Minute)))
	assert.Equal(t, *sc.DueAt, *b.get(t, sc.ID).DueAt, "stored, so every replica agrees")
	assert.Equal(t, 0, b.tickAt(t, sc.DueAt.Add(-time.Millisecond)))
	assert.Equal(t, 1, b.tickAt(t, *sc.DueAt))
	f := b.fires(t, sc.ID)
	assert.Equal(t, at("00:10:00"), f[0].At, "the fire is named by its time, not its jitter")
}
