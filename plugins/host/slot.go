package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/connectivity"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// slot is one registered plugin: its source, its state, and its live
// process if any. Everything below mu is guarded by it.
type slot struct {
	h    *Host
	src  Source
	path string // what runs: the private copy, or src.Path
	log  *slog.Logger

	mu       sync.Mutex
	state    State
	proc     *process // the live process; nil unless state is ready
	starting *startOp // the start in progress, shared by its waiters
	lastErr  *PluginError
	failures int       // consecutive crashes and failed starts
	retryAt  time.Time // no start before this
	restarts int
	// recovering: the next successful start follows a crash or a failure,
	// and counts as a restart.
	recovering bool
	info       sdk.Info // from the last successful start, for List
}

// startOp is one start of a process; waiters block on done.
type startOp struct {
	done chan struct{}
	err  error // set before done is closed
}

// backoff returns how long to wait before the next start after failures
// consecutive crashes or failed starts.
func backoff(failures int, minB, maxB time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := minB
	for i := 1; i < failures && d < maxB; i++ {
		d *= 2
	}
	return min(d, maxB)
}

func (s *slot) setState(next State) {
	if s.state != next && !s.state.CanTransitionTo(next) {
		s.log.Error("plugin state: transition not in the table", "from", s.state, "to", next)
	}
	s.state = next
}

// acquire returns the live process, counted in use until release. With no
// live process it starts one, or waits for the start in progress; during a
// backoff it fails at once with ErrBackoff (and the last failure), rather
// than holding the caller: the engine has its own retry policy.
func (s *slot) acquire(ctx context.Context) (*process, error) {
	for {
		s.mu.Lock()
		if s.h.closing.Load() {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if p := s.proc; p != nil {
			p.inflight++
			p.lastUsed = time.Now()
			s.mu.Unlock()
			return p, nil
		}
		op := s.starting
		if op == nil {
			if wait := time.Until(s.retryAt); wait > 0 && s.lastErr != nil {
				err := fmt.Errorf("%w (next attempt in %s); last failure: %s: %w",
					ErrBackoff, wait.Round(time.Millisecond), s.lastErr.Op, s.lastErr.Err)
				s.mu.Unlock()
				return nil, err
			}
			op = &startOp{done: make(chan struct{})}
			s.starting = op
			s.setState(StateStarting)
			s.h.wg.Add(1)
			go s.start(op)
		}
		s.mu.Unlock()
		select {
		case <-op.done:
			if op.err != nil {
				return nil, op.err
			}
			// Started: loop to take it (or, if it is already gone, start
			// again or report the crash's backoff).
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release ends a use of p that acquire began.
func (s *slot) release(p *process) {
	s.mu.Lock()
	p.inflight--
	p.lastUsed = time.Now()
	s.mu.Unlock()
}

// start launches a process and publishes the outcome. It runs detached
// from any caller: a caller that gives up does not abort a start others
// wait for.
func (s *slot) start(op *startOp) {
	defer s.h.wg.Done()
	t0 := time.Now()
	p, err := s.launch()
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		close(op.done)
	}()
	s.starting = nil
	if err == nil && s.h.closing.Load() {
		p.cancel(ErrClosed)
		s.killLocked(p, false)
		err = ErrClosed
	}
	if err != nil {
		op.err = err
		if s.h.closing.Load() {
			op.err = ErrClosed
			s.setState(StateStopped)
			return
		}
		var pe *PluginError
		if !errors.As(err, &pe) {
			pe = &PluginError{Plugin: s.src.Name, Op: "start", Err: err}
		}
		s.lastErr = pe
		s.failures++
		wait := backoff(s.failures, s.h.opts.MinBackoff, s.h.opts.MaxBackoff)
		s.retryAt = time.Now().Add(wait)
		s.recovering = true
		s.setState(StateFailed)
		s.log.Error("plugin failed to start", "err", err, "retry_in", wait)
		return
	}
	s.proc = p
	s.info = p.info
	s.retryAt = time.Time{}
	if s.recovering {
		s.restarts++
		s.recovering = false
	}
	s.setState(StateReady)
	s.log.Info("plugin started", "pid", p.pid, "version", p.info.Version, "took", time.Since(t0).Round(time.Millisecond))
	s.h.wg.Add(2)
	go s.supervise(p)
	go s.watchConn(p)
}

// crash retires p after it exited, lost its connection or failed a health
// check: calls in flight on it end with cause (which wraps
// sdk.ErrPluginExited), the process is killed, and the next start waits
// for the backoff. A no-op when p is no longer the live process.
func (s *slot) crash(p *process, cause error) {
	if !errors.Is(cause, sdk.ErrPluginExited) {
		cause = fmt.Errorf("%w: %w", sdk.ErrPluginExited, cause)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != p {
		return
	}
	if time.Since(p.startedAt) >= s.h.opts.MaxBackoff {
		s.failures = 0 // it had been up long enough: start the sequence over
	}
	s.failures++
	wait := backoff(s.failures, s.h.opts.MinBackoff, s.h.opts.MaxBackoff)
	s.retryAt = time.Now().Add(wait)
	s.lastErr = &PluginError{Plugin: s.src.Name, Op: "crash", Err: cause}
	s.recovering = true
	s.proc = nil
	s.setState(StateCrashed)
	s.log.Warn("plugin crashed", "pid", p.pid, "err", cause, "uptime", time.Since(p.startedAt).Round(time.Millisecond), "restart_after", wait)
	p.cancel(cause)
	s.killLocked(p, true)
}

// stop retires the live process, if any, because the host stops.
func (s *slot) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.proc; p != nil {
		s.proc = nil
		p.cancel(fmt.Errorf("%w: %w", ErrClosed, sdk.ErrPluginExited))
		s.killLocked(p, false)
	}
	if s.state != StateStarting {
		s.setState(StateStopped)
	}
}

// idleCheck stops p if it served nothing for IdleTimeout. It returns
// whether p is gone, and otherwise when to check again.
func (s *slot) idleCheck(p *process) (next time.Duration, gone bool) {
	idle := s.h.opts.IdleTimeout
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != p {
		return 0, true
	}
	if p.inflight > 0 {
		return idle, false
	}
	if unused := time.Since(p.lastUsed); unused < idle {
		return idle - unused, false
	}
	s.proc = nil
	s.setState(StateStopped)
	s.log.Info("plugin stopped: idle", "pid", p.pid, "idle_for", idle)
	p.cancel(fmt.Errorf("%w: stopped after %s unused", sdk.ErrPluginExited, idle))
	s.killLocked(p, false)
	return 0, true
}

// killLocked kills p in the background, counted in the host's wait group.
// hard kills at once (a crashed or wedged process); otherwise go-plugin
// asks the process to shut down first.
func (s *slot) killLocked(p *process, hard bool) {
	s.h.wg.Add(1)
	go func() {
		defer s.h.wg.Done()
		p.kill(hard)
		s.log.Debug("plugin process gone", "pid", p.pid)
	}()
}

// supervise watches p until it is retired: health checks every
// HealthInterval, and the idle stop.
func (s *slot) supervise(p *process) {
	defer s.h.wg.Done()
	var health <-chan time.Time
	if iv := s.h.opts.HealthInterval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		health = t.C
	}
	var idle <-chan time.Time
	var idleT *time.Timer
	if it := s.h.opts.IdleTimeout; it > 0 {
		idleT = time.NewTimer(it)
		defer idleT.Stop()
		idle = idleT.C
	}
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-health:
			if err := p.healthCheck(s.h.opts.DescribeTimeout); err != nil {
				if p.ctx.Err() == nil {
					s.crash(p, fmt.Errorf("killed after failing its health check: %w", err))
				}
				return
			}
		case <-idle:
			next, gone := s.idleCheck(p)
			if gone {
				return
			}
			idleT.Reset(next)
		}
	}
}

