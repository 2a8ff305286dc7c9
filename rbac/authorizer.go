package rbac

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"

	"github.com/jobgraph/jobgraph/core"
)

// casbinModel is RBAC with domains. A grouping in domain "*" (the system
// admin's) applies in every domain; so does a policy in domain "*".
const casbinModel = `
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, dom, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "*")) && (p.dom == "*" || p.dom == r.dom) && (p.act == "*" || p.act == r.act)
`

// Rule is one casbin rule as stored: "p" (role, domain, permission) or "g"
// (user, role, domain).
type Rule struct {
	PType      string
	V0, V1, V2 string
}

// Store is what the authorizer needs from storage.
type Store interface {
	core.Transactor
	LoadRules(ctx context.Context) ([]Rule, error)
	AddRule(ctx context.Context, r Rule) error
	RemoveRules(ctx context.Context, match Rule) (int, error)
	PolicyVersion(ctx context.Context) (int64, error)
	BumpPolicyVersion(ctx context.Context) error
	// ProjectOf returns the project an object (by ID) belongs to, or a
	// *core.NotFoundError.
	ProjectOf(ctx context.Context, id string) (string, error)
	ProjectExists(ctx context.Context, id string) error
}

// Subject is who asks: a user, possibly through a token that narrows what
// the user may do. The zero Subject is anonymous.
type Subject struct {
	UserID string
	// TokenProjectID limits a token to one project ("" for none).
	TokenProjectID string
	// TokenRole limits a token to one role's permissions ("" for none).
	TokenRole string
}

// Anonymous reports whether no one is authenticated.
func (s Subject) Anonymous() bool { return s.UserID == "" }

func (s Subject) casbinSubject() string { return "user:" + s.UserID }

const systemDomain = "*"

// Options configure an Authorizer.
type Options struct {
	Logger *slog.Logger
	// PollInterval is how often Start checks the policy version for changes
	// made by other replicas. Default 2s.
	PollInterval time.Duration
}

// Authorizer answers permission questions and changes role assignments.
// It is safe for concurrent use.
type Authorizer struct {
	store Store
	log   *slog.Logger
	poll  time.Duration
	enf   *casbin.SyncedEnforcer

	mu      sync.Mutex // serialises reloads
	version int64

	stop    chan struct{}
	done    chan struct{}
	started chan struct{}
	once    sync.Once
}

