package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

var runBase = time.Date(2026, 3, 2, 9, 0, 0, 123456000, time.UTC)

type runBundle struct {
	ctx     context.Context
	s       *store.Store
	project string
}

func runSetup(t *testing.T, s *store.Store) runBundle {
	t.Helper()
	ctx := context.Background()
	p := project.Project{ID: core.NewID(core.KindProject), Name: "ops", CreatedAt: runBase, UpdatedAt: runBase}
	require.NoError(t, s.CreateProject(ctx, p))
	return runBundle{ctx: ctx, s: s, project: p.ID}
}

func (b runBundle) newProject(t *testing.T, name string) string {
	t.Helper()
	p := project.Project{ID: core.NewID(core.KindProject), Name: name, CreatedAt: runBase, UpdatedAt: runBase}
	require.NoError(t, b.s.CreateProject(b.ctx, p))
	return p.ID
}

// fixture makes a run with one step run per entry of hosts, each with one
// task per host.
func fixture(projectID string, created time.Time, hosts ...[]string) (run.Run, []run.StepRun, []run.Task) {
	r := run.Run{
		ID: core.NewID(core.KindRun), ProjectID: projectID, JobID: core.NewID(core.KindJob), JobVersion: 3,
		Name: "deploy", Status: run.RunQueued, Priority: 5,
		Trigger:      run.Trigger{Kind: run.TriggerManual, Actor: "usr_alice"},
		Params:       json.RawMessage(`{"version":"1.2.3"}`),
		SecretParams: []string{"token"},
		Spec:         json.RawMessage(`{"steps":[{"name":"a"}]}`),
		CreatedAt:    created,
	}
	var steps []run.StepRun
	var tasks []run.Task
	for i, hs := range hosts {
		st := run.StepRun{ID: core.NewID(core.KindStepRun), RunID: r.ID, Name: fmt.Sprintf("step%d", i), Index: i, Status: run.StepPending}
		steps = append(steps, st)
		for _, h := range hs {
			tasks = append(tasks, run.Task{
				ID: core.NewID(core.KindTask), RunID: r.ID, StepRunID: st.ID, HostID: h, HostName: "host-" + h,
				Status: run.TaskPending, Attempt: 1, CreatedAt: created,
			})
		}
	}
	return r, steps, tasks
}

func hostIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = core.NewID(core.KindHost)
	}
	return out
}

func countRows(t *testing.T, s *store.Store, table, where string, args ...any) int {
	t.Helper()
	db, err := s.SQLDB()
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table+" WHERE "+where, args...).Scan(&n))
	return n
}

func TestCreateRunRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(230), hostIDs(3))
		require.NoError(t, s.CreateRun(b.ctx, r, steps, tasks))

		got, err := s.GetRun(b.ctx, r.ID)
		require.NoError(t, err)
		require.JSONEq(t, string(r.Params), string(got.Params))
		got.Params = r.Params
		require.Equal(t, r, got)

		srs, err := s.StepRuns(b.ctx, r.ID)
		require.NoError(t, err)
		require.Len(t, srs, 2)
		require.Equal(t, run.Counts{Total: 230, Pending: 230}, srs[0].Counts)
		require.Equal(t, run.Counts{Total: 3, Pending: 3}, srs[1].Counts)
		srs[0].Counts = run.Counts{}
		require.Equal(t, steps[0], srs[0])

		var all []run.Task
		page := core.PageArgs{First: 100}
		for {
			p, err := s.ListTasks(b.ctx, run.TaskFilter{RunID: r.ID}, page)
			require.NoError(t, err)
			all = append(all, p.Items...)
			if !p.HasNext {
				break
			}
			page.After = p.Cursors[len(p.Cursors)-1]
		}
		require.Equal(t, tasks, all)

		p, err := s.ListTasks(b.ctx, run.TaskFilter{RunID: r.ID, StepRunID: steps[1].ID, Statuses: []run.TaskStatus{run.TaskPending}}, core.PageArgs{First: 10})
		require.NoError(t, err)
		require.Equal(t, tasks[230:], p.Items)

		_, err = s.GetRun(b.ctx, core.NewID(core.KindRun))
		require.ErrorIs(t, err, core.ErrNotFound)
		_, err = s.GetTask(b.ctx, core.NewID(core.KindTask))
		require.ErrorIs(t, err, core.ErrNotFound)

		// An ad-hoc run has no job and no secrets.
		adhoc, st, ts := fixture(b.project, runBase, hostIDs(1))
		adhoc.JobID, adhoc.JobVersion, adhoc.SecretParams, adhoc.Params = "", 0, nil, nil
		require.NoError(t, s.CreateRun(b.ctx, adhoc, st, ts))
		got, err = s.GetRun(b.ctx, adhoc.ID)
		require.NoError(t, err)
		require.Equal(t, "", got.JobID)
		require.JSONEq(t, `{}`, string(got.Params))
		require.Empty(t, got.SecretParams)
	})
}

