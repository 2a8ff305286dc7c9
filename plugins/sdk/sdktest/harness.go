package sdktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Default limits of a Harness; change them on the Harness before use.
const (
	DefaultTimeout     = 15 * time.Second
	DefaultCancelGrace = 10 * time.Second
)

// Harness drives one executor through the plugin protocol, the way
// jobgraph does: every call goes over gRPC to an *sdk.Client, either in
// memory (InProcess) or to a real plugin process (Process). Its methods
// fail the test instead of hanging: each call is bounded by Timeout.
//
// A Harness is safe for concurrent use.
type Harness struct {
	// Timeout bounds each call (Describe, Validate, Execute), and a
	// process's start. Default DefaultTimeout.
	Timeout time.Duration
	// CancelGrace is how long a task may take to end once cancelled.
	// Default DefaultCancelGrace.
	CancelGrace time.Duration

	client *sdk.Client
	conn   grpc.ClientConnInterface // the same connection, for protocol-level checks
	kind   string                   // "in-process" or "process"

	tracker *tracker      // in-process only: sees when the executor's Execute returns
	logs    *logCollector // process only: the plugin's stdout, stderr and log lines
	proc    *plugin.Client

	idPrefix string
	ids      atomic.Int64
}

// InProcess serves e over a real gRPC connection inside the test process
// (go-plugin's TestPluginGRPCConn), so that every call crosses the
// protocol: parameters, events, results and cancellation are encoded and
// decoded as they are between jobgraph and a plugin process. The
// connection is closed when the test ends.
func InProcess(t testing.TB, e sdk.Executor) *Harness {
	t.Helper()
	tr := &tracker{ended: map[string]chan struct{}{}}
	var impl sdk.Executor = &trackedExecutor{Executor: e, tracker: tr}
	if v, ok := e.(sdk.Validator); ok {
		impl = &trackedValidator{trackedExecutor: impl.(*trackedExecutor), v: v}
	}
	client, server := plugin.TestPluginGRPCConn(t, false, sdk.PluginSets(impl)[sdk.ProtocolVersion])
	t.Cleanup(func() {
		// Stop the server first: client.Close would otherwise stop it
		// through the controller RPC, and a second Stop races with that
		// one inside go-plugin.
		server.Stop()
		_ = client.Close()
	})
	raw, err := client.Dispense(sdk.PluginName)
	require.NoError(t, err, "dispense the executor")
	h := newHarness("in-process", raw, client.Conn)
	h.tracker = tr
	return h
}

// Process starts cmd as a plugin process with go-plugin, the way jobgraph
// starts executors (the sdk.Handshake, protocol negotiation, gRPC only,
// AutoMTLS, and only the environment jobgraph gives plugins unless cmd.Env
// is set), and kills it when the test ends. The plugin's log lines go to
// t.Log; its output and logs are also kept for the secret checks (see
// PluginLog).
func Process(t testing.TB, cmd *exec.Cmd) *Harness {
	t.Helper()
	logs := &logCollector{t: t}
	t.Cleanup(logs.close) // runs after the Kill below: cleanups run last-in first-out
	if cmd.Env == nil {
		// What jobgraph gives a plugin, so that one relying on more fails here.
		cmd.Env = sdk.PluginEnv()
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		SkipHostEnv:      true,
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     DefaultTimeout,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "plugin",
			Level:  hclog.Debug,
			Output: logs.logged(),
		}),
		Stderr:     logs.kept(),
		SyncStdout: logs.kept(),
		SyncStderr: logs.kept(),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	require.NoError(t, err, "start plugin %s", cmd.Path)
	raw, err := rpc.Dispense(sdk.PluginName)
	require.NoError(t, err, "dispense the executor from %s", cmd.Path)
	h := newHarness("process", raw, rpc.(*plugin.GRPCClient).Conn)
	h.logs = logs
	h.proc = client
	return h
}

func newHarness(kind string, raw any, conn grpc.ClientConnInterface) *Harness {
	return &Harness{
		Timeout:     DefaultTimeout,
		CancelGrace: DefaultCancelGrace,
		client:      raw.(*sdk.Client),
		conn:        conn,
		kind:        kind,
		idPrefix:    "sdktest-" + strings.ToLower(rand.Text()[:8]) + "-",
	}
}

// Executor returns the executor as jobgraph sees it: an *sdk.Client.
func (h *Harness) Executor() sdk.Executor { return h.client }

// Client returns the *sdk.Client, for its Cancel and Validate.
func (h *Harness) Client() *sdk.Client { return h.client }

// PluginLog returns what a plugin process wrote to its stdout and stderr
// and logged, so far; "" for an in-process harness. go-plugin relays a
// plugin's stdout and stderr asynchronously: PluginLog first waits until
// nothing has arrived for 100ms (at most a second), so that what the
// plugin wrote before the call is in.
func (h *Harness) PluginLog() string {
	if h.logs == nil {
		return ""
	}
	h.logs.settle(100*time.Millisecond, time.Second)
	return h.logs.String()
}

