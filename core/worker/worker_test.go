package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/worker"
	"github.com/jobgraph/jobgraph/internal/testlog"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

const waitLong = 15 * time.Second // deadline for things that must happen

// --- helpers -----------------------------------------------------------------

// testLogger sends warnings and errors to t (package testlog).
func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelWarn) }

func openQueue(t testing.TB) *queue.Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	q, err := queue.Open(ctx, queue.Options{DataDir: t.TempDir(), Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(q.Close)
	return q
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLong):
		require.FailNow(t, "timed out waiting for "+what)
		panic("unreachable")
	}
}

func noRecv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		require.FailNow(t, fmt.Sprintf("unexpected %s: %+v", what, v))
	case <-timer.C:
	}
}

func eventually(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		<-tick.C
	}
}

func depth(t testing.TB, q *queue.Queue) uint64 {
	t.Helper()
	n, err := q.Depth(context.Background())
	require.NoError(t, err)
	return n
}

func publish(t testing.TB, q *queue.Queue, id string) queue.TaskMessage {
	t.Helper()
	m := queue.TaskMessage{TaskID: id, RunID: "run-1", ProjectID: "proj-1", Executor: "ssh", Attempt: 1}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	require.NoError(t, q.Publish(ctx, m))
	return m
}

// execFunc is a fake Executors.
type execFunc func(ctx context.Context, name string, task sdk.Task, out sdk.Output) (sdk.Result, error)

func (f execFunc) Execute(ctx context.Context, name string, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	return f(ctx, name, task, out)
}

// fakeServer answers the worker protocol as core/engine would, and records
// what it was told. Its hooks may be set before the worker starts.
type fakeServer struct {
	t *testing.T

	claim func(queue.Claim) (queue.Assignment, error)     // default: run, executor "ssh"
	logs  func(n int, req queue.Logs) (queue.Stop, error) // called before the lines are stored; n counts requests from 1
	touch func(queue.Touch) (queue.Stop, error)           // default: nothing to stop
	fin   func(queue.Finish) (queue.Done, error)          // default: ok

	claims   chan queue.Claim
	touches  chan queue.Touch
	finishes chan finished

	mu       sync.Mutex
	logReqs  int
	lines    map[string][]queue.LogLine // stored lines by task, deduplicated by seq
	problems []string                   // gaps and disorder seen
}

type finished struct {
	queue.Finish
	linesStored int // lines of the task stored when Finish arrived
}

func newFakeServer(t *testing.T) *fakeServer {
	return &fakeServer{
		t:        t,
		claims:   make(chan queue.Claim, 100),
		touches:  make(chan queue.Touch, 1000),
		finishes: make(chan finished, 100),
		lines:    map[string][]queue.LogLine{},
	}
}