func TestCreateRunIsAtomic(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(250))
		tasks[180].ID = tasks[3].ID // fails in the second batch of tasks
		require.Error(t, s.CreateRun(b.ctx, r, steps, tasks))
		_, err := s.GetRun(b.ctx, r.ID)
		require.ErrorIs(t, err, core.ErrNotFound)
		require.Zero(t, countRows(t, s, "step_runs", "run_id = ?", r.ID))
		require.Zero(t, countRows(t, s, "tasks", "run_id = ?", r.ID))

		// A run of a project that does not exist.
		r, steps, tasks = fixture(core.NewID(core.KindProject), runBase, hostIDs(2))
		require.Error(t, s.CreateRun(b.ctx, r, steps, tasks))
		require.Zero(t, countRows(t, s, "tasks", "run_id = ?", r.ID))

		// Bad input is refused before anything is written.
		r, steps, tasks = fixture(b.project, runBase, hostIDs(2))
		r.Priority = run.MaxPriority + 1
		require.ErrorIs(t, s.CreateRun(b.ctx, r, steps, tasks), core.ErrInvalidInput)
		r.Priority = 0
		tasks[1].StepRunID = core.NewID(core.KindStepRun)
		require.Error(t, s.CreateRun(b.ctx, r, steps, tasks))
		_, err = s.GetRun(b.ctx, r.ID)
		require.ErrorIs(t, err, core.ErrNotFound)
	})
}

