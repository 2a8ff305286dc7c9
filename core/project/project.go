// Package project manages projects, the unit of ownership in jobgraph: every
// host, group, credential, job and run belongs to exactly one project, and
// access is granted per project.
package project

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// Limits on project fields.
const (
	MaxNameLen        = 63
	MaxDescriptionLen = 4096
	// MaxMaxConcurrentRuns bounds MaxConcurrentRuns.
	MaxMaxConcurrentRuns = 10000
)

// Project is the unit of ownership and of access control.
type Project struct {
	ID          string
	Name        string
	Description string
	// MaxConcurrentRuns caps how many of the project's runs run at once
	// (0, the default: no cap); the engine keeps the others queued.
	MaxConcurrentRuns int
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Filter narrows a project list.
type Filter struct {
	// Search matches a substring of the name, case-insensitively.
	Search string
	// IDs, when not nil, keeps only these projects (the ones a caller may
	// see); an empty, non-nil IDs keeps none.
	IDs []string
}

// Store is what the project service needs from storage.
type Store interface {
	core.Transactor
	CreateProject(ctx context.Context, p Project) error
	UpdateProject(ctx context.Context, p Project) error
	DeleteProject(ctx context.Context, id string) error
	GetProject(ctx context.Context, id string) (Project, error)
	// ProjectsByID returns those of ids that exist, keyed by ID.
	ProjectsByID(ctx context.Context, ids []string) (map[string]Project, error)
	ListProjects(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Project], error)
	CountProjects(ctx context.Context, f Filter) (int, error)
	// ProjectContents counts what a project still holds, by noun ("hosts": 3).
	ProjectContents(ctx context.Context, id string) (map[string]int, error)
}

// Members keeps who holds which role in a project; *rbac.Authorizer is one.
// Its methods join the transaction in ctx.
type Members interface {
	// Assign gives the user a role in the project.
	Assign(ctx context.Context, userID, projectID, role string) error
	// RemoveProject drops every role held in the project.
	RemoveProject(ctx context.Context, projectID string) error
}

// OwnerRole is the role the creator of a project receives.
const OwnerRole = "owner"

// Service creates, changes and lists projects.
type Service struct {
	store   Store
	members Members
	now     func() time.Time
}

// NewService returns a Service over store. members may be nil when nothing
// tracks roles (tests of storage alone).
func NewService(store Store, members Members) *Service {
	return &Service{store: store, members: members, now: core.Now}
}

// CreateInput is what a new project is made of.
type CreateInput struct {
	Name              string
	Description       string
	MaxConcurrentRuns int
	// OwnerID, if set, is the user who becomes the project's owner, in the
	// same transaction.
	OwnerID string
}

// Create validates in and stores a new project.
func (s *Service) Create(ctx context.Context, in CreateInput) (Project, error) {
	now := s.now()
	p := Project{
		ID:          core.NewID(core.KindProject),
		Name:        strings.TrimSpace(in.Name),
		Description: in.Description,
		// Checked by validate below, before anything is stored.
		MaxConcurrentRuns: in.MaxConcurrentRuns,
		CreatedAt:         now,
		UpdatedAt:         now,
	}
	if err := p.validate(); err != nil {
		return Project{}, err
	}
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateProject(ctx, p); err != nil {
			return err
		}
		if in.OwnerID != "" && s.members != nil {
			return s.members.Assign(ctx, in.OwnerID, p.ID, OwnerRole)
		}
		return nil
	})
	if err != nil {
		return Project{}, err
	}
	return p, nil
}

// UpdateInput changes a project; nil fields stay as they are.
type UpdateInput struct {
	ID                string
	Name              *string
	Description       *string
	MaxConcurrentRuns *int
}

// Update applies in to the project it names.
func (s *Service) Update(ctx context.Context, in UpdateInput) (Project, error) {
	if err := core.CheckID("id", core.KindProject, in.ID); err != nil {
		return Project{}, err
	}
	var p Project
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if p, err = s.store.GetProject(ctx, in.ID); err != nil {
			return err
		}
		if in.Name != nil {
			p.Name = strings.TrimSpace(*in.Name)
		}
		if in.Description != nil {
			p.Description = *in.Description
		}
		if in.MaxConcurrentRuns != nil {
			p.MaxConcurrentRuns = *in.MaxConcurrentRuns
		}
		if err := p.validate(); err != nil {
			return err
		}
		p.UpdatedAt = s.now()
		return s.store.UpdateProject(ctx, p)
	})
	return p, err
}

// Delete removes an empty project. A project that still holds runs, jobs,
// hosts, groups or credentials is not deleted (CONFLICT): deleting a fleet's inventory is
// never a side effect.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := core.CheckID("id", core.KindProject, id); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.GetProject(ctx, id); err != nil {
			return err
		}
		contents, err := s.store.ProjectContents(ctx, id)
		if err != nil {
			return err
		}
		var held []string
		for _, noun := range []string{"runs", "jobs", "hosts", "host groups", "credentials"} {
			if n := contents[noun]; n > 0 {
				held = append(held, fmt.Sprintf("%d %s", n, noun))
			}
		}
		if len(held) > 0 {
			return core.Conflict("id", "project still holds %s; delete them first", strings.Join(held, ", "))
		}
		if s.members != nil {
			if err := s.members.RemoveProject(ctx, id); err != nil {
				return err
			}
		}
		return s.store.DeleteProject(ctx, id)
	})
}

// Get returns one project.
func (s *Service) Get(ctx context.Context, id string) (Project, error) {
	if err := core.CheckID("id", core.KindProject, id); err != nil {
		return Project{}, err
	}
	return s.store.GetProject(ctx, id)
}

// ByIDs returns those of ids that exist, keyed by ID (for batch loading).
func (s *Service) ByIDs(ctx context.Context, ids []string) (map[string]Project, error) {
	return s.store.ProjectsByID(ctx, ids)
}

// List returns one page of projects ordered by name.
func (s *Service) List(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Project], error) {
	if err := page.Validate(); err != nil {
		return core.Page[Project]{}, err
	}
	return s.store.ListProjects(ctx, f, page)
}

// Count counts the projects f selects.
func (s *Service) Count(ctx context.Context, f Filter) (int, error) {
	return s.store.CountProjects(ctx, f)
}

func (p Project) validate() error {
	if err := core.CheckName("name", p.Name, MaxNameLen); err != nil {
		return err
	}
	if err := core.CheckText("description", p.Description, MaxDescriptionLen); err != nil {
		return err
	}
	if p.MaxConcurrentRuns < 0 || p.MaxConcurrentRuns > MaxMaxConcurrentRuns {
		return core.Invalid("maxConcurrentRuns", "must be between 0 (no limit) and %d, got %d", MaxMaxConcurrentRuns, p.MaxConcurrentRuns)
	}
	return nil
}