func (f *fakeServer) serve(q *queue.Queue) {
	t := f.t
	ctx := context.Background()
	s1, err := queue.Serve(ctx, q, queue.OpClaim, func(_ context.Context, c queue.Claim) (queue.Assignment, error) {
		f.claims <- c
		if f.claim != nil {
			return f.claim(c)
		}
		return queue.Assignment{Run: true, Executor: "ssh", Task: sdk.Task{ID: c.TaskID, Attempt: c.Attempt}}, nil
	})
	require.NoError(t, err)
	t.Cleanup(s1.Stop)
	s2, err := queue.Serve(ctx, q, queue.OpLogs, func(_ context.Context, l queue.Logs) (queue.Stop, error) {
		f.mu.Lock()
		f.logReqs++
		n := f.logReqs
		f.mu.Unlock()
		var stop queue.Stop
		if f.logs != nil {
			var err error
			if stop, err = f.logs(n, l); err != nil {
				return stop, err
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, line := range l.Lines {
			have := f.lines[line.TaskID]
			last := int64(-1)
			if len(have) > 0 {
				last = have[len(have)-1].Seq
			}
			switch {
			case last >= 0 && line.Seq <= last: // already stored: a resend
			case last >= 0 && line.Seq != last+1:
				f.problems = append(f.problems, fmt.Sprintf("task %s: line %d after %d", line.TaskID, line.Seq, last))
				f.lines[line.TaskID] = append(have, line)
			default:
				f.lines[line.TaskID] = append(have, line)
			}
		}
		return stop, nil
	})
	require.NoError(t, err)
	t.Cleanup(s2.Stop)
	s3, err := queue.Serve(ctx, q, queue.OpTouch, func(_ context.Context, tc queue.Touch) (queue.Stop, error) {
		f.touches <- tc
		if f.touch != nil {
			return f.touch(tc)
		}
		return queue.Stop{}, nil
	})
	require.NoError(t, err)
	t.Cleanup(s3.Stop)
	s4, err := queue.Serve(ctx, q, queue.OpFinish, func(_ context.Context, fin queue.Finish) (queue.Done, error) {
		if f.fin != nil {
			if d, err := f.fin(fin); err != nil {
				return d, err
			}
		}
		f.mu.Lock()
		n := len(f.lines[fin.TaskID])
		f.mu.Unlock()
		f.finishes <- finished{fin, n}
		return queue.Done{}, nil
	})
	require.NoError(t, err)
	t.Cleanup(s4.Stop)
}

func (f *fakeServer) taskLines(id string) []queue.LogLine {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]queue.LogLine(nil), f.lines[id]...)
}

func (f *fakeServer) logRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logReqs
}

func (f *fakeServer) checkNoProblems() {
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Empty(f.t, f.problems, "lines out of order or with gaps")
}

func startWorker(t *testing.T, q *queue.Queue, x worker.Executors, mut func(*worker.Options)) *worker.Worker {
	t.Helper()
	o := worker.Options{Queue: q, Executors: x, ID: "w1", Logger: testLogger(t), FlushEvery: 10 * time.Millisecond}
	if mut != nil {
		mut(&o)
	}
	w, err := worker.New(o)
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(w.Stop)
	return w
}

// blockingExec writes one line, signals started, and runs until its ctx ends.
func blockingExec(started chan<- sdk.Task) execFunc {
	return func(ctx context.Context, _ string, task sdk.Task, out sdk.Output) (sdk.Result, error) {
		fmt.Fprintln(out.Stdout(), "working")
		started <- task
		<-ctx.Done()
		return sdk.ContextResult(ctx), nil
	}
}

// --- tests -------------------------------------------------------------------