// Exited reports whether a plugin process has exited; always false in
// process.
func (h *Harness) Exited() bool { return h.proc != nil && h.proc.Exited() }

// NewTaskID returns a task ID unique within the harness.
func (h *Harness) NewTaskID() string {
	return fmt.Sprintf("%s%d", h.idPrefix, h.ids.Add(1))
}

// Describe calls Describe and fails the test if it errs or takes longer
// than Timeout.
func (h *Harness) Describe(t testing.TB) sdk.Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), h.Timeout)
	defer cancel()
	info, err := h.client.Describe(ctx)
	require.NoError(t, err, "Describe (%s)", h.kind)
	return info
}

// Validate calls Validate and returns the problems found, failing the
// test if the call errs or takes longer than Timeout.
func (h *Harness) Validate(t testing.TB, req sdk.ValidateRequest) []sdk.FieldError {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), h.Timeout)
	defer cancel()
	errs, err := h.client.Validate(ctx, req)
	require.NoError(t, err, "Validate %s (%s)", req.Action, h.kind)
	return errs
}

// Execute runs task to its end and returns what happened. It fails the
// test if the task does not end within Timeout; a task that ends with an
// error is not a failure here (Run.Err says what happened). A task without
// an ID gets a unique one.
func (h *Harness) Execute(t testing.TB, task sdk.Task) Run {
	t.Helper()
	return h.Start(t, task).Wait(t)
}

// Start starts task in the background and returns at once; wait for its
// output with WaitStdout or WaitOutput, end it with Cancel, and collect it
// with Wait. The task is cancelled when the test ends. A task without an
// ID gets a unique one.
func (h *Harness) Start(t testing.TB, task sdk.Task) *Execution {
	t.Helper()
	if task.ID == "" {
		task.ID = h.NewTaskID()
	}
	ctx, cancel := context.WithCancel(t.Context())
	x := &Execution{Recorder: NewRecorder(), h: h, task: task, cancel: cancel, started: time.Now(), done: make(chan struct{})}
	go func() {
		defer close(x.done)
		res, err := h.client.Execute(ctx, task, x.Recorder)
		x.run = Run{Recorder: x.Recorder, Task: task, Result: res, Err: err, Duration: time.Since(x.started)}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-x.done:
		case <-time.After(h.CancelGrace):
			t.Errorf("task %s (%s) did not end within %s of the end of the test", task.ID, task.Action, h.CancelGrace)
		}
	})
	return x
}

// Execution is a task started with Start. Its embedded Recorder holds
// what the task produced so far.
type Execution struct {
	*Recorder
	h       *Harness
	task    sdk.Task
	cancel  context.CancelFunc
	started time.Time
	done    chan struct{}
	run     Run // set before done is closed
}

// Task returns the task as sent, with its ID.
func (x *Execution) Task() sdk.Task { return x.task }

// Done is closed when Execute has returned.
func (x *Execution) Done() <-chan struct{} { return x.done }

// Cancel cancels the context Execute was called with, as jobgraph does
// when a run is cancelled.
func (x *Execution) Cancel() { x.cancel() }

// WaitOutput waits until the task has produced something (a write,
// progress or an output value). It fails the test if the task ends first
// or nothing comes within Timeout.
func (x *Execution) WaitOutput(t testing.TB) {
	t.Helper()
	x.waitFor(t, "any output", func(r *Recorder) bool { return r.events > 0 })
}

// WaitStdout waits until the task's stdout contains s. It fails the test if
// the task ends first or s does not come within Timeout.
func (x *Execution) WaitStdout(t testing.TB, s string) {
	t.Helper()
	x.waitFor(t, fmt.Sprintf("%q on stdout", s), func(r *Recorder) bool { return bytes.Contains(r.stdout.Bytes(), []byte(s)) })
}

func (x *Execution) waitFor(t testing.TB, what string, cond func(r *Recorder) bool) {
	t.Helper()
	if x.waitUntil(cond, x.done, x.h.Timeout) {
		return
	}
	select {
	case <-x.done:
		t.Fatalf("task %s (%s) ended before %s: %s", x.task.ID, x.task.Action, what, x.run)
	default:
		t.Fatalf("task %s (%s): no %s within %s; stdout so far:\n%s", x.task.ID, x.task.Action, what, x.h.Timeout, x.StdoutText())
	}
}

// Wait waits until Execute returns and returns the Run. It fails the test
// if that takes longer than Timeout from the start.
func (x *Execution) Wait(t testing.TB) Run {
	t.Helper()
	timer := time.NewTimer(time.Until(x.started.Add(x.h.Timeout)))
	defer timer.Stop()
	select {
	case <-x.done:
		return x.run
	case <-timer.C:
		x.cancel()
		t.Fatalf("task %s (%s) did not end within %s (%s); stdout so far:\n%s", x.task.ID, x.task.Action, x.h.Timeout, x.h.kind, x.StdoutText())
		return Run{}
	}
}

