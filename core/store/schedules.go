package store

import (
	"context"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/scheduler"
)

type scheduleRow struct {
	ID         string `gorm:"primaryKey"`
	ProjectID  string
	JobID      string
	Name       string
	Expression string
	TimeZone   string
	Params     string
	Priority   int
	JitterMS   int64 `gorm:"column:jitter_ms"`
	Overlap    string
	Missed     string
	Enabled    bool
	NextFireAt *time.Time
	DueAt      *time.Time
	LastFireAt *time.Time
	LastRunID  string
	LastError  string
	CreatedBy  string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt  time.Time `gorm:"autoUpdateTime:false"`
}

func (scheduleRow) TableName() string { return "schedules" }

type scheduleFireRow struct {
	ScheduleID string    `gorm:"primaryKey"`
	FireAt     time.Time `gorm:"primaryKey"`
	FiredAt    time.Time
	Outcome    string
	RunID      string
	Error      string
}

func (scheduleFireRow) TableName() string { return "schedule_fires" }

func scheduleFromCore(s scheduler.Schedule) scheduleRow {
	return scheduleRow{
		ID: s.ID, ProjectID: s.ProjectID, JobID: s.JobID, Name: s.Name, Expression: s.Expression,
		TimeZone: s.TimeZone, Params: string(s.Params), Priority: s.Priority, JitterMS: s.Jitter.Milliseconds(),
		Overlap: string(s.Overlap), Missed: string(s.Missed), Enabled: s.Enabled,
		NextFireAt: utcPtr(s.NextFireAt), DueAt: utcPtr(s.DueAt), LastFireAt: utcPtr(s.LastFireAt),
		LastRunID: s.LastRunID, LastError: s.LastError, CreatedBy: s.CreatedBy,
		CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
	}
}

func (r scheduleRow) toCore() scheduler.Schedule {
	return scheduler.Schedule{
		ID: r.ID, ProjectID: r.ProjectID, JobID: r.JobID, Name: r.Name, Expression: r.Expression,
		TimeZone: r.TimeZone, Params: []byte(r.Params), Priority: r.Priority,
		Jitter: time.Duration(r.JitterMS) * time.Millisecond, Overlap: scheduler.Overlap(r.Overlap),
		Missed: scheduler.Missed(r.Missed), Enabled: r.Enabled,
		NextFireAt: utcPtr(r.NextFireAt), DueAt: utcPtr(r.DueAt), LastFireAt: utcPtr(r.LastFireAt),
		LastRunID: r.LastRunID, LastError: r.LastError, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func scheduleConflict(err error, name string) error {
	if isDuplicate(err) {
		return core.Conflict("name", "a schedule named %q already exists in this project", name)
	}
	return err
}

// CreateSchedule implements scheduler.Store.
func (s *Store) CreateSchedule(ctx context.Context, sc scheduler.Schedule) error {
	row := scheduleFromCore(sc)
	return scheduleConflict(s.conn(ctx).Create(&row).Error, sc.Name)
}

// UpdateSchedule implements scheduler.Store.
func (s *Store) UpdateSchedule(ctx context.Context, sc scheduler.Schedule, prevNext *time.Time) error {
	q := s.conn(ctx).Model(&scheduleRow{}).Where("id = ?", sc.ID)
	if prevNext == nil {
		q = q.Where("next_fire_at IS NULL")
	} else {
		q = q.Where("next_fire_at = ?", prevNext.UTC())
	}
	res := q.Select("name", "expression", "time_zone", "params", "priority", "jitter_ms", "overlap", "missed",
		"enabled", "next_fire_at", "due_at", "updated_at").Updates(scheduleFromCore(sc))
	if res.Error != nil {
		return scheduleConflict(res.Error, sc.Name)
	}
	if res.RowsAffected == 0 {
		if _, err := s.GetSchedule(ctx, sc.ID); err != nil {
			return err
		}
		return core.Conflict("", "schedule %s fired while it was being changed; try again", sc.ID)
	}
	return nil
}

// DeleteSchedule implements scheduler.Store.
func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	res := s.conn(ctx).Delete(&scheduleRow{ID: id})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return core.NotFound("schedule", id)
	}
	return nil
}

// GetSchedule implements scheduler.Store.
func (s *Store) GetSchedule(ctx context.Context, id string) (scheduler.Schedule, error) {
	var row scheduleRow
	if err := take(s.conn(ctx).Where("id = ?", id), &row, "schedule", id); err != nil {
		return scheduler.Schedule{}, err
	}
	return row.toCore(), nil
}

// ListSchedules implements scheduler.Store.
func (s *Store) ListSchedules(ctx context.Context, projectID string) ([]scheduler.Schedule, error) {
	var rows []scheduleRow
	if err := s.conn(ctx).Where("project_id = ?", projectID).Order("name, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]scheduler.Schedule, len(rows))
	for i, r := range rows {
		out[i] = r.toCore()
	}
	return out, nil
}

// DueSchedules implements scheduler.Store.
func (s *Store) DueSchedules(ctx context.Context, now time.Time, limit int) ([]scheduler.Schedule, error) {
	var rows []scheduleRow
	err := s.conn(ctx).Where("enabled = ? AND due_at IS NOT NULL AND due_at <= ?", true, now.UTC()).
		Order("due_at, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]scheduler.Schedule, len(rows))
	for i, r := range rows {
		out[i] = r.toCore()
	}
	return out, nil
}

// NextDue implements scheduler.Store.
func (s *Store) NextDue(ctx context.Context) (*time.Time, error) {
	var rows []scheduleRow
	err := s.conn(ctx).Select("due_at").Where("enabled = ? AND due_at IS NOT NULL", true).
		Order("due_at").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return utcPtr(rows[0].DueAt), nil
}

// AdvanceSchedule implements scheduler.Store.
func (s *Store) AdvanceSchedule(ctx context.Context, sc scheduler.Schedule, prev time.Time) (bool, error) {
	row := scheduleFromCore(sc)
	res := s.conn(ctx).Model(&scheduleRow{}).Where("id = ? AND next_fire_at = ?", sc.ID, prev.UTC()).
		Select("next_fire_at", "due_at", "last_fire_at", "last_run_id", "last_error").
		Updates(&row)
	return res.RowsAffected == 1, res.Error
}

// RecordFire implements scheduler.Store.
func (s *Store) RecordFire(ctx context.Context, f scheduler.Fire) error {
	row := scheduleFireRow{
		ScheduleID: f.ScheduleID, FireAt: f.At.UTC(), FiredAt: f.FiredAt.UTC(), Outcome: string(f.Outcome),
		RunID: f.RunID, Error: f.Error,
	}
	if err := s.conn(ctx).Create(&row).Error; err != nil {
		if isDuplicate(err) {
			return core.Conflict("", "schedule %s already fired at %s", f.ScheduleID, f.At.UTC().Format(time.RFC3339))
		}
		return err
	}
	return nil
}

// ListFires implements scheduler.Store.
func (s *Store) ListFires(ctx context.Context, scheduleID string, limit int) ([]scheduler.Fire, error) {
	var rows []scheduleFireRow
	err := s.conn(ctx).Where("schedule_id = ?", scheduleID).Order("fire_at DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]scheduler.Fire, len(rows))
	for i, r := range rows {
		out[i] = scheduler.Fire{
			ScheduleID: r.ScheduleID, At: r.FireAt.UTC(), FiredAt: r.FiredAt.UTC(),
			Outcome: scheduler.FireOutcome(r.Outcome), RunID: r.RunID, Error: r.Error,
		}
	}
	return out, nil
}

var _ scheduler.Store = (*Store)(nil)