func TestConditionalTransitions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(2))
		require.NoError(t, s.CreateRun(b.ctx, r, steps, tasks))
		at := runBase.Add(time.Second)

		// Run: queued → running, twice.
		res, err := s.TransitionRun(b.ctx, r.ID, []run.RunStatus{run.RunQueued}, run.RunRunning, run.RunPatch{StartedAt: &at})
		require.NoError(t, err)
		require.Equal(t, run.TransitionResult[run.RunStatus]{Applied: true, Status: run.RunRunning}, res)
		later := at.Add(time.Minute)
		res, err = s.TransitionRun(b.ctx, r.ID, []run.RunStatus{run.RunQueued}, run.RunRunning, run.RunPatch{StartedAt: &later})
		require.NoError(t, err)
		require.Equal(t, run.TransitionResult[run.RunStatus]{Applied: false, Status: run.RunRunning}, res)
		got, err := s.GetRun(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, at, *got.StartedAt)
		_, err = s.TransitionRun(b.ctx, r.ID, []run.RunStatus{run.RunSucceeded}, run.RunRunning, run.RunPatch{})
		require.ErrorIs(t, err, run.ErrInvalidTransition)
		_, err = s.TransitionRun(b.ctx, core.NewID(core.KindRun), []run.RunStatus{run.RunQueued}, run.RunRunning, run.RunPatch{})
		require.ErrorIs(t, err, core.ErrNotFound)

		// Step: pending → running, twice.
		sres, err := s.TransitionStep(b.ctx, steps[0].ID, []run.StepStatus{run.StepPending}, run.StepRunning, run.StepPatch{StartedAt: &at})
		require.NoError(t, err)
		require.True(t, sres.Applied)
		sres, err = s.TransitionStep(b.ctx, steps[0].ID, []run.StepStatus{run.StepPending}, run.StepRunning, run.StepPatch{StartedAt: &later})
		require.NoError(t, err)
		require.Equal(t, run.TransitionResult[run.StepStatus]{Applied: false, Status: run.StepRunning}, sres)

		// Task: queued → running → succeeded; each redelivered.
		tk := tasks[0].ID
		_, err = s.TransitionTask(b.ctx, tk, []run.TaskStatus{run.TaskPending}, run.TaskQueued, run.TaskPatch{At: at, QueuedAt: &at})
		require.NoError(t, err)
		worker := "w1"
		tres, err := s.TransitionTask(b.ctx, tk, []run.TaskStatus{run.TaskQueued}, run.TaskRunning, run.TaskPatch{At: at, StartedAt: &at, WorkerID: &worker})
		require.NoError(t, err)
		require.True(t, tres.Applied)
		code := 0
		done := run.TaskPatch{At: later, ExitCode: &code, FinishedAt: &later, Outputs: map[string]string{"path": "/srv/app"}}
		tres, err = s.TransitionTask(b.ctx, tk, []run.TaskStatus{run.TaskRunning}, run.TaskSucceeded, done)
		require.NoError(t, err)
		require.Equal(t, run.TransitionResult[run.TaskStatus]{Applied: true, Status: run.TaskSucceeded}, tres)
		before, err := s.GetTask(b.ctx, tk)
		require.NoError(t, err)
		require.Equal(t, map[string]string{"path": "/srv/app"}, before.Outputs)
		require.Equal(t, 0, *before.ExitCode)
		require.Equal(t, "w1", before.WorkerID)

		code2, other := 1, later.Add(time.Hour)
		tres, err = s.TransitionTask(b.ctx, tk, []run.TaskStatus{run.TaskRunning}, run.TaskFailed,
			run.TaskPatch{At: other, ExitCode: &code2, FinishedAt: &other, Outputs: map[string]string{}})
		require.NoError(t, err)
		require.Equal(t, run.TransitionResult[run.TaskStatus]{Applied: false, Status: run.TaskSucceeded}, tres)
		after, err := s.GetTask(b.ctx, tk)
		require.NoError(t, err)
		require.Equal(t, before, after)

		_, err = s.TransitionTask(b.ctx, tk, []run.TaskStatus{run.TaskSucceeded}, run.TaskRunning, run.TaskPatch{})
		require.ErrorIs(t, err, run.ErrInvalidTransition)
		_, err = s.TransitionTask(b.ctx, core.NewID(core.KindTask), []run.TaskStatus{run.TaskPending}, run.TaskQueued, run.TaskPatch{})
		require.ErrorIs(t, err, core.ErrNotFound)

		// A retry: running → queued with the next attempt.
		tk = tasks[1].ID
		for _, mv := range [][2]run.TaskStatus{{run.TaskPending, run.TaskQueued}, {run.TaskQueued, run.TaskRunning}} {
			_, err = s.TransitionTask(b.ctx, tk, []run.TaskStatus{mv[0]}, mv[1], run.TaskPatch{At: at})
			require.NoError(t, err)
		}
		two := 2
		tres, err = s.TransitionTask(b.ctx, tk, []run.TaskStatus{run.TaskRunning}, run.TaskQueued, run.TaskPatch{At: later, Attempt: &two})
		require.NoError(t, err)
		require.True(t, tres.Applied)
		got2, err := s.GetTask(b.ctx, tk)
		require.NoError(t, err)
		require.Equal(t, 2, got2.Attempt)
		require.Equal(t, later, *got2.HeartbeatAt)

		srs, err := s.StepRuns(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, run.Counts{Total: 2, Queued: 1, Succeeded: 1}, srs[0].Counts)
	})
}

func TestCancelRequestAndAttemptCondition(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(1))
		require.NoError(t, s.CreateRun(b.ctx, r, steps, tasks))
		at := runBase.Add(time.Second)

		ok, err := s.RequestCancel(b.ctx, r.ID, at)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.RequestCancel(b.ctx, r.ID, at.Add(time.Minute))
		require.NoError(t, err)
		require.False(t, ok, "the first request stands")
		got, err := s.GetRun(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, at, *got.CancelRequestedAt)
		_, err = s.RequestCancel(b.ctx, core.NewID(core.KindRun), at)
		require.ErrorIs(t, err, core.ErrNotFound)

		// A report of attempt 2 does not move a task at attempt 1.
		res, err := s.TransitionTask(b.ctx, tasks[0].ID, []run.TaskStatus{run.TaskPending}, run.TaskQueued, run.TaskPatch{IfAttempt: 2})
		require.NoError(t, err)
		require.Equal(t, run.TransitionResult[run.TaskStatus]{Applied: false, Status: run.TaskPending}, res)
		res, err = s.TransitionTask(b.ctx, tasks[0].ID, []run.TaskStatus{run.TaskPending}, run.TaskQueued, run.TaskPatch{IfAttempt: 1})
		require.NoError(t, err)
		require.True(t, res.Applied)

		// A final run takes no cancel request.
		r2, steps2, tasks2 := fixture(b.project, runBase, hostIDs(1))
		r2.Status = run.RunSucceeded
		require.NoError(t, s.CreateRun(b.ctx, r2, steps2, tasks2))
		ok, err = s.RequestCancel(b.ctx, r2.ID, at)
		require.NoError(t, err)
		require.False(t, ok)
	})
}