// New loads the policies and returns an Authorizer.
func New(ctx context.Context, store Store, opts Options) (*Authorizer, error) {
	m, err := model.NewModelFromString(casbinModel)
	if err != nil {
		return nil, fmt.Errorf("rbac model: %w", err)
	}
	a := &Authorizer{store: store, log: opts.Logger, poll: opts.PollInterval,
		stop: make(chan struct{}), done: make(chan struct{}), started: make(chan struct{})}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("component", "rbac")
	if a.poll <= 0 {
		a.poll = 2 * time.Second
	}
	a.enf, err = casbin.NewSyncedEnforcer(m, &adapter{store: store})
	if err != nil {
		return nil, fmt.Errorf("rbac enforcer: %w", err)
	}
	a.enf.EnableAutoSave(false) // writes go through Store in the caller's transaction
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the policies from the store.
func (a *Authorizer) Reload(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, err := a.store.PolicyVersion(ctx)
	if err != nil {
		return fmt.Errorf("read policy version: %w", err)
	}
	if err := a.enf.LoadPolicy(); err != nil {
		return fmt.Errorf("load policies: %w", err)
	}
	a.version = v
	return nil
}

// Start watches the policy version until Stop, reloading when another
// replica changed the policies.
func (a *Authorizer) Start(ctx context.Context) error {
	go func() {
		defer close(a.done)
		t := time.NewTicker(a.poll)
		defer t.Stop()
		close(a.started)
		for {
			select {
			case <-a.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				a.reloadIfChanged(ctx)
			}
		}
	}()
	return nil
}

// Started is closed once Start's loop runs.
func (a *Authorizer) Started() <-chan struct{} { return a.started }

// Stop ends the watch started by Start. It is idempotent and safe before Start.
func (a *Authorizer) Stop() {
	a.once.Do(func() { close(a.stop) })
	select {
	case <-a.started:
		<-a.done
	default:
	}
}

// reloadIfChanged reloads the policies if their version moved, and reports
// whether it did.
func (a *Authorizer) reloadIfChanged(ctx context.Context) bool {
	v, err := a.store.PolicyVersion(ctx)
	if err != nil {
		a.log.Warn("cannot read policy version", "err", err)
		return false
	}
	a.mu.Lock()
	changed := v != a.version
	a.mu.Unlock()
	if !changed {
		return false
	}
	if err := a.Reload(ctx); err != nil {
		a.log.Warn("cannot reload policies", "err", err)
		return false
	}
	return true
}

// Allowed reports whether s holds permission p in projectID ("" for a
// system permission).
func (a *Authorizer) Allowed(s Subject, projectID string, p Permission) bool {
	if s.Anonymous() {
		return false
	}
	dom := projectID
	if dom == "" || p.System() {
		dom = systemDomain
	}
	if s.TokenProjectID != "" && s.TokenProjectID != dom {
		return false
	}
	if s.TokenRole != "" && !a.roleHas(s.TokenRole, p) {
		return false
	}
	ok, err := a.enf.Enforce(s.casbinSubject(), dom, string(p))
	if err != nil {
		a.log.Error("enforce", "err", err)
		return false
	}
	return ok
}

// canSee reports whether s may see the project at all.
func (a *Authorizer) canSee(s Subject, projectID string) bool {
	return a.Allowed(s, projectID, ProjectRead)
}

// Check returns nil if s holds p in projectID, and otherwise the error to
// show: core.ErrUnauthenticated for an anonymous subject, a NOT_FOUND for a
// project s may not see (or that does not exist), core.ErrForbidden else.
func (a *Authorizer) Check(ctx context.Context, s Subject, projectID string, p Permission) error {
	if s.Anonymous() {
		return core.ErrUnauthenticated
	}
	// Before refusing, make sure the policies are current: a role granted
	// through another replica a moment ago must not be refused here until
	// the next poll. A refusal costs one small query; an allowed check none.
	allowed := func(projectID string) bool {
		if a.Allowed(s, projectID, p) {
			return true
		}
		return a.reloadIfChanged(ctx) && a.Allowed(s, projectID, p)
	}
	if p.System() || projectID == "" {
		if allowed("") {
			return nil
		}
		return &DeniedError{Permission: p}
	}
	if allowed(projectID) {
		return a.store.ProjectExists(ctx, projectID)
	}
	if !a.canSee(s, projectID) {
		return core.NotFound("project", projectID)
	}
	return &DeniedError{Permission: p, ProjectID: projectID}
}

// CheckObject is Check for the project that the object with ID id belongs to.
// An object in a project s may not see is reported as not found.
func (a *Authorizer) CheckObject(ctx context.Context, s Subject, id string, p Permission) error {
	if s.Anonymous() {
		return core.ErrUnauthenticated
	}
	projectID, err := a.store.ProjectOf(ctx, id)
	if err != nil {
		return err
	}
	if err := a.Check(ctx, s, projectID, p); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return core.NotFound(core.KindOf(id).Noun(), id)
		}
		return err
	}
	return nil
}

// ProjectOf returns the project that the object with ID id belongs to (a
// project's own ID for a project), or a *core.NotFoundError.
func (a *Authorizer) ProjectOf(ctx context.Context, id string) (string, error) {
	return a.store.ProjectOf(ctx, id)
}

// DeniedError reports a missing permission. It Is core.ErrForbidden.
type DeniedError struct {
	Permission Permission
	ProjectID  string
}

func (e *DeniedError) Error() string {
	if e.ProjectID == "" {
		return fmt.Sprintf("forbidden: requires permission %s", e.Permission)
	}
	return fmt.Sprintf("forbidden: requires permission %s in project %s", e.Permission, e.ProjectID)
}

// Is makes errors.Is(err, core.ErrForbidden) true.
func (e *DeniedError) Is(target error) bool { return target == core.ErrForbidden }

// VisibleProjects returns the projects s may see: all of them (for an
// admin), or the listed ones.
func (a *Authorizer) VisibleProjects(s Subject) (all bool, ids []string) {
	ids = []string{}
	switch {
	case s.Anonymous():
		return false, ids
	case s.TokenProjectID != "":
		if a.Allowed(s, s.TokenProjectID, ProjectRead) {
			ids = append(ids, s.TokenProjectID)
		}
		return false, ids
	case a.IsAdmin(s.UserID):
		return true, nil
	}
	for _, asg := range a.RolesOf(s.UserID) {
		if asg.ProjectID != systemDomain && !slices.Contains(ids, asg.ProjectID) && a.Allowed(s, asg.ProjectID, ProjectRead) {
			ids = append(ids, asg.ProjectID)
		}
	}
	return false, ids
}

// IsAdmin reports whether the user holds the system admin role.
func (a *Authorizer) IsAdmin(userID string) bool {
	ok, _ := a.enf.HasGroupingPolicy("user:"+userID, "role:"+RoleAdmin, systemDomain)
	return ok
}

// Assignment is a role held by a user in a project ("*" for system-wide).
type Assignment struct {
	UserID    string
	Role      string
	ProjectID string
}

