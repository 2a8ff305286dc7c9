package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/job"
)

type jobRow struct {
	ID            string `gorm:"primaryKey"`
	ProjectID     string
	Name          string
	Description   string
	LatestVersion int
	CreatedAt     time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt     time.Time `gorm:"autoUpdateTime:false"`
	CreatedBy     string
}

func (jobRow) TableName() string { return "jobs" }

type jobVersionRow struct {
	JobID     string    `gorm:"primaryKey"`
	Version   int       `gorm:"primaryKey;autoIncrement:false"`
	Spec      string    // job.EncodeSpec's JSON
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
	CreatedBy string
}

func (jobVersionRow) TableName() string { return "job_versions" }

// jobWithSpec is a job row joined with its latest version's spec.
type jobWithSpec struct {
	Job  jobRow `gorm:"embedded"`
	Spec string
}

func jobFromCore(j job.Job) jobRow {
	return jobRow{
		ID: j.ID, ProjectID: j.ProjectID, Name: j.Name, Description: j.Description, LatestVersion: j.Version,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, CreatedBy: j.CreatedBy,
	}
}

func versionFromCore(v job.Version) (jobVersionRow, error) {
	spec, err := job.EncodeSpec(v.Spec)
	if err != nil {
		return jobVersionRow{}, fmt.Errorf("job %s version %d: %w", v.JobID, v.Version, err)
	}
	return jobVersionRow{JobID: v.JobID, Version: v.Version, Spec: string(spec), CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy}, nil
}

func (jr jobWithSpec) toCore() (job.Job, error) {
	r := jr.Job
	spec, err := job.DecodeSpec([]byte(jr.Spec))
	if err != nil {
		return job.Job{}, fmt.Errorf("job %s version %d: %w", r.ID, r.LatestVersion, err)
	}
	return job.Job{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Description: r.Description, Version: r.LatestVersion,
		Spec: spec, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CreatedBy: r.CreatedBy,
	}, nil
}

func (r jobVersionRow) toCore() (job.Version, error) {
	spec, err := job.DecodeSpec([]byte(r.Spec))
	if err != nil {
		return job.Version{}, fmt.Errorf("job %s version %d: %w", r.JobID, r.Version, err)
	}
	return job.Version{JobID: r.JobID, Version: r.Version, Spec: spec, CreatedAt: r.CreatedAt.UTC(), CreatedBy: r.CreatedBy}, nil
}

func jobConflict(err error, name string) error {
	if isDuplicate(err) {
		return core.Conflict("name", "a job named %q already exists in this project", name)
	}
	return err
}

// CreateJob implements job.Store.
func (s *Store) CreateJob(ctx context.Context, j job.Job) error {
	v, err := versionFromCore(job.Version{JobID: j.ID, Version: j.Version, Spec: j.Spec, CreatedAt: j.CreatedAt, CreatedBy: j.CreatedBy})
	if err != nil {
		return err
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		row := jobFromCore(j)
		if err := s.conn(ctx).Create(&row).Error; err != nil {
			return jobConflict(err, j.Name)
		}
		return s.conn(ctx).Create(&v).Error
	})
}

// UpdateJob implements job.Store. The jobs row moves from the previous
// latest version to the new one only if it still is at the previous one, so
// two concurrent updates cannot both make version N+1.
func (s *Store) UpdateJob(ctx context.Context, j job.Job, v *job.Version) error {
	prev := j.Version
	var vrow jobVersionRow
	if v != nil {
		if v.Version != j.Version || v.JobID != j.ID {
			return fmt.Errorf("store: version %d of job %s does not match the job (%s, %d)", v.Version, v.JobID, j.ID, j.Version)
		}
		prev = j.Version - 1
		var err error
		if vrow, err = versionFromCore(*v); err != nil {
			return err
		}
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&jobRow{}).Where("id = ? AND latest_version = ?", j.ID, prev).
			Select("name", "description", "latest_version", "updated_at").Updates(jobFromCore(j))
		if res.Error != nil {
			return jobConflict(res.Error, j.Name)
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := s.conn(ctx).Model(&jobRow{}).Where("id = ?", j.ID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return core.NotFound("job", j.ID)
			}
			return core.Conflict("version", "job %s was changed at the same time; reload it and try again", j.ID)
		}
		if v == nil {
			return nil
		}
		if err := s.conn(ctx).Create(&vrow).Error; err != nil {
			if isDuplicate(err) {
				return core.Conflict("version", "job %s already has a version %d", j.ID, v.Version)
			}
			return err
		}
		return nil
	})
}