// watchConn marks p crashed as soon as its gRPC connection leaves the
// READY state: the process exited, or closed the connection. This is how a
// crash between calls is noticed at once (go-plugin's Exited() lags behind
// the reaping of the process).
func (s *slot) watchConn(p *process) {
	defer s.h.wg.Done()
	if p.conn == nil {
		return
	}
	st := p.conn.GetState()
	// gRPC publishes a new picker before the new state, so a call can
	// succeed while the state still says CONNECTING: wait for READY first.
	for _, during := range []connectivity.State{connectivity.Connecting, connectivity.Ready} {
		for st == during {
			if !p.conn.WaitForStateChange(p.ctx, st) {
				return // retired
			}
			st = p.conn.GetState()
		}
	}
	if p.ctx.Err() == nil {
		s.crash(p, fmt.Errorf("the process exited or closed its connection (pid %d, connection %s)", p.pid, st))
	}
}

// status snapshots the slot.
func (s *slot) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Name:        s.src.Name,
		BuiltIn:     s.src.BuiltIn,
		State:       s.state,
		Version:     s.info.Version,
		Description: s.info.Description,
		Restarts:    s.restarts,
	}
	for _, a := range s.info.Actions {
		st.Actions = append(st.Actions, a.Name)
	}
	if s.lastErr != nil {
		st.LastError = s.lastErr
	}
	if time.Now().Before(s.retryAt) {
		st.RetryAt = s.retryAt
	}
	if p := s.proc; p != nil {
		st.PID = p.pid
		st.StartedAt = p.startedAt
		st.InFlight = p.inflight
	}
	return st
}
