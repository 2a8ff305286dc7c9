package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/run"
)

// insertBatch is the most rows one INSERT carries on SQLite: go-sqlite
// binds parameters in time quadratic in their count, so larger batches are
// slower (STACK.md §11; RunJob on 10,000 hosts committed in 0.7 s at 100
// rows per INSERT, 1.0–1.1 s at 25 or 50, 2.1–2.3 s at 300 or 1,000:
// BenchmarkRunStartup in core/engine).
const insertBatch = 100

// mysqlInsertRows is the most rows one INSERT carries on MySQL/MariaDB,
// where a statement's cost is mostly its round trip: 1,000 rows of a task
// are ~300 KB, far below max_allowed_packet, and rowsPerInsert keeps the
// placeholders under the protocol's 65,535.
const mysqlInsertRows = 1000

// rowsPerInsert is how many rows of cols columns one INSERT carries.
func (s *Store) rowsPerInsert(cols int) int {
	if s.dialect == MySQL {
		return max(1, min(mysqlInsertRows, 65535/cols))
	}
	return max(1, min(insertBatch, 32766/cols))
}

type runRow struct {
	ID           string `gorm:"primaryKey"`
	ProjectID    string
	JobID        *string
	JobVersion   int
	Name         string
	Status       string
	Priority     int
	TriggerKind  string
	TriggerActor string
	RetryOf      *string
	Params       string
	SecretParams string
	Spec         *string
	// CancelRequestedAt is written by RequestCancel only.
	CancelRequestedAt *time.Time `gorm:"->"`
	CreatedAt         time.Time  `gorm:"autoCreateTime:false"`
	StartedAt         *time.Time
	FinishedAt        *time.Time
}

func (runRow) TableName() string { return "runs" }

type stepRunRow struct {
	ID         string `gorm:"primaryKey"`
	RunID      string
	Name       string
	Idx        int
	Status     string
	StartedAt  *time.Time
	FinishedAt *time.Time
}

func (stepRunRow) TableName() string { return "step_runs" }

type taskRow struct {
	ID           string `gorm:"primaryKey"`
	RunID        string
	StepRunID    string
	HostID       string
	HostName     string
	Status       string
	Attempt      int
	ExitCode     *int
	Error        string
	Outputs      *string
	WorkerID     string
	HeartbeatAt  *time.Time
	LogBytes     int64
	LogTruncated bool
	CreatedAt    time.Time `gorm:"autoCreateTime:false"`
	QueuedAt     *time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
}

func (taskRow) TableName() string { return "tasks" }

// taskColumns is the number of taskRow's columns.
const taskColumns = 18

type taskLogRow struct {
	TaskID string `gorm:"primaryKey"`
	Seq    int64  `gorm:"primaryKey;autoIncrement:false"`
	Stream string
	Data   []byte
	At     time.Time
}

