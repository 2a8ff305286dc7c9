package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
)

// Limits on schedule fields.
const (
	MaxNameLen = 63
	// MaxJitter is the largest random delay a schedule may add to its fires.
	MaxJitter = time.Hour
	// MaxParamsLen bounds a schedule's parameters document, in bytes.
	MaxParamsLen = 64 << 10
	maxActorLen  = 64
	maxErrorLen  = 1000
)

// Overlap says what a fire does while the schedule's previous run has not
// ended.
type Overlap string

const (
	OverlapSkip  Overlap = "skip"  // the fire is dropped; the schedule moves on
	OverlapQueue Overlap = "queue" // the fire waits for the run to end, then fires once
	OverlapAllow Overlap = "allow" // the fire starts another run
)

// Overlaps returns every overlap policy.
func Overlaps() []Overlap { return []Overlap{OverlapSkip, OverlapQueue, OverlapAllow} }

// Valid reports whether o is one of Overlaps.
func (o Overlap) Valid() bool { return slices.Contains(Overlaps(), o) }

// Missed says what happens to fires missed while no replica could fire
// them (all down, or the leader changing), older than Grace.
type Missed string

const (
	MissedSkip    Missed = "skip"     // they are dropped; the schedule resumes at the next time after now
	MissedRunOnce Missed = "run_once" // one run starts for all of them, then the schedule resumes
)

// MissedPolicies returns every missed-fire policy.
func MissedPolicies() []Missed { return []Missed{MissedSkip, MissedRunOnce} }

// Valid reports whether m is one of MissedPolicies.
func (m Missed) Valid() bool { return slices.Contains(MissedPolicies(), m) }

// Schedule starts runs of a job at the times of a cron expression.
type Schedule struct {
	ID        string
	ProjectID string
	JobID     string
	Name      string
	// Expression is a cron expression (see ParseCron) read in TimeZone.
	Expression string
	TimeZone   string
	// Params is the JSON object of parameter values each run gets.
	Params   json.RawMessage
	Priority int
	// Jitter is the largest random delay added to each fire (0..MaxJitter).
	Jitter  time.Duration
	Overlap Overlap
	Missed  Missed
	Enabled bool
	// NextFireAt is the next fire time by the expression (nil when disabled
	// or when the expression has no more); DueAt is NextFireAt plus the
	// jitter drawn for it: when the fire happens. Both are drawn once and
	// stored, so that every replica agrees.
	NextFireAt *time.Time
	DueAt      *time.Time
	// LastFireAt is the fire time of the last run started, LastRunID its run.
	LastFireAt *time.Time
	LastRunID  string
	// LastError says why the last fire could not start a run ("" if it did).
	LastError string
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Fire records one fire time of a schedule and what came of it.
type Fire struct {
	ScheduleID string
	// At is the fire time by the expression; at most one Fire per time.
	At time.Time
	// FiredAt is when a replica handled it.
	FiredAt time.Time
	Outcome FireOutcome
	RunID   string // the run started (OutcomeStarted)
	Error   string // why not (OutcomeFailed)
}

// FireOutcome says what came of a fire time.
type FireOutcome string

const (
	OutcomeStarted       FireOutcome = "started"        // a run started
	OutcomeSkippedBusy   FireOutcome = "skipped_busy"   // overlap skip: the previous run had not ended
	OutcomeSkippedMissed FireOutcome = "skipped_missed" // missed while down, policy skip
	OutcomeFailed        FireOutcome = "failed"         // the run could not start (Error says why)
)

// Store is what the scheduler needs from storage.
type Store interface {
	core.Transactor
	// ProjectExists returns a *core.NotFoundError if there is no such project.
	ProjectExists(ctx context.Context, id string) error
	// CreateSchedule stores a new schedule; a name taken in the project is
	// a *core.ConflictError on "name".
	CreateSchedule(ctx context.Context, s Schedule) error
	// UpdateSchedule stores the editable fields of s (name to enabled),
	// its NextFireAt, DueAt and UpdatedAt, if its NextFireAt is still
	// prevNext (nil: NULL); otherwise it is a *core.ConflictError (a fire
	// came first).
	UpdateSchedule(ctx context.Context, s Schedule, prevNext *time.Time) error
	DeleteSchedule(ctx context.Context, id string) error
	GetSchedule(ctx context.Context, id string) (Schedule, error)
	// ListSchedules returns a project's schedules by name.
	ListSchedules(ctx context.Context, projectID string) ([]Schedule, error)
	// DueSchedules returns up to limit enabled schedules due at or before
	// now, earliest first.
	DueSchedules(ctx context.Context, now time.Time, limit int) ([]Schedule, error)
	// NextDue returns the earliest DueAt of the enabled schedules (nil if none).
	NextDue(ctx context.Context) (*time.Time, error)
	// AdvanceSchedule moves schedule s.ID from the fire time prev to
	// s.NextFireAt/s.DueAt, storing s's LastFireAt, LastRunID and
	// LastError, only if its NextFireAt is still prev; it reports whether
	// it did (false: another replica, or an edit, came first).
	AdvanceSchedule(ctx context.Context, s Schedule, prev time.Time) (bool, error)
	// RecordFire stores f; a second record for the same schedule and time
	// is a *core.ConflictError.
	RecordFire(ctx context.Context, f Fire) error
	// ListFires returns a schedule's most recent fires, newest first.
	ListFires(ctx context.Context, scheduleID string, limit int) ([]Fire, error)
}

// Jobs reads jobs; *job.Service is one.
type Jobs interface {
	Get(ctx context.Context, id string) (job.Job, error)
}

// Service creates, changes and previews schedules. The Scheduler fires them.
type Service struct {
	store Store
	jobs  Jobs
	now   func() time.Time
	// jitter draws a delay in [0, max); tests replace it.
	jitter func(max time.Duration) time.Duration
}

// NewService returns a Service over store that checks jobs with jobs.
func NewService(store Store, jobs Jobs) *Service {
	return &Service{store: store, jobs: jobs, now: core.Now, jitter: drawJitter}
}

// WithClock makes s read the time from now (tests); it returns s.
func (s *Service) WithClock(now func() time.Time) *Service {
	s.now = now
	return s
}

func drawJitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(max))).Truncate(time.Millisecond)
}

