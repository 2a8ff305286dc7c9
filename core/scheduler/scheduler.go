package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
)

// RunStarter starts runs; *engine.Engine is one. RunJob is called inside
// the scheduler's transaction and must take part in it (the engine's does:
// it stores the run in the caller's transaction and activates it after the
// commit).
type RunStarter interface {
	RunJob(ctx context.Context, req engine.RunJobRequest) (run.Run, error)
}

// Runs reads runs, to know whether a schedule's last run has ended; the
// store is one.
type Runs interface {
	GetRun(ctx context.Context, id string) (run.Run, error)
}

// Elector elects one leader among the replicas; *queue.Queue is one.
type Elector interface {
	Leader(ctx context.Context, name, nodeID string, ttl time.Duration) (*queue.Leadership, error)
}

// Defaults of SchedulerOptions.
const (
	DefaultLease = 5 * time.Second
	DefaultGrace = time.Minute
	// maxWait is the longest the leader sleeps between two looks at the
	// database, so that edits made through another replica are seen.
	maxWait   = time.Second
	batchSize = 100
)

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	Store   Store
	Runs    Runs
	Starter RunStarter
	// Elector picks the one replica that fires; nil fires without an
	// election (a single process, or tests that call Tick).
	Elector Elector
	// NodeID names this replica in the election; required with Elector.
	NodeID string
	// Lease is the leadership's TTL: how long a dead leader keeps it before
	// another replica takes over. Default DefaultLease.
	Lease time.Duration
	// Grace is how late a fire may be and still count as on time; older
	// fires are missed and follow the schedule's Missed policy. Default
	// DefaultGrace.
	Grace  time.Duration
	Logger *slog.Logger
	// Now is the clock (default core.Now).
	Now func() time.Time
	// OnFire, if set, hears every fire time handled (tests).
	OnFire func(Fire)
}

// Scheduler fires the due schedules of a database, from one replica at a
// time: the leader of the election "scheduler".
type Scheduler struct {
	o   SchedulerOptions
	log *slog.Logger
	svc *Service // plans the next fires, with its jitter

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	leader bool
}

// NewScheduler returns a Scheduler; Start starts it.
func NewScheduler(o SchedulerOptions) *Scheduler {
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = core.Now
	}
	svc := &Service{store: o.Store, now: o.Now, jitter: drawJitter}
	return &Scheduler{o: o, log: o.Logger.With("component", "scheduler", "node", o.NodeID), svc: svc}
}

// Start campaigns for leadership in the background and, while leader,
// fires due schedules. Stop ends it.
func (s *Scheduler) Start(ctx context.Context) error {
	if s.o.Elector != nil && s.o.NodeID == "" {
		return core.Invalid("nodeId", "is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return errors.New("scheduler: already started")
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
	return nil
}

// Stop stops firing, resigns the leadership (so another replica takes over
// at once) and returns when done.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// IsLeader reports whether this replica is firing schedules now.
func (s *Scheduler) IsLeader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leader
}

func (s *Scheduler) setLeader(v bool) {
	s.mu.Lock()
	s.leader = v
	s.mu.Unlock()
}

func (s *Scheduler) run(ctx context.Context) {
	if s.o.Elector == nil {
		s.setLeader(true)
		s.lead(ctx)
		s.setLeader(false)
		return
	}
	for ctx.Err() == nil {
		l, err := s.o.Elector.Leader(ctx, "scheduler", s.o.NodeID, s.o.Lease)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("scheduler election", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.o.Lease / 3):
			}
			continue
		}
		s.log.Info("scheduler leader: firing schedules")
		s.setLeader(true)
		s.lead(l.Context())
		s.setLeader(false)
		l.Resign()
		if ctx.Err() == nil {
			s.log.Warn("scheduler leadership lost")
		}
	}
}

// lead fires due schedules until ctx ends.
func (s *Scheduler) lead(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		wait := maxWait
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduler tick", "err", err)
		} else if next, err := s.o.Store.NextDue(ctx); err == nil && next != nil {
			wait = min(next.Sub(s.o.Now()), maxWait)
			if wait <= 0 {
				// Still due after a tick: a fire waits for its last run
				// (overlap queue). Look again soon, not at once.
				wait = maxWait / 4
			}
		}
		timer.Reset(wait)
	}
}

// Tick handles every schedule due now once and returns how many fire
// times it handled. The leader calls it; tests call it with a fake clock.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	n := 0
	for {
		due, err := s.o.Store.DueSchedules(ctx, s.o.Now(), batchSize)
		if err != nil {
			return n, err
		}
		handled := 0
		for _, sc := range due {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			ok, err := s.handle(ctx, sc)
			if err != nil {
				s.log.Error("fire schedule", "schedule", sc.ID, "err", err)
				continue
			}
			if ok {
				handled++
			}
		}
		n += handled
		if handled == 0 { // until nothing more is due (catching up fires within the grace)
			return n, nil
		}
	}
}