func (taskLogRow) TableName() string { return "task_logs" }

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func emptyIfNil(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func runFromCore(r run.Run) (runRow, error) {
	params := "{}"
	if len(r.Params) > 0 {
		if !json.Valid(r.Params) {
			return runRow{}, core.Invalid("params", "not valid JSON")
		}
		params = string(r.Params)
	}
	secretNames := r.SecretParams
	if secretNames == nil {
		secretNames = []string{}
	}
	secret, err := json.Marshal(secretNames)
	if err != nil {
		return runRow{}, err
	}
	return runRow{
		ID: r.ID, ProjectID: r.ProjectID, JobID: nilIfEmpty(r.JobID), JobVersion: r.JobVersion, Name: r.Name,
		Status: string(r.Status), Priority: r.Priority, TriggerKind: string(r.Trigger.Kind),
		TriggerActor: r.Trigger.Actor, RetryOf: nilIfEmpty(r.Trigger.RetryOf), Params: params,
		SecretParams: string(secret), Spec: nilIfEmpty(string(r.Spec)), CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
	}, nil
}

func (r runRow) toCore() run.Run {
	out := run.Run{
		ID: r.ID, ProjectID: r.ProjectID, JobID: emptyIfNil(r.JobID), JobVersion: r.JobVersion, Name: r.Name,
		Status: run.RunStatus(r.Status), Priority: r.Priority,
		Trigger: run.Trigger{Kind: run.TriggerKind(r.TriggerKind), Actor: r.TriggerActor, RetryOf: emptyIfNil(r.RetryOf)},
		Params:  json.RawMessage(r.Params), CreatedAt: r.CreatedAt.UTC(),
		StartedAt: utcPtr(r.StartedAt), FinishedAt: utcPtr(r.FinishedAt),
		CancelRequestedAt: utcPtr(r.CancelRequestedAt),
	}
	if r.Spec != nil {
		out.Spec = json.RawMessage(*r.Spec)
	}
	_ = json.Unmarshal([]byte(r.SecretParams), &out.SecretParams) // written by runFromCore
	return out
}

func stepFromCore(s run.StepRun) stepRunRow {
	return stepRunRow{ID: s.ID, RunID: s.RunID, Name: s.Name, Idx: s.Index, Status: string(s.Status), StartedAt: s.StartedAt, FinishedAt: s.FinishedAt}
}

func (r stepRunRow) toCore() run.StepRun {
	return run.StepRun{ID: r.ID, RunID: r.RunID, Name: r.Name, Index: r.Idx, Status: run.StepStatus(r.Status),
		StartedAt: utcPtr(r.StartedAt), FinishedAt: utcPtr(r.FinishedAt)}
}

func encodeOutputs(m map[string]string) (*string, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

func taskFromCore(t run.Task) (taskRow, error) {
	outputs, err := encodeOutputs(t.Outputs)
	if err != nil {
		return taskRow{}, err
	}
	return taskRow{
		ID: t.ID, RunID: t.RunID, StepRunID: t.StepRunID, HostID: t.HostID, HostName: t.HostName,
		Status: string(t.Status), Attempt: cmp.Or(t.Attempt, 1), ExitCode: t.ExitCode, Error: t.Error,
		Outputs: outputs, WorkerID: t.WorkerID, HeartbeatAt: t.HeartbeatAt, LogBytes: t.LogBytes,
		LogTruncated: t.LogTruncated, CreatedAt: t.CreatedAt, QueuedAt: t.QueuedAt, StartedAt: t.StartedAt,
		FinishedAt: t.FinishedAt,
	}, nil
}

func (r taskRow) toCore() run.Task {
	t := run.Task{
		ID: r.ID, RunID: r.RunID, StepRunID: r.StepRunID, HostID: r.HostID, HostName: r.HostName,
		Status: run.TaskStatus(r.Status), Attempt: r.Attempt, ExitCode: r.ExitCode, Error: r.Error,
		WorkerID: r.WorkerID, HeartbeatAt: utcPtr(r.HeartbeatAt), LogBytes: r.LogBytes, LogTruncated: r.LogTruncated,
		CreatedAt: r.CreatedAt.UTC(), QueuedAt: utcPtr(r.QueuedAt), StartedAt: utcPtr(r.StartedAt), FinishedAt: utcPtr(r.FinishedAt),
	}
	if r.Outputs != nil {
		_ = json.Unmarshal([]byte(*r.Outputs), &t.Outputs) // written by encodeOutputs
	}
	return t
}

// ---- runs ----

// CreateRun implements run.RunStore. The run, its step runs and its tasks
// are written in one transaction, the tasks rowsPerInsert rows per INSERT
// (100 on SQLite, 1,000 on MySQL); a failure
// anywhere leaves nothing behind.
func (s *Store) CreateRun(ctx context.Context, r run.Run, steps []run.StepRun, tasks []run.Task) error {
	if err := run.CheckPriority("priority", r.Priority); err != nil {
		return err
	}
	if !r.Status.Valid() || !r.Trigger.Kind.Valid() {
		return fmt.Errorf("store: run %s: invalid status %q or trigger kind %q", r.ID, r.Status, r.Trigger.Kind)
	}
	row, err := runFromCore(r)
	if err != nil {
		return err
	}
	stepIDs := make(map[string]bool, len(steps))
	stepRows := make([]stepRunRow, len(steps))
	for i, st := range steps {
		if st.RunID != r.ID || !st.Status.Valid() {
			return fmt.Errorf("store: step run %s does not belong to run %s or has status %q", st.ID, r.ID, st.Status)
		}
		stepIDs[st.ID] = true
		stepRows[i] = stepFromCore(st)
	}
	taskRows := make([]taskRow, len(tasks))
	for i, t := range tasks {
		if t.RunID != r.ID || !stepIDs[t.StepRunID] || !t.Status.Valid() {
			return fmt.Errorf("store: task %s does not belong to a step run of run %s or has status %q", t.ID, r.ID, t.Status)
		}
		if taskRows[i], err = taskFromCore(t); err != nil {
			return fmt.Errorf("task %s: %w", t.ID, err)
		}
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		if err := db.Create(&row).Error; err != nil {
			return fmt.Errorf("create run %s: %w", r.ID, err)
		}
		if len(stepRows) > 0 {
			if err := db.CreateInBatches(stepRows, insertBatch).Error; err != nil {
				return fmt.Errorf("create step runs of run %s: %w", r.ID, err)
			}
		}
		if len(taskRows) > 0 {
			if err := db.CreateInBatches(taskRows, s.rowsPerInsert(taskColumns)).Error; err != nil {
				return fmt.Errorf("create tasks of run %s: %w", r.ID, err)
			}
		}
		return nil
	})
}

// GetRun implements run.RunStore.
func (s *Store) GetRun(ctx context.Context, id string) (run.Run, error) {
	var row runRow
	err := take(s.conn(ctx).Where("id = ?", id), &row, "run", id)
	if err != nil {
		return run.Run{}, err
	}
	return row.toCore(), nil
}

func runTimeKey(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ListRuns implements run.RunStore: newest first, by (created_at, id)
// descending; the cursor's key is created_at.
func (s *Store) ListRuns(ctx context.Context, f run.Filter, page core.PageArgs) (core.Page[run.Run], error) {
	if f.ProjectIDs != nil && len(f.ProjectIDs) == 0 {
		return core.Page[run.Run]{Items: []run.Run{}, Cursors: []string{}}, nil
	}
	q := s.conn(ctx).Model(&runRow{})
	if f.ProjectIDs != nil {
		q = q.Where("runs.project_id IN ?", f.ProjectIDs)
	}
	if len(f.Statuses) > 0 {
		q = q.Where("runs.status IN ?", f.Statuses)
	}
	if f.JobID != "" {
		q = q.Where("runs.job_id = ?", f.JobID)
	}
	if f.TriggerKind != "" {
		q = q.Where("runs.trigger_kind = ?", string(f.TriggerKind))
	}
	if !f.CreatedAfter.IsZero() {
		q = q.Where("runs.created_at >= ?", f.CreatedAfter.UTC())
	}
	if !f.CreatedBefore.IsZero() {
		q = q.Where("runs.created_at < ?", f.CreatedBefore.UTC())
	}
	if f.HostID != "" {
		q = q.Where("EXISTS (SELECT 1 FROM tasks t WHERE t.host_id = ? AND t.run_id = runs.id)", f.HostID)
	}
	if page.After != "" {
		c, _ := core.DecodeCursor(page.After) // validated by PageArgs.Validate
		at, err := time.Parse(time.RFC3339Nano, c.Key)
		if err != nil {
			return core.Page[run.Run]{}, core.Invalid("after", "malformed cursor")
		}
		at = at.UTC()
		// "created_at <= at" is implied by the OR, and bounds the index
		// range: with it, the page after the 9,000th of 9,010 runs took
		// 1.0-1.1 ms on SQLite instead of 5.7-6.1 ms (BenchmarkHistory in
		// graph, runs/deep).
		q = q.Where("runs.created_at <= ? AND (runs.created_at < ? OR runs.id < ?)", at, at, c.ID)
	}
	var rows []runRow
	if err := q.Order("runs.created_at DESC").Order("runs.id DESC").Limit(page.First + 1).Find(&rows).Error; err != nil {
		return core.Page[run.Run]{}, err
	}
	return toPage(rows, page, runRow.toCore, func(r runRow) (string, string) { return runTimeKey(r.CreatedAt), r.ID }), nil
}

// QueuedRuns implements run.RunStore (index runs_status).
func (s *Store) QueuedRuns(ctx context.Context, limit int) ([]run.Run, error) {
	var rows []runRow
	err := s.conn(ctx).Omit("spec").Where("status = ?", string(run.RunQueued)).
		Order("created_at").Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("queued runs: %w", err)
	}
	out := make([]run.Run, len(rows))
	for i, r := range rows {
		out[i] = r.toCore()
	}
	return out, nil
}

// RunningCounts implements run.RunStore with one GROUP BY over the running
// runs.
func (s *Store) RunningCounts(ctx context.Context) (run.RunningCounts, error) {
	var rows []struct {
		ProjectID string
		JobID     *string
		N         int
	}
	err := s.conn(ctx).Model(&runRow{}).Select("project_id, job_id, COUNT(*) AS n").
		Where("status = ?", string(run.RunRunning)).Group("project_id, job_id").Scan(&rows).Error
	if err != nil {
		return run.RunningCounts{}, fmt.Errorf("count running runs: %w", err)
	}
	out := run.RunningCounts{ByProject: map[string]int{}, ByJob: map[string]int{}}
	for _, r := range rows {
		out.ByProject[r.ProjectID] += r.N
		if r.JobID != nil {
			out.ByJob[*r.JobID] += r.N
		}
	}
	return out, nil
}

// StepRuns implements run.RunStore. Counts come from one GROUP BY over the
// run's tasks.
func (s *Store) StepRuns(ctx context.Context, runID string) ([]run.StepRun, error) {
	var rows []stepRunRow
	if err := s.conn(ctx).Where("run_id = ?", runID).Order("idx").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]run.StepRun, len(rows))
	byID := make(map[string]*run.StepRun, len(rows))
	for i, r := range rows {
		out[i] = r.toCore()
		byID[r.ID] = &out[i]
	}
	var counts []struct {
		StepRunID string
		Status    string
		N         int
	}
	err := s.conn(ctx).Model(&taskRow{}).Select("step_run_id, status, COUNT(*) AS n").
		Where("run_id = ?", runID).Group("step_run_id, status").Scan(&counts).Error
	if err != nil {
		return nil, err
	}
	for _, c := range counts {
		if st := byID[c.StepRunID]; st != nil {
			st.Counts.Add(run.TaskStatus(c.Status), c.N)
		}
	}
	return out, nil
}