// CreateInput is what a new schedule is made of. Zero Overlap and Missed
// mean skip.
type CreateInput struct {
	ProjectID  string
	JobID      string
	Name       string
	Expression string
	TimeZone   string
	Params     json.RawMessage
	Priority   int
	Jitter     time.Duration
	Overlap    Overlap
	Missed     Missed
	Enabled    bool
	// CreatedBy is the user (or token) making it; runs are started as the
	// schedule, not as this user.
	CreatedBy string
}

// Create validates in and stores a new schedule. A bad expression or time
// zone, or parameters the job refuses, are *core.ValidationError and store
// nothing.
func (s *Service) Create(ctx context.Context, in CreateInput) (Schedule, error) {
	if err := core.CheckID("projectId", core.KindProject, in.ProjectID); err != nil {
		return Schedule{}, err
	}
	if len(in.CreatedBy) > maxActorLen {
		return Schedule{}, core.Invalid("createdBy", "must be at most %d bytes", maxActorLen)
	}
	now := s.now()
	sc := Schedule{
		ID: core.NewID(core.KindSchedule), ProjectID: in.ProjectID, JobID: in.JobID,
		Name: strings.TrimSpace(in.Name), Expression: in.Expression, TimeZone: in.TimeZone,
		Params: in.Params, Priority: in.Priority, Jitter: in.Jitter, Overlap: in.Overlap, Missed: in.Missed,
		Enabled: in.Enabled, CreatedBy: in.CreatedBy, CreatedAt: now, UpdatedAt: now,
	}
	if sc.Overlap == "" {
		sc.Overlap = OverlapSkip
	}
	if sc.Missed == "" {
		sc.Missed = MissedSkip
	}
	c, err := s.validate(ctx, &sc)
	if err != nil {
		return Schedule{}, err
	}
	s.plan(&sc, c, now)
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ProjectExists(ctx, sc.ProjectID); err != nil {
			return err
		}
		return s.store.CreateSchedule(ctx, sc)
	})
	if err != nil {
		return Schedule{}, err
	}
	return sc, nil
}