func TestHappyPath(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	srv.claim = func(c queue.Claim) (queue.Assignment, error) {
		return queue.Assignment{Run: true, Executor: "ssh", SeqBase: 5, Redact: []string{"s3cret"},
			Task: sdk.Task{ID: c.TaskID, Action: "run", Params: json.RawMessage(`{"cmd":"x"}`), Attempt: c.Attempt}}, nil
	}
	// The first Logs request is held until the test lets it go, then fails:
	// Finish must wait for the lines, and the lines are sent again, in order.
	gate := make(chan struct{})
	firstLogs := make(chan struct{})
	srv.logs = func(n int, _ queue.Logs) (queue.Stop, error) {
		if n == 1 {
			close(firstLogs)
			<-gate
			return queue.Stop{}, errors.New("database is busy")
		}
		return queue.Stop{}, nil
	}
	srv.serve(q)

	type call struct {
		name string
		task sdk.Task
	}
	calls := make(chan call, 10)
	x := execFunc(func(_ context.Context, name string, task sdk.Task, out sdk.Output) (sdk.Result, error) {
		calls <- call{name, task}
		fmt.Fprintln(out.Stdout(), "connecting with s3cret")
		fmt.Fprintln(out.Stderr(), "warning: slow")
		fmt.Fprintln(out.Stdout(), "s3cret and s3cret again")
		out.Progress(50, "half")
		out.SetOutput("answer", "42")
		out.SetOutput("token", "x-s3cret")
		return sdk.Succeeded(), nil
	})
	startWorker(t, q, x, nil)

	publish(t, q, "t-1")
	c := recv(t, srv.claims, "claim")
	assert.Equal(t, queue.Claim{TaskID: "t-1", Attempt: 1, Holder: "w1@1"}, c)
	got := recv(t, calls, "execute")
	assert.Equal(t, "ssh", got.name)
	assert.Equal(t, sdk.Task{ID: "t-1", Action: "run", Params: json.RawMessage(`{"cmd":"x"}`), Attempt: 1}, got.task)

	recv(t, firstLogs, "first Logs request")
	noRecv(t, srv.finishes, 300*time.Millisecond, "Finish before the lines were acknowledged")
	close(gate)

	fin := recv(t, srv.finishes, "finish")
	assert.Equal(t, 3, fin.linesStored, "Finish arrives once every line was acknowledged")
	assert.Equal(t, queue.TaskRef{TaskID: "t-1", Attempt: 1}, fin.TaskRef)
	assert.Equal(t, "w1@1", fin.Holder)
	assert.Equal(t, run.TaskSucceeded, fin.Status)
	require.NotNil(t, fin.ExitCode)
	assert.Equal(t, 0, *fin.ExitCode)
	assert.Empty(t, fin.Error)
	assert.Equal(t, map[string]string{"answer": "42", "token": "x-[redacted]"}, fin.Outputs)
	assert.False(t, fin.At.IsZero())

	lines := srv.taskLines("t-1")
	require.Len(t, lines, 3)
	want := []struct {
		stream run.LogStream
		data   string
	}{
		{run.StreamStdout, "connecting with [redacted]\n"},
		{run.StreamStderr, "warning: slow\n"},
		{run.StreamStdout, "[redacted] and [redacted] again\n"},
	}
	for i, l := range lines {
		assert.Equal(t, int64(6+i), l.Seq, "line %d", i)
		assert.Equal(t, want[i].stream, l.Stream, "line %d", i)
		assert.Equal(t, want[i].data, string(l.Data), "line %d", i)
		assert.Equal(t, queue.TaskRef{TaskID: "t-1", Attempt: 1}, l.TaskRef)
		assert.NotContains(t, string(l.Data), "s3cret")
	}
	srv.checkNoProblems()
	eventually(t, func() bool { return depth(t, q) == 0 }, "the message to be acked")
	noRecv(t, srv.claims, 100*time.Millisecond, "a second claim")
}

func TestClaimDropped(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	srv.claim = func(queue.Claim) (queue.Assignment, error) {
		return queue.Assignment{Run: false, Reason: "not due"}, nil
	}
	srv.serve(q)
	var executed atomic.Int64
	startWorker(t, q, execFunc(func(context.Context, string, sdk.Task, sdk.Output) (sdk.Result, error) {
		executed.Add(1)
		return sdk.Succeeded(), nil
	}), nil)
	publish(t, q, "t-drop")
	recv(t, srv.claims, "claim")
	eventually(t, func() bool { return depth(t, q) == 0 }, "the dropped message to be acked")
	assert.Zero(t, executed.Load(), "executor called for a dropped task")
	assert.Empty(t, srv.finishes, "Finish for a dropped task")
}