// transition is the conditional state change behind the Transition
// methods: one UPDATE … WHERE id = ? AND status IN (from). When it matches
// no row, the status is read back to report it (or NotFound).
func (s *Store) transition(ctx context.Context, model any, kind, id string, from []string, to string, set map[string]any) (bool, string, error) {
	return s.transitionWhere(ctx, model, kind, id, from, to, set, "")
}

// transitionWhere is transition with one more condition (cond and its
// arguments; none when cond is "").
func (s *Store) transitionWhere(ctx context.Context, model any, kind, id string, from []string, to string, set map[string]any, cond string, args ...any) (bool, string, error) {
	set["status"] = to
	q := s.conn(ctx).Model(model).Where("id = ? AND status IN ?", id, from)
	if cond != "" {
		q = q.Where(cond, args...)
	}
	res := q.Updates(set)
	if res.Error != nil {
		return false, "", fmt.Errorf("%s %s → %s: %w", kind, id, to, res.Error)
	}
	if res.RowsAffected > 0 {
		return true, to, nil
	}
	var status []string
	if err := s.conn(ctx).Model(model).Where("id = ?", id).Pluck("status", &status).Error; err != nil {
		return false, "", err
	}
	if len(status) == 0 {
		return false, "", core.NotFound(kind, id)
	}
	return false, status[0], nil
}

