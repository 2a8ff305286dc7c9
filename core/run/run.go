package run

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// Limits on run fields.
const (
	MinPriority = -100
	MaxPriority = 100
	// DefaultMaxLogBytesPerTask is the default per-task log cap (Options).
	DefaultMaxLogBytesPerTask = 10 << 20
	// MaxLogChunkBytes is the largest chunk AppendLogs accepts; producers
	// split longer output.
	MaxLogChunkBytes = 1 << 20
	// MaxReadLogs is the largest page ReadLogs returns.
	MaxReadLogs = 1000
)

// Options configure the engine's use of runs.
type Options struct {
	// MaxLogBytesPerTask caps the log stored for one task (all attempts,
	// both streams); the chunk that would pass it is replaced by one
	// truncation marker and the rest is dropped. 0 means
	// DefaultMaxLogBytesPerTask.
	MaxLogBytesPerTask int64
}

// LogCap returns the effective per-task log cap.
func (o Options) LogCap() int64 {
	if o.MaxLogBytesPerTask <= 0 {
		return DefaultMaxLogBytesPerTask
	}
	return o.MaxLogBytesPerTask
}

// TriggerKind says what started a run.
type TriggerKind string

const (
	TriggerManual   TriggerKind = "manual"   // a person, through the API or the CLI
	TriggerSchedule TriggerKind = "schedule" // a cron schedule
	TriggerWebhook  TriggerKind = "webhook"  // a webhook trigger
	TriggerRetry    TriggerKind = "retry"    // a re-run of RetryOf (all of it, or its failed hosts)
)

// TriggerKinds returns every trigger kind.
func TriggerKinds() []TriggerKind {
	return []TriggerKind{TriggerManual, TriggerSchedule, TriggerWebhook, TriggerRetry}
}

// Valid reports whether k is one of TriggerKinds.
func (k TriggerKind) Valid() bool { return slices.Contains(TriggerKinds(), k) }

// Trigger is who or what started a run.
type Trigger struct {
	Kind TriggerKind
	// Actor is the user ID for manual and retry runs, the schedule or
	// webhook trigger ID otherwise.
	Actor string
	// RetryOf is the run this one re-runs (Kind retry only).
	RetryOf string
}

// Run is one execution of a job version, or of an ad-hoc action, with its
// parameters.
type Run struct {
	ID        string
	ProjectID string
	// JobID and JobVersion name the job version the run ran; both are zero
	// for an ad-hoc run. There is no foreign key to jobs: a run's history
	// outlives the job it ran.
	JobID      string
	JobVersion int
	// Name is the job's name at the time, or a short description of an
	// ad-hoc action, so that the run still reads well after the job is
	// renamed or deleted.
	Name     string
	Status   RunStatus
	Priority int // MinPriority..MaxPriority; higher first
	Trigger  Trigger
	// Params holds the values of the run's non-secret parameters as a JSON
	// object. Secret values are never stored here: see SecretParams.
	Params json.RawMessage
	// SecretParams names the secret parameters the run was given. Their
	// values are not stored at all in this version: they live in memory
	// for the run's lifetime, so a run resumed after a restart that needs
	// one fails its task with TaskError. A sealed column (core/secrets) is
	// the planned way to keep them.
	SecretParams []string
	// Spec is what the run runs, as the job package encodes it
	// (job.EncodeSpec): the job version's spec, or the one step of an
	// ad-hoc run. It is stored with the run so that the run never depends on
	// its job still being there.
	Spec json.RawMessage
	// CancelRequestedAt is when someone asked for the run to be canceled;
	// the engine cancels it from then on, on every replica and after a
	// restart.
	CancelRequestedAt *time.Time
	CreatedAt         time.Time
	StartedAt         *time.Time
	FinishedAt        *time.Time
}

// CheckPriority reports a priority out of range as a *core.ValidationError.
func CheckPriority(field string, p int) error {
	if p < MinPriority || p > MaxPriority {
		return core.Invalid(field, "must be between %d and %d", MinPriority, MaxPriority)
	}
	return nil
}

// RunningCounts are the numbers of running runs, by project ID and by job
// ID (ad-hoc runs count for their project only).
type RunningCounts struct {
	ByProject map[string]int
	ByJob     map[string]int
}