func TestClaimRetried(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	var n atomic.Int64
	srv.claim = func(c queue.Claim) (queue.Assignment, error) {
		if n.Add(1) <= 3 {
			return queue.Assignment{}, errors.New("database unavailable")
		}
		return queue.Assignment{Run: true, Executor: "ssh", Task: sdk.Task{ID: c.TaskID}}, nil
	}
	srv.serve(q)
	startWorker(t, q, execFunc(func(context.Context, string, sdk.Task, sdk.Output) (sdk.Result, error) {
		return sdk.Exited(3), nil
	}), nil)
	publish(t, q, "t-retry")
	fin := recv(t, srv.finishes, "finish")
	assert.Equal(t, run.TaskFailed, fin.Status)
	require.NotNil(t, fin.ExitCode)
	assert.Equal(t, 3, *fin.ExitCode)
	assert.EqualValues(t, 4, n.Load())
	holders := map[string]bool{}
	for range 4 {
		holders[recv(t, srv.claims, "claim").Holder] = true
	}
	assert.Len(t, holders, 1, "every retried claim names the same holder")
	eventually(t, func() bool { return depth(t, q) == 0 }, "the message to be acked")
}

func TestStopFromLogsReply(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	srv.logs = func(_ int, l queue.Logs) (queue.Stop, error) {
		var stop queue.Stop
		for _, line := range l.Lines {
			if line.TaskID == "t-cancel" {
				stop.Tasks = []string{"t-cancel"}
			}
		}
		return stop, nil
	}
	srv.serve(q)
	started := make(chan sdk.Task, 1)
	startWorker(t, q, blockingExec(started), nil)
	publish(t, q, "t-cancel")
	recv(t, started, "execute")
	fin := recv(t, srv.finishes, "finish")
	assert.Equal(t, run.TaskCanceled, fin.Status)
	assert.False(t, fin.Retryable)
	assert.Equal(t, 1, fin.linesStored)
	eventually(t, func() bool { return depth(t, q) == 0 }, "the message to be acked")
}

func TestStopFromCancelNotice(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	srv.serve(q)
	started := make(chan sdk.Task, 1)
	x := execFunc(func(ctx context.Context, _ string, task sdk.Task, _ sdk.Output) (sdk.Result, error) {
		started <- task
		<-ctx.Done()
		return sdk.Result{}, ctx.Err() // an executor that answers with the context's error
	})
	startWorker(t, q, x, nil)
	publish(t, q, "t-other") // a notice for another task changes nothing
	publish(t, q, "t-cancel")
	recv(t, started, "execute")
	recv(t, started, "execute")
	require.NoError(t, q.PublishCancel(queue.CancelNotice{Tasks: []string{"t-cancel", "t-unknown"}}))
	fin := recv(t, srv.finishes, "finish")
	assert.Equal(t, "t-cancel", fin.TaskID)
	assert.Equal(t, run.TaskCanceled, fin.Status)
	noRecv(t, srv.finishes, 200*time.Millisecond, "finish of the task not canceled")
	require.NoError(t, q.PublishCancel(queue.CancelNotice{Tasks: []string{"t-other"}}))
	assert.Equal(t, "t-other", recv(t, srv.finishes, "finish").TaskID)
	eventually(t, func() bool { return depth(t, q) == 0 }, "the messages to be acked")
}

func TestTouch(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	var stopIt atomic.Bool
	srv.touch = func(tc queue.Touch) (queue.Stop, error) {
		if stopIt.Load() {
			return queue.Stop{Tasks: []string{"t-touch"}}, nil
		}
		return queue.Stop{}, nil
	}
	srv.serve(q)
	started := make(chan sdk.Task, 1)
	startWorker(t, q, blockingExec(started), func(o *worker.Options) { o.TouchEvery = 20 * time.Millisecond })
	m := publish(t, q, "t-touch")
	m.Attempt = 1
	recv(t, started, "execute")
	for {
		tc := recv(t, srv.touches, "touch")
		assert.Equal(t, "w1", tc.Worker)
		if len(tc.Tasks) > 0 {
			assert.Equal(t, []queue.TaskRef{{TaskID: "t-touch", Attempt: 1}}, tc.Tasks)
			break
		}
	}
	// The server answers a touch with "stop it" (the attempt is no longer held).
	stopIt.Store(true)
	fin := recv(t, srv.finishes, "finish")
	assert.Equal(t, run.TaskCanceled, fin.Status)
	// No task running: no more touches.
	eventually(t, func() bool {
		for {
			select {
			case tc := <-srv.touches:
				if len(tc.Tasks) == 0 {
					return false
				}
				continue
			default:
			}
			break
		}
		return true
	}, "touches to drain")
	noRecv(t, srv.touches, 100*time.Millisecond, "touch with no task running")
}

