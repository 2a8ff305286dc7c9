package job

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// Store is what the job service needs from storage.
type Store interface {
	core.Transactor
	// ProjectExists returns a *core.NotFoundError if there is no such project.
	ProjectExists(ctx context.Context, id string) error
	// CreateJob stores a new job and its first version (j.Version, j.Spec).
	// A name taken in the project is a *core.ConflictError on "name".
	CreateJob(ctx context.Context, j Job) error
	// UpdateJob stores j's name, description, version and UpdatedAt. With a
	// non-nil v it also stores v, which must be the version that follows the
	// job's latest (v.Version == j.Version): if another change came first,
	// it is a *core.ConflictError on "version".
	UpdateJob(ctx context.Context, j Job, v *Version) error
	// GetJob returns a job with its latest spec.
	GetJob(ctx context.Context, id string) (Job, error)
	// GetJobByName returns a project's job by name, or a *core.NotFoundError.
	GetJobByName(ctx context.Context, projectID, name string) (Job, error)
	GetJobVersion(ctx context.Context, jobID string, version int) (Version, error)
	// ListJobVersions orders by version, newest first.
	ListJobVersions(ctx context.Context, jobID string, page core.PageArgs) (core.Page[Version], error)
	// ListJobs orders by name, then ID.
	ListJobs(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Job], error)
	CountJobs(ctx context.Context, f Filter) (int, error)
	// DeleteJob removes a job and all its versions.
	DeleteJob(ctx context.Context, id string) error
}

// maxActorLen bounds CreatedBy and UpdatedBy: a user or token ID.
const maxActorLen = 64

// Filter narrows a job list.
type Filter struct {
	ProjectID string
	// Search matches a substring of the name, case-insensitively.
	Search string
}

// DeleteGuard may veto deleting a job by returning an error (a
// *core.ConflictError, say). It runs inside the deleting transaction.
type DeleteGuard func(ctx context.Context, jobID string) error

// Service creates, versions, lists, imports and exports job definitions.
type Service struct {
	store   Store
	schemas ActionSchemas
	now     func() time.Time
	guard   DeleteGuard
}

// NewService returns a Service over store that validates step parameters
// with schemas.
func NewService(store Store, schemas ActionSchemas) *Service {
	return &Service{store: store, schemas: schemas, now: core.Now}
}

// SetDeleteGuard installs the check Delete makes before deleting. Call it
// before the service is used.
//
// Runs will reference job versions, and a run's history must keep the
// definition it ran; the engine installs a guard that refuses to delete a
// job while runs reference it (CONFLICT). Until then a job deletes freely,
// with all its versions.
func (s *Service) SetDeleteGuard(g DeleteGuard) { s.guard = g }

// CreateInput is what a new job is made of.
type CreateInput struct {
	ProjectID   string
	Name        string
	Description string
	Spec        Spec
	// CreatedBy is the user (or token) making the change.
	CreatedBy string

	validated bool // Spec came out of ValidateSpec (ImportYAML)
}

// Create validates in and stores a new job at version 1.
func (s *Service) Create(ctx context.Context, in CreateInput) (Job, error) {
	if err := core.CheckID("projectId", core.KindProject, in.ProjectID); err != nil {
		return Job{}, err
	}
	now := s.now()
	j := Job{
		ID:          core.NewID(core.KindJob),
		ProjectID:   in.ProjectID,
		Name:        strings.TrimSpace(in.Name),
		Description: in.Description,
		Version:     1,
		CreatedAt:   now,
		UpdatedAt:   now,
		CreatedBy:   in.CreatedBy,
	}
	if err := j.validateIdentity(); err != nil {
		return Job{}, err
	}
	if len(in.CreatedBy) > maxActorLen {
		return Job{}, core.Invalid("createdBy", "must be at most %d bytes", maxActorLen)
	}
	spec := in.Spec
	if !in.validated {
		var err error
		if spec, err = ValidateSpec(ctx, in.Spec, s.schemas); err != nil {
			return Job{}, err
		}
	}
	j.Spec = spec
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ProjectExists(ctx, j.ProjectID); err != nil {
			return err
		}
		return s.store.CreateJob(ctx, j)
	})
	if err != nil {
		return Job{}, err
	}
	return j, nil
}

func (j *Job) validateIdentity() error {
	if err := core.CheckName("name", j.Name, MaxNameLen); err != nil {
		return err
	}
	return core.CheckText("description", j.Description, MaxDescriptionLen)
}

// UpdateInput changes a job. Nil fields stay as they are. A Spec that
// differs from the latest version's makes a new version.
type UpdateInput struct {
	ID          string
	Name        *string
	Description *string
	Spec        *Spec
	// IfVersion, when not 0, makes the update fail with CONFLICT unless the
	// job's latest version is still IfVersion: the editor saw the latest.
	IfVersion int
	// UpdatedBy is the user (or token) making the change; it is recorded
	// on the new version.
	UpdatedBy string

	validated bool // Spec came out of ValidateSpec (ImportYAML)
}