// UpdateInput changes a schedule; nil fields stay as they are. Changing the
// expression, time zone, jitter or enabling it plans the next fire anew
// from now.
type UpdateInput struct {
	ID         string
	Name       *string
	Expression *string
	TimeZone   *string
	Params     *json.RawMessage
	Priority   *int
	Jitter     *time.Duration
	Overlap    *Overlap
	Missed     *Missed
	Enabled    *bool
}

// Update validates and applies in.
func (s *Service) Update(ctx context.Context, in UpdateInput) (Schedule, error) {
	if err := core.CheckID("id", core.KindSchedule, in.ID); err != nil {
		return Schedule{}, err
	}
	var out Schedule
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		sc, err := s.store.GetSchedule(ctx, in.ID)
		if err != nil {
			return err
		}
		replan := false
		set(&sc.Name, in.Name, nil)
		set(&sc.Expression, in.Expression, &replan)
		set(&sc.TimeZone, in.TimeZone, &replan)
		set(&sc.Params, in.Params, nil)
		set(&sc.Priority, in.Priority, nil)
		set(&sc.Jitter, in.Jitter, &replan)
		set(&sc.Overlap, in.Overlap, nil)
		set(&sc.Missed, in.Missed, nil)
		if in.Enabled != nil && *in.Enabled != sc.Enabled {
			sc.Enabled, replan = *in.Enabled, true
		}
		sc.Name = strings.TrimSpace(sc.Name)
		c, err := s.validate(ctx, &sc)
		if err != nil {
			return err
		}
		now := s.now()
		sc.UpdatedAt = now
		prevNext := sc.NextFireAt
		if replan || (sc.Enabled && sc.NextFireAt == nil) {
			s.plan(&sc, c, now)
		}
		if err := s.store.UpdateSchedule(ctx, sc, prevNext); err != nil {
			return err
		}
		out = sc
		return nil
	})
	return out, err
}

func set[T any](dst *T, v *T, changed *bool) {
	if v == nil {
		return
	}
	*dst = *v
	if changed != nil {
		*changed = true
	}
}

// SetEnabled enables or disables a schedule. Enabling plans the next fire
// after now: fires missed while it was disabled are not made up.
func (s *Service) SetEnabled(ctx context.Context, id string, enabled bool) (Schedule, error) {
	return s.Update(ctx, UpdateInput{ID: id, Enabled: &enabled})
}

// Delete removes a schedule and its fire records; its runs stay.
func (s *Service) Delete(ctx context.Context, id string) (Schedule, error) {
	if err := core.CheckID("id", core.KindSchedule, id); err != nil {
		return Schedule{}, err
	}
	var out Schedule
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		sc, err := s.store.GetSchedule(ctx, id)
		if err != nil {
			return err
		}
		out = sc
		return s.store.DeleteSchedule(ctx, id)
	})
	return out, err
}

// Get returns a schedule.
func (s *Service) Get(ctx context.Context, id string) (Schedule, error) {
	if err := core.CheckID("id", core.KindSchedule, id); err != nil {
		return Schedule{}, err
	}
	return s.store.GetSchedule(ctx, id)
}

// List returns a project's schedules by name.
func (s *Service) List(ctx context.Context, projectID string) ([]Schedule, error) {
	if err := core.CheckID("projectId", core.KindProject, projectID); err != nil {
		return nil, err
	}
	return s.store.ListSchedules(ctx, projectID)
}

// Fires returns a schedule's most recent fire records (at most 100), newest
// first.
func (s *Service) Fires(ctx context.Context, id string, limit int) ([]Fire, error) {
	if err := core.CheckID("id", core.KindSchedule, id); err != nil {
		return nil, err
	}
	return s.store.ListFires(ctx, id, min(max(limit, 1), 100))
}