func TestTransitionTasksMovesOnlyThoseInFrom(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(3))
		require.NoError(t, s.CreateRun(b.ctx, r, steps, tasks))
		at := runBase.Add(time.Second)
		_, err := s.TransitionTask(b.ctx, tasks[1].ID, []run.TaskStatus{run.TaskPending}, run.TaskCanceled, run.TaskPatch{})
		require.NoError(t, err)
		ids := []string{tasks[0].ID, tasks[1].ID, tasks[2].ID, core.NewID(core.KindTask)}
		moved, err := s.TransitionTasks(b.ctx, ids, []run.TaskStatus{run.TaskPending}, run.TaskQueued, run.TaskPatch{At: at, QueuedAt: &at})
		require.NoError(t, err)
		require.Equal(t, []string{tasks[0].ID, tasks[2].ID}, moved)
		got, err := s.GetTask(b.ctx, tasks[2].ID)
		require.NoError(t, err)
		require.Equal(t, run.TaskQueued, got.Status)
		require.Equal(t, at, *got.QueuedAt)
		moved, err = s.TransitionTasks(b.ctx, ids, []run.TaskStatus{run.TaskPending}, run.TaskQueued, run.TaskPatch{})
		require.NoError(t, err)
		require.Empty(t, moved, "twice: nothing to move")
		_, err = s.TransitionTasks(b.ctx, ids, []run.TaskStatus{run.TaskSucceeded}, run.TaskQueued, run.TaskPatch{})
		require.ErrorIs(t, err, run.ErrInvalidTransition)
	})
}

func TestClaimTasksNeverHandsATaskTwice(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(120), hostIDs(5))
		require.NoError(t, s.CreateRun(b.ctx, r, steps, tasks))

		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				for {
					got, err := s.ClaimTasks(b.ctx, run.ClaimRequest{StepRunID: steps[0].ID, Limit: 7, At: runBase})
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, tk := range got {
						if tk.Status != run.TaskQueued || tk.StepRunID != steps[0].ID {
							errs <- fmt.Errorf("claimed %s in %s of %s", tk.ID, tk.Status, tk.StepRunID)
						}
						seen[tk.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, seen, 120)
		for id, n := range seen {
			require.Equal(t, 1, n, "task %s claimed %d times", id, n)
		}
		require.Equal(t, 120, countRows(t, s, "tasks", "step_run_id = ? AND status = ?", steps[0].ID, "queued"))
		require.Equal(t, 5, countRows(t, s, "tasks", "step_run_id = ? AND status = ?", steps[1].ID, "pending"))

		// By run, oldest first, with the claim time recorded.
		got, err := s.ClaimTasks(b.ctx, run.ClaimRequest{RunID: r.ID, Limit: 2, At: runBase})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, tasks[120].ID, got[0].ID)
		require.Equal(t, tasks[121].ID, got[1].ID)
		require.Equal(t, runBase, *got[0].QueuedAt)
		_, err = s.ClaimTasks(b.ctx, run.ClaimRequest{RunID: r.ID, Limit: 0})
		require.Error(t, err)
	})
}