// StepRun is one step of a run: the tasks of that step on its hosts.
type StepRun struct {
	ID     string
	RunID  string
	Name   string // the step's name in the job version
	Index  int    // its position in the job's steps, from 0
	Status StepStatus
	// Counts is computed from the tasks when the step run is read; it is
	// never stored, so it can never disagree with them.
	Counts     Counts
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Counts are the numbers of a step run's tasks in each status.
type Counts struct {
	Total     int
	Pending   int
	Queued    int
	Running   int
	Succeeded int
	Failed    int
	Canceled  int
	TimedOut  int
	Error     int
	Lost      int
}

// Add counts n tasks in status st.
func (c *Counts) Add(st TaskStatus, n int) {
	c.Total += n
	switch st {
	case TaskPending:
		c.Pending += n
	case TaskQueued:
		c.Queued += n
	case TaskRunning:
		c.Running += n
	case TaskSucceeded:
		c.Succeeded += n
	case TaskFailed:
		c.Failed += n
	case TaskCanceled:
		c.Canceled += n
	case TaskTimedOut:
		c.TimedOut += n
	case TaskError:
		c.Error += n
	case TaskLost:
		c.Lost += n
	}
}

// Task is one step run on one host.
type Task struct {
	ID        string
	RunID     string
	StepRunID string
	// HostID and HostName are the target at the time; HostID has no foreign
	// key, so deleting a host keeps the history of what ran on it.
	HostID   string
	HostName string
	Status   TaskStatus
	Attempt  int // 1 for the first attempt; a retry or a redelivery adds one
	ExitCode *int
	Error    string // why it failed, errored or was lost; never a secret
	Outputs  map[string]string
	WorkerID string // the worker that holds or held it
	// HeartbeatAt is the last sign of life: set when claimed and on every
	// transition, moved on by TouchTasks while it runs. The rescuer
	// re-dispatches tasks whose heartbeat is too old (StaleTasks).
	HeartbeatAt *time.Time
	// LogBytes is the size of the log stored so far; LogTruncated is set
	// once the cap was reached and the truncation marker stored.
	LogBytes     int64
	LogTruncated bool
	CreatedAt    time.Time
	QueuedAt     *time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
}

// Filter narrows a run list. Zero fields do not filter.
type Filter struct {
	// ProjectIDs, when not nil, keeps only runs of these projects (the ones
	// a caller may see); an empty, non-nil list keeps none.
	ProjectIDs    []string
	Statuses      []RunStatus
	JobID         string
	TriggerKind   TriggerKind
	CreatedAfter  time.Time // inclusive
	CreatedBefore time.Time // exclusive
	// HostID keeps runs with at least one task on this host.
	HostID string
}

// TaskFilter narrows a task list. RunID is required.
type TaskFilter struct {
	RunID     string
	StepRunID string
	Statuses  []TaskStatus
}

// RunPatch holds the fields a run transition sets besides its status; nil
// leaves a field as it is.
type RunPatch struct {
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// StepPatch holds the fields a step-run transition sets besides its status.
type StepPatch struct {
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// TaskPatch holds the fields a task transition sets besides its status; nil
// leaves a field as it is. HeartbeatAt is set to At when At is not zero.
type TaskPatch struct {
	// IfAttempt, when not 0, applies the transition only while the task is
	// at this attempt: a late report of an earlier attempt changes nothing.
	IfAttempt  int
	At         time.Time
	Attempt    *int
	ExitCode   *int
	Error      *string
	Outputs    map[string]string // nil leaves them; an empty map clears them
	WorkerID   *string
	QueuedAt   *time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// ClaimRequest asks ClaimTasks for up to Limit pending tasks, oldest first,
// of one step run or one run (or of any run when both are empty).
type ClaimRequest struct {
	RunID     string
	StepRunID string
	Limit     int
	At        time.Time // becomes QueuedAt and HeartbeatAt
}

// LogStream says where a log chunk came from.
type LogStream string

const (
	StreamStdout LogStream = "stdout"
	StreamStderr LogStream = "stderr"
	// StreamSystem marks lines written by jobgraph itself, such as the
	// truncation marker.
	StreamSystem LogStream = "system"
)

// LogStreams returns every stream.
func LogStreams() []LogStream { return []LogStream{StreamStdout, StreamStderr, StreamSystem} }

// Valid reports whether s is one of LogStreams.
func (s LogStream) Valid() bool { return slices.Contains(LogStreams(), s) }

// LogChunk is a piece of a task's output. Seq numbers a task's chunks from
// 1 in the order the executor emitted them, across both streams; the
// producer assigns it, which is what lets a redelivered chunk be recognised
// and ignored.
type LogChunk struct {
	TaskID string
	Seq    int64
	Stream LogStream
	Data   []byte
	At     time.Time
}

// TruncationMarker is the text of the marker chunk stored in place of the
// first chunk past the cap.
func TruncationMarker(limit int64) string {
	return "[jobgraph: log truncated: the cap of " + formatBytes(limit) + " per task was reached; further output was dropped]"
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// AppendResult says what AppendLogs did with a batch.
type AppendResult struct {
	Stored    int // chunks inserted
	Duplicate int // chunks already stored (redelivered), ignored
	Dropped   int // chunks past a task's cap, or of unknown tasks
	// Truncated lists the tasks whose cap this batch reached.
	Truncated []string
	// Written are the chunks stored, truncation markers included, in
	// (TaskID, Seq) order: what subscribers to the logs are told.
	Written []LogChunk
}

// Store is what the engine needs from storage for runs.
type Store interface {
	core.Transactor
	RunStore
	TaskStore
	LogStore
}

// RunStore keeps runs and their step runs.
type RunStore interface {
	// CreateRun stores a run with its step runs and tasks, all or nothing.
	CreateRun(ctx context.Context, r Run, steps []StepRun, tasks []Task) error
	GetRun(ctx context.Context, id string) (Run, error)
	// ListRuns orders newest first (by CreatedAt, then ID).
	ListRuns(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Run], error)
	// StepRuns returns a run's step runs in Index order, with their Counts.
	StepRuns(ctx context.Context, runID string) ([]StepRun, error)
	// QueuedRuns returns up to limit queued runs, oldest first (by
	// CreatedAt, then ID), without their Spec: what admission reads.
	QueuedRuns(ctx context.Context, limit int) ([]Run, error)
	// RunningCounts counts the running runs per project and per job.
	RunningCounts(ctx context.Context) (RunningCounts, error)
	// TransitionRun moves a run to "to" only if its status is one of from.
	TransitionRun(ctx context.Context, id string, from []RunStatus, to RunStatus, p RunPatch) (TransitionResult[RunStatus], error)
	// RequestCancel records a cancel request on a run that is not final
	// and has none yet; it reports whether it recorded one.
	RequestCancel(ctx context.Context, id string, at time.Time) (bool, error)
	// TransitionStep moves a step run to "to" only if its status is one of from.
	TransitionStep(ctx context.Context, id string, from []StepStatus, to StepStatus, p StepPatch) (TransitionResult[StepStatus], error)
}

// TaskStore keeps tasks.
type TaskStore interface {
	GetTask(ctx context.Context, id string) (Task, error)
	// GetTasks returns the tasks of ids that exist, in no order.
	GetTasks(ctx context.Context, ids []string) ([]Task, error)
	// ListTasks orders by ID, which is creation order.
	ListTasks(ctx context.Context, f TaskFilter, page core.PageArgs) (core.Page[Task], error)
	// TransitionTask moves a task to "to" only if its status is one of from.
	TransitionTask(ctx context.Context, id string, from []TaskStatus, to TaskStatus, p TaskPatch) (TransitionResult[TaskStatus], error)
	// TransitionTasks moves each task of ids whose status is one of from to
	// "to", with the same patch (no IfAttempt, Attempt or Outputs), and
	// returns the IDs it moved, in ID order.
	TransitionTasks(ctx context.Context, ids []string, from []TaskStatus, to TaskStatus, p TaskPatch) ([]string, error)
	// ClaimTasks moves up to Limit pending tasks to queued and returns them;
	// concurrent callers never get the same task.
	ClaimTasks(ctx context.Context, req ClaimRequest) ([]Task, error)
	// TouchTasks moves the heartbeat of those of ids that are not final.
	TouchTasks(ctx context.Context, ids []string, at time.Time) error
	// StaleTasks returns up to limit queued or running tasks whose
	// heartbeat is older than before, oldest heartbeat first.
	StaleTasks(ctx context.Context, before time.Time, limit int) ([]Task, error)
}

// LogStore keeps task logs.
type LogStore interface {
	// AppendLogs stores chunks, ignoring those already stored and enforcing
	// maxBytesPerTask (see Options).
	AppendLogs(ctx context.Context, chunks []LogChunk, maxBytesPerTask int64) (AppendResult, error)
	// LastLogSeq is the largest Seq stored for a task, 0 for none.
	LastLogSeq(ctx context.Context, taskID string) (int64, error)
	// ReadLogs returns up to limit chunks of a task with Seq > afterSeq, in
	// Seq order.
	ReadLogs(ctx context.Context, taskID string, afterSeq int64, limit int) ([]LogChunk, error)
	// DeleteLogsBefore deletes the logs of tasks that finished before t and
	// returns how many chunks it deleted.
	DeleteLogsBefore(ctx context.Context, t time.Time) (int64, error)
}
