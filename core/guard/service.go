package guard

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// Store is what the guard service needs from storage. It keeps a project's
// own rules and which built-ins the project disabled; the built-ins
// themselves live in code.
type Store interface {
	core.Transactor
	// ProjectExists returns a *core.NotFoundError if there is no such project.
	ProjectExists(ctx context.Context, id string) error
	// CreateGuardRule stores a new rule. A name taken in the project is a
	// *core.ConflictError on "name".
	CreateGuardRule(ctx context.Context, r Rule) error
	// UpdateGuardRule stores every field of r but its project, creation
	// time and author; a *core.NotFoundError if it is gone.
	UpdateGuardRule(ctx context.Context, r Rule) error
	// DeleteGuardRule removes a rule, or returns a *core.NotFoundError.
	DeleteGuardRule(ctx context.Context, id string) error
	// GetGuardRule returns a stored rule, or a *core.NotFoundError.
	GetGuardRule(ctx context.Context, id string) (Rule, error)
	// ListGuardRules returns a project's rules ordered by name.
	ListGuardRules(ctx context.Context, projectID string) ([]Rule, error)
	// SetGuardBuiltinDisabled records (disabled) or forgets (!disabled)
	// that the project disabled the built-in rule ruleID. Either is
	// idempotent.
	SetGuardBuiltinDisabled(ctx context.Context, projectID, ruleID string, disabled bool, at time.Time, by string) error
	// GuardBuiltinsDisabled returns the IDs of the built-ins the project
	// disabled.
	GuardBuiltinsDisabled(ctx context.Context, projectID string) (map[string]bool, error)
}

// RoleValidator says whether a role exists; rbac.Authorizer implements it.
type RoleValidator interface {
	// ValidateRole returns a *core.ValidationError if role names no
	// project role.
	ValidateRole(role string) error
}

// maxActorLen bounds CreatedBy: a user or token ID.
const maxActorLen = 64

// maxCachedPatterns bounds the compiled-pattern cache; past it the cache
// starts again, which costs one compilation per rule.
const maxCachedPatterns = 4096

// Service manages a project's guard rules and checks runs against them.
type Service struct {
	store Store
	roles RoleValidator
	now   func() time.Time

	mu       sync.RWMutex
	compiled map[string]*regexp.Regexp // pattern → compiled
}

// NewService returns a Service over store that validates approver roles
// with roles (nil: any role is accepted, for tests of other parts).
func NewService(store Store, roles RoleValidator) *Service {
	return &Service{store: store, roles: roles, now: core.Now, compiled: map[string]*regexp.Regexp{}}
}

// CreateInput is what a new rule is made of.
type CreateInput struct {
	ProjectID string
	Name      string
	Pattern   string
	Severity  Severity
	// ApproverRole is for an approve rule ("" for DefaultApproverRole).
	ApproverRole string
	Description  string
	// Enabled is the new rule's state (nil: enabled).
	Enabled *bool
	// CreatedBy is the user (or token) making the change.
	CreatedBy string
}

// Create validates in and stores a new rule in its project.
func (s *Service) Create(ctx context.Context, in CreateInput) (Rule, error) {
	if err := core.CheckID("projectId", core.KindProject, in.ProjectID); err != nil {
		return Rule{}, err
	}
	if len(in.CreatedBy) > maxActorLen {
		return Rule{}, core.Invalid("createdBy", "must be at most %d bytes", maxActorLen)
	}
	now := s.now()
	r := Rule{
		ID: core.NewID(core.KindGuardRule), ProjectID: in.ProjectID, Name: strings.TrimSpace(in.Name),
		Pattern: in.Pattern, Severity: in.Severity, ApproverRole: in.ApproverRole, Description: in.Description,
		Enabled: in.Enabled == nil || *in.Enabled, CreatedAt: now, UpdatedAt: now, CreatedBy: in.CreatedBy,
	}
	if err := r.validate(s.roles); err != nil {
		return Rule{}, err
	}
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ProjectExists(ctx, r.ProjectID); err != nil {
			return err
		}
		return s.store.CreateGuardRule(ctx, r)
	})
	if err != nil {
		return Rule{}, err
	}
	s.remember(r.Pattern, r.re)
	return r, nil
}

// UpdateInput changes a project's rule. Nil fields stay as they are; a
// rule that becomes a block rule loses its approver role.
type UpdateInput struct {
	ID           string
	Name         *string
	Pattern      *string
	Severity     *Severity
	ApproverRole *string
	Description  *string
	Enabled      *bool
}

// Update validates and stores a change to a project's rule. Built-in rules
// cannot be edited, only disabled (SetEnabled).
func (s *Service) Update(ctx context.Context, in UpdateInput) (Rule, error) {
	if err := checkRuleID("id", in.ID); err != nil {
		return Rule{}, err
	}
	var r Rule
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if r, err = s.store.GetGuardRule(ctx, in.ID); err != nil {
			return err
		}
		if in.Name != nil {
			r.Name = strings.TrimSpace(*in.Name)
		}
		if in.Pattern != nil {
			r.Pattern = *in.Pattern
		}
		if in.Severity != nil {
			r.Severity = *in.Severity
			if r.Severity == SeverityBlock && in.ApproverRole == nil {
				r.ApproverRole = ""
			}
		}
		if in.ApproverRole != nil {
			r.ApproverRole = *in.ApproverRole
		}
		if in.Description != nil {
			r.Description = *in.Description
		}
		if in.Enabled != nil {
			r.Enabled = *in.Enabled
		}
		if err := r.validate(s.roles); err != nil {
			return err
		}
		r.UpdatedAt = s.now()
		return s.store.UpdateGuardRule(ctx, r)
	})
	if err != nil {
		return Rule{}, err
	}
	s.remember(r.Pattern, r.re)
	return r, nil
}