func strs[S ~string](in []S) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

func setTime(set map[string]any, col string, t *time.Time) {
	if t != nil {
		set[col] = t.UTC()
	}
}

// RequestCancel implements run.RunStore.
func (s *Store) RequestCancel(ctx context.Context, id string, at time.Time) (bool, error) {
	// Table, not Model: the column is read-only on runRow, so that no other
	// write can clear a request.
	res := s.conn(ctx).Table("runs").
		Where("id = ? AND cancel_requested_at IS NULL AND status IN ?", id, []string{string(run.RunWaitingApproval), string(run.RunQueued), string(run.RunRunning)}).
		Update("cancel_requested_at", at.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("run %s: request cancel: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := s.GetRun(ctx, id); err != nil {
			return false, err
		}
	}
	return res.RowsAffected > 0, nil
}

// TransitionRun implements run.RunStore.
func (s *Store) TransitionRun(ctx context.Context, id string, from []run.RunStatus, to run.RunStatus, p run.RunPatch) (run.TransitionResult[run.RunStatus], error) {
	if err := run.CheckTransition(from, to); err != nil {
		return run.TransitionResult[run.RunStatus]{}, fmt.Errorf("run %s: %w", id, err)
	}
	set := map[string]any{}
	setTime(set, "started_at", p.StartedAt)
	setTime(set, "finished_at", p.FinishedAt)
	ok, st, err := s.transition(ctx, &runRow{}, "run", id, strs(from), string(to), set)
	return run.TransitionResult[run.RunStatus]{Applied: ok, Status: run.RunStatus(st)}, err
}

// TransitionStep implements run.RunStore.
func (s *Store) TransitionStep(ctx context.Context, id string, from []run.StepStatus, to run.StepStatus, p run.StepPatch) (run.TransitionResult[run.StepStatus], error) {
	if err := run.CheckTransition(from, to); err != nil {
		return run.TransitionResult[run.StepStatus]{}, fmt.Errorf("step run %s: %w", id, err)
	}
	set := map[string]any{}
	setTime(set, "started_at", p.StartedAt)
	setTime(set, "finished_at", p.FinishedAt)
	ok, st, err := s.transition(ctx, &stepRunRow{}, "step run", id, strs(from), string(to), set)
	return run.TransitionResult[run.StepStatus]{Applied: ok, Status: run.StepStatus(st)}, err
}

// ---- tasks ----

// GetTasks implements run.TaskStore.
func (s *Store) GetTasks(ctx context.Context, ids []string) ([]run.Task, error) {
	var out []run.Task
	for _, part := range chunks(ids, 500) {
		var rows []taskRow
		if err := s.conn(ctx).Where("id IN ?", part).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("get tasks: %w", err)
		}
		for _, r := range rows {
			out = append(out, r.toCore())
		}
	}
	return out, nil
}

