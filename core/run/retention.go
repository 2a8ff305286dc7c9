package run

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// DefaultRetentionEvery is how often Retention sweeps when
// RetentionOptions.Every is not set.
const DefaultRetentionEvery = time.Hour

// RetentionOptions configure a Retention.
type RetentionOptions struct {
	// Logs is where the logs are; DeleteLogsBefore is all Retention uses.
	Logs LogStore
	// Keep is how long a task's log is kept after the task finished
	// (config log_retention). Zero or negative disables retention: Start
	// then starts nothing and logs are kept forever.
	Keep time.Duration
	// Every is the time between sweeps. Default DefaultRetentionEvery.
	Every time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives what each sweep deleted. Default: discard.
	Logger *slog.Logger
}

// Retention deletes the logs of tasks that finished more than Keep ago.
// Runs and tasks themselves are kept: only their output goes, a task's
// log whole or not at all (LogStore.DeleteLogsBefore).
//
// Its lifecycle is that of every long-running component (CONVENTIONS 12):
//
//  1. NewRetention checks nothing and starts nothing.
//  2. Start sweeps once at once, in the background (a first sweep after
//     retention was enabled on a large database may take a while, and must
//     not hold up the server's start), then every Every until ctx is done
//     or Stop is called. A sweep that fails is logged and retried at the
//     next tick. Started is closed once the loop runs, or at once when
//     retention is disabled.
//  3. Stop cancels a sweep in progress, waits for the loop to end, and
//     is idempotent and safe before Start.
//
// Several replicas may each run one: DeleteLogsBefore of one replica and
// another's delete the same rows at worst, which is harmless.
type Retention struct {
	o   RetentionOptions
	log *slog.Logger

	mu      sync.Mutex
	cancel  context.CancelFunc
	stopped bool
	started chan struct{}
	done    chan struct{}
}

// NewRetention returns a Retention; Start starts it.
func NewRetention(o RetentionOptions) *Retention {
	if o.Every <= 0 {
		o.Every = DefaultRetentionEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Retention{o: o, log: o.Logger.With("component", "log_retention"), started: make(chan struct{}), done: make(chan struct{})}
}

// Enabled reports whether the Retention deletes anything (Keep > 0).
func (r *Retention) Enabled() bool { return r.o.Keep > 0 }

// Start starts the sweeps; see Retention. It returns at once.
func (r *Retention) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil || r.stopped {
		return errors.New("log retention: already started")
	}
	if r.o.Logs == nil {
		return errors.New("log retention: no log store")
	}
	ctx, r.cancel = context.WithCancel(ctx)
	if !r.Enabled() {
		r.log.Info("task logs are kept forever")
		close(r.done)
		close(r.started)
		return nil
	}
	r.log.Info("task logs are deleted after their task finished", "keep", r.o.Keep, "every", r.o.Every)
	go r.loop(ctx)
	close(r.started)
	return nil
}

// Started is closed once Start has started the loop (or found retention
// disabled).
func (r *Retention) Started() <-chan struct{} { return r.started }

// Stop stops the sweeps and waits for a sweep in progress to end. It is
// idempotent and safe before Start.
func (r *Retention) Stop() {
	r.mu.Lock()
	r.stopped = true
	cancel := r.cancel
	r.mu.Unlock()
	if cancel == nil {
		return // never started
	}
	cancel()
	<-r.done
}

func (r *Retention) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.o.Every)
	defer t.Stop()
	for {
		if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("cannot delete old task logs; retrying at the next sweep", "err", err, "next_in", r.o.Every)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep deletes once the logs of tasks that finished before Now - Keep and
// returns how many chunks it deleted. It deletes nothing when retention is
// disabled. Start calls it; it is exported for tests and one-off use.
func (r *Retention) Sweep(ctx context.Context) (int64, error) {
	if !r.Enabled() {
		return 0, nil
	}
	before := r.o.Now().Add(-r.o.Keep)
	start := time.Now()
	n, err := r.o.Logs.DeleteLogsBefore(ctx, before)
	switch {
	case n > 0:
		// Also when it failed half-way: what it reports is gone.
		r.log.Info("deleted old task logs", "chunks", n, "finished_before", before, "took", time.Since(start))
	case err == nil:
		r.log.Debug("no old task logs to delete", "finished_before", before)
	}
	return n, err
}