func assignmentsOf(rules [][]string) []Assignment {
	out := make([]Assignment, 0, len(rules))
	for _, r := range rules {
		if len(r) < 3 {
			continue
		}
		out = append(out, Assignment{UserID: strings.TrimPrefix(r[0], "user:"), Role: strings.TrimPrefix(r[1], "role:"), ProjectID: r[2]})
	}
	slices.SortFunc(out, func(x, y Assignment) int {
		return strings.Compare(x.ProjectID+"\x00"+x.UserID+"\x00"+x.Role, y.ProjectID+"\x00"+y.UserID+"\x00"+y.Role)
	})
	return out
}

// RolesOf lists the roles a user holds.
func (a *Authorizer) RolesOf(userID string) []Assignment {
	rules, _ := a.enf.GetFilteredGroupingPolicy(0, "user:"+userID)
	return assignmentsOf(rules)
}

// Members lists the role assignments in a project.
func (a *Authorizer) Members(projectID string) []Assignment {
	rules, _ := a.enf.GetFilteredGroupingPolicy(2, projectID)
	return assignmentsOf(rules)
}

// Assign gives a user a role in a project, in the transaction in ctx.
func (a *Authorizer) Assign(ctx context.Context, userID, projectID, role string) error {
	if err := core.CheckID("projectId", core.KindProject, projectID); err != nil {
		return err
	}
	if err := a.ValidateRole(role); err != nil {
		return err
	}
	return a.change(ctx, func(ctx context.Context) error {
		if err := a.store.ProjectExists(ctx, projectID); err != nil {
			return err
		}
		return a.store.AddRule(ctx, Rule{PType: "g", V0: "user:" + userID, V1: "role:" + role, V2: projectID})
	})
}

// Unassign takes a role from a user in a project.
func (a *Authorizer) Unassign(ctx context.Context, userID, projectID, role string) error {
	return a.change(ctx, func(ctx context.Context) error {
		n, err := a.store.RemoveRules(ctx, Rule{PType: "g", V0: "user:" + userID, V1: "role:" + role, V2: projectID})
		if err == nil && n == 0 {
			err = core.NotFound("role assignment", role)
		}
		return err
	})
}

// GrantAdmin makes a user a system admin.
func (a *Authorizer) GrantAdmin(ctx context.Context, userID string) error {
	return a.change(ctx, func(ctx context.Context) error {
		return a.store.AddRule(ctx, Rule{PType: "g", V0: "user:" + userID, V1: "role:" + RoleAdmin, V2: systemDomain})
	})
}

// RevokeAdmin takes the system admin role from a user.
func (a *Authorizer) RevokeAdmin(ctx context.Context, userID string) error {
	return a.Unassign(ctx, userID, systemDomain, RoleAdmin)
}

// RemoveProject drops every assignment in a project (when it is deleted).
func (a *Authorizer) RemoveProject(ctx context.Context, projectID string) error {
	return a.change(ctx, func(ctx context.Context) error {
		_, err := a.store.RemoveRules(ctx, Rule{PType: "g", V2: projectID})
		return err
	})
}

// Roles lists the built-in project roles and the custom ones, by name.
func (a *Authorizer) Roles() []Role {
	roles := builtInRoles()
	custom := map[string][]Permission{}
	rules, _ := a.enf.GetPolicy()
	for _, r := range rules {
		name, ok := strings.CutPrefix(r[0], "role:")
		if !ok || isBuiltIn(name) {
			continue
		}
		custom[name] = append(custom[name], Permission(r[2]))
	}
	for name, perms := range custom {
		slices.Sort(perms)
		roles = append(roles, Role{Name: name, Permissions: perms})
	}
	slices.SortFunc(roles, func(x, y Role) int { return strings.Compare(x.Name, y.Name) })
	return roles
}