// GetTask implements run.TaskStore.
func (s *Store) GetTask(ctx context.Context, id string) (run.Task, error) {
	var row taskRow
	err := take(s.conn(ctx).Where("id = ?", id), &row, "task", id)
	if err != nil {
		return run.Task{}, err
	}
	return row.toCore(), nil
}

// ListTasks implements run.TaskStore.
func (s *Store) ListTasks(ctx context.Context, f run.TaskFilter, page core.PageArgs) (core.Page[run.Task], error) {
	if f.RunID == "" {
		return core.Page[run.Task]{}, fmt.Errorf("store: ListTasks needs a run ID")
	}
	q := s.conn(ctx).Model(&taskRow{}).Where("tasks.run_id = ?", f.RunID)
	if f.StepRunID != "" {
		q = q.Where("tasks.step_run_id = ?", f.StepRunID)
	}
	if len(f.Statuses) > 0 {
		q = q.Where("tasks.status IN ?", strs(f.Statuses))
	}
	var rows []taskRow
	if err := keyset(q, "tasks", "id", page).Find(&rows).Error; err != nil {
		return core.Page[run.Task]{}, err
	}
	return toPage(rows, page, taskRow.toCore, func(r taskRow) (string, string) { return r.ID, r.ID }), nil
}

// TransitionTask implements run.TaskStore. A non-zero p.At also becomes the
// heartbeat.
func (s *Store) TransitionTask(ctx context.Context, id string, from []run.TaskStatus, to run.TaskStatus, p run.TaskPatch) (run.TransitionResult[run.TaskStatus], error) {
	if err := run.CheckTransition(from, to); err != nil {
		return run.TransitionResult[run.TaskStatus]{}, fmt.Errorf("task %s: %w", id, err)
	}
	set, err := taskSet(p)
	if err != nil {
		return run.TransitionResult[run.TaskStatus]{}, err
	}
	var ok bool
	var st string
	if p.IfAttempt != 0 {
		ok, st, err = s.transitionWhere(ctx, &taskRow{}, "task", id, strs(from), string(to), set, "attempt = ?", p.IfAttempt)
	} else {
		ok, st, err = s.transition(ctx, &taskRow{}, "task", id, strs(from), string(to), set)
	}
	return run.TransitionResult[run.TaskStatus]{Applied: ok, Status: run.TaskStatus(st)}, err
}

// taskSet is the columns a TaskPatch sets besides the status: the
// heartbeat with At, and each field that is not nil.
func taskSet(p run.TaskPatch) (map[string]any, error) {
	set := map[string]any{}
	if !p.At.IsZero() {
		set["heartbeat_at"] = p.At.UTC()
	}
	if p.Attempt != nil {
		set["attempt"] = *p.Attempt
	}
	if p.ExitCode != nil {
		set["exit_code"] = *p.ExitCode
	}
	if p.Error != nil {
		set["error"] = *p.Error
	}
	if p.Outputs != nil {
		out, err := encodeOutputs(p.Outputs)
		if err != nil {
			return nil, err
		}
		set["outputs"] = *out
	}
	if p.WorkerID != nil {
		set["worker_id"] = *p.WorkerID
	}
	setTime(set, "queued_at", p.QueuedAt)
	setTime(set, "started_at", p.StartedAt)
	setTime(set, "finished_at", p.FinishedAt)
	return set, nil
}

