package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/project"
)

type projectRow struct {
	ID                string `gorm:"primaryKey"`
	Name              string
	Description       string
	MaxConcurrentRuns int
	CreatedAt         time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt         time.Time `gorm:"autoUpdateTime:false"`
}

func (projectRow) TableName() string { return "projects" }

func projectFromCore(p project.Project) projectRow {
	return projectRow{ID: p.ID, Name: p.Name, Description: p.Description, MaxConcurrentRuns: p.MaxConcurrentRuns,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (r projectRow) toCore() project.Project {
	return project.Project{ID: r.ID, Name: r.Name, Description: r.Description, MaxConcurrentRuns: r.MaxConcurrentRuns,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func projectConflict(err error, name string) error {
	if isDuplicate(err) {
		return core.Conflict("name", "a project named %q already exists", name)
	}
	return err
}

// CreateProject implements project.Store.
func (s *Store) CreateProject(ctx context.Context, p project.Project) error {
	row := projectFromCore(p)
	return projectConflict(s.conn(ctx).Create(&row).Error, p.Name)
}

// UpdateProject implements project.Store.
func (s *Store) UpdateProject(ctx context.Context, p project.Project) error {
	res := s.conn(ctx).Model(&projectRow{ID: p.ID}).
		Select("name", "description", "max_concurrent_runs", "updated_at").Updates(projectFromCore(p))
	if res.Error != nil {
		return projectConflict(res.Error, p.Name)
	}
	if res.RowsAffected == 0 {
		return core.NotFound("project", p.ID)
	}
	return nil
}

// DeleteProject implements project.Store.
func (s *Store) DeleteProject(ctx context.Context, id string) error {
	res := s.conn(ctx).Delete(&projectRow{ID: id})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return core.NotFound("project", id)
	}
	return nil
}

// GetProject implements project.Store.
func (s *Store) GetProject(ctx context.Context, id string) (project.Project, error) {
	var row projectRow
	err := take(s.conn(ctx).Where("id = ?", id), &row, "project", id)
	return row.toCore(), err
}

// ProjectExists implements inventory.Store.
func (s *Store) ProjectExists(ctx context.Context, id string) error {
	var n int64
	if err := s.conn(ctx).Model(&projectRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return core.NotFound("project", id)
	}
	return nil
}

// ProjectsByID returns those of ids that exist, keyed by ID.
func (s *Store) ProjectsByID(ctx context.Context, ids []string) (map[string]project.Project, error) {
	out := make(map[string]project.Project, len(ids))
	for _, chunk := range chunks(ids, 1000) {
		var rows []projectRow
		if err := s.conn(ctx).Where("id IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.ID] = r.toCore()
		}
	}
	return out, nil
}

func (s *Store) projectQuery(ctx context.Context, f project.Filter) *gorm.DB {
	q := s.conn(ctx).Model(&projectRow{})
	if f.Search != "" {
		q = q.Where("LOWER(projects.name) LIKE ? ESCAPE '!'", likeSubstring(f.Search))
	}
	switch {
	case f.IDs == nil:
	case len(f.IDs) == 0:
		q = q.Where("1 = 0")
	default:
		q = q.Where("projects.id IN ?", f.IDs)
	}
	return q
}

// ListProjects implements project.Store.
func (s *Store) ListProjects(ctx context.Context, f project.Filter, page core.PageArgs) (core.Page[project.Project], error) {
	var rows []projectRow
	if err := keyset(s.projectQuery(ctx, f), "projects", "name", page).Find(&rows).Error; err != nil {
		return core.Page[project.Project]{}, err
	}
	return toPage(rows, page, projectRow.toCore, func(r projectRow) (string, string) { return r.Name, r.ID }), nil
}

// CountProjects implements project.Store.
func (s *Store) CountProjects(ctx context.Context, f project.Filter) (int, error) {
	var n int64
	err := s.projectQuery(ctx, f).Count(&n).Error
	return int(n), err
}

// ProjectContents implements project.Store.
func (s *Store) ProjectContents(ctx context.Context, id string) (map[string]int, error) {
	out := map[string]int{}
	for noun, model := range map[string]any{"hosts": &hostRow{}, "host groups": &groupRow{}, "credentials": &credentialRow{}, "jobs": &jobRow{}, "runs": &runRow{}} {
		var n int64
		if err := s.conn(ctx).Model(model).Where("project_id = ?", id).Count(&n).Error; err != nil {
			return nil, err
		}
		out[noun] = int(n)
	}
	return out, nil
}

var _ project.Store = (*Store)(nil)
