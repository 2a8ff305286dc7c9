package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/plugins/host"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Executors runs tasks on executor plugins; *plugins/host.Host is one.
type Executors interface {
	Execute(ctx context.Context, name string, task sdk.Task, out sdk.Output) (sdk.Result, error)
}

// Options configure a Worker.
type Options struct {
	Queue     *queue.Queue
	Executors Executors
	// ID names the worker on task rows (at most 40 characters). Default:
	// the host name and a random suffix.
	ID string
	// Pools are the pool labels whose tasks this worker takes; "" takes the
	// tasks that require no pool. Default: [""].
	Pools []string
	// Slots bounds the tasks running at once, per pool. Default 64.
	Slots int
	// TouchEvery is how often the worker reports its running tasks.
	// Default 5s.
	TouchEvery time.Duration
	// FlushEvery is how often output is shipped. Default 50ms.
	FlushEvery time.Duration
	// Grace bounds the time a stopping worker takes to report its tasks.
	// Default 5s.
	Grace  time.Duration
	Logger *slog.Logger
}

// Worker runs tasks; see the package documentation.
type Worker struct {
	o    Options
	log  *slog.Logger
	ship *shipper

	mu       sync.Mutex
	inflight map[string]*attempt // by task ID
	started  bool

	consumers []*queue.Consumer
	unsub     func()
	stopAux   context.CancelFunc
	stopWatch func() bool // ends the watch of Start's ctx
	aux       sync.WaitGroup
	stopOnce  sync.Once
}

// attempt is a task this worker is running.
type attempt struct {
	ref    queue.TaskRef
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when its handler returns
}

// errStopRequested is the cause of a task canceled at the server's request.
var errStopRequested = errors.New("stopped at the server's request")

// maxIDLen keeps "<id>@<stream seq>" within the task row's worker column.
const maxIDLen = 40

// New checks o and returns a worker; Start starts it.
func New(o Options) (*Worker, error) {
	if o.Queue == nil || o.Executors == nil {
		return nil, errors.New("worker: Queue and Executors are required")
	}
	if o.ID == "" {
		o.ID = defaultID()
	}
	if len(o.ID) > maxIDLen || strings.ContainsAny(o.ID, "@ \t\r\n") {
		return nil, fmt.Errorf("worker: id %q must be at most %d characters, without '@' or spaces", o.ID, maxIDLen)
	}
	if len(o.Pools) == 0 {
		o.Pools = []string{""}
	}
	if o.Slots <= 0 {
		o.Slots = 64
	}
	if o.TouchEvery <= 0 {
		o.TouchEvery = 5 * time.Second
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 50 * time.Millisecond
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{o: o, log: o.Logger.With("worker", o.ID), inflight: map[string]*attempt{}}
	w.ship = newShipper(w)
	return w, nil
}

func defaultID() string {
	h, _ := os.Hostname()
	h = strings.Map(func(r rune) rune {
		if r == '@' || r == ' ' {
			return '-'
		}
		return r
	}, h)
	if i := strings.IndexByte(h, '.'); i > 0 {
		h = h[:i]
	}
	if len(h) > 30 {
		h = h[:30]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	if h == "" {
		h = "worker"
	}
	return h + "-" + hex.EncodeToString(b[:])
}

// ID is the worker's name on task rows.
func (w *Worker) ID() string { return w.o.ID }

// Start subscribes to the pools and to cancel notices and returns; the
// worker runs until Stop or until ctx ends.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("worker: already started")
	}
	w.started = true
	w.mu.Unlock()
	unsub, err := w.o.Queue.SubscribeCancel(func(n queue.CancelNotice) { w.stopTasks(n.Tasks) })
	if err != nil {
		return err
	}
	w.unsub = unsub
	auxCtx, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	w.stopAux = stopAux
	w.aux.Add(2)
	go func() { defer w.aux.Done(); w.ship.run(auxCtx) }()
	go func() { defer w.aux.Done(); w.toucher(auxCtx) }()
	for _, pool := range w.o.Pools {
		c, err := w.o.Queue.Consume(ctx, queue.ConsumerOptions{Pool: pool, MaxInFlight: w.o.Slots}, w.handle)
		if err != nil {
			w.Stop()
			return fmt.Errorf("worker: pool %q: %w", pool, err)
		}
		w.consumers = append(w.consumers, c)
	}
	w.stopWatch = context.AfterFunc(ctx, w.Stop)
	pools := make([]string, len(w.o.Pools))
	for i, p := range w.o.Pools {
		pools[i] = cmp.Or(p, "any")
	}
	w.log.Info("worker started", "pools", strings.Join(pools, ","), "slots", w.o.Slots)
	return nil
}