// jobQuery selects jobs with their latest spec.
func (s *Store) jobQuery(ctx context.Context) *gorm.DB {
	return s.conn(ctx).Model(&jobRow{}).Select("jobs.*, job_versions.spec").
		Joins("JOIN job_versions ON job_versions.job_id = jobs.id AND job_versions.version = jobs.latest_version")
}

func (s *Store) takeJob(q *gorm.DB, what string) (job.Job, error) {
	var row jobWithSpec
	err := take(q, &row, "job", what)
	if err != nil {
		return job.Job{}, err
	}
	return row.toCore()
}

// GetJob implements job.Store.
func (s *Store) GetJob(ctx context.Context, id string) (job.Job, error) {
	return s.takeJob(s.jobQuery(ctx).Where("jobs.id = ?", id), id)
}

// GetJobByName implements job.Store.
func (s *Store) GetJobByName(ctx context.Context, projectID, name string) (job.Job, error) {
	return s.takeJob(s.jobQuery(ctx).Where("jobs.project_id = ? AND jobs.name = ?", projectID, name), name)
}

// GetJobVersion implements job.Store.
func (s *Store) GetJobVersion(ctx context.Context, jobID string, version int) (job.Version, error) {
	var row jobVersionRow
	err := take(s.conn(ctx).Where("job_id = ? AND version = ?", jobID, version), &row, "job version", jobID+"@"+strconv.Itoa(version))
	if err != nil {
		return job.Version{}, err
	}
	return row.toCore()
}

// ListJobVersions implements job.Store. The cursor's key is the version
// number; the order is by version, newest first.
func (s *Store) ListJobVersions(ctx context.Context, jobID string, page core.PageArgs) (core.Page[job.Version], error) {
	q := s.conn(ctx).Where("job_id = ?", jobID)
	if page.After != "" {
		c, _ := core.DecodeCursor(page.After) // validated by PageArgs.Validate
		after, err := strconv.Atoi(c.Key)
		if err != nil || c.ID != jobID {
			return core.Page[job.Version]{}, core.Invalid("after", "malformed cursor")
		}
		q = q.Where("version < ?", after)
	}
	var rows []jobVersionRow
	if err := q.Order("version DESC").Limit(page.First + 1).Find(&rows).Error; err != nil {
		return core.Page[job.Version]{}, err
	}
	var convErr error
	p := toPage(rows, page, func(r jobVersionRow) job.Version {
		v, err := r.toCore()
		convErr = errors.Join(convErr, err)
		return v
	}, func(r jobVersionRow) (string, string) { return strconv.Itoa(r.Version), r.JobID })
	return p, convErr
}

func (s *Store) jobFilter(q *gorm.DB, f job.Filter) *gorm.DB {
	q = q.Where("jobs.project_id = ?", f.ProjectID)
	if f.Search != "" {
		q = q.Where("LOWER(jobs.name) LIKE ? ESCAPE '!'", likeSubstring(f.Search))
	}
	return q
}

// ListJobs implements job.Store.
func (s *Store) ListJobs(ctx context.Context, f job.Filter, page core.PageArgs) (core.Page[job.Job], error) {
	var rows []jobWithSpec
	if err := keyset(s.jobFilter(s.jobQuery(ctx), f), "jobs", "name", page).Find(&rows).Error; err != nil {
		return core.Page[job.Job]{}, err
	}
	var convErr error
	p := toPage(rows, page, func(r jobWithSpec) job.Job {
		j, err := r.toCore()
		convErr = errors.Join(convErr, err)
		return j
	}, func(r jobWithSpec) (string, string) { return r.Job.Name, r.Job.ID })
	return p, convErr
}

// CountJobs implements job.Store.
func (s *Store) CountJobs(ctx context.Context, f job.Filter) (int, error) {
	var n int64
	err := s.jobFilter(s.conn(ctx).Model(&jobRow{}), f).Count(&n).Error
	return int(n), err
}

// DeleteJob implements job.Store.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Where("job_id = ?", id).Delete(&jobVersionRow{}).Error; err != nil {
			return err
		}
		res := s.conn(ctx).Delete(&jobRow{ID: id})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return core.NotFound("job", id)
		}
		return nil
	})
}

var _ job.Store = (*Store)(nil)