// Update applies in to the job it names.
func (s *Service) Update(ctx context.Context, in UpdateInput) (Job, error) {
	if err := core.CheckID("id", core.KindJob, in.ID); err != nil {
		return Job{}, err
	}
	if len(in.UpdatedBy) > maxActorLen {
		return Job{}, core.Invalid("updatedBy", "must be at most %d bytes", maxActorLen)
	}
	if in.IfVersion < 0 {
		return Job{}, core.Invalid("ifVersion", "must not be negative")
	}
	var spec Spec
	if in.Spec != nil && in.validated {
		spec = *in.Spec
	} else if in.Spec != nil {
		// Validate before the transaction: it may ask the plugins.
		var err error
		if spec, err = ValidateSpec(ctx, *in.Spec, s.schemas); err != nil {
			return Job{}, err
		}
	}
	var j Job
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if j, err = s.store.GetJob(ctx, in.ID); err != nil {
			return err
		}
		if in.IfVersion != 0 && in.IfVersion != j.Version {
			return core.Conflict("ifVersion", "the job is at version %d, not %d: reload it", j.Version, in.IfVersion)
		}
		changed := false
		if in.Name != nil {
			name := strings.TrimSpace(*in.Name)
			changed = changed || name != j.Name
			j.Name = name
		}
		if in.Description != nil {
			changed = changed || *in.Description != j.Description
			j.Description = *in.Description
		}
		if err := j.validateIdentity(); err != nil {
			return err
		}
		newVersion := false
		if in.Spec != nil {
			if newVersion, err = specChanged(j.Spec, spec); err != nil {
				return err
			}
		}
		if !changed && !newVersion {
			return nil
		}
		j.UpdatedAt = s.now()
		if newVersion {
			j.Version++
			j.Spec = spec
		}
		var v *Version
		if newVersion {
			v = &Version{JobID: j.ID, Version: j.Version, Spec: j.Spec, CreatedAt: j.UpdatedAt, CreatedBy: in.UpdatedBy}
		}
		return s.store.UpdateJob(ctx, j, v)
	})
	if err != nil {
		return Job{}, err
	}
	return j, nil
}

func specChanged(old, new Spec) (bool, error) {
	a, err := EncodeSpec(old)
	if err != nil {
		return false, err
	}
	b, err := EncodeSpec(new)
	if err != nil {
		return false, err
	}
	return !bytes.Equal(a, b), nil
}

// Get returns a job with its latest spec.
func (s *Service) Get(ctx context.Context, id string) (Job, error) {
	if err := core.CheckID("id", core.KindJob, id); err != nil {
		return Job{}, err
	}
	return s.store.GetJob(ctx, id)
}

// GetVersion returns one version of a job.
func (s *Service) GetVersion(ctx context.Context, id string, version int) (Version, error) {
	if err := core.CheckID("id", core.KindJob, id); err != nil {
		return Version{}, err
	}
	if version < 1 {
		return Version{}, core.Invalid("version", "must be at least 1, got %d", version)
	}
	return s.store.GetJobVersion(ctx, id, version)
}

// ListVersions returns one page of a job's versions, newest first.
func (s *Service) ListVersions(ctx context.Context, id string, page core.PageArgs) (core.Page[Version], error) {
	if err := core.CheckID("id", core.KindJob, id); err != nil {
		return core.Page[Version]{}, err
	}
	if err := page.Validate(); err != nil {
		return core.Page[Version]{}, err
	}
	if _, err := s.store.GetJob(ctx, id); err != nil {
		return core.Page[Version]{}, err
	}
	return s.store.ListJobVersions(ctx, id, page)
}

// List returns one page of a project's jobs, ordered by name.
func (s *Service) List(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Job], error) {
	if err := core.CheckID("projectId", core.KindProject, f.ProjectID); err != nil {
		return core.Page[Job]{}, err
	}
	if err := page.Validate(); err != nil {
		return core.Page[Job]{}, err
	}
	return s.store.ListJobs(ctx, f, page)
}

// Count counts the jobs f selects.
func (s *Service) Count(ctx context.Context, f Filter) (int, error) {
	if err := core.CheckID("projectId", core.KindProject, f.ProjectID); err != nil {
		return 0, err
	}
	return s.store.CountJobs(ctx, f)
}

// Delete removes a job and all its versions, unless the delete guard
// refuses (see SetDeleteGuard).
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := core.CheckID("id", core.KindJob, id); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.GetJob(ctx, id); err != nil {
			return err
		}
		if s.guard != nil {
			if err := s.guard(ctx, id); err != nil {
				return err
			}
		}
		return s.store.DeleteJob(ctx, id)
	})
}

// ImportYAML creates the job a YAML document defines in a project or, if
// the project has a job of that name, updates it: a new version when the
// spec differs from the latest, none when it is the same (so importing the
// same file twice changes nothing).
func (s *Service) ImportYAML(ctx context.Context, projectID string, data []byte, createdBy string) (Job, error) {
	if err := core.CheckID("projectId", core.KindProject, projectID); err != nil {
		return Job{}, err
	}
	def, err := Import(data)
	if err != nil {
		return Job{}, err
	}
	name := strings.TrimSpace(def.Name)
	if err := core.CheckName("name", name, MaxNameLen); err != nil {
		return Job{}, err
	}
	spec, err := ValidateSpec(ctx, def.Spec, s.schemas)
	if err != nil {
		return Job{}, err
	}
	var out Job
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ProjectExists(ctx, projectID); err != nil {
			return err
		}
		existing, err := s.store.GetJobByName(ctx, projectID, name)
		switch {
		case err == nil:
			out, err = s.Update(ctx, UpdateInput{ID: existing.ID, Description: &def.Description, Spec: &spec, UpdatedBy: createdBy, validated: true})
			return err
		case errors.Is(err, core.ErrNotFound):
			out, err = s.Create(ctx, CreateInput{ProjectID: projectID, Name: name, Description: def.Description, Spec: spec, CreatedBy: createdBy, validated: true})
			return err
		default:
			return err
		}
	})
	if err != nil {
		return Job{}, err
	}
	return out, nil
}

// ExportYAML returns a version of a job (0 for the latest) as YAML.
func (s *Service) ExportYAML(ctx context.Context, id string, version int) ([]byte, error) {
	j, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if version != 0 && version != j.Version {
		v, err := s.GetVersion(ctx, id, version)
		if err != nil {
			return nil, err
		}
		j.Spec, j.Version = v.Spec, v.Version
	}
	return Export(j)
}
