package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Never disables IdleTimeout or HealthInterval.
const Never time.Duration = -1

// Options configures a Host. Zero values take the defaults given.
type Options struct {
	// Logger receives the host's logs and, with plugin=<name>, each
	// plugin's log lines and stderr. Nil discards them.
	Logger *slog.Logger
	// StartTimeout bounds the start of a plugin process up to its
	// handshake. Default 10s.
	StartTimeout time.Duration
	// DescribeTimeout bounds the Describe call after a start and each
	// health check; a plugin that does not answer in time is killed.
	// Default 5s.
	DescribeTimeout time.Duration
	// IdleTimeout stops a plugin process that served no call for this long
	// (keep-warm); it starts again on next use. Default 10m; Never keeps
	// processes until Stop.
	IdleTimeout time.Duration
	// HealthInterval is how often a live process is health-checked (a
	// Describe bounded by DescribeTimeout); one that fails is killed and
	// restarted on next use. Default 30s; Never disables the checks.
	HealthInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait before a plugin is started
	// again after a crash or a failed start: MinBackoff, doubling with
	// each consecutive failure, up to MaxBackoff. A process that stayed up
	// for MaxBackoff resets the sequence. Defaults 200ms and 30s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// PrivateDir, when set, is a directory only this process's user may
	// write (it is created 0700), where Register copies each external
	// plugin binary and verifies its checksum before it ever runs; the copy
	// is what runs. Point it under the data directory. When empty,
	// binaries run in place, and whoever can write the plugin directory can
	// swap a binary between go-plugin's checksum and its exec (STACK.md
	// §3): the directory must then be writable by root only.
	PrivateDir string
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.StartTimeout, 10*time.Second)
	def(&o.DescribeTimeout, 5*time.Second)
	def(&o.IdleTimeout, 10*time.Minute)
	def(&o.HealthInterval, 30*time.Second)
	def(&o.MinBackoff, 200*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	if o.StartTimeout < 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.DescribeTimeout < 0 {
		o.DescribeTimeout = 5 * time.Second
	}
	o.MinBackoff = max(o.MinBackoff, time.Millisecond)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Host runs executor plugins for the server: it starts each plugin's
// process on first use, verifies it, sends it tasks, redacts what comes
// back, restarts it after a crash and stops it when idle. See the package
// documentation for the lifecycle.
//
// All methods are safe for concurrent use.
type Host struct {
	opts Options
	log  *slog.Logger

	// ctx is cancelled by Stop: it aborts starts in progress and ends the
	// supervisors.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.RWMutex
	slots   map[string]*slot
	started bool
	// closing is set (under mu) when Stop begins; slots read it under
	// their own lock before starting a process.
	closing   atomic.Bool
	startedCh chan struct{}
	stopOnce  sync.Once

	// wg counts the host's goroutines: starts, supervisors, kills.
	wg sync.WaitGroup
}

// New returns a Host configured by opts. It starts nothing: Register the
// plugins, then Start.
func New(opts Options) *Host {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Host{
		opts:      opts,
		log:       opts.Logger.With("component", "plugins"),
		ctx:       ctx,
		cancel:    cancel,
		slots:     map[string]*slot{},
		startedCh: make(chan struct{}),
	}
}

// Register adds a plugin. It starts no process. An external plugin (not
// BuiltIn) must carry its SHA-256: with Options.PrivateDir set, the binary
// is copied there and the copy verified; otherwise the file is verified in
// place. A name registered twice, an invalid source or a checksum mismatch
// is an error naming the plugin. Register may be called before or after
// Start, not after Stop.
func (h *Host) Register(src Source) error {
	if err := src.validate(); err != nil {
		return pluginErr(src.Name, "register", err)
	}
	if err := h.checkNew(src.Name); err != nil {
		return err
	}
	path := src.Path
	switch {
	case !src.BuiltIn && h.opts.PrivateDir != "":
		p, err := privateCopy(h.opts.PrivateDir, src.Name, src.Path, src.Checksum)
		if err != nil {
			return pluginErr(src.Name, "register", err)
		}
		path = p
	case len(src.Checksum) > 0:
		sum, err := FileSHA256(path)
		if err != nil {
			return pluginErr(src.Name, "register", err)
		}
		if !bytes.Equal(sum, src.Checksum) {
			return pluginErr(src.Name, "register", checksumError(path, src.Checksum, sum))
		}
	}
	src.Args = slices.Clone(src.Args)
	src.Env = slices.Clone(src.Env)
	src.Checksum = slices.Clone(src.Checksum)

	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.checkNewLocked(src.Name); err != nil {
		return err
	}
	h.slots[src.Name] = &slot{
		h:     h,
		src:   src,
		path:  path,
		log:   h.log.With("plugin", src.Name),
		state: StateNotStarted,
	}
	return nil
}

func (h *Host) checkNew(name string) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.checkNewLocked(name)
}