func TestStopReportsLost(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	srv.serve(q)
	started := make(chan sdk.Task, 1)
	const grace = 2 * time.Second
	w := startWorker(t, q, blockingExec(started), func(o *worker.Options) { o.Grace = grace })
	publish(t, q, "t-lost")
	recv(t, started, "execute")

	start := time.Now()
	w.Stop()
	assert.Less(t, time.Since(start), grace, "Stop returns within the grace period")
	fin := recv(t, srv.finishes, "finish")
	assert.Equal(t, run.TaskLost, fin.Status)
	assert.True(t, fin.Retryable)
	assert.Equal(t, 1, fin.linesStored, "the last lines were shipped before Finish")
	eventually(t, func() bool { return depth(t, q) == 0 }, "the reported message to be acked")
	w.Stop() // idempotent
}

// A stopping worker that cannot report its task releases the message.
func TestStopWithoutServerReleasesTask(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	var away atomic.Bool
	srv.fin = func(queue.Finish) (queue.Done, error) {
		if away.Load() {
			return queue.Done{}, errors.New("database unavailable")
		}
		return queue.Done{}, nil
	}
	srv.serve(q)
	started := make(chan sdk.Task, 1)
	const grace = 500 * time.Millisecond
	w := startWorker(t, q, blockingExec(started), func(o *worker.Options) { o.Grace = grace })
	publish(t, q, "t-orphan")
	recv(t, started, "execute")
	away.Store(true)
	start := time.Now()
	w.Stop()
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, grace, "tries to report during the grace period")
	assert.Less(t, elapsed, grace+5*time.Second)
	assert.EqualValues(t, 1, depth(t, q), "the unreported task stays in the queue")
	assert.Empty(t, srv.finishes)
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	for name, x := range map[string]execFunc{
		"result": func(ctx context.Context, _ string, _ sdk.Task, _ sdk.Output) (sdk.Result, error) {
			<-ctx.Done()
			return sdk.ContextResult(ctx), nil
		},
		"error": func(ctx context.Context, _ string, _ sdk.Task, _ sdk.Output) (sdk.Result, error) {
			<-ctx.Done()
			return sdk.Result{}, ctx.Err()
		},
		"canceled": func(ctx context.Context, _ string, _ sdk.Task, _ sdk.Output) (sdk.Result, error) {
			<-ctx.Done() // a plugin that only knows "stopped"
			return sdk.Result{Status: sdk.StatusCanceled}, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := openQueue(t)
			srv := newFakeServer(t)
			srv.claim = func(c queue.Claim) (queue.Assignment, error) {
				return queue.Assignment{Run: true, Executor: "ssh", Task: sdk.Task{ID: c.TaskID, Timeout: 100 * time.Millisecond}}, nil
			}
			srv.serve(q)
			startWorker(t, q, x, nil)
			publish(t, q, "t-slow")
			fin := recv(t, srv.finishes, "finish")
			assert.Equal(t, run.TaskTimedOut, fin.Status)
			eventually(t, func() bool { return depth(t, q) == 0 }, "the message to be acked")
		})
	}
}