// Role returns one role by name.
func (a *Authorizer) Role(name string) (Role, bool) {
	for _, r := range a.Roles() {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}

// ValidateRole checks that role names a project role (built-in or custom).
func (a *Authorizer) ValidateRole(role string) error {
	if role == RoleAdmin {
		return core.Invalid("role", "admin is a system role; grant it with grantAdmin")
	}
	if _, ok := a.Role(role); !ok {
		return core.Invalid("role", "no role %q", role)
	}
	return nil
}

// DefineRole creates or replaces a custom role.
func (a *Authorizer) DefineRole(ctx context.Context, name string, perms []Permission) (Role, error) {
	if err := checkRoleName(name); err != nil {
		return Role{}, err
	}
	if len(perms) == 0 {
		return Role{}, core.Invalid("permissions", "a role needs at least one permission")
	}
	for _, p := range perms {
		if !p.Known() {
			return Role{}, core.Invalid("permissions", "unknown permission %q", p)
		}
		if p.System() {
			return Role{}, core.Invalid("permissions", "%s is a system permission; only admins hold it", p)
		}
	}
	perms = slices.Clone(perms)
	slices.Sort(perms)
	perms = slices.Compact(perms)
	err := a.change(ctx, func(ctx context.Context) error {
		if _, err := a.store.RemoveRules(ctx, Rule{PType: "p", V0: "role:" + name}); err != nil {
			return err
		}
		for _, p := range perms {
			if err := a.store.AddRule(ctx, Rule{PType: "p", V0: "role:" + name, V1: systemDomain, V2: string(p)}); err != nil {
				return err
			}
		}
		return nil
	})
	return Role{Name: name, Permissions: perms}, err
}

// DeleteRole deletes a custom role that no one holds.
func (a *Authorizer) DeleteRole(ctx context.Context, name string) error {
	if isBuiltIn(name) {
		return core.Invalid("name", "%q is a built-in role", name)
	}
	if _, ok := a.Role(name); !ok {
		return core.NotFound("role", name)
	}
	if holders, _ := a.enf.GetFilteredGroupingPolicy(1, "role:"+name); len(holders) > 0 {
		return core.Conflict("name", "role %q is held by %d assignments; revoke them first", name, len(holders))
	}
	return a.change(ctx, func(ctx context.Context) error {
		_, err := a.store.RemoveRules(ctx, Rule{PType: "p", V0: "role:" + name})
		return err
	})
}

// change runs fn in the caller's transaction with a policy version bump,
// and reloads the enforcer once that transaction has committed.
func (a *Authorizer) change(ctx context.Context, fn func(ctx context.Context) error) error {
	return a.store.InTx(ctx, func(ctx context.Context) error {
		if err := fn(ctx); err != nil {
			return err
		}
		if err := a.store.BumpPolicyVersion(ctx); err != nil {
			return err
		}
		a.store.AfterCommit(ctx, func() {
			if err := a.Reload(context.Background()); err != nil {
				a.log.Error("cannot reload policies after a change", "err", err)
			}
		})
		return nil
	})
}

func (a *Authorizer) roleHas(role string, p Permission) bool {
	if role == RoleAdmin {
		return true
	}
	r, ok := a.Role(role)
	return ok && slices.Contains(r.Permissions, p)
}

func isBuiltIn(name string) bool {
	return name == RoleAdmin || slices.ContainsFunc(builtInRoles(), func(r Role) bool { return r.Name == name })
}

// adapter reads the policies from the store for casbin, adding the built-in
// roles' policies, which live in code. Writes never go through casbin.
type adapter struct{ store Store }

var _ persist.Adapter = (*adapter)(nil)

func (ad *adapter) LoadPolicy(m model.Model) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rules, err := ad.store.LoadRules(ctx)
	if err != nil {
		return err
	}
	lines := [][]string{{"p", "role:" + RoleAdmin, systemDomain, "*"}}
	for _, r := range builtInRoles() {
		for _, p := range r.Permissions {
			lines = append(lines, []string{"p", "role:" + r.Name, systemDomain, string(p)})
		}
	}
	for _, r := range rules {
		lines = append(lines, []string{r.PType, r.V0, r.V1, r.V2})
	}
	for _, l := range lines {
		if err := persist.LoadPolicyArray(l, m); err != nil {
			return err
		}
	}
	return nil
}

var errReadOnly = errors.New("rbac: policies are changed through the Authorizer, not the casbin adapter")

func (ad *adapter) SavePolicy(model.Model) error                              { return errReadOnly }
func (ad *adapter) AddPolicy(string, string, []string) error                  { return errReadOnly }
func (ad *adapter) RemovePolicy(string, string, []string) error               { return errReadOnly }
func (ad *adapter) RemoveFilteredPolicy(string, string, int, ...string) error { return errReadOnly }

// HasRole reports whether the user holds role in projectID, or a role there
// that includes every permission of role (an owner counts for an
// operator, not the other way round); the system admin holds every role
// everywhere. Approvals (core/approval) ask for a role, not a permission.
func (a *Authorizer) HasRole(userID, projectID, role string) bool {
	if userID == "" {
		return false
	}
	if a.IsAdmin(userID) {
		return true
	}
	want, ok := a.Role(role)
	if !ok {
		return false
	}
	rules, _ := a.enf.GetFilteredGroupingPolicy(0, "user:"+userID, "", projectID)
	for _, r := range rules {
		held := strings.TrimPrefix(r[1], "role:")
		if held == role {
			return true
		}
		if h, ok := a.Role(held); ok && !slices.ContainsFunc(want.Permissions, func(p Permission) bool { return !slices.Contains(h.Permissions, p) }) {
			return true
		}
	}
	return false
}