func (h *Host) checkNewLocked(name string) error {
	if h.closing.Load() {
		return pluginErr(name, "register", ErrClosed)
	}
	if _, dup := h.slots[name]; dup {
		return pluginErrf(name, "register", "a plugin with that name is already registered")
	}
	return nil
}

// Start opens the host for use: from then on, the first call for a plugin
// starts its process. The host runs until Stop, or until ctx is done. Start
// is idempotent; after Stop it returns ErrClosed.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing.Load() {
		return ErrClosed
	}
	if h.started {
		return nil
	}
	h.started = true
	close(h.startedCh)
	go func() {
		select {
		case <-ctx.Done():
			h.Stop()
		case <-h.ctx.Done():
		}
	}()
	return nil
}

// Started is closed once Start has run.
func (h *Host) Started() <-chan struct{} { return h.startedCh }

// Stop kills every plugin process and waits until they are gone. Calls in
// flight end with an error wrapping ErrClosed and sdk.ErrPluginExited.
// Live processes are asked to shut down (go-plugin's Kill: a graceful
// Shutdown RPC, then SIGKILL after 2s); processes being started are killed
// as soon as their start ends. Stop is idempotent and safe before Start;
// concurrent calls all return once the processes are gone.
func (h *Host) Stop() {
	h.stopOnce.Do(func() {
		h.mu.Lock()
		h.closing.Store(true)
		slots := make([]*slot, 0, len(h.slots))
		for _, s := range h.slots {
			slots = append(slots, s)
		}
		h.mu.Unlock()
		h.cancel()
		for _, s := range slots {
			s.stop()
		}
		h.wg.Wait()
		h.log.Debug("plugin host stopped")
	})
}

// Close is Stop, for io.Closer. It returns nil.
func (h *Host) Close() error {
	h.Stop()
	return nil
}

// lookup returns the slot of a registered plugin, if the host is open.
func (h *Host) lookup(name string) (*slot, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	switch {
	case h.closing.Load():
		return nil, ErrClosed
	case !h.started:
		return nil, ErrNotStarted
	}
	s := h.slots[name]
	if s == nil {
		return nil, ErrUnknownPlugin
	}
	return s, nil
}

// Execute runs task on the named plugin, streaming its output into out,
// and returns how the task ended. It starts the plugin's process if there
// is none (sharing the start with concurrent callers). Everything the
// plugin sends back is redacted (see Redactor).
//
// A returned error means the task did not run to a Result:
//   - the caller's ctx was done: the error wraps ctx's error, and the
//     plugin was told to stop the task (the gRPC stream is cancelled);
//   - the plugin process crashed or was stopped during the call: the error
//     wraps sdk.ErrPluginExited (and ErrClosed if the host stopped);
//   - the plugin broke the protocol: *sdk.ProtocolError;
//   - the plugin could not be started: the start's error (see Status);
//   - the action is unknown: ErrUnknownAction.
//
// Every error is a *PluginError naming the plugin. A task's parameters are
// not checked against the action's schema here: Validate does that before
// a run is accepted.
//
// When task.Timeout is set, the plugin stops the task itself at the
// timeout and reports StatusTimedOut; the host cancels the call 5 seconds
// later if the plugin did not.
func (h *Host) Execute(ctx context.Context, name string, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	s, p, err := h.acquire(ctx, name)
	if err != nil {
		return sdk.Result{}, pluginErr(name, "execute", err)
	}
	defer s.release(p)
	if _, ok := p.actions[task.Action]; !ok {
		return sdk.Result{}, pluginErr(name, "execute", p.unknownAction(task.Action))
	}
	callCtx, done := p.callContext(ctx, task.Timeout)
	defer done()
	res, err := p.exec.Execute(callCtx, task, out)
	if err != nil {
		return sdk.Result{}, pluginErr(name, "execute", fmt.Errorf("task %s: %w", task.ID, s.callError(ctx, callCtx, p, err)))
	}
	return res, nil
}

// Describe returns what the named plugin reported when its process
// started, starting it if needed. The answer is cached per process: a
// restarted plugin is described again (it may have been upgraded).
func (h *Host) Describe(ctx context.Context, name string) (sdk.Info, error) {
	s, p, err := h.acquire(ctx, name)
	if err != nil {
		return sdk.Info{}, pluginErr(name, "describe", err)
	}
	defer s.release(p)
	info := p.info
	info.Actions = slices.Clone(info.Actions)
	for i := range info.Actions {
		info.Actions[i].SecretParams = slices.Clone(info.Actions[i].SecretParams)
	}
	return info, nil
}