// waitCancelled waits CancelGrace for Execute to return after a cancel.
func (x *Execution) waitCancelled(t testing.TB, how string) Run {
	t.Helper()
	timer := time.NewTimer(x.h.CancelGrace)
	defer timer.Stop()
	select {
	case <-x.done:
		return x.run
	case <-timer.C:
		t.Fatalf("task %s (%s) did not end within %s of %s (%s)", x.task.ID, x.task.Action, x.h.CancelGrace, how, x.h.kind)
		return Run{}
	}
}

// AssertCancel starts task, waits for its first output, cancels the
// context and asserts that the task ends within CancelGrace with status
// Canceled or the context's error, and that the executor still answers
// Describe afterwards. In process, it also asserts that the executor's own
// Execute returned (over gRPC the caller's Execute returns at once on
// cancel, whatever the plugin does). The task must write something soon
// after it starts and then keep running until cancelled.
func (h *Harness) AssertCancel(t testing.TB, task sdk.Task) Run {
	t.Helper()
	x := h.Start(t, task)
	x.WaitOutput(t)
	x.Cancel()
	run := x.waitCancelled(t, "its cancel")
	if run.Err == nil {
		require.Equal(t, sdk.StatusCanceled, run.Result.Status, "a cancelled task ends Canceled: %s", run)
	} else {
		require.ErrorIs(t, run.Err, context.Canceled, "a cancelled task ends Canceled or with ctx's error: %s", run)
	}
	h.requireExecutorReturned(t, x.task, "its cancel")
	h.Describe(t)
	return run
}

// requireExecutorReturned asserts that the executor's Execute for task
// has returned, when the harness can see it (in process).
func (h *Harness) requireExecutorReturned(t testing.TB, task sdk.Task, after string) {
	t.Helper()
	if h.tracker == nil {
		return
	}
	select {
	case <-h.tracker.endedCh(task.ID):
	case <-time.After(h.CancelGrace):
		t.Fatalf("the executor's Execute for task %s (%s) did not return within %s of %s: it ignores ctx", task.ID, task.Action, h.CancelGrace, after)
	}
}

// RequireStatus fails the test unless the task ended with status want.
func (r Run) RequireStatus(t testing.TB, want sdk.Status) {
	t.Helper()
	if r.Err != nil || r.Result.Status != want {
		t.Fatalf("task %s (%s): want status %s, got %s", r.Task.ID, r.Task.Action, want, r)
	}
}

// tracker records when the wrapped executor's Execute returns, per task.
type tracker struct {
	mu    sync.Mutex
	ended map[string]chan struct{}
}

// begin records that Execute started for task id and returns the channel
// to close when it returns.
func (tr *tracker) begin(id string) chan struct{} {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ch := make(chan struct{})
	tr.ended[id] = ch
	return ch
}

// endedCh returns a channel closed once the last Execute of task id has
// returned (at once if it never started).
func (tr *tracker) endedCh(id string) <-chan struct{} {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ch, ok := tr.ended[id]
	if !ok {
		ch = make(chan struct{})
		close(ch)
	}
	return ch
}

type trackedExecutor struct {
	sdk.Executor
	tracker *tracker
}

var _ sdk.Executor = (*trackedExecutor)(nil)

func (e *trackedExecutor) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	defer close(e.tracker.begin(task.ID))
	return e.Executor.Execute(ctx, task, out)
}

type trackedValidator struct {
	*trackedExecutor
	v sdk.Validator
}

var (
	_ sdk.Executor  = (*trackedValidator)(nil)
	_ sdk.Validator = (*trackedValidator)(nil)
)

func (e *trackedValidator) Validate(ctx context.Context, req sdk.ValidateRequest) ([]sdk.FieldError, error) {
	return e.v.Validate(ctx, req)
}

// logCollector keeps a plugin process's output and log lines, and sends
// the log lines to t.Log while the test runs.
type logCollector struct {
	t         testing.TB
	mu        sync.Mutex
	buf       bytes.Buffer
	closed    bool
	lastWrite time.Time
}

// settle waits until nothing has been written for quiet, or at most max:
// go-plugin relays what a plugin writes to its stdout and stderr
// asynchronously, so it may arrive after the Execute that wrote it ended.
func (l *logCollector) settle(quiet, max time.Duration) {
	start := time.Now()
	deadline := start.Add(max)
	for {
		l.mu.Lock()
		wait := time.Until(later(l.lastWrite, start).Add(quiet))
		l.mu.Unlock()
		if wait <= 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(min(wait, time.Until(deadline)))
	}
}

func (l *logCollector) kept() *collectorWriter   { return &collectorWriter{l, false} }
func (l *logCollector) logged() *collectorWriter { return &collectorWriter{l, true} }

func (l *logCollector) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
}

func (l *logCollector) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

type collectorWriter struct {
	l   *logCollector
	log bool
}

func (w *collectorWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	w.l.buf.Write(p)
	w.l.lastWrite = time.Now()
	if w.log && !w.l.closed { // t.Log after the test ends panics
		w.l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