func TestBigWriteIsSplit(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	srv.claim = func(c queue.Claim) (queue.Assignment, error) {
		return queue.Assignment{Run: true, Executor: "ssh", SeqBase: 10, Task: sdk.Task{ID: c.TaskID}}, nil
	}
	srv.serve(q)
	big := bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16+7) // 200 KiB and a bit
	startWorker(t, q, execFunc(func(_ context.Context, _ string, _ sdk.Task, out sdk.Output) (sdk.Result, error) {
		_, err := out.Stdout().Write(big)
		return sdk.Succeeded(), err
	}), nil)
	publish(t, q, "t-big")
	fin := recv(t, srv.finishes, "finish")
	assert.Equal(t, run.TaskSucceeded, fin.Status)
	lines := srv.taskLines("t-big")
	require.Len(t, lines, 4)
	var all []byte
	for i, l := range lines {
		assert.Equal(t, int64(11+i), l.Seq)
		assert.LessOrEqual(t, len(l.Data), 64<<10)
		all = append(all, l.Data...)
	}
	assert.Equal(t, big, all)
	srv.checkNoProblems()
}

func TestLinesAreBatchedAcrossTasks(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	srv.serve(q)
	const tasks, perTask = 8, 50
	x := execFunc(func(_ context.Context, _ string, task sdk.Task, out sdk.Output) (sdk.Result, error) {
		for i := range perTask {
			fmt.Fprintf(out.Stdout(), "%s line %d\n", task.ID, i)
		}
		return sdk.Succeeded(), nil
	})
	startWorker(t, q, x, func(o *worker.Options) { o.FlushEvery = 100 * time.Millisecond })
	for i := range tasks {
		publish(t, q, fmt.Sprintf("t-%d", i))
	}
	for range tasks {
		fin := recv(t, srv.finishes, "finish")
		assert.Equal(t, run.TaskSucceeded, fin.Status)
	}
	for i := range tasks {
		id := fmt.Sprintf("t-%d", i)
		lines := srv.taskLines(id)
		var text, want strings.Builder
		for j, l := range lines {
			assert.Equal(t, int64(j+1), l.Seq)
			text.Write(l.Data)
		}
		for j := range perTask {
			fmt.Fprintf(&want, "%s line %d\n", id, j)
		}
		assert.Equal(t, want.String(), text.String(), id)
		assert.Less(t, len(lines), perTask, "%s: writes in a row join one line", id)
	}
	srv.checkNoProblems()
	n := srv.logRequests()
	t.Logf("%d lines in %d Logs requests", tasks*perTask, n)
	assert.Less(t, n, tasks*perTask/10, "lines are batched")
	eventually(t, func() bool { return depth(t, q) == 0 }, "the messages to be acked")
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := worker.New(worker.Options{})
	require.Error(t, err)
	q := openQueue(t)
	x := execFunc(func(context.Context, string, sdk.Task, sdk.Output) (sdk.Result, error) { return sdk.Succeeded(), nil })
	for _, id := range []string{"a@b", "a b", strings.Repeat("x", 41)} {
		_, err := worker.New(worker.Options{Queue: q, Executors: x, ID: id})
		assert.Error(t, err, "id %q", id)
	}
	w, err := worker.New(worker.Options{Queue: q, Executors: x})
	require.NoError(t, err)
	assert.NotEmpty(t, w.ID())
	assert.LessOrEqual(t, len(w.ID()), 40)
	assert.NotContains(t, w.ID(), "@")
}

// Many small lines pile up while the server is away; once it is back they
// must all get through, in requests NATS accepts.
func TestManySmallLinesAfterOutage(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	var away atomic.Bool
	away.Store(true)
	srv.logs = func(int, queue.Logs) (queue.Stop, error) {
		if away.Load() {
			return queue.Stop{}, errors.New("database unavailable")
		}
		return queue.Stop{}, nil
	}
	srv.serve(q)
	const lines = 20000
	wrote := make(chan struct{})
	startWorker(t, q, execFunc(func(_ context.Context, _ string, _ sdk.Task, out sdk.Output) (sdk.Result, error) {
		for i := range lines {
			fmt.Fprintf(out.Stdout(), "%d\n", i)
		}
		close(wrote)
		return sdk.Succeeded(), nil
	}), nil)
	publish(t, q, "t-chatty")
	recv(t, wrote, "the lines to be written")
	away.Store(false)
	recv(t, srv.finishes, "finish")
	var text, want strings.Builder
	for j, l := range srv.taskLines("t-chatty") {
		assert.Equal(t, int64(j+1), l.Seq)
		text.Write(l.Data)
	}
	for i := range lines {
		fmt.Fprintf(&want, "%d\n", i)
	}
	assert.Equal(t, want.String(), text.String())
	srv.checkNoProblems()
}