// Validate checks an action's parameters for a target, before a run is
// accepted. In order, and stopping at the first that finds problems:
//  1. the action must exist (else an error wrapping ErrUnknownAction);
//  2. params must validate against the action's JSON Schema (compiled once
//     per Describe), without calling the plugin;
//  3. the plugin's own Validate, if it implements sdk.Validator.
//
// Problems with the parameters come back as field errors with a nil error;
// a non-nil error means the check itself could not be made. Messages are
// redacted of the action's secret parameter values.
func (h *Host) Validate(ctx context.Context, name, action string, params json.RawMessage, target sdk.Target) ([]sdk.FieldError, error) {
	s, p, err := h.acquire(ctx, name)
	if err != nil {
		return nil, pluginErr(name, "validate", err)
	}
	defer s.release(p)
	a, ok := p.actions[action]
	if !ok {
		return nil, pluginErr(name, "validate", p.unknownAction(action))
	}
	if errs := a.schema.Validate(params); len(errs) > 0 {
		pats := secretsOf(nil, params, a.secretParams)
		for i := range errs {
			errs[i].Message = pats.redactString(errs[i].Message)
		}
		return errs, nil
	}
	callCtx, done := p.callContext(ctx, 0)
	defer done()
	errs, err := p.exec.Validate(callCtx, sdk.ValidateRequest{Action: action, Params: params, Target: target})
	if err != nil {
		return nil, pluginErr(name, "validate", s.callError(ctx, callCtx, p, err))
	}
	return errs, nil
}

// Executor returns the named plugin as an sdk.Executor (and sdk.Validator)
// that goes through the host, so that callers treat in-process and
// out-of-process executors alike. The process is started on first use.
func (h *Host) Executor(name string) (sdk.Executor, error) {
	h.mu.RLock()
	_, ok := h.slots[name]
	h.mu.RUnlock()
	if !ok {
		return nil, pluginErr(name, "executor", ErrUnknownPlugin)
	}
	return executorHandle{h: h, name: name}, nil
}

type executorHandle struct {
	h    *Host
	name string
}

var (
	_ sdk.Executor  = executorHandle{}
	_ sdk.Validator = executorHandle{}
)

func (e executorHandle) Describe(ctx context.Context) (sdk.Info, error) {
	return e.h.Describe(ctx, e.name)
}

func (e executorHandle) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	return e.h.Execute(ctx, e.name, task, out)
}

func (e executorHandle) Validate(ctx context.Context, req sdk.ValidateRequest) ([]sdk.FieldError, error) {
	return e.h.Validate(ctx, e.name, req.Action, req.Params, req.Target)
}

// List reports every registered plugin, sorted by name. It starts nothing.
func (h *Host) List() []Status {
	h.mu.RLock()
	slots := make([]*slot, 0, len(h.slots))
	for _, s := range h.slots {
		slots = append(slots, s)
	}
	h.mu.RUnlock()
	out := make([]Status, 0, len(slots))
	for _, s := range slots {
		out = append(out, s.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// acquire returns the named plugin's live process, starting it if needed,
// counted as in use until release.
func (h *Host) acquire(ctx context.Context, name string) (*slot, *process, error) {
	s, err := h.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s, p, nil
}

// timeoutGrace is how long after a task's timeout the host waits for the
// plugin to report it before cancelling the call itself.
const timeoutGrace = 5 * time.Second

var errPastGrace = errors.New("the plugin did not end the task within " + timeoutGrace.String() + " after its timeout")

// callContext returns the context for one call on p: done when the
// caller's is, when p goes away (with p's reason as the cause), or when a
// task timeout plus grace passes.
func (p *process) callContext(ctx context.Context, timeout time.Duration) (context.Context, func()) {
	c, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(p.ctx, func() { cancel(context.Cause(p.ctx)) })
	if timeout <= 0 {
		return c, func() { stop(); cancel(nil) }
	}
	tc, tcancel := context.WithTimeoutCause(c, timeout+timeoutGrace, errPastGrace)
	return tc, func() { tcancel(); stop(); cancel(nil) }
}

// callError classifies the error of a call on p (see Execute), and marks
// p crashed when the error says it is gone.
func (s *slot) callError(ctx, callCtx context.Context, p *process, err error) error {
	switch {
	case ctx.Err() != nil:
		if errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	case p.ctx.Err() != nil:
		return context.Cause(p.ctx)
	case errors.Is(context.Cause(callCtx), errPastGrace):
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, errPastGrace)
	case status.Code(err) == codes.DeadlineExceeded:
		// The plugin's gRPC server saw the call's deadline pass first.
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	case errors.Is(err, sdk.ErrPluginExited):
		s.crash(p, err)
	}
	return err
}

func (p *process) unknownAction(action string) error {
	names := make([]string, 0, len(p.actions))
	for n := range p.actions {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Errorf("%w %q: the plugin offers no actions", ErrUnknownAction, action)
	}
	return fmt.Errorf("%w %q: the plugin offers %s", ErrUnknownAction, action, strings.Join(names, ", "))
}