// TransitionTasks implements run.TaskStore: per 500 tasks, one read of
// those in a from status (locked on MySQL) and one update, in a
// transaction, instead of a statement per task.
func (s *Store) TransitionTasks(ctx context.Context, ids []string, from []run.TaskStatus, to run.TaskStatus, p run.TaskPatch) ([]string, error) {
	if err := run.CheckTransition(from, to); err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	if p.IfAttempt != 0 || p.Attempt != nil || p.Outputs != nil {
		return nil, errors.New("store: TransitionTasks takes no attempt condition, attempt or outputs")
	}
	set, err := taskSet(p)
	if err != nil {
		return nil, err
	}
	set["status"] = string(to)
	var moved []string
	err = s.InTx(ctx, func(ctx context.Context) error {
		moved = moved[:0]
		for _, chunk := range chunks(ids, 500) {
			q := s.conn(ctx).Model(&taskRow{}).Where("id IN ? AND status IN ?", chunk, strs(from))
			if s.dialect == MySQL {
				q = q.Clauses(clause.Locking{Strength: "UPDATE"})
			}
			var got []string
			if err := q.Order("id").Pluck("id", &got).Error; err != nil {
				return err
			}
			if len(got) == 0 {
				continue
			}
			if err := s.conn(ctx).Model(&taskRow{}).Where("id IN ?", got).Updates(set).Error; err != nil {
				return err
			}
			moved = append(moved, got...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tasks → %s: %w", to, err)
	}
	return moved, nil
}

// MaxClaim is the most tasks one ClaimTasks call takes.
const MaxClaim = 1000

// ClaimTasks implements run.TaskStore.
//
// ==== Why two implementations ====
// SQLite ignores FOR UPDATE (gorm drops the locking clause), so a SELECT
// then UPDATE would let two callers pick the same rows. There, one UPDATE …
// WHERE id IN (SELECT … LIMIT n) AND status = 'pending' RETURNING claims
// atomically: SQLite has one writer at a time. On MySQL/MariaDB that
// statement is not allowed (LIMIT in an IN subquery of the updated table),
// and SELECT … FOR UPDATE SKIP LOCKED then UPDATE in one transaction lets
// concurrent claimers take disjoint rows without waiting on each other; the
// (status, id) and (step_run_id, status, id) indexes keep the lock scan
// short.
func (s *Store) ClaimTasks(ctx context.Context, req run.ClaimRequest) ([]run.Task, error) {
	if req.Limit <= 0 || req.Limit > MaxClaim {
		return nil, fmt.Errorf("store: claim limit %d out of 1..%d", req.Limit, MaxClaim)
	}
	at := req.At.UTC()
	if req.At.IsZero() {
		at = core.Now()
	}
	var rows []taskRow
	switch s.dialect {
	case SQLite:
		sub, args := "SELECT id FROM tasks WHERE status = ?", []any{string(run.TaskPending)}
		if req.StepRunID != "" {
			sub, args = sub+" AND step_run_id = ?", append(args, req.StepRunID)
		}
		if req.RunID != "" {
			sub, args = sub+" AND run_id = ?", append(args, req.RunID)
		}
		sub, args = sub+" ORDER BY id LIMIT ?", append(args, req.Limit)
		all := append([]any{string(run.TaskQueued), at, at, string(run.TaskPending)}, args...)
		err := s.conn(ctx).Raw("UPDATE tasks SET status = ?, queued_at = ?, heartbeat_at = ? WHERE status = ? AND id IN ("+sub+") RETURNING *", all...).
			Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("claim tasks: %w", err)
		}
		slices.SortFunc(rows, func(a, b taskRow) int { return strings.Compare(a.ID, b.ID) })
	default:
		err := s.InTx(ctx, func(ctx context.Context) error {
			q := s.conn(ctx).Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
				Where("status = ?", string(run.TaskPending))
			if req.StepRunID != "" {
				q = q.Where("step_run_id = ?", req.StepRunID)
			}
			if req.RunID != "" {
				q = q.Where("run_id = ?", req.RunID)
			}
			if err := q.Order("id").Limit(req.Limit).Find(&rows).Error; err != nil {
				return err
			}
			if len(rows) == 0 {
				return nil
			}
			ids := make([]string, len(rows))
			for i := range rows {
				ids[i] = rows[i].ID
				rows[i].Status, rows[i].QueuedAt, rows[i].HeartbeatAt = string(run.TaskQueued), &at, &at
			}
			return s.conn(ctx).Model(&taskRow{}).Where("id IN ?", ids).
				Updates(map[string]any{"status": string(run.TaskQueued), "queued_at": at, "heartbeat_at": at}).Error
		})
		if err != nil {
			return nil, fmt.Errorf("claim tasks: %w", err)
		}
	}
	out := make([]run.Task, len(rows))
	for i, r := range rows {
		out[i] = r.toCore()
	}
	return out, nil
}

// TouchTasks implements run.TaskStore: one UPDATE per 500 IDs; a heartbeat
// never moves back.
func (s *Store) TouchTasks(ctx context.Context, ids []string, at time.Time) error {
	at = at.UTC()
	ids = slices.Clone(ids)
	slices.Sort(ids) // rows locked in key order deadlock less
	for _, chunk := range chunks(ids, 500) {
		err := s.retryDeadlock(ctx, func() error {
			return s.conn(ctx).Model(&taskRow{}).
				Where("id IN ? AND status IN ? AND (heartbeat_at IS NULL OR heartbeat_at < ?)", chunk,
					[]string{string(run.TaskQueued), string(run.TaskRunning)}, at).
				Update("heartbeat_at", at).Error
		})
		if err != nil {
			return fmt.Errorf("touch tasks: %w", err)
		}
	}
	return nil
}

// StaleTasks implements run.TaskStore.
func (s *Store) StaleTasks(ctx context.Context, before time.Time, limit int) ([]run.Task, error) {
	if limit <= 0 || limit > MaxClaim {
		return nil, fmt.Errorf("store: stale task limit %d out of 1..%d", limit, MaxClaim)
	}
	var rows []taskRow
	err := s.conn(ctx).Where("status IN ? AND (heartbeat_at IS NULL OR heartbeat_at < ?)",
		[]string{string(run.TaskQueued), string(run.TaskRunning)}, before.UTC()).
		Order("heartbeat_at").Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]run.Task, len(rows))
	for i, r := range rows {
		out[i] = r.toCore()
	}
	return out, nil
}