// Preview returns the next n (1..MaxPreview) fire times of expression in
// time zone tz after now (after, when not zero).
func (s *Service) Preview(expression, tz string, n int, after time.Time) ([]time.Time, error) {
	if n < 1 || n > MaxPreview {
		return nil, core.Invalid("count", "must be between 1 and %d", MaxPreview)
	}
	c, err := ParseCron(expression, tz)
	if err != nil {
		return nil, err
	}
	if after.IsZero() {
		after = s.now()
	}
	return c.NextN(after, n), nil
}

// NextFireTimes returns the next n fire times of sc by its expression
// (without jitter), from its next planned fire on.
func (s *Service) NextFireTimes(sc Schedule, n int) ([]time.Time, error) {
	if n < 1 || n > MaxPreview {
		return nil, core.Invalid("count", "must be between 1 and %d", MaxPreview)
	}
	c, err := ParseCron(sc.Expression, sc.TimeZone)
	if err != nil {
		return nil, err
	}
	if sc.NextFireAt == nil {
		return c.NextN(s.now(), n), nil
	}
	return append([]time.Time{*sc.NextFireAt}, c.NextN(*sc.NextFireAt, n-1)...), nil
}

// validate checks sc's fields and its parameters against its job, and
// returns its parsed expression.
func (s *Service) validate(ctx context.Context, sc *Schedule) (*Cron, error) {
	if err := core.CheckName("name", sc.Name, MaxNameLen); err != nil {
		return nil, err
	}
	if err := core.CheckID("jobId", core.KindJob, sc.JobID); err != nil {
		return nil, err
	}
	c, err := ParseCron(sc.Expression, sc.TimeZone)
	if err != nil {
		return nil, err
	}
	sc.Expression = c.Expression()
	switch {
	case sc.Jitter < 0 || sc.Jitter > MaxJitter:
		return nil, core.Invalid("jitter", "must be between 0 and %s", MaxJitter)
	case !sc.Overlap.Valid():
		return nil, core.Invalid("overlap", "unknown overlap policy %q", sc.Overlap)
	case !sc.Missed.Valid():
		return nil, core.Invalid("missed", "unknown missed-fire policy %q", sc.Missed)
	case len(sc.Params) > MaxParamsLen:
		return nil, core.Invalid("params", "must be at most %d bytes", MaxParamsLen)
	}
	if err := run.CheckPriority("priority", sc.Priority); err != nil {
		return nil, err
	}
	if c.Next(s.now()).IsZero() {
		return nil, core.Invalid("expression", "%q never fires", sc.Expression)
	}
	j, err := s.jobs.Get(ctx, sc.JobID)
	if err != nil {
		return nil, err
	}
	if j.ProjectID != sc.ProjectID {
		return nil, core.NotFound("job", sc.JobID)
	}
	if err := checkParams(j.Spec.Parameters, sc.Params); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(sc.Params)) == 0 {
		sc.Params = json.RawMessage("{}")
	}
	return c, nil
}

// checkParams checks raw as the engine will at every fire, and refuses
// values for secret parameters: a schedule's parameters are stored as they
// are, and a secret must not be.
func checkParams(params []job.Parameter, raw json.RawMessage) error {
	if err := engine.CheckParams(params, raw); err != nil {
		return err
	}
	var in map[string]json.RawMessage
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &in); err != nil {
			return core.Invalid("params", "must be a JSON object")
		}
	}
	for _, p := range params {
		if _, given := in[p.Name]; given && p.Type == job.ParamSecret {
			return core.Invalid("params."+p.Name, "a schedule cannot store a secret parameter's value: give it a default in the job")
		}
	}
	return nil
}

// plan sets sc's next fire after now (nothing when disabled).
func (s *Service) plan(sc *Schedule, c *Cron, now time.Time) {
	sc.NextFireAt, sc.DueAt = nil, nil
	if !sc.Enabled {
		return
	}
	s.planFrom(sc, c, now)
}

// planFrom sets sc's next fire to the first after t, with a fresh jitter.
func (s *Service) planFrom(sc *Schedule, c *Cron, t time.Time) {
	next := c.Next(t)
	if next.IsZero() {
		sc.NextFireAt, sc.DueAt = nil, nil
		return
	}
	due := next.Add(s.jitter(sc.Jitter))
	sc.NextFireAt, sc.DueAt = &next, &due
}
