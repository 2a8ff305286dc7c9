// Package model holds the GraphQL API's types. Most are generated from
// schema/*.graphqls into models_gen.go; the ones here are written by hand
// because their resolvers need more than the schema shows (the IDs of
// related objects, a way to count a connection only when asked). They are
// API payloads only: graph/convert.go maps core types onto them.
package model

import (
	"context"
	"time"

	"github.com/jobgraph/jobgraph/core/inventory"
)

// Project is the API view of a project.
type Project struct {
	ID          string
	Name        string
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (Project) IsNode()         {}
func (p Project) GetID() string { return p.ID }

// Host is the API view of a host.
type Host struct {
	ID                  string
	Name                string
	Address             string
	Port                *int
	Os                  Os
	Labels              []*Label
	DefaultExecutor     *string
	CreatedAt           time.Time
	UpdatedAt           time.Time
	ProjectID           string `json:"-"`
	DefaultCredentialID string `json:"-"`
}

func (Host) IsNode()         {}
func (h Host) GetID() string { return h.ID }

// HostGroup is the API view of a host group.
type HostGroup struct {
	ID          string
	Name        string
	Description string
	Kind        HostGroupKind
	Selector    *string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ProjectID   string `json:"-"`
	// Group is what the members resolver resolves.
	Group inventory.HostGroup `json:"-"`
}

func (HostGroup) IsNode()         {}
func (g HostGroup) GetID() string { return g.ID }

// Credential is the API view of a credential. It has no field for the
// secret, by construction.
type Credential struct {
	ID              string
	Name            string
	Kind            CredentialKind
	Username        *string
	Description     string
	Fingerprint     *string
	SecretUpdatedAt time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	ProjectID       string `json:"-"`
}

func (Credential) IsNode()         {}
func (c Credential) GetID() string { return c.ID }

// Counter counts a connection's whole list; it runs only when a query asks
// for totalCount.
type Counter func(ctx context.Context) (int, error)

// ProjectConnection is a page of projects.
type ProjectConnection struct {
	Edges    []*ProjectEdge
	PageInfo *PageInfo
	Count    Counter `json:"-"`
}

// HostConnection is a page of hosts.
type HostConnection struct {
	Edges    []*HostEdge
	PageInfo *PageInfo
	Count    Counter `json:"-"`
}

// HostGroupConnection is a page of host groups.
type HostGroupConnection struct {
	Edges    []*HostGroupEdge
	PageInfo *PageInfo
	Count    Counter `json:"-"`
}

// CredentialConnection is a page of credentials.
type CredentialConnection struct {
	Edges    []*CredentialEdge
	PageInfo *PageInfo
	Count    Counter `json:"-"`
}