func TestStaleTasksAndHeartbeats(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(3))
		require.NoError(t, s.CreateRun(b.ctx, r, steps, tasks))
		claimed, err := s.ClaimTasks(b.ctx, run.ClaimRequest{RunID: r.ID, Limit: 3, At: runBase})
		require.NoError(t, err)
		require.Len(t, claimed, 3)
		// One finishes: never stale, and a heartbeat does not touch it.
		fin := runBase.Add(time.Second)
		_, err = s.TransitionTask(b.ctx, tasks[2].ID, []run.TaskStatus{run.TaskQueued}, run.TaskCanceled, run.TaskPatch{At: fin, FinishedAt: &fin})
		require.NoError(t, err)

		require.NoError(t, s.TouchTasks(b.ctx, []string{tasks[1].ID, tasks[2].ID}, runBase.Add(time.Minute)))
		require.NoError(t, s.TouchTasks(b.ctx, []string{tasks[1].ID}, runBase.Add(time.Second))) // never backwards
		stale, err := s.StaleTasks(b.ctx, runBase.Add(30*time.Second), 10)
		require.NoError(t, err)
		require.Len(t, stale, 1)
		require.Equal(t, tasks[0].ID, stale[0].ID)
		stale, err = s.StaleTasks(b.ctx, runBase.Add(2*time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, stale, 2)
		require.Equal(t, tasks[0].ID, stale[0].ID) // oldest heartbeat first
		require.Equal(t, runBase.Add(time.Minute), *stale[1].HeartbeatAt)
	})
}

func chunk(task string, seq int64, data string) run.LogChunk {
	return run.LogChunk{TaskID: task, Seq: seq, Stream: run.StreamStdout, Data: []byte(data), At: runBase.Add(time.Duration(seq) * time.Millisecond)}
}

func readAll(t *testing.T, s *store.Store, task string, pageSize int) []run.LogChunk {
	t.Helper()
	var out []run.LogChunk
	after := int64(0)
	for {
		got, err := s.ReadLogs(context.Background(), task, after, pageSize)
		require.NoError(t, err)
		if len(got) == 0 {
			return out
		}
		out = append(out, got...)
		after = got[len(got)-1].Seq
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(3))
		require.NoError(t, s.CreateRun(b.ctx, r, steps, tasks))
		t1, t2, t3 := tasks[0].ID, tasks[1].ID, tasks[2].ID

		// 250 chunks over two tasks, shuffled: more than one INSERT batch.
		var batch []run.LogChunk
		for i := int64(250); i >= 1; i-- {
			c := chunk(t1, i, fmt.Sprintf("line %d\n", i))
			if i%2 == 0 {
				c.Stream = run.StreamStderr
			}
			batch = append(batch, c)
		}
		batch = append(batch, chunk(t2, 2, "b"), chunk(t2, 1, "a"), chunk(core.NewID(core.KindTask), 1, "orphan"))
		res, err := s.AppendLogs(b.ctx, batch, 0)
		require.NoError(t, err)
		require.Len(t, res.Written, 252)
		res.Written = nil
		require.Equal(t, run.AppendResult{Stored: 252, Dropped: 1}, res)

		got := readAll(t, s, t1, 37)
		require.Len(t, got, 250)
		var size int64
		for i, c := range got {
			require.Equal(t, int64(i+1), c.Seq)
			require.Equal(t, fmt.Sprintf("line %d\n", i+1), string(c.Data))
			require.Equal(t, runBase.Add(time.Duration(i+1)*time.Millisecond), c.At)
			size += int64(len(c.Data))
		}
		require.Equal(t, run.StreamStderr, got[1].Stream)
		tk, err := s.GetTask(b.ctx, t1)
		require.NoError(t, err)
		require.Equal(t, size, tk.LogBytes)

		// Redelivered chunks are ignored and not counted again.
		res, err = s.AppendLogs(b.ctx, []run.LogChunk{chunk(t1, 5, "other"), chunk(t1, 251, "last\n"), chunk(t1, 251, "last\n")}, 0)
		require.NoError(t, err)
		require.Equal(t, []run.LogChunk{chunk(t1, 251, "last\n")}, res.Written, "what was stored, as stored")
		res.Written = nil
		require.Equal(t, run.AppendResult{Stored: 1, Duplicate: 2}, res)
		tk, err = s.GetTask(b.ctx, t1)
		require.NoError(t, err)
		require.Equal(t, size+5, tk.LogBytes)
		got, err = s.ReadLogs(b.ctx, t1, 4, 1)
		require.NoError(t, err)
		require.Equal(t, "line 5\n", string(got[0].Data))

		// The cap: 3 chunks of 30 bytes fit in 100, the 4th becomes the marker.
		const limit = 100
		var capped []run.LogChunk
		for i := int64(1); i <= 6; i++ {
			capped = append(capped, chunk(t3, i, string(bytes.Repeat([]byte{'x'}, 30))))
		}
		res, err = s.AppendLogs(b.ctx, capped[:2], limit)
		require.NoError(t, err)
		res.Written = nil
		require.Equal(t, run.AppendResult{Stored: 2}, res)
		res, err = s.AppendLogs(b.ctx, capped[2:], limit)
		require.NoError(t, err)
		require.Len(t, res.Written, 2)
		require.Equal(t, run.StreamSystem, res.Written[1].Stream, "the truncation marker is written too")
		res.Written = nil
		require.Equal(t, run.AppendResult{Stored: 1, Dropped: 3, Truncated: []string{t3}}, res)
		res, err = s.AppendLogs(b.ctx, []run.LogChunk{chunk(t3, 7, "more"), chunk(t3, 2, "redelivered")}, limit)
		require.NoError(t, err)
		require.Equal(t, run.AppendResult{Dropped: 1, Duplicate: 1, Written: []run.LogChunk{}}, res)
		got = readAll(t, s, t3, 100)
		require.Len(t, got, 4)
		require.Equal(t, run.StreamSystem, got[3].Stream)
		require.Equal(t, int64(4), got[3].Seq)
		require.Equal(t, run.TruncationMarker(limit), string(got[3].Data))
		tk, err = s.GetTask(b.ctx, t3)
		require.NoError(t, err)
		require.Equal(t, int64(90), tk.LogBytes)
		require.True(t, tk.LogTruncated)

		// Bad chunks and reads.
		_, err = s.AppendLogs(b.ctx, []run.LogChunk{chunk(t1, 0, "x")}, 0)
		require.ErrorIs(t, err, core.ErrInvalidInput)
		_, err = s.ReadLogs(b.ctx, core.NewID(core.KindTask), 0, 10)
		require.ErrorIs(t, err, core.ErrNotFound)
		_, err = s.ReadLogs(b.ctx, t1, 0, run.MaxReadLogs+1)
		require.ErrorIs(t, err, core.ErrInvalidInput)
		empty, err := s.ReadLogs(b.ctx, t1, 1000, 10)
		require.NoError(t, err)
		require.Empty(t, empty)

		// Retention: only whole logs of tasks finished before the time go.
		fin := runBase.Add(time.Hour)
		for _, id := range []string{t1, t3} {
			for _, mv := range [][2]run.TaskStatus{{run.TaskPending, run.TaskQueued}, {run.TaskQueued, run.TaskRunning}} {
				_, err = s.TransitionTask(b.ctx, id, []run.TaskStatus{mv[0]}, mv[1], run.TaskPatch{})
				require.NoError(t, err)
			}
		}
		_, err = s.TransitionTask(b.ctx, t1, []run.TaskStatus{run.TaskRunning}, run.TaskSucceeded, run.TaskPatch{FinishedAt: &fin})
		require.NoError(t, err)
		n, err := s.DeleteLogsBefore(b.ctx, fin)
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = s.DeleteLogsBefore(b.ctx, fin.Add(time.Second))
		require.NoError(t, err)
		require.Equal(t, int64(251), n)
		require.Empty(t, readAll(t, s, t1, 100))
		require.Len(t, readAll(t, s, t2, 100), 2)
		require.Len(t, readAll(t, s, t3, 100), 4)
	})
}