// Stop stops taking tasks, reports the running ones (see the package
// documentation) and returns once they are settled. It is idempotent.
func (w *Worker) Stop() {
	w.stopOnce.Do(func() {
		if w.stopWatch != nil {
			w.stopWatch()
		}
		for _, c := range w.consumers {
			c.Stop() // waits for the handlers
		}
		if w.unsub != nil {
			w.unsub()
		}
		if w.stopAux != nil {
			w.stopAux()
		}
		w.aux.Wait()
	})
}

// stopTasks cancels the attempts of these tasks running here.
func (w *Worker) stopTasks(ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if a, ok := w.inflight[id]; ok {
			a.cancel(errStopRequested)
		}
	}
}

func (w *Worker) running() []queue.TaskRef {
	w.mu.Lock()
	defer w.mu.Unlock()
	refs := make([]queue.TaskRef, 0, len(w.inflight))
	for _, a := range w.inflight {
		refs = append(refs, a.ref)
	}
	return refs
}

// handle runs one delivered task; see the package documentation.
func (w *Worker) handle(ctx context.Context, d *queue.Delivery) error {
	ref := queue.TaskRef{TaskID: d.Message.TaskID, Attempt: d.Message.Attempt}
	holder := w.o.ID + "@" + strconv.FormatUint(d.Seq, 10)
	log := w.log.With("task", ref.TaskID, "attempt", ref.Attempt)

	// The message may come back to this worker while it still runs the task
	// (its lease lapsed: heartbeats lost while NATS was away). Its claim
	// would look like a repeat of ours: wait for our run to end instead of
	// running the task twice.
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	me := &attempt{ref: ref, cancel: cancel, done: make(chan struct{})}
	w.mu.Lock()
	if cur, ok := w.inflight[ref.TaskID]; ok && cur.ref == ref {
		w.mu.Unlock()
		log.Info("message came back while the task runs here; waiting for it")
		select {
		case <-cur.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.inflight[ref.TaskID] = me
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.inflight[ref.TaskID] == me {
			delete(w.inflight, ref.TaskID)
		}
		w.mu.Unlock()
		close(me.done)
	}()

	a, err := retry(ctx, func() (queue.Assignment, error) {
		return queue.Call[queue.Claim, queue.Assignment](ctx, w.o.Queue, queue.OpClaim, queue.Claim{TaskID: ref.TaskID, Attempt: ref.Attempt, Holder: holder})
	})
	if err != nil {
		return err // stopping: the message goes back to the queue
	}
	if !a.Run {
		log.Debug("task dropped", "reason", a.Reason)
		return nil
	}

	out := w.ship.open(ref, a.SeqBase, a.Redact)
	execCtx := actx
	if a.Task.Timeout > 0 {
		var c context.CancelFunc
		execCtx, c = context.WithTimeout(actx, a.Task.Timeout)
		defer c()
	}
	res, xerr := w.execute(execCtx, a, out)
	fin := outcome(res, xerr, execCtx, actx, a.Redact)
	fin.TaskRef, fin.Holder, fin.Outputs = ref, holder, out.outputs()
	if ctx.Err() != nil && !errors.Is(context.Cause(actx), errStopRequested) {
		fin = queue.Finish{TaskRef: ref, Holder: holder, Status: run.TaskLost, Retryable: true,
			Error: "lost: its worker stopped while it ran"}
	}
	fin.At = time.Now().UTC()

	// Report, within a grace period once the worker is stopping.
	rctx, rcancel := graceContext(ctx, w.o.Grace)
	defer rcancel()
	if err := out.close(rctx); err != nil {
		return fmt.Errorf("ship output: %w", err)
	}
	if _, err := retry(rctx, func() (queue.Done, error) {
		return queue.Call[queue.Finish, queue.Done](rctx, w.o.Queue, queue.OpFinish, fin)
	}); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	log.Debug("task finished", "status", fin.Status)
	return nil
}

// execute runs the task on its executor. A plugin that is restarting
// after a crash (host.ErrBackoff) never saw the task: that costs the task
// no attempt, and execute waits for the plugin, up to the task's context.
func (w *Worker) execute(ctx context.Context, a queue.Assignment, out *output) (sdk.Result, error) {
	wait := 100 * time.Millisecond
	for {
		res, err := w.o.Executors.Execute(ctx, a.Executor, a.Task, out)
		if !errors.Is(err, host.ErrBackoff) {
			return res, err
		}
		w.log.Info("executor plugin restarting; the task waits for it", "task", a.Task.ID, "executor", a.Executor)
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// outcome maps what the executor said to a final task status.
func outcome(res sdk.Result, xerr error, execCtx, actx context.Context, redact []string) queue.Finish {
	var f queue.Finish
	timedOut := errors.Is(execCtx.Err(), context.DeadlineExceeded) && actx.Err() == nil
	canceled := actx.Err() != nil
	if xerr != nil {
		// A plugin that crashed took the attempt with it, not the target's
		// answer: trying again (on the restarted plugin) may well work.
		f.Status, f.Error = run.TaskError, redactAll(xerr.Error(), redact)
		f.Retryable = sdk.IsRetryable(xerr) || errors.Is(xerr, sdk.ErrPluginExited)
		switch {
		case canceled:
			f.Status = run.TaskCanceled
		case timedOut:
			f.Status = run.TaskTimedOut
		}
		return f
	}
	code := res.ExitCode
	f.ExitCode, f.Error, f.Retryable = &code, redactAll(res.Error, redact), res.Retryable
	switch res.Status {
	case sdk.StatusSucceeded:
		f.Status = run.TaskSucceeded
	case sdk.StatusFailed:
		f.Status = run.TaskFailed
	case sdk.StatusTimedOut:
		f.Status = run.TaskTimedOut
	case sdk.StatusCanceled:
		f.Status = run.TaskCanceled
		if timedOut {
			f.Status = run.TaskTimedOut
		}
	default:
		f.Status = run.TaskError
	}
	return f
}

func redactAll(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// toucher reports the running tasks every TouchEvery.
func (w *Worker) toucher(ctx context.Context) {
	t := time.NewTicker(w.o.TouchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		refs := w.running()
		if len(refs) == 0 {
			continue
		}
		stop, err := queue.Call[queue.Touch, queue.Stop](ctx, w.o.Queue, queue.OpTouch, queue.Touch{Worker: w.o.ID, Tasks: refs})
		if err != nil {
			w.log.Warn("touch", "err", err)
			continue
		}
		w.stopTasks(stop.Tasks)
	}
}

// retry calls f until it succeeds or ctx ends, backing off from 100ms to
// 2s between attempts. A server that is away (restarting) costs time, not
// the task.
func retry[T any](ctx context.Context, f func() (T, error)) (T, error) {
	wait := 100 * time.Millisecond
	for {
		v, err := f()
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// graceContext is a context that ends grace after parent does.
func graceContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	})
	return ctx, func() { stop(); cancel() }
}