// errLost rolls back a fire that another replica (or an edit) came first to.
var errLost = errors.New("schedule moved on meanwhile")

// handle decides and applies what schedule sc does at its due fire time,
// in one transaction: the compare-and-set of its next fire time makes the
// fire happen once even when two replicas believe they lead. It reports
// whether sc's fire time was handled (false when it waits for its last
// run, or another replica handled it).
func (s *Scheduler) handle(ctx context.Context, sc Schedule) (bool, error) {
	if sc.NextFireAt == nil || sc.DueAt == nil {
		return false, nil
	}
	now := s.o.Now()
	prev := *sc.NextFireAt
	c, err := ParseCron(sc.Expression, sc.TimeZone)
	if err != nil { // stored valid; only a time zone gone from tzdata can get here
		return s.apply(ctx, sc, prev, nil, Fire{Outcome: OutcomeFailed, Error: err.Error()}, now)
	}

	var last *run.Run
	if sc.LastRunID != "" {
		r, err := s.o.Runs.GetRun(ctx, sc.LastRunID)
		switch {
		case err == nil:
			last = &r
		case !errors.Is(err, core.ErrNotFound): // a deleted run has ended
			return false, fmt.Errorf("last run %s: %w", sc.LastRunID, err)
		}
	}
	busy := last != nil && !last.Status.Final()
	// A queued fire: the run was busy at the fire time and has ended since.
	queued := sc.Overlap == OverlapQueue && last != nil && !busy &&
		last.FinishedAt != nil && last.FinishedAt.After(*sc.DueAt)
	late := now.Sub(*sc.DueAt) > s.o.Grace

	fire := Fire{Outcome: OutcomeStarted}
	from := prev // the next fire is the first after from
	switch {
	case busy && sc.Overlap == OverlapQueue:
		return false, nil // wait for the run to end
	case busy && sc.Overlap == OverlapSkip:
		fire.Outcome = OutcomeSkippedBusy
		if late {
			from = now
		}
	case queued:
		from = now // one run for every time that waited
	case late && sc.Missed == MissedSkip:
		fire.Outcome, from = OutcomeSkippedMissed, now
	case late && sc.Missed == MissedRunOnce:
		from = now
	}
	return s.apply(ctx, sc, prev, c, fire, from)
}

// apply records fire for sc's fire time prev, starting a run if its
// outcome is OutcomeStarted, and moves sc to its first fire after from (c
// nil: no next fire).
func (s *Scheduler) apply(ctx context.Context, sc Schedule, prev time.Time, c *Cron, fire Fire, from time.Time) (bool, error) {
	fire.ScheduleID, fire.At, fire.FiredAt = sc.ID, prev, s.o.Now()
	err := s.o.Store.InTx(ctx, func(ctx context.Context) error {
		next := sc
		if fire.Outcome == OutcomeStarted {
			r, err := s.o.Starter.RunJob(ctx, engine.RunJobRequest{
				ProjectID: sc.ProjectID, JobID: sc.JobID, Params: sc.Params, Priority: sc.Priority,
				Trigger: run.Trigger{Kind: run.TriggerSchedule, Actor: sc.ID},
			})
			switch {
			case err == nil:
				fire.RunID = r.ID
				next.LastRunID, next.LastError = r.ID, ""
				next.LastFireAt = &prev
			case isPermanent(err):
				fire.Outcome, fire.Error = OutcomeFailed, truncate(err.Error(), maxErrorLen)
			default:
				return err // the database or the like: try again on the next tick
			}
		}
		if fire.Outcome == OutcomeFailed {
			next.LastError = fire.Error
		}
		if c != nil {
			s.svc.planFrom(&next, c, from)
		} else {
			next.NextFireAt, next.DueAt = nil, nil
		}
		ok, err := s.o.Store.AdvanceSchedule(ctx, next, prev)
		if err != nil {
			return err
		}
		if !ok {
			return errLost
		}
		return s.o.Store.RecordFire(ctx, fire)
	})
	if errors.Is(err, errLost) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fire.Outcome == OutcomeFailed {
		s.log.Warn("schedule fire could not start a run", "schedule", sc.ID, "at", prev, "err", fire.Error)
	}
	if s.o.OnFire != nil {
		s.o.OnFire(fire)
	}
	return true, nil
}

// isPermanent reports whether a RunJob error is about the schedule's job or
// parameters (it would fail again) rather than the infrastructure.
func isPermanent(err error) bool {
	return errors.Is(err, core.ErrInvalidInput) || errors.Is(err, core.ErrNotFound) ||
		errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrForbidden)
}
