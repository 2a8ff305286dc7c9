package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/notify"
)

// channelRow is a notification channel; only SealedChannelSecrets reads
// Sealed.
type channelRow struct {
	ID        string `gorm:"primaryKey"`
	ProjectID string
	Name      string
	Kind      string
	Events    string
	Enabled   bool
	Settings  string
	Sealed    []byte
	CreatedBy string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"autoUpdateTime:false"`
}

func (channelRow) TableName() string { return "notification_channels" }

var channelColumns = []string{"id", "project_id", "name", "kind", "events", "enabled", "settings", "created_by", "created_at", "updated_at"}

func channelFromCore(c notify.Channel, sealed []byte) channelRow {
	return channelRow{
		ID: c.ID, ProjectID: c.ProjectID, Name: c.Name, Kind: c.Kind, Events: c.Events.String(), Enabled: c.Enabled,
		Settings: string(c.Settings), Sealed: sealed, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

func (r channelRow) toCore() notify.Channel {
	return notify.Channel{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Kind: r.Kind, Events: notify.ParseEventSet(r.Events), Enabled: r.Enabled,
		Settings: []byte(r.Settings), CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func channelConflict(err error, name string) error {
	if isDuplicate(err) {
		return core.Conflict("name", "a notification channel named %q already exists in this project", name)
	}
	return err
}

// CreateChannel implements notify.Store.
func (s *Store) CreateChannel(ctx context.Context, c notify.Channel, sealed []byte) error {
	row := channelFromCore(c, sealed)
	return channelConflict(s.conn(ctx).Create(&row).Error, c.Name)
}

// UpdateChannel implements notify.Store.
func (s *Store) UpdateChannel(ctx context.Context, c notify.Channel, sealed []byte) error {
	cols := []string{"name", "events", "enabled", "settings", "updated_at"}
	if sealed != nil {
		cols = append(cols, "sealed")
	}
	res := s.conn(ctx).Model(&channelRow{ID: c.ID}).Select(cols).Updates(channelFromCore(c, sealed))
	if res.Error != nil {
		return channelConflict(res.Error, c.Name)
	}
	if res.RowsAffected == 0 {
		return core.NotFound("notification channel", c.ID)
	}
	return nil
}

// DeleteChannel implements notify.Store; the deliveries go with it (ON
// DELETE CASCADE).
func (s *Store) DeleteChannel(ctx context.Context, id string) error {
	res := s.conn(ctx).Delete(&channelRow{ID: id})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return core.NotFound("notification channel", id)
	}
	return nil
}

// GetChannel implements notify.Store.
func (s *Store) GetChannel(ctx context.Context, id string) (notify.Channel, error) {
	var row channelRow
	err := take(s.conn(ctx).Select(channelColumns).Where("id = ?", id), &row, "notification channel", id)
	return row.toCore(), err
}

// ChannelsByID implements notify.Store.
func (s *Store) ChannelsByID(ctx context.Context, ids []string) (map[string]notify.Channel, error) {
	out := make(map[string]notify.Channel, len(ids))
	for _, chunk := range chunks(ids, 1000) {
		var rows []channelRow
		if err := s.conn(ctx).Select(channelColumns).Where("id IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.ID] = r.toCore()
		}
	}
	return out, nil
}

// SealedChannelSecrets implements notify.Store.
func (s *Store) SealedChannelSecrets(ctx context.Context, id string) ([]byte, error) {
	var row channelRow
	err := take(s.conn(ctx).Select("sealed").Where("id = ?", id), &row, "notification channel", id)
	return row.Sealed, err
}

// ListChannels implements notify.Store.
func (s *Store) ListChannels(ctx context.Context, projectID string, page core.PageArgs) (core.Page[notify.Channel], error) {
	var rows []channelRow
	q := s.conn(ctx).Model(&channelRow{}).Select(channelColumns).Where("notification_channels.project_id = ?", projectID)
	if err := keyset(q, "notification_channels", "name", page).Find(&rows).Error; err != nil {
		return core.Page[notify.Channel]{}, err
	}
	return toPage(rows, page, channelRow.toCore, func(r channelRow) (string, string) { return r.Name, r.ID }), nil
}

// CountChannels implements notify.Store.
func (s *Store) CountChannels(ctx context.Context, projectID string) (int, error) {
	var n int64
	err := s.conn(ctx).Model(&channelRow{}).Where("project_id = ?", projectID).Count(&n).Error
	return int(n), err
}

// EnabledChannels implements notify.Store.
func (s *Store) EnabledChannels(ctx context.Context, projectID string) ([]notify.Channel, error) {
	var rows []channelRow
	if err := s.conn(ctx).Select(channelColumns).Where("project_id = ? AND enabled = ?", projectID, true).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]notify.Channel, len(rows))
	for i, r := range rows {
		out[i] = r.toCore()
	}
	return out, nil
}

// notificationDeliveryRow is one row of the outbox.
type notificationDeliveryRow struct {
	ID            string `gorm:"primaryKey"`
	ChannelID     string
	ProjectID     string
	RunID         string
	Event         string
	Payload       string
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time `gorm:"autoCreateTime:false"`
	SentAt        *time.Time
}

func (notificationDeliveryRow) TableName() string { return "notification_deliveries" }

func deliveryFromCore(d notify.Delivery) notificationDeliveryRow {
	return notificationDeliveryRow{
		ID: d.ID, ChannelID: d.ChannelID, ProjectID: d.ProjectID, RunID: d.RunID, Event: string(d.Event),
		Payload: string(d.Payload), Status: string(d.Status), Attempts: d.Attempts, NextAttemptAt: d.NextAttemptAt.UTC(),
		LastError: d.LastError, CreatedAt: d.CreatedAt.UTC(), SentAt: d.SentAt,
	}
}

func (r notificationDeliveryRow) toCore() notify.Delivery {
	d := notify.Delivery{
		ID: r.ID, ChannelID: r.ChannelID, ProjectID: r.ProjectID, RunID: r.RunID, Event: notify.Event(r.Event),
		Payload: []byte(r.Payload), Status: notify.DeliveryStatus(r.Status), Attempts: r.Attempts,
		NextAttemptAt: r.NextAttemptAt.UTC(), LastError: r.LastError, CreatedAt: r.CreatedAt.UTC(),
	}
	if r.SentAt != nil {
		t := r.SentAt.UTC()
		d.SentAt = &t
	}
	return d
}

// CreateDeliveries implements notify.Store, in batches of insertBatch.
func (s *Store) CreateDeliveries(ctx context.Context, ds []notify.Delivery) error {
	rows := make([]notificationDeliveryRow, len(ds))
	for i, d := range ds {
		rows[i] = deliveryFromCore(d)
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		return s.conn(ctx).CreateInBatches(rows, insertBatch).Error
	})
}

// MaxDeliveryClaim is the most deliveries one ClaimDeliveries call takes.
const MaxDeliveryClaim = 1000

// ClaimDeliveries implements notify.Store. A delivery is due when it is
// pending and its next attempt is due, or sending and its lease has
// ended; claiming moves it to sending, counts an attempt and sets the
// lease.
//
// As in ClaimTasks: on SQLite one UPDATE … WHERE id IN (SELECT … LIMIT n)
// RETURNING claims atomically (one writer at a time); on MySQL/MariaDB
// SELECT … FOR UPDATE SKIP LOCKED then UPDATE in one transaction lets
// concurrent dispatchers take disjoint rows without waiting on each other.
func (s *Store) ClaimDeliveries(ctx context.Context, req notify.ClaimRequest) ([]notify.Delivery, error) {
	if req.Limit <= 0 || req.Limit > MaxDeliveryClaim {
		return nil, fmt.Errorf("store: claim limit %d out of 1..%d", req.Limit, MaxDeliveryClaim)
	}
	now, until := req.Now.UTC(), req.LeaseUntil.UTC()
	pending, sending := string(notify.DeliveryPending), string(notify.DeliverySending)
	var rows []notificationDeliveryRow
	switch s.dialect {
	case SQLite:
		due := "status IN (?, ?) AND next_attempt_at <= ?"
		err := s.conn(ctx).Raw("UPDATE notification_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ? WHERE "+due+
			" AND id IN (SELECT id FROM notification_deliveries WHERE "+due+" ORDER BY next_attempt_at, id LIMIT ?) RETURNING *",
			sending, until, pending, sending, now, pending, sending, now, req.Limit).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
	default:
		err := s.InTx(ctx, func(ctx context.Context) error {
			err := s.conn(ctx).Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
				Where("status IN ? AND next_attempt_at <= ?", []string{pending, sending}, now).
				Order("next_attempt_at").Order("id").Limit(req.Limit).Find(&rows).Error
			if err != nil || len(rows) == 0 {
				return err
			}
			ids := make([]string, len(rows))
			for i := range rows {
				ids[i] = rows[i].ID
				rows[i].Status, rows[i].Attempts, rows[i].NextAttemptAt = sending, rows[i].Attempts+1, until
			}
			return s.conn(ctx).Model(&notificationDeliveryRow{}).Where("id IN ?", ids).
				Updates(map[string]any{"status": sending, "attempts": gorm.Expr("attempts + 1"), "next_attempt_at": until}).Error
		})
		if err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
	}
	slices.SortFunc(rows, func(a, b notificationDeliveryRow) int { return strings.Compare(a.ID, b.ID) })
	out := make([]notify.Delivery, len(rows))
	for i, r := range rows {
		out[i] = r.toCore()
	}
	return out, nil
}

// FinishDelivery implements notify.Store.
func (s *Store) FinishDelivery(ctx context.Context, o notify.Outcome) (bool, error) {
	if !notify.DeliverySending.CanTransitionTo(o.Status) || o.Status == notify.DeliverySending {
		return false, fmt.Errorf("store: a delivery cannot finish as %q", o.Status)
	}
	next := o.NextAttemptAt.UTC()
	if o.Status != notify.DeliveryPending {
		next = core.Now()
	}
	var sent *time.Time
	if o.SentAt != nil {
		t := o.SentAt.UTC()
		sent = &t
	}
	res := s.conn(ctx).Model(&notificationDeliveryRow{}).
		Where("id = ? AND status = ? AND attempts = ?", o.ID, string(notify.DeliverySending), o.Attempts).
		Updates(map[string]any{"status": string(o.Status), "next_attempt_at": next, "last_error": o.LastError, "sent_at": sent})
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

// NextDeliveryAt implements notify.Store.
func (s *Store) NextDeliveryAt(ctx context.Context) (time.Time, bool, error) {
	var rows []notificationDeliveryRow
	err := s.conn(ctx).Select("next_attempt_at").
		Where("status IN ?", []string{string(notify.DeliveryPending), string(notify.DeliverySending)}).
		Order("next_attempt_at").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return time.Time{}, false, err
	}
	return rows[0].NextAttemptAt.UTC(), true, nil
}

func (s *Store) deliveryQuery(ctx context.Context, f notify.DeliveryFilter) *gorm.DB {
	q := s.conn(ctx).Model(&notificationDeliveryRow{}).Where("project_id = ?", f.ProjectID)
	if f.ChannelID != "" {
		q = q.Where("channel_id = ?", f.ChannelID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	return q
}

// ListDeliveries implements notify.Store: newest first, by ID (IDs sort by
// creation time).
func (s *Store) ListDeliveries(ctx context.Context, f notify.DeliveryFilter, page core.PageArgs) (core.Page[notify.Delivery], error) {
	q := s.deliveryQuery(ctx, f)
	if page.After != "" {
		c, _ := core.DecodeCursor(page.After) // validated by PageArgs.Validate
		q = q.Where("id < ?", c.ID)
	}
	var rows []notificationDeliveryRow
	if err := q.Order("id DESC").Limit(page.First + 1).Find(&rows).Error; err != nil {
		return core.Page[notify.Delivery]{}, err
	}
	return toPage(rows, page, notificationDeliveryRow.toCore, func(r notificationDeliveryRow) (string, string) { return r.ID, r.ID }), nil
}

// CountDeliveries implements notify.Store.
func (s *Store) CountDeliveries(ctx context.Context, f notify.DeliveryFilter) (int, error) {
	var n int64
	err := s.deliveryQuery(ctx, f).Count(&n).Error
	return int(n), err
}

// DeleteDeliveriesBefore implements notify.Store.
func (s *Store) DeleteDeliveriesBefore(ctx context.Context, t time.Time) (int64, error) {
	res := s.conn(ctx).Where("status IN ? AND created_at < ?", []string{string(notify.DeliverySent), string(notify.DeliveryFailed)}, t.UTC()).
		Delete(&notificationDeliveryRow{})
	return res.RowsAffected, res.Error
}

var _ notify.Store = (*Store)(nil)
