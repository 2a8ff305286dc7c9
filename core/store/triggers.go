package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/trigger"
)

// triggerRow holds the sealed secret next to the description; only
// SealedTriggerSecret reads that column.
type triggerRow struct {
	ID               string `gorm:"primaryKey"`
	ProjectID        string
	JobID            string
	Name             string
	Sealed           []byte
	Params           string
	RequireTimestamp bool
	Priority         int
	Enabled          bool
	CreatedBy        string
	CreatedAt        time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt        time.Time `gorm:"autoUpdateTime:false"`
	LastDeliveryAt   sql.NullTime
}

func (triggerRow) TableName() string { return "triggers" }

var triggerColumns = []string{"id", "project_id", "job_id", "name", "params", "require_timestamp", "priority", "enabled",
	"created_by", "created_at", "updated_at", "last_delivery_at"}

// paramSourceJSON is how one ParamSource is stored.
type paramSourceJSON struct {
	Name  string          `json:"name"`
	Path  string          `json:"path,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

func triggerFromCore(t trigger.Trigger, sealed []byte) (triggerRow, error) {
	ps := make([]paramSourceJSON, len(t.Params))
	for i, p := range t.Params {
		ps[i] = paramSourceJSON(p)
	}
	params, err := json.Marshal(ps)
	if err != nil {
		return triggerRow{}, fmt.Errorf("encode params of trigger %s: %w", t.ID, err)
	}
	return triggerRow{
		ID: t.ID, ProjectID: t.ProjectID, JobID: t.JobID, Name: t.Name, Sealed: sealed, Params: string(params),
		RequireTimestamp: t.RequireTimestamp, Priority: t.Priority, Enabled: t.Enabled, CreatedBy: t.CreatedBy,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		LastDeliveryAt: sql.NullTime{Time: t.LastDeliveryAt, Valid: !t.LastDeliveryAt.IsZero()},
	}, nil
}

func (r triggerRow) toCore() trigger.Trigger {
	var ps []paramSourceJSON
	_ = json.Unmarshal([]byte(r.Params), &ps) // written by triggerFromCore
	t := trigger.Trigger{
		ID: r.ID, ProjectID: r.ProjectID, JobID: r.JobID, Name: r.Name, Params: make([]trigger.ParamSource, len(ps)),
		RequireTimestamp: r.RequireTimestamp, Priority: r.Priority, Enabled: r.Enabled, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	for i, p := range ps {
		t.Params[i] = trigger.ParamSource(p)
	}
	if r.LastDeliveryAt.Valid {
		t.LastDeliveryAt = r.LastDeliveryAt.Time.UTC()
	}
	return t
}

func triggerConflict(err error, name string) error {
	if isDuplicate(err) {
		return core.Conflict("name", "a webhook trigger named %q already exists in this project", name)
	}
	return err
}

// CreateTrigger implements trigger.Store.
func (s *Store) CreateTrigger(ctx context.Context, t trigger.Trigger, sealed []byte) error {
	row, err := triggerFromCore(t, sealed)
	if err != nil {
		return err
	}
	return triggerConflict(s.conn(ctx).Create(&row).Error, t.Name)
}

// UpdateTrigger implements trigger.Store.
func (s *Store) UpdateTrigger(ctx context.Context, t trigger.Trigger, sealed []byte) error {
	row, err := triggerFromCore(t, sealed)
	if err != nil {
		return err
	}
	cols := []string{"name", "params", "require_timestamp", "priority", "enabled", "updated_at"}
	if sealed != nil {
		cols = append(cols, "sealed")
	}
	res := s.conn(ctx).Model(&triggerRow{ID: t.ID}).Select(cols).Updates(row)
	if res.Error != nil {
		return triggerConflict(res.Error, t.Name)
	}
	if res.RowsAffected == 0 {
		return core.NotFound(core.KindTrigger.Noun(), t.ID)
	}
	return nil
}

// DeleteTrigger implements trigger.Store; its deliveries go with it.
func (s *Store) DeleteTrigger(ctx context.Context, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Where("trigger_id = ?", id).Delete(&deliveryRow{}).Error; err != nil {
			return err
		}
		res := s.conn(ctx).Delete(&triggerRow{ID: id})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return core.NotFound(core.KindTrigger.Noun(), id)
		}
		return nil
	})
}

// GetTrigger implements trigger.Store.
func (s *Store) GetTrigger(ctx context.Context, id string) (trigger.Trigger, error) {
	var row triggerRow
	err := take(s.conn(ctx).Select(triggerColumns).Where("id = ?", id), &row, core.KindTrigger.Noun(), id)
	return row.toCore(), err
}

// SealedTriggerSecret implements trigger.Store.
func (s *Store) SealedTriggerSecret(ctx context.Context, id string) ([]byte, error) {
	var row triggerRow
	err := take(s.conn(ctx).Select("sealed").Where("id = ?", id), &row, core.KindTrigger.Noun(), id)
	return row.Sealed, err
}

// ListTriggers implements trigger.Store.
func (s *Store) ListTriggers(ctx context.Context, f trigger.Filter, page core.PageArgs) (core.Page[trigger.Trigger], error) {
	var rows []triggerRow
	q := s.conn(ctx).Model(&triggerRow{}).Select(triggerColumns).Where("triggers.project_id = ?", f.ProjectID)
	if err := keyset(q, "triggers", "name", page).Find(&rows).Error; err != nil {
		return core.Page[trigger.Trigger]{}, err
	}
	return toPage(rows, page, triggerRow.toCore, func(r triggerRow) (string, string) { return r.Name, r.ID }), nil
}

// CountTriggers implements trigger.Store.
func (s *Store) CountTriggers(ctx context.Context, f trigger.Filter) (int, error) {
	var n int64
	err := s.conn(ctx).Model(&triggerRow{}).Where("project_id = ?", f.ProjectID).Count(&n).Error
	return int(n), err
}

type deliveryRow struct {
	TriggerID  string `gorm:"primaryKey"`
	DeliveryID string `gorm:"primaryKey"`
	RunID      string
	ReceivedAt time.Time
}

func (deliveryRow) TableName() string { return "trigger_deliveries" }

// RecordDelivery implements trigger.Store.
func (s *Store) RecordDelivery(ctx context.Context, triggerID, deliveryID string, at time.Time) error {
	err := s.conn(ctx).Create(&deliveryRow{TriggerID: triggerID, DeliveryID: deliveryID, ReceivedAt: at}).Error
	if isDuplicate(err) {
		return core.Conflict("deliveryId", "delivery %q was already received", deliveryID)
	}
	return err
}

// SetDeliveryRun implements trigger.Store.
func (s *Store) SetDeliveryRun(ctx context.Context, triggerID, deliveryID, runID string, at time.Time) error {
	res := s.conn(ctx).Model(&deliveryRow{}).Where("trigger_id = ? AND delivery_id = ?", triggerID, deliveryID).
		Update("run_id", runID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return core.NotFound("delivery", deliveryID)
	}
	return s.conn(ctx).Model(&triggerRow{ID: triggerID}).Update("last_delivery_at", at).Error
}

// DeliveryRun implements trigger.Store.
func (s *Store) DeliveryRun(ctx context.Context, triggerID, deliveryID string) (string, error) {
	var row deliveryRow
	err := take(s.conn(ctx).Where("trigger_id = ? AND delivery_id = ?", triggerID, deliveryID), &row, "delivery", deliveryID)
	return row.RunID, err
}

// PruneDeliveries implements trigger.Store.
func (s *Store) PruneDeliveries(ctx context.Context, triggerID string, before time.Time) error {
	return s.conn(ctx).Where("trigger_id = ? AND received_at < ?", triggerID, before).Delete(&deliveryRow{}).Error
}

var _ trigger.Store = (*Store)(nil)