func TestListRuns(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		other := b.newProject(t, "other")
		host := core.NewID(core.KindHost)
		var runs []run.Run // in creation order
		add := func(projectID string, created time.Time, mut func(*run.Run), hosts ...string) run.Run {
			r, st, ts := fixture(projectID, created, append(hostIDs(1), hosts...))
			if mut != nil {
				mut(&r)
			}
			require.NoError(t, s.CreateRun(b.ctx, r, st, ts))
			got, err := s.GetRun(b.ctx, r.ID)
			require.NoError(t, err)
			runs = append(runs, got)
			return got
		}
		// Two runs share a creation time, so the ID breaks the tie.
		r0 := add(b.project, runBase, nil)
		r1 := add(b.project, runBase, func(r *run.Run) { r.Status = run.RunRunning }, host)
		r2 := add(b.project, runBase.Add(time.Second), func(r *run.Run) {
			r.Trigger = run.Trigger{Kind: run.TriggerSchedule, Actor: "sch_x"}
		})
		r3 := add(other, runBase.Add(2*time.Second), func(r *run.Run) { r.Status = run.RunFailed }, host)
		r4 := add(b.project, runBase.Add(3*time.Second), func(r *run.Run) {
			r.Trigger = run.Trigger{Kind: run.TriggerRetry, Actor: "usr_alice", RetryOf: r1.ID}
			r.JobID = r1.JobID
		})

		ids := func(f run.Filter) []string {
			t.Helper()
			var out []string
			page := core.PageArgs{First: 2}
			for {
				p, err := s.ListRuns(b.ctx, f, page)
				require.NoError(t, err)
				for _, r := range p.Items {
					out = append(out, r.ID)
				}
				if !p.HasNext {
					return out
				}
				page.After = p.Cursors[len(p.Cursors)-1]
			}
		}
		require.Equal(t, []string{r4.ID, r3.ID, r2.ID, r1.ID, r0.ID}, ids(run.Filter{}))
		require.Equal(t, []string{r4.ID, r2.ID, r1.ID, r0.ID}, ids(run.Filter{ProjectIDs: []string{b.project}}))
		require.Empty(t, ids(run.Filter{ProjectIDs: []string{}}))
		require.Equal(t, []string{r3.ID, r1.ID}, ids(run.Filter{Statuses: []run.RunStatus{run.RunRunning, run.RunFailed}}))
		require.Equal(t, []string{r4.ID, r1.ID}, ids(run.Filter{JobID: r1.JobID}))
		require.Equal(t, []string{r2.ID}, ids(run.Filter{TriggerKind: run.TriggerSchedule}))
		require.Equal(t, []string{r3.ID, r2.ID}, ids(run.Filter{CreatedAfter: runBase.Add(time.Second), CreatedBefore: runBase.Add(3 * time.Second)}))
		require.Equal(t, []string{r3.ID, r1.ID}, ids(run.Filter{HostID: host}))
		require.Equal(t, []string{r1.ID}, ids(run.Filter{HostID: host, ProjectIDs: []string{b.project}}))

		p, err := s.ListRuns(b.ctx, run.Filter{}, core.PageArgs{First: 10})
		require.NoError(t, err)
		require.Equal(t, runs[4], p.Items[0])
		require.Equal(t, r4.Trigger.RetryOf, p.Items[0].Trigger.RetryOf)
	})
}

