package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/inventory/labels"
)

type groupRow struct {
	ID          string `gorm:"primaryKey"`
	ProjectID   string
	Name        string
	Description string
	Selector    *string   // canonical form; NULL for a static group
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt   time.Time `gorm:"autoUpdateTime:false"`
}

func (groupRow) TableName() string { return "host_groups" }

type groupMemberRow struct {
	GroupID string `gorm:"primaryKey"`
	HostID  string `gorm:"primaryKey"`
}

func (groupMemberRow) TableName() string { return "host_group_members" }

func groupFromCore(g inventory.HostGroup) groupRow {
	r := groupRow{ID: g.ID, ProjectID: g.ProjectID, Name: g.Name, Description: g.Description, CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
	if g.Selector != nil {
		sel := g.Selector.String()
		r.Selector = &sel
	}
	return r
}

func (r groupRow) toCore() (inventory.HostGroup, error) {
	g := inventory.HostGroup{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Description: r.Description, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if r.Selector != nil {
		sel, err := labels.Parse(*r.Selector)
		if err != nil {
			return inventory.HostGroup{}, fmt.Errorf("host group %s: stored selector: %w", r.ID, err)
		}
		g.Selector = &sel
	}
	return g, nil
}

func groupConflict(err error, name string) error {
	if isDuplicate(err) {
		return core.Conflict("name", "a host group named %q already exists in this project", name)
	}
	return err
}

// CreateGroup implements inventory.GroupStore.
func (s *Store) CreateGroup(ctx context.Context, g inventory.HostGroup) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		row := groupFromCore(g)
		if err := s.conn(ctx).Create(&row).Error; err != nil {
			return groupConflict(err, g.Name)
		}
		return s.insertMembers(ctx, g)
	})
}

func (s *Store) insertMembers(ctx context.Context, g inventory.HostGroup) error {
	if len(g.HostIDs) == 0 {
		return nil
	}
	rows := make([]groupMemberRow, len(g.HostIDs))
	for i, id := range g.HostIDs {
		rows[i] = groupMemberRow{GroupID: g.ID, HostID: id}
	}
	return s.conn(ctx).CreateInBatches(rows, 100).Error
}

// UpdateGroup implements inventory.GroupStore.
func (s *Store) UpdateGroup(ctx context.Context, g inventory.HostGroup) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&groupRow{ID: g.ID}).
			Select("name", "description", "selector", "updated_at").Updates(groupFromCore(g))
		if res.Error != nil {
			return groupConflict(res.Error, g.Name)
		}
		if res.RowsAffected == 0 {
			return core.NotFound("host group", g.ID)
		}
		if g.Selector == nil && g.HostIDs == nil {
			return nil // a static group whose members stay as they are
		}
		if err := s.conn(ctx).Where("group_id = ?", g.ID).Delete(&groupMemberRow{}).Error; err != nil {
			return err
		}
		return s.insertMembers(ctx, g)
	})
}

// DeleteGroup implements inventory.GroupStore.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Where("group_id = ?", id).Delete(&groupMemberRow{}).Error; err != nil {
			return err
		}
		res := s.conn(ctx).Delete(&groupRow{ID: id})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return core.NotFound("host group", id)
		}
		return nil
	})
}

// GetGroup implements inventory.GroupStore.
func (s *Store) GetGroup(ctx context.Context, id string) (inventory.HostGroup, error) {
	var row groupRow
	err := take(s.conn(ctx).Where("id = ?", id), &row, "host group", id)
	if err != nil {
		return inventory.HostGroup{}, err
	}
	return row.toCore()
}

func (s *Store) groupQuery(ctx context.Context, f inventory.GroupFilter) *gorm.DB {
	q := s.conn(ctx).Model(&groupRow{}).Where("host_groups.project_id = ?", f.ProjectID)
	if f.Search != "" {
		q = q.Where("LOWER(host_groups.name) LIKE ? ESCAPE '!'", likeSubstring(f.Search))
	}
	return q
}

// ListGroups implements inventory.GroupStore.
func (s *Store) ListGroups(ctx context.Context, f inventory.GroupFilter, page core.PageArgs) (core.Page[inventory.HostGroup], error) {
	var rows []groupRow
	if err := keyset(s.groupQuery(ctx, f), "host_groups", "name", page).Find(&rows).Error; err != nil {
		return core.Page[inventory.HostGroup]{}, err
	}
	var convErr error
	p := toPage(rows, page, func(r groupRow) inventory.HostGroup {
		g, err := r.toCore()
		convErr = errors.Join(convErr, err)
		return g
	}, func(r groupRow) (string, string) { return r.Name, r.ID })
	return p, convErr
}

// CountGroups implements inventory.GroupStore.
func (s *Store) CountGroups(ctx context.Context, f inventory.GroupFilter) (int, error) {
	var n int64
	err := s.groupQuery(ctx, f).Count(&n).Error
	return int(n), err
}
