package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/plugins/host"
	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/rbac"
)

// This file maps core types to API models and back. Resolvers call these and
// nothing else converts.

// osToModel and the other enum tables are checked for completeness against
// the core's lists by convert_test.go.
var osToModel = map[inventory.OS]model.Os{
	inventory.OSLinux:   model.OsLinux,
	inventory.OSWindows: model.OsWindows,
	inventory.OSDarwin:  model.OsDarwin,
	inventory.OSOther:   model.OsOther,
}

var credentialKindToModel = map[inventory.CredentialKind]model.CredentialKind{
	inventory.CredentialSSHKey:      model.CredentialKindSSHKey,
	inventory.CredentialPassword:    model.CredentialKindPassword,
	inventory.CredentialToken:       model.CredentialKindToken,
	inventory.CredentialDatabaseDSN: model.CredentialKindDatabaseDsn,
}

func reverse[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

var (
	osFromModel             = reverse(osToModel)
	credentialKindFromModel = reverse(credentialKindToModel)
)

func osFromModelPtr(o *model.Os) inventory.OS {
	if o == nil {
		return ""
	}
	return osFromModel[*o]
}

func toModelProject(p project.Project) *model.Project {
	return &model.Project{ID: p.ID, Name: p.Name, Description: p.Description, MaxConcurrentRuns: p.MaxConcurrentRuns,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func toModelHost(h inventory.Host) *model.Host {
	m := &model.Host{
		ID: h.ID, Name: h.Name, Address: h.Address, Port: h.Port, Os: osToModel[h.OS],
		DefaultExecutor: optional(h.DefaultExecutor), CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt,
		ProjectID: h.ProjectID, DefaultCredentialID: h.DefaultCredentialID,
		Labels: make([]*model.Label, 0, len(h.Labels)),
	}
	for k, v := range h.Labels {
		m.Labels = append(m.Labels, &model.Label{Key: k, Value: v})
	}
	slices.SortFunc(m.Labels, func(a, b *model.Label) int { return strings.Compare(a.Key, b.Key) })
	return m
}

func toModelHostGroup(g inventory.HostGroup) *model.HostGroup {
	m := &model.HostGroup{
		ID: g.ID, Name: g.Name, Description: g.Description, Kind: model.HostGroupKindStatic,
		CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, ProjectID: g.ProjectID, Group: g,
	}
	if g.Selector != nil {
		m.Kind = model.HostGroupKindSelector
		m.Selector = optional(g.Selector.String())
	}
	return m
}

func toModelCredential(c inventory.Credential) *model.Credential {
	return &model.Credential{
		ID: c.ID, Name: c.Name, Kind: credentialKindToModel[c.Kind], Username: optional(c.Username),
		Description: c.Description, Fingerprint: optional(c.Fingerprint),
		SecretUpdatedAt: c.SecretUpdatedAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, ProjectID: c.ProjectID,
	}
}

// labelsFromModel turns label input into a map; nil input stays nil ("not
// given"), and a key given twice is an error rather than a silent overwrite.
func labelsFromModel(in []*model.LabelInput) (map[string]string, error) {
	if in == nil {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for _, l := range in {
		if _, dup := out[l.Key]; dup {
			return nil, core.Invalid("labels", "label %q is given twice", l.Key)
		}
		out[l.Key] = l.Value
	}
	return out, nil
}

func pageArgs(first *int, after *string) core.PageArgs {
	return core.PageArgs{First: deref(first), After: deref(after)}
}

func pageInfo[T any](p core.Page[T]) *model.PageInfo {
	info := &model.PageInfo{HasNextPage: p.HasNext}
	if n := len(p.Cursors); n > 0 {
		info.StartCursor, info.EndCursor = &p.Cursors[0], &p.Cursors[n-1]
	}
	return info
}

// edges turns a page into connection edges.
func edges[T, E any](p core.Page[T], edge func(cursor string, item T) E) []E {
	out := make([]E, len(p.Items))
	for i, item := range p.Items {
		out[i] = edge(p.Cursors[i], item)
	}
	return out
}

func toProjectConnection(p core.Page[project.Project], count model.Counter) *model.ProjectConnection {
	return &model.ProjectConnection{PageInfo: pageInfo(p), Count: count, Edges: edges(p, func(c string, item project.Project) *model.ProjectEdge {
		return &model.ProjectEdge{Cursor: c, Node: toModelProject(item)}
	})}
}

func toHostConnection(p core.Page[inventory.Host], count model.Counter) *model.HostConnection {
	return &model.HostConnection{PageInfo: pageInfo(p), Count: count, Edges: edges(p, func(c string, item inventory.Host) *model.HostEdge {
		return &model.HostEdge{Cursor: c, Node: toModelHost(item)}
	})}
}

func toHostGroupConnection(p core.Page[inventory.HostGroup], count model.Counter) *model.HostGroupConnection {
	return &model.HostGroupConnection{PageInfo: pageInfo(p), Count: count, Edges: edges(p, func(c string, item inventory.HostGroup) *model.HostGroupEdge {
		return &model.HostGroupEdge{Cursor: c, Node: toModelHostGroup(item)}
	})}
}

func toCredentialConnection(p core.Page[inventory.Credential], count model.Counter) *model.CredentialConnection {
	return &model.CredentialConnection{PageInfo: pageInfo(p), Count: count, Edges: edges(p, func(c string, item inventory.Credential) *model.CredentialEdge {
		return &model.CredentialEdge{Cursor: c, Node: toModelCredential(item)}
	})}
}

// counter adapts a count function to a connection's lazy totalCount.
func counter[F any](f F, count func(context.Context, F) (int, error)) model.Counter {
	return func(ctx context.Context) (int, error) { return count(ctx, f) }
}

// omittable turns gqlgen's "absent / null / value" into the core's Optional.
func omittable[T any](o graphql.Omittable[*T]) core.Optional[T] {
	v, set := o.ValueOK()
	if !set {
		return core.Optional[T]{}
	}
	return core.Optional[T]{Set: true, Value: v}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// ---- identity, roles and audit ----

var auditOutcomeToModel = map[audit.Outcome]model.AuditOutcome{
	audit.Allowed: model.AuditOutcomeAllowed,
	audit.Denied:  model.AuditOutcomeDenied,
	audit.Failed:  model.AuditOutcomeFailed,
}

var auditOutcomeFromModel = reverse(auditOutcomeToModel)

func toModelUser(u identity.User) *model.User {
	return &model.User{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Disabled: u.Disabled, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt}
}

func toModelToken(t identity.Token) *model.ApiToken {
	return &model.ApiToken{
		ID: t.ID, Name: t.Name, Role: optional(t.Role), ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt,
		LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, ProjectID: t.ProjectID,
	}
}

func toModelAssignment(a rbac.Assignment) *model.RoleAssignment {
	m := &model.RoleAssignment{Role: a.Role, UserID: a.UserID, ProjectID: a.ProjectID}
	if a.ProjectID == "*" {
		m.ProjectID = ""
	}
	return m
}

func toModelAssignments(as []rbac.Assignment) []*model.RoleAssignment {
	out := make([]*model.RoleAssignment, len(as))
	for i, a := range as {
		out[i] = toModelAssignment(a)
	}
	return out
}

func toModelRole(r rbac.Role) *model.Role {
	m := &model.Role{Name: r.Name, Description: r.Description, BuiltIn: r.BuiltIn, Permissions: make([]model.Permission, len(r.Permissions))}
	for i, p := range r.Permissions {
		m.Permissions[i] = permissionToModel[p]
	}
	return m
}

func toModelAuditEvent(e audit.Event) *model.AuditEvent {
	return &model.AuditEvent{
		ID: e.ID, At: e.At, ActorID: e.ActorID, ActorName: e.ActorName, TokenID: optional(e.TokenID),
		Action: e.Action, ObjectKind: optional(e.ObjectKind), ObjectID: optional(e.ObjectID),
		ProjectID: optional(e.ProjectID), Outcome: auditOutcomeToModel[e.Outcome], Reason: optional(e.Reason),
		ClientAddr: e.ClientAddr, UserAgent: e.UserAgent,
	}
}

func auditFilterFromModel(f *model.AuditFilter) audit.Filter {
	var out audit.Filter
	if f == nil {
		return out
	}
	out.ActorID, out.Action, out.ObjectID = deref(f.ActorID), deref(f.Action), deref(f.ObjectID)
	if f.Outcome != nil {
		out.Outcome = auditOutcomeFromModel[*f.Outcome]
	}
	out.Since, out.Until = deref(f.Since), deref(f.Until)
	return out
}

func toUserConnection(p core.Page[identity.User], count model.Counter) *model.UserConnection {
	return &model.UserConnection{PageInfo: pageInfo(p), Count: count, Edges: edges(p, func(c string, item identity.User) *model.UserEdge {
		return &model.UserEdge{Cursor: c, Node: toModelUser(item)}
	})}
}

func toTokenConnection(p core.Page[identity.Token], count model.Counter) *model.ApiTokenConnection {
	return &model.ApiTokenConnection{PageInfo: pageInfo(p), Count: count, Edges: edges(p, func(c string, item identity.Token) *model.ApiTokenEdge {
		return &model.ApiTokenEdge{Cursor: c, Node: toModelToken(item)}
	})}
}

func toAuditConnection(p core.Page[audit.Event], count model.Counter) *model.AuditEventConnection {
	return &model.AuditEventConnection{PageInfo: pageInfo(p), Count: count, Edges: edges(p, func(c string, item audit.Event) *model.AuditEventEdge {
		return &model.AuditEventEdge{Cursor: c, Node: toModelAuditEvent(item)}
	})}
}

// countPages counts a list that its service can only page through (lists
// that stay short: a user's tokens, the users).
func countPages[F any, T any](f F, list func(context.Context, F, core.PageArgs) (core.Page[T], error)) model.Counter {
	return func(ctx context.Context) (int, error) {
		n, page := 0, core.PageArgs{First: core.MaxPageSize}
		for {
			p, err := list(ctx, f, page)
			if err != nil {
				return 0, err
			}
			n += len(p.Items)
			if !p.HasNext {
				return n, nil
			}
			page.After = p.Cursors[len(p.Cursors)-1]
		}
	}
}

// ---- executors ----

var executorHealthToModel = map[host.State]model.ExecutorHealth{
	host.StateNotStarted: model.ExecutorHealthNotStarted,
	host.StateStarting:   model.ExecutorHealthStarting,
	host.StateReady:      model.ExecutorHealthReady,
	host.StateStopped:    model.ExecutorHealthStopped,
	host.StateCrashed:    model.ExecutorHealthCrashed,
	host.StateFailed:     model.ExecutorHealthFailed,
}

func toModelExecutor(st host.Status) *model.Executor {
	m := &model.Executor{
		Name: st.Name, BuiltIn: st.BuiltIn, Health: executorHealthToModel[st.State],
		Version: optional(st.Version), Description: optional(st.Description), Restarts: st.Restarts, InFlight: st.InFlight,
	}
	if st.LastError != nil {
		m.LastError = optional(st.LastError.Error())
	}
	return m
}

func toModelActions(actions []sdk.Action) ([]*model.ExecutorAction, error) {
	out := make([]*model.ExecutorAction, len(actions))
	for i, a := range actions {
		var schema map[string]any
		if err := json.Unmarshal(a.ParamsSchema, &schema); err != nil {
			return nil, fmt.Errorf("action %s: parameters schema: %w", a.Name, err)
		}
		secret := a.SecretParams
		if secret == nil {
			secret = []string{}
		}
		out[i] = &model.ExecutorAction{Name: a.Name, Description: a.Description, ParamsSchema: schema, SecretParams: secret}
	}
	return out, nil
}

// ---- jobs ----

func toModelJob(j job.Job) *model.Job {
	return &model.Job{
		ID: j.ID, Name: j.Name, Description: j.Description, Version: j.Version,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, ProjectID: j.ProjectID, Spec: j.Spec,
	}
}

func toModelJobParameters(ps []job.Parameter) []*model.JobParameter {
	out := make([]*model.JobParameter, len(ps))
	for i, p := range ps {
		out[i] = &model.JobParameter{Name: p.Name, Type: string(p.Type), Required: p.Required, Description: p.Description, Choices: nonNil(p.Choices)}
	}
	return out
}

func toModelJobSteps(steps []job.Step) []*model.JobStep {
	out := make([]*model.JobStep, len(steps))
	for i, s := range steps {
		cond := s.Condition
		if cond == "" {
			cond = job.ConditionOnSuccess
		}
		out[i] = &model.JobStep{Name: s.Name, Executor: s.Executor, Action: s.Action, Needs: nonNil(s.Needs), Condition: string(cond), Outputs: nonNil(s.Outputs)}
		if a := s.Approval; a != nil {
			out[i].Approval = &model.JobStepApproval{Role: a.Role, Count: a.Count, TimeoutSeconds: int(a.Timeout.Seconds()), Message: a.Message}
		}
	}
	return out
}

func toJobConnection(p core.Page[job.Job], count model.Counter) *model.JobConnection {
	return &model.JobConnection{PageInfo: pageInfo(p), Count: count, Edges: edges(p, func(c string, item job.Job) *model.JobEdge {
		return &model.JobEdge{Cursor: c, Node: toModelJob(item)}
	})}
}

func toJobVersionConnection(p core.Page[job.Version]) *model.JobVersionConnection {
	return &model.JobVersionConnection{PageInfo: pageInfo(p), Edges: edges(p, func(c string, v job.Version) *model.JobVersionEdge {
		return &model.JobVersionEdge{Cursor: c, Node: &model.JobVersion{Version: v.Version, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy}}
	})}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