// Delete removes a project's rule. Built-in rules cannot be deleted, only
// disabled.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := checkRuleID("id", id); err != nil {
		return err
	}
	return s.store.DeleteGuardRule(ctx, id)
}

// Get returns a project's rule, or a built-in (enabled) by its ID.
func (s *Service) Get(ctx context.Context, id string) (Rule, error) {
	if b, ok := builtinByRef(id); ok && b.ID == id {
		return b, nil
	}
	if err := core.CheckID("id", core.KindGuardRule, id); err != nil {
		return Rule{}, err
	}
	return s.store.GetGuardRule(ctx, id)
}

// Rules returns what applies to a project: the built-ins, each with its
// state in the project, then the project's own rules by name.
func (s *Service) Rules(ctx context.Context, projectID string) ([]Rule, error) {
	if err := core.CheckID("projectId", core.KindProject, projectID); err != nil {
		return nil, err
	}
	var (
		disabled map[string]bool
		own      []Rule
	)
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ProjectExists(ctx, projectID); err != nil {
			return err
		}
		var err error
		if disabled, err = s.store.GuardBuiltinsDisabled(ctx, projectID); err != nil {
			return err
		}
		own, err = s.store.ListGuardRules(ctx, projectID)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := Builtins()
	for i := range out {
		out[i].Enabled = !disabled[out[i].ID]
	}
	return append(out, own...), nil
}

// SetEnabled enables or disables a rule in a project. ref is a rule's ID,
// or a built-in's name: a built-in is disabled for this project only.
func (s *Service) SetEnabled(ctx context.Context, projectID, ref string, enabled bool, by string) (Rule, error) {
	if err := core.CheckID("projectId", core.KindProject, projectID); err != nil {
		return Rule{}, err
	}
	if b, ok := builtinByRef(ref); ok {
		err := s.store.InTx(ctx, func(ctx context.Context) error {
			if err := s.store.ProjectExists(ctx, projectID); err != nil {
				return err
			}
			return s.store.SetGuardBuiltinDisabled(ctx, projectID, b.ID, !enabled, s.now(), by)
		})
		if err != nil {
			return Rule{}, err
		}
		b.Enabled = enabled
		return b, nil
	}
	if err := core.CheckID("rule", core.KindGuardRule, ref); err != nil {
		return Rule{}, core.Invalid("rule", "%q is neither a guard rule ID nor the name of a built-in rule", ref)
	}
	var r Rule
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if r, err = s.store.GetGuardRule(ctx, ref); err != nil {
			return err
		}
		if r.ProjectID != projectID {
			return core.NotFound(core.KindGuardRule.Noun(), ref)
		}
		if r.Enabled == enabled {
			return nil
		}
		r.Enabled, r.UpdatedAt = enabled, s.now()
		return s.store.UpdateGuardRule(ctx, r)
	})
	return r, err
}

// checkRuleID validates the ID of a project's rule: well formed, and not a
// built-in's.
func checkRuleID(field, id string) error {
	if b, ok := builtinByRef(id); ok && b.ID == id {
		return core.Invalid(field, "%q is the built-in rule %s: built-in rules cannot be edited or deleted, only disabled", id, b.Name)
	}
	return core.CheckID(field, core.KindGuardRule, id)
}

// active returns the rules to check in a project: the enabled built-ins,
// then the project's enabled rules, compiled.
//
// The project's rows are read on every call (one indexed query each for
// the rules and the disabled built-ins): with several server replicas, a
// cache of rules that only this process invalidates would keep checking a
// rule another replica changed. What costs is compiling, and the compiled
// patterns are cached by their text, so a rule is compiled once per
// process whatever changes around it.
func (s *Service) active(ctx context.Context, projectID string) ([]Rule, error) {
	var (
		disabled map[string]bool
		own      []Rule
	)
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if disabled, err = s.store.GuardBuiltinsDisabled(ctx, projectID); err != nil {
			return err
		}
		own, err = s.store.ListGuardRules(ctx, projectID)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Rule, 0, len(builtins)+len(own))
	for _, b := range builtins {
		if !disabled[b.ID] {
			out = append(out, b)
		}
	}
	for _, r := range own {
		if !r.Enabled {
			continue
		}
		re, err := s.compile(r.Pattern)
		if err != nil {
			// Saved patterns compiled when saved; one that no longer does
			// (a Go upgrade changed the syntax?) must not let runs
			// through unchecked, nor stop every run: it is skipped and the
			// API's listing shows it for someone to fix.
			continue
		}
		r.re = re
		out = append(out, r)
	}
	// Block rules first, so that the matches come out in that order.
	slices.SortStableFunc(out, func(a, b Rule) int { return severityRank(a.Severity) - severityRank(b.Severity) })
	return out, nil
}

func severityRank(s Severity) int {
	if s == SeverityBlock {
		return 0
	}
	return 1
}

// compile returns the compiled pattern, from the cache when it can.
func (s *Service) compile(p string) (*regexp.Regexp, error) {
	s.mu.RLock()
	re, ok := s.compiled[p]
	s.mu.RUnlock()
	if ok {
		return re, nil
	}
	re, err := compilePattern(p)
	if err != nil {
		return nil, err
	}
	s.remember(p, re)
	return re, nil
}

func (s *Service) remember(p string, re *regexp.Regexp) {
	if re == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.compiled) >= maxCachedPatterns {
		clear(s.compiled)
	}
	s.compiled[p] = re
}
