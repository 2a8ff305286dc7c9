package graph

import (
	"context"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/graph/model"
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
	return &model.Project{ID: p.ID, Name: p.Name, Description: p.Description, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
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

func toProjectConnection(p core.Page[project.Project], count model.Counter) *model.ProjectConnection {
	c := &model.ProjectConnection{PageInfo: pageInfo(p), Count: count, Edges: make([]*model.ProjectEdge, len(p.Items))}
	for i, item := range p.Items {
		c.Edges[i] = &model.ProjectEdge{Cursor: p.Cursors[i], Node: toModelProject(item)}
	}
	return c
}

func toHostConnection(p core.Page[inventory.Host], count model.Counter) *model.HostConnection {
	c := &model.HostConnection{PageInfo: pageInfo(p), Count: count, Edges: make([]*model.HostEdge, len(p.Items))}
	for i, item := range p.Items {
		c.Edges[i] = &model.HostEdge{Cursor: p.Cursors[i], Node: toModelHost(item)}
	}
	return c
}

func toHostGroupConnection(p core.Page[inventory.HostGroup], count model.Counter) *model.HostGroupConnection {
	c := &model.HostGroupConnection{PageInfo: pageInfo(p), Count: count, Edges: make([]*model.HostGroupEdge, len(p.Items))}
	for i, item := range p.Items {
		c.Edges[i] = &model.HostGroupEdge{Cursor: p.Cursors[i], Node: toModelHostGroup(item)}
	}
	return c
}

func toCredentialConnection(p core.Page[inventory.Credential], count model.Counter) *model.CredentialConnection {
	c := &model.CredentialConnection{PageInfo: pageInfo(p), Count: count, Edges: make([]*model.CredentialEdge, len(p.Items))}
	for i, item := range p.Items {
		c.Edges[i] = &model.CredentialEdge{Cursor: p.Cursors[i], Node: toModelCredential(item)}
	}
	return c
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