// ---- logs ----

type logKey struct {
	task string
	seq  int64
}

// AppendLogs implements run.LogStore, in one transaction:
//
//  1. the tasks' rows are read (and locked, on MySQL, in ID order so that
//     two appenders cannot deadlock) for their stored size;
//  2. the (task, seq) pairs already stored are read, so that a redelivered
//     chunk is neither stored nor counted twice;
//  3. chunks are taken in seq order until a task's cap; the chunk that
//     would pass it becomes the truncation marker, and the rest are dropped;
//  4. rows go in 100 per INSERT, ignoring any (task, seq) stored meanwhile,
//     and the tasks' sizes in one UPDATE per 100 tasks.
func (s *Store) AppendLogs(ctx context.Context, in []run.LogChunk, maxBytesPerTask int64) (run.AppendResult, error) {
	var res run.AppendResult
	if len(in) == 0 {
		return res, nil
	}
	if maxBytesPerTask <= 0 {
		maxBytesPerTask = run.DefaultMaxLogBytesPerTask
	}
	for i, c := range in {
		switch {
		case c.TaskID == "":
			return res, core.Invalid(fmt.Sprintf("chunks[%d].taskId", i), "is required")
		case c.Seq < 1:
			return res, core.Invalid(fmt.Sprintf("chunks[%d].seq", i), "must be at least 1")
		case !c.Stream.Valid():
			return res, core.Invalid(fmt.Sprintf("chunks[%d].stream", i), "unknown stream %q", c.Stream)
		case len(c.Data) > run.MaxLogChunkBytes:
			return res, core.Invalid(fmt.Sprintf("chunks[%d].data", i), "longer than %d bytes", run.MaxLogChunkBytes)
		}
	}
	sorted := slices.Clone(in)
	slices.SortStableFunc(sorted, func(a, b run.LogChunk) int {
		return cmp.Or(strings.Compare(a.TaskID, b.TaskID), cmp.Compare(a.Seq, b.Seq))
	})
	var ids []string
	seqRange := map[string][2]int64{} // each task's lowest and highest seq in the batch
	for i, c := range sorted {
		if i == 0 || c.TaskID != sorted[i-1].TaskID {
			ids = append(ids, c.TaskID)
			seqRange[c.TaskID] = [2]int64{c.Seq, c.Seq}
		}
		seqRange[c.TaskID] = [2]int64{seqRange[c.TaskID][0], c.Seq}
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		res = run.AppendResult{}
		type size struct {
			ID           string
			LogBytes     int64
			LogTruncated bool
		}
		sizes := map[string]*size{}
		existing := map[logKey]bool{}
		for _, chunk := range chunks(ids, 500) {
			var got []size
			q := s.conn(ctx).Model(&taskRow{}).Select("id, log_bytes, log_truncated").Where("id IN ?", chunk).Order("id")
			if s.dialect == MySQL {
				q = q.Clauses(clause.Locking{Strength: "UPDATE"})
			}
			if err := q.Find(&got).Error; err != nil {
				return err
			}
			for i := range got {
				sizes[got[i].ID] = &got[i]
			}
			var keys []struct {
				TaskID string
				Seq    int64
			}
			lo, hi := seqRange[chunk[0]][0], int64(0)
			for _, id := range chunk {
				lo, hi = min(lo, seqRange[id][0]), max(hi, seqRange[id][1])
			}
			err := s.conn(ctx).Model(&taskLogRow{}).Select("task_id, seq").
				Where("task_id IN ? AND seq BETWEEN ? AND ?", chunk, lo, hi).Scan(&keys).Error
			if err != nil {
				return err
			}
			for _, k := range keys {
				existing[logKey{k.TaskID, k.Seq}] = true
			}
		}
		var rows []taskLogRow
		changed := map[string]bool{}
		for _, c := range sorted {
			st := sizes[c.TaskID]
			k := logKey{c.TaskID, c.Seq}
			switch {
			case st == nil:
				res.Dropped++
				continue
			case existing[k]:
				res.Duplicate++
				continue
			case st.LogTruncated:
				res.Dropped++
				continue
			}
			existing[k] = true // a chunk given twice in one batch
			at := c.At.UTC()
			if c.At.IsZero() {
				at = core.Now()
			}
			if st.LogBytes+int64(len(c.Data)) > maxBytesPerTask {
				rows = append(rows, taskLogRow{TaskID: c.TaskID, Seq: c.Seq, Stream: string(run.StreamSystem),
					Data: []byte(run.TruncationMarker(maxBytesPerTask)), At: at})
				st.LogTruncated, changed[c.TaskID] = true, true
				res.Truncated = append(res.Truncated, c.TaskID)
				res.Dropped++
				continue
			}
			data := c.Data
			if data == nil {
				data = []byte{}
			}
			rows = append(rows, taskLogRow{TaskID: c.TaskID, Seq: c.Seq, Stream: string(c.Stream), Data: data, At: at})
			st.LogBytes += int64(len(c.Data))
			changed[c.TaskID] = true
			res.Stored++
		}
		res.Written = make([]run.LogChunk, len(rows))
		for i, r := range rows {
			res.Written[i] = run.LogChunk{TaskID: r.TaskID, Seq: r.Seq, Stream: run.LogStream(r.Stream), Data: r.Data, At: r.At}
		}
		for b := range slices.Chunk(rows, insertBatch) {
			if err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&b).Error; err != nil {
				return fmt.Errorf("insert log chunks: %w", err)
			}
		}
		var upd []string
		for _, id := range ids {
			if changed[id] {
				upd = append(upd, id)
			}
		}
		for chunk := range slices.Chunk(upd, insertBatch) {
			var bytesCase, truncCase strings.Builder
			var bytesArgs, truncArgs []any
			for _, id := range chunk {
				bytesCase.WriteString(" WHEN ? THEN ?")
				truncCase.WriteString(" WHEN ? THEN ?")
				bytesArgs = append(bytesArgs, id, sizes[id].LogBytes)
				truncArgs = append(truncArgs, id, sizes[id].LogTruncated)
			}
			sql := "UPDATE tasks SET log_bytes = CASE id" + bytesCase.String() + " END, log_truncated = CASE id" +
				truncCase.String() + " END WHERE id IN ?"
			args := append(append(bytesArgs, truncArgs...), chunk)
			if err := s.conn(ctx).Exec(sql, args...).Error; err != nil {
				return fmt.Errorf("update log sizes: %w", err)
			}
		}
		return nil
	})
	return res, err
}

