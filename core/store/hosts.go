package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/inventory/labels"
)

type hostRow struct {
	ID                  string `gorm:"primaryKey"`
	ProjectID           string
	Name                string
	Address             string
	Port                *int
	OS                  string
	DefaultExecutor     string
	DefaultCredentialID *string
	CreatedAt           time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt           time.Time `gorm:"autoUpdateTime:false"`
}

func (hostRow) TableName() string { return "hosts" }

type hostLabelRow struct {
	HostID     string `gorm:"primaryKey"`
	LabelKey   string `gorm:"primaryKey"`
	LabelValue string
}

func (hostLabelRow) TableName() string { return "host_labels" }

func hostFromCore(h inventory.Host) hostRow {
	r := hostRow{
		ID: h.ID, ProjectID: h.ProjectID, Name: h.Name, Address: h.Address, Port: h.Port,
		OS: string(h.OS), DefaultExecutor: h.DefaultExecutor, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt,
	}
	if h.DefaultCredentialID != "" {
		r.DefaultCredentialID = &h.DefaultCredentialID
	}
	return r
}

func (r hostRow) toCore() inventory.Host {
	h := inventory.Host{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Address: r.Address, Port: r.Port,
		OS: inventory.OS(r.OS), DefaultExecutor: r.DefaultExecutor, Labels: map[string]string{},
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.DefaultCredentialID != nil {
		h.DefaultCredentialID = *r.DefaultCredentialID
	}
	return h
}

func labelRows(h inventory.Host) []hostLabelRow {
	rows := make([]hostLabelRow, 0, len(h.Labels))
	for k, v := range h.Labels {
		rows = append(rows, hostLabelRow{HostID: h.ID, LabelKey: k, LabelValue: v})
	}
	slices.SortFunc(rows, func(a, b hostLabelRow) int { return strings.Compare(a.LabelKey, b.LabelKey) })
	return rows
}

func hostConflict(err error, name string) error {
	if isDuplicate(err) {
		return core.Conflict("name", "a host named %q already exists in this project", name)
	}
	return err
}

// CreateHost implements inventory.HostStore.
func (s *Store) CreateHost(ctx context.Context, h inventory.Host) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		row := hostFromCore(h)
		if err := s.conn(ctx).Create(&row).Error; err != nil {
			return hostConflict(err, h.Name)
		}
		return s.insertLabels(ctx, h)
	})
}

func (s *Store) insertLabels(ctx context.Context, h inventory.Host) error {
	rows := labelRows(h)
	if len(rows) == 0 {
		return nil
	}
	return s.conn(ctx).CreateInBatches(rows, 100).Error
}

// UpdateHost implements inventory.HostStore. It replaces the host's labels.
func (s *Store) UpdateHost(ctx context.Context, h inventory.Host) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&hostRow{ID: h.ID}).
			Select("name", "address", "port", "os", "default_executor", "default_credential_id", "updated_at").
			Updates(hostFromCore(h))
		if res.Error != nil {
			return hostConflict(res.Error, h.Name)
		}
		if res.RowsAffected == 0 {
			return core.NotFound("host", h.ID)
		}
		if err := s.conn(ctx).Where("host_id = ?", h.ID).Delete(&hostLabelRow{}).Error; err != nil {
			return err
		}
		return s.insertLabels(ctx, h)
	})
}

// DeleteHost implements inventory.HostStore. Labels and static group
// memberships go with the host.
func (s *Store) DeleteHost(ctx context.Context, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		if err := db.Where("host_id = ?", id).Delete(&hostLabelRow{}).Error; err != nil {
			return err
		}
		if err := db.Where("host_id = ?", id).Delete(&groupMemberRow{}).Error; err != nil {
			return err
		}
		res := db.Delete(&hostRow{ID: id})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return core.NotFound("host", id)
		}
		return nil
	})
}

// GetHost implements inventory.HostStore.
func (s *Store) GetHost(ctx context.Context, id string) (inventory.Host, error) {
	var row hostRow
	err := take(s.conn(ctx).Where("id = ?", id), &row, "host", id)
	if err != nil {
		return inventory.Host{}, err
	}
	hosts := []inventory.Host{row.toCore()}
	if err := s.loadLabels(ctx, hosts); err != nil {
		return inventory.Host{}, err
	}
	return hosts[0], nil
}

