package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// The log retention sweeper (core/run.Retention) over the real store, on
// every dialect.

// retentionLog is a slog.Handler that shows every record in the test log
// and hands the Info and louder ones to the test, which waits on them: a
// sweep that deleted something says so at Info.
type retentionLog struct {
	t     testing.TB
	mu    *sync.Mutex
	done  *bool
	infos chan slog.Record
	attrs []slog.Attr
}

func newRetentionLog(t testing.TB) *retentionLog {
	h := &retentionLog{t: t, mu: &sync.Mutex{}, done: new(bool), infos: make(chan slog.Record, 64)}
	t.Cleanup(func() { h.mu.Lock(); *h.done = true; h.mu.Unlock() })
	return h
}

func (h *retentionLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *retentionLog) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	defer h.mu.Unlock()
	if *h.done {
		return nil
	}
	h.t.Logf("%s %s %v", r.Level, r.Message, attrsOf(r))
	if r.Level >= slog.LevelInfo {
		select {
		case h.infos <- r:
		default:
			h.t.Errorf("log record dropped: %s", r.Message)
		}
	}
	return nil
}

func (h *retentionLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *retentionLog) WithGroup(string) slog.Handler { return h }

func attrsOf(r slog.Record) map[string]any {
	m := map[string]any{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	return m
}

// waitFor returns the next Info record with message msg, skipping others,
// or fails the test after a deadline.
func (h *retentionLog) waitFor(t *testing.T, msg string) slog.Record {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case r := <-h.infos:
			if r.Message == msg {
				return r
			}
		case <-deadline.C:
			t.Fatalf("no %q logged in time", msg)
		}
	}
}

// finish moves a pending task to succeeded, finished at fin.
func finish(t *testing.T, s *store.Store, id string, fin time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, mv := range [][2]run.TaskStatus{{run.TaskPending, run.TaskQueued}, {run.TaskQueued, run.TaskRunning}} {
		_, err := s.TransitionTask(ctx, id, []run.TaskStatus{mv[0]}, mv[1], run.TaskPatch{})
		require.NoError(t, err)
	}
	res, err := s.TransitionTask(ctx, id, []run.TaskStatus{run.TaskRunning}, run.TaskSucceeded, run.TaskPatch{FinishedAt: &fin})
	require.NoError(t, err)
	require.True(t, res.Applied)
}

// logTasks makes a run of n tasks with chunks of log each (more than
// one delete statement's worth of tasks is not needed: the store's own
// test covers DeleteLogsBefore) and returns the task IDs.
func logTasks(t *testing.T, b runBundle, n, chunks int) []string {
	t.Helper()
	r, steps, tasks := fixture(b.project, runBase, hostIDs(n))
	require.NoError(t, b.s.CreateRun(b.ctx, r, steps, tasks))
	var batch []run.LogChunk
	ids := make([]string, len(tasks))
	for i, tk := range tasks {
		ids[i] = tk.ID
		for seq := int64(1); seq <= int64(chunks); seq++ {
			batch = append(batch, chunk(tk.ID, seq, fmt.Sprintf("%s line %d\n", tk.HostName, seq)))
		}
	}
	res, err := b.s.AppendLogs(b.ctx, batch, 0)
	require.NoError(t, err)
	require.Equal(t, n*chunks, res.Stored)
	return ids
}

func TestLogRetention(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		ids := logTasks(t, b, 3, 7)
		early, late, running := ids[0], ids[1], ids[2]
		finish(t, s, early, runBase.Add(time.Hour))
		finish(t, s, late, runBase.Add(10*time.Hour))

		const keep = 24 * time.Hour
		var now atomic.Int64 // the clock, in Unix nanoseconds
		now.Store(runBase.Add(time.Hour + keep + time.Second).UnixNano())
		h := newRetentionLog(t)
		ret := run.NewRetention(run.RetentionOptions{
			Logs: s, Keep: keep, Every: 10 * time.Millisecond,
			Now:    func() time.Time { return time.Unix(0, now.Load()).UTC() },
			Logger: slog.New(h),
		})
		t.Cleanup(ret.Stop)
		require.NoError(t, ret.Start(context.Background()))
		select {
		case <-ret.Started():
		default:
			t.Fatal("Started not closed after Start returned")
		}

		// The sweep at start deletes the log that finished more than keep
		// ago, and only that one.
		rec := h.waitFor(t, "deleted old task logs")
		require.Equal(t, int64(7), attrsOf(rec)["chunks"])
		require.Equal(t, "log_retention", attrsOf(rec)["component"])
		require.Empty(t, readAll(t, s, early, 100))
		require.Len(t, readAll(t, s, late, 100), 7)
		require.Len(t, readAll(t, s, running, 100), 7)
		tk, err := s.GetTask(b.ctx, early)
		require.NoError(t, err)
		require.Equal(t, run.TaskSucceeded, tk.Status, "the task itself stays")

		// A later sweep deletes the next one once its time has come; a task
		// that has not finished keeps its log whatever its age.
		now.Store(runBase.Add(10*time.Hour + keep + time.Second).UnixNano())
		rec = h.waitFor(t, "deleted old task logs")
		require.Equal(t, int64(7), attrsOf(rec)["chunks"])
		require.Empty(t, readAll(t, s, late, 100))
		require.Len(t, readAll(t, s, running, 100), 7)

		ret.Stop()
		ret.Stop() // idempotent
		require.Error(t, ret.Start(context.Background()), "a stopped Retention does not start again")

		// A sweep by hand, with nothing left to delete.
		n, err := ret.Sweep(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestLogRetentionDisabled(t *testing.T) {
	t.Parallel()
	s := storetest.New(t, store.SQLite) // nothing here depends on the dialect
	b := runSetup(t, s)
	ids := logTasks(t, b, 1, 3)
	finish(t, s, ids[0], runBase)

	for _, keep := range []time.Duration{0, -time.Hour} {
		h := newRetentionLog(t)
		ret := run.NewRetention(run.RetentionOptions{Logs: s, Keep: keep, Every: time.Millisecond, Logger: slog.New(h)})
		require.False(t, ret.Enabled())
		require.NoError(t, ret.Start(context.Background()))
		<-ret.Started()
		h.waitFor(t, "task logs are kept forever")
		n, err := ret.Sweep(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		ret.Stop()
		require.Len(t, readAll(t, s, ids[0], 100), 3, "keep %s", keep)
	}

	// Stop before Start is safe, and so is stopping twice.
	ret := run.NewRetention(run.RetentionOptions{Logs: s, Keep: time.Hour})
	ret.Stop()
	ret.Stop()
	require.Error(t, ret.Start(context.Background()))

	// Cancelling Start's context ends the loop too.
	ctx, cancel := context.WithCancel(context.Background())
	ret = run.NewRetention(run.RetentionOptions{Logs: s, Keep: time.Hour, Every: time.Millisecond})
	require.NoError(t, ret.Start(ctx))
	cancel()
	ret.Stop() // returns once the loop has ended
}
