package inventory

import (
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory/labels"
)

// Limits on host group fields.
const (
	MaxGroupNameLen       = 63
	MaxDescriptionLen     = 4096
	MaxStaticGroupMembers = 10000
)

// HostGroup is a named set of hosts: either a static list (HostIDs) or every
// host whose labels match Selector at the time the group is used. Exactly one
// of the two is set.
type HostGroup struct {
	ID          string
	ProjectID   string
	Name        string
	Description string
	// Selector is nil for a static group.
	Selector *labels.Selector
	// HostIDs lists a static group's members. It is filled in by Service.Get
	// style calls that ask for members, and is empty for selector groups.
	HostIDs   []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IsStatic reports whether the group lists its members explicitly.
func (g HostGroup) IsStatic() bool { return g.Selector == nil }

// GroupFilter narrows a host group list.
type GroupFilter struct {
	ProjectID string
	// Search matches a substring of the name.
	Search string
}

func (g *HostGroup) validate() error {
	if err := core.CheckName("name", g.Name, MaxGroupNameLen); err != nil {
		return err
	}
	if err := core.CheckText("description", g.Description, MaxDescriptionLen); err != nil {
		return err
	}
	if g.Selector != nil && len(g.HostIDs) > 0 {
		return core.Invalid("hostIds", "a group has either static members or a selector, not both")
	}
	if len(g.HostIDs) > MaxStaticGroupMembers {
		return core.Invalid("hostIds", "at most %d static members, got %d", MaxStaticGroupMembers, len(g.HostIDs))
	}
	seen := make(map[string]struct{}, len(g.HostIDs))
	for _, id := range g.HostIDs {
		if err := core.CheckID("hostIds", core.KindHost, id); err != nil {
			return err
		}
		if _, dup := seen[id]; dup {
			return core.Invalid("hostIds", "host %q is listed twice", id)
		}
		seen[id] = struct{}{}
	}
	return nil
}

// parseSelector turns API input into a selector, reporting a parse error on field.
func parseSelector(field, s string) (*labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, core.Invalid(field, "%s", err.Error())
	}
	return &sel, nil
}