// loadLabels fills in the labels of hosts with one query per 1,000 hosts.
func (s *Store) loadLabels(ctx context.Context, hosts []inventory.Host) error {
	if len(hosts) == 0 {
		return nil
	}
	byID := make(map[string]*inventory.Host, len(hosts))
	ids := make([]string, len(hosts))
	for i := range hosts {
		byID[hosts[i].ID] = &hosts[i]
		ids[i] = hosts[i].ID
	}
	for _, chunk := range chunks(ids, 1000) {
		var rows []hostLabelRow
		if err := s.conn(ctx).Where("host_id IN ?", chunk).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			byID[r.HostID].Labels[r.LabelKey] = r.LabelValue
		}
	}
	return nil
}

// hostQuery builds the WHERE clause of a host filter.
func (s *Store) hostQuery(ctx context.Context, f inventory.HostFilter) (*gorm.DB, error) {
	q := s.conn(ctx).Model(&hostRow{}).Where("hosts.project_id = ?", f.ProjectID)
	if f.Search != "" {
		pat := likeSubstring(f.Search)
		q = q.Where("(LOWER(hosts.name) LIKE ? ESCAPE '!' OR LOWER(hosts.address) LIKE ? ESCAPE '!')", pat, pat)
	}
	if f.OS != "" {
		q = q.Where("hosts.os = ?", string(f.OS))
	}
	if f.StaticGroupID != "" {
		q = q.Where("EXISTS (SELECT 1 FROM host_group_members m WHERE m.host_id = hosts.id AND m.group_id = ?)", f.StaticGroupID)
	}
	if f.Selector != nil {
		reqs := f.Selector.Requirements()
		if len(reqs) == 0 {
			// The zero Selector selects nothing; never let it become "no condition".
			return nil, fmt.Errorf("store: empty label selector")
		}
		for _, r := range reqs {
			q = whereRequirement(q, r)
		}
	}
	return q, nil
}

// whereRequirement adds one selector requirement as an EXISTS or NOT EXISTS
// subquery over host_labels, which the (label_key, label_value) index serves.
func whereRequirement(q *gorm.DB, r labels.Requirement) *gorm.DB {
	const sub = "EXISTS (SELECT 1 FROM host_labels hl WHERE hl.host_id = hosts.id AND hl.label_key = ?"
	switch r.Operator {
	case labels.Exists:
		return q.Where(sub+")", r.Key)
	case labels.NotExists:
		return q.Where("NOT "+sub+")", r.Key)
	case labels.Equals:
		return q.Where(sub+" AND hl.label_value = ?)", r.Key, r.Values[0])
	case labels.NotEquals:
		return q.Where("NOT "+sub+" AND hl.label_value = ?)", r.Key, r.Values[0])
	case labels.In:
		return q.Where(sub+" AND hl.label_value IN ?)", r.Key, r.Values)
	case labels.NotIn:
		return q.Where("NOT "+sub+" AND hl.label_value IN ?)", r.Key, r.Values)
	}
	panic("store: unknown selector operator " + string(r.Operator))
}

// ListHosts implements inventory.HostStore.
func (s *Store) ListHosts(ctx context.Context, f inventory.HostFilter, page core.PageArgs) (core.Page[inventory.Host], error) {
	q, err := s.hostQuery(ctx, f)
	if err != nil {
		return core.Page[inventory.Host]{}, err
	}
	var rows []hostRow
	if err := keyset(q, "hosts", "name", page).Find(&rows).Error; err != nil {
		return core.Page[inventory.Host]{}, err
	}
	p := toPage(rows, page, hostRow.toCore, func(r hostRow) (string, string) { return r.Name, r.ID })
	return p, s.loadLabels(ctx, p.Items)
}

// CountHosts implements inventory.HostStore.
func (s *Store) CountHosts(ctx context.Context, f inventory.HostFilter) (int, error) {
	q, err := s.hostQuery(ctx, f)
	if err != nil {
		return 0, err
	}
	var n int64
	err = q.Count(&n).Error
	return int(n), err
}

// MissingHosts implements inventory.HostStore.
func (s *Store) MissingHosts(ctx context.Context, projectID string, ids []string) ([]string, error) {
	found := make(map[string]bool, len(ids))
	for _, chunk := range chunks(ids, 1000) {
		var got []string
		if err := s.conn(ctx).Model(&hostRow{}).Where("project_id = ? AND id IN ?", projectID, chunk).Pluck("id", &got).Error; err != nil {
			return nil, err
		}
		for _, id := range got {
			found[id] = true
		}
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}