// TestQueuedRunsAndRunningCounts covers what admission reads: the queued
// runs oldest first, without their spec, and the running runs counted per
// project and per job.
func TestQueuedRunsAndRunningCounts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		other := b.newProject(t, "other")
		jobID := core.NewID(core.KindJob)
		add := func(projectID string, created time.Time, status run.RunStatus, job string) run.Run {
			r, st, ts := fixture(projectID, created, hostIDs(1))
			r.Status, r.JobID = status, job
			if job == "" {
				r.JobVersion = 0
			}
			require.NoError(t, s.CreateRun(b.ctx, r, st, ts))
			return r
		}
		// Created out of order; two share a time, so the ID breaks the tie.
		q2 := add(b.project, runBase.Add(2*time.Second), run.RunQueued, jobID)
		q0 := add(other, runBase, run.RunQueued, "")
		q1 := add(b.project, runBase, run.RunQueued, jobID)
		if q1.ID < q0.ID {
			q0, q1 = q1, q0
		}
		add(b.project, runBase, run.RunRunning, jobID)
		add(b.project, runBase, run.RunRunning, jobID)
		add(b.project, runBase, run.RunRunning, "")
		add(other, runBase, run.RunRunning, core.NewID(core.KindJob))
		add(other, runBase, run.RunSucceeded, jobID)

		got, err := s.QueuedRuns(b.ctx, 10)
		require.NoError(t, err)
		ids := []string{}
		for _, r := range got {
			ids = append(ids, r.ID)
			require.Equal(t, run.RunQueued, r.Status)
			require.Nil(t, r.Spec, "the spec is not read")
		}
		require.Equal(t, []string{q0.ID, q1.ID, q2.ID}, ids)
		require.Equal(t, q2.JobID, got[2].JobID)
		require.Equal(t, q2.Priority, got[2].Priority)
		got, err = s.QueuedRuns(b.ctx, 2)
		require.NoError(t, err)
		require.Len(t, got, 2)

		c, err := s.RunningCounts(b.ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]int{b.project: 3, other: 1}, c.ByProject)
		require.Len(t, c.ByJob, 2)
		require.Equal(t, 2, c.ByJob[jobID], "ad-hoc and final runs do not count for a job")
	})
}