// A secret cut in two by the executor's writes (io.Copy's buffer, gRPC
// chunks) is redacted all the same, and nothing else is held back for good.
func TestSecretSplitAcrossWrites(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	srv.claim = func(c queue.Claim) (queue.Assignment, error) {
		return queue.Assignment{Run: true, Executor: "ssh", Redact: []string{"s3cret"}, Task: sdk.Task{ID: c.TaskID}}, nil
	}
	srv.serve(q)
	startWorker(t, q, execFunc(func(_ context.Context, _ string, _ sdk.Task, out sdk.Output) (sdk.Result, error) {
		for _, p := range []string{"password: s3c", "r", "et\n", "trailing s", "3c"} {
			fmt.Fprint(out.Stdout(), p)
		}
		fmt.Fprint(out.Stderr(), "s3") // never completed: shipped at the end
		return sdk.Result{Status: sdk.StatusFailed, ExitCode: 1, Error: "login s3cret refused"}, nil
	}), nil)
	publish(t, q, "t-split")
	fin := recv(t, srv.finishes, "finish")
	assert.Equal(t, "login [redacted] refused", fin.Error)
	all := map[run.LogStream]string{}
	for _, l := range srv.taskLines("t-split") {
		all[l.Stream] += string(l.Data)
	}
	assert.Equal(t, map[run.LogStream]string{
		run.StreamStdout: "password: [redacted]\ntrailing s3c",
		run.StreamStderr: "s3",
	}, all)
	srv.checkNoProblems()
}

// Once a Logs reply says a task's log is full (the server's cap), the
// worker ships no more of its output.
func TestLogFullStopsShipping(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	srv := newFakeServer(t)
	fullSent, sawB := make(chan struct{}), make(chan struct{})
	var fullOnce, bOnce sync.Once
	srv.logs = func(_ int, l queue.Logs) (queue.Stop, error) {
		var stop queue.Stop
		for _, line := range l.Lines {
			switch {
			case line.TaskID == "t-a" && strings.Contains(string(line.Data), "a1"):
				stop.LogFull = []string{"t-a"}
				fullOnce.Do(func() { close(fullSent) })
			case line.TaskID == "t-b":
				// The flush loop is sequential: this request went out after
				// the reply naming t-a was handled.
				bOnce.Do(func() { close(sawB) })
			}
		}
		return stop, nil
	}
	srv.serve(q)
	startWorker(t, q, execFunc(func(_ context.Context, _ string, task sdk.Task, out sdk.Output) (sdk.Result, error) {
		switch task.ID {
		case "t-a":
			fmt.Fprintln(out.Stdout(), "a1")
			<-fullSent
			<-sawB
			fmt.Fprintln(out.Stdout(), "a2")
		case "t-b":
			<-fullSent
			fmt.Fprintln(out.Stdout(), "b1")
		}
		return sdk.Succeeded(), nil
	}), nil)
	publish(t, q, "t-a")
	publish(t, q, "t-b")
	for range 2 {
		assert.Equal(t, run.TaskSucceeded, recv(t, srv.finishes, "finish").Status)
	}
	var a []byte
	for _, l := range srv.taskLines("t-a") {
		a = append(a, l.Data...)
	}
	assert.Equal(t, "a1\n", string(a), "nothing shipped after the log was full")
	srv.checkNoProblems()
}