// LastLogSeq implements run.LogStore.
func (s *Store) LastLogSeq(ctx context.Context, taskID string) (int64, error) {
	var seq *int64
	if err := s.conn(ctx).Model(&taskLogRow{}).Where("task_id = ?", taskID).Select("MAX(seq)").Scan(&seq).Error; err != nil {
		return 0, fmt.Errorf("task %s: last log seq: %w", taskID, err)
	}
	if seq == nil {
		return 0, nil
	}
	return *seq, nil
}

// ReadLogs implements run.LogStore. A task without chunks after afterSeq
// gives an empty slice; an unknown task gives NotFound.
func (s *Store) ReadLogs(ctx context.Context, taskID string, afterSeq int64, limit int) ([]run.LogChunk, error) {
	if limit <= 0 || limit > run.MaxReadLogs {
		return nil, core.Invalid("first", "must be between 1 and %d", run.MaxReadLogs)
	}
	var rows []taskLogRow
	err := s.conn(ctx).Where("task_id = ? AND seq > ?", taskID, afterSeq).Order("seq").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		if _, err := s.GetTask(ctx, taskID); err != nil {
			return nil, err
		}
	}
	out := make([]run.LogChunk, len(rows))
	for i, r := range rows {
		out[i] = run.LogChunk{TaskID: r.TaskID, Seq: r.Seq, Stream: run.LogStream(r.Stream), Data: r.Data, At: r.At.UTC()}
	}
	return out, nil
}

// DeleteLogsBefore implements run.LogStore. It deletes the logs of 50 tasks
// per statement, each statement on its own, so that retention never holds
// a long transaction; a task's log goes whole or not at all.
func (s *Store) DeleteLogsBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		var ids []string
		err := s.conn(ctx).Model(&taskRow{}).
			Where("finished_at < ? AND EXISTS (SELECT 1 FROM task_logs l WHERE l.task_id = tasks.id)", t.UTC()).
			Order("id").Limit(50).Pluck("id", &ids).Error
		if err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		res := s.conn(ctx).Where("task_id IN ?", ids).Delete(&taskLogRow{})
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
		if len(ids) < 50 {
			return total, nil
		}
	}
}

var _ run.Store = (*Store)(nil)
