package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/audit"
)

var _ audit.Store = (*Store)(nil)

// auditEventRow is one row of audit_events. The table is append-only: this
// file inserts and reads rows, and nothing in the store updates or deletes
// them.
type auditEventRow struct {
	ID         string    `gorm:"primaryKey"`
	At         time.Time `gorm:"column:at"`
	ActorID    string
	ActorName  string
	TokenID    string
	Action     string
	ObjectKind string
	ObjectID   string
	ProjectID  string
	Outcome    string
	Reason     string
	ClientAddr string
	UserAgent  string
}

func (auditEventRow) TableName() string { return "audit_events" }

func auditEventFromCore(ev audit.Event) auditEventRow {
	return auditEventRow{
		ID: ev.ID, At: ev.At.UTC(), ActorID: ev.ActorID, ActorName: ev.ActorName, TokenID: ev.TokenID,
		Action: ev.Action, ObjectKind: ev.ObjectKind, ObjectID: ev.ObjectID, ProjectID: ev.ProjectID,
		Outcome: string(ev.Outcome), Reason: ev.Reason, ClientAddr: ev.ClientAddr, UserAgent: ev.UserAgent,
	}
}

func (r auditEventRow) toCore() audit.Event {
	return audit.Event{
		ID: r.ID, At: r.At.UTC(), ActorID: r.ActorID, ActorName: r.ActorName, TokenID: r.TokenID,
		Action: r.Action, ObjectKind: r.ObjectKind, ObjectID: r.ObjectID, ProjectID: r.ProjectID,
		Outcome: audit.Outcome(r.Outcome), Reason: r.Reason, ClientAddr: r.ClientAddr, UserAgent: r.UserAgent,
	}
}

// InsertAuditEvent implements audit.Store.
func (s *Store) InsertAuditEvent(ctx context.Context, ev audit.Event) error {
	row := auditEventFromCore(ev)
	return s.conn(ctx).Create(&row).Error
}

// auditQuery builds the WHERE clause of an audit filter. Columns are
// qualified with the table name, which also keeps "at" from ever being
// read as a keyword.
func (s *Store) auditQuery(ctx context.Context, f audit.Filter) *gorm.DB {
	q := s.conn(ctx).Model(&auditEventRow{})
	if f.ProjectIDs != nil {
		if len(f.ProjectIDs) == 0 {
			// A caller who may see no project sees nothing; "IN ()" is not SQL,
			// and dropping the condition would show everything.
			q = q.Where("1 = 0")
		} else {
			q = q.Where("audit_events.project_id IN ?", f.ProjectIDs)
		}
	}
	if f.ActorID != "" {
		q = q.Where("audit_events.actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		q = q.Where("audit_events.action = ?", f.Action)
	}
	if f.ObjectID != "" {
		q = q.Where("audit_events.object_id = ?", f.ObjectID)
	}
	if f.Outcome != "" {
		q = q.Where("audit_events.outcome = ?", string(f.Outcome))
	}
	// On SQLite a time is text, "2006-01-02 15:04:05.999999+00:00" always in
	// UTC, and such strings sort in time order even with trailing zeros cut
	// ("05+00:00" < "05.1+00:00" < "05.12+00:00"), so these compare right on
	// both dialects as long as the bounds are UTC too.
	if !f.Since.IsZero() {
		q = q.Where("audit_events.at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("audit_events.at < ?", f.Until.UTC())
	}
	return q
}

// ListAuditEvents implements audit.Store. The keyset is the ID alone: IDs
// are unique and sort by time, so cursors carry no sort key.
func (s *Store) ListAuditEvents(ctx context.Context, f audit.Filter, page core.PageArgs, newestFirst bool) (core.Page[audit.Event], error) {
	q := s.auditQuery(ctx, f)
	cmp, order := ">", "audit_events.id"
	if newestFirst {
		cmp, order = "<", "audit_events.id DESC"
	}
	if page.After != "" {
		c, err := core.DecodeCursor(page.After)
		if err != nil {
			return core.Page[audit.Event]{}, err
		}
		q = q.Where("audit_events.id "+cmp+" ?", c.ID)
	}
	var rows []auditEventRow
	if err := q.Order(order).Limit(page.First + 1).Find(&rows).Error; err != nil {
		return core.Page[audit.Event]{}, err
	}
	return toPage(rows, page, auditEventRow.toCore, func(r auditEventRow) (string, string) { return "", r.ID }), nil
}

// CountAuditEvents implements audit.Store.
func (s *Store) CountAuditEvents(ctx context.Context, f audit.Filter) (int, error) {
	var n int64
	err := s.auditQuery(ctx, f).Count(&n).Error
	return int(n), err
}
