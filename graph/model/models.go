// Package model holds the GraphQL API's types. Most are generated from
// schema/*.graphqls into models_gen.go; the ones here are written by hand
// because their resolvers need more than the schema shows (the IDs of
// related objects, a way to count a connection only when asked). They are
// API payloads only: graph/convert.go maps core types onto them.
package model

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
)

// Project is the API view of a project.
type Project struct {
	ID                string
	Name              string
	Description       string
	MaxConcurrentRuns int
	CreatedAt         time.Time
	UpdatedAt         time.Time
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

// ProjectScoped is an object that belongs to a project: the authorization
// directive checks permissions on its fields in that project.
type ProjectScoped interface {
	ProjectScope() string
}

func (p Project) ProjectScope() string    { return p.ID }
func (h Host) ProjectScope() string       { return h.ProjectID }
func (g HostGroup) ProjectScope() string  { return g.ProjectID }
func (c Credential) ProjectScope() string { return c.ProjectID }

// ProjectScope is "" for a token limited to no project.
func (t ApiToken) ProjectScope() string { return t.ProjectID }

// ProjectScope is "" for the system-wide admin role.
func (a RoleAssignment) ProjectScope() string { return a.ProjectID }

// User is the API view of a user. It has no field for the password hash.
type User struct {
	ID          string
	Username    string
	DisplayName string
	Disabled    bool
	CreatedAt   time.Time
	LastLoginAt *time.Time
}

func (User) IsNode()         {}
func (u User) GetID() string { return u.ID }

// ApiToken is the API view of a personal access token; its value is
// returned once, in CreateApiTokenPayload.secret, and never stored.
type ApiToken struct {
	ID         string
	Name       string
	Role       *string
	ExpiresAt  *time.Time
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	ProjectID  string `json:"-"`
}

func (ApiToken) IsNode()         {}
func (t ApiToken) GetID() string { return t.ID }

// RoleAssignment is a role a user holds in a project ("" for system-wide).
type RoleAssignment struct {
	Role      string
	UserID    string `json:"-"`
	ProjectID string `json:"-"`
}

// UserConnection is a page of users.
type UserConnection struct {
	Edges    []*UserEdge
	PageInfo *PageInfo
	Count    Counter `json:"-"`
}

// ApiTokenConnection is a page of API tokens.
type ApiTokenConnection struct {
	Edges    []*ApiTokenEdge
	PageInfo *PageInfo
	Count    Counter `json:"-"`
}

// UserEdge is one user in a UserConnection.
type UserEdge struct {
	Cursor string
	Node   *User
}

// ApiTokenEdge is one token in an ApiTokenConnection.
type ApiTokenEdge struct {
	Cursor string
	Node   *ApiToken
}

// AuditEventConnection is a page of audit events.
type AuditEventConnection struct {
	Edges    []*AuditEventEdge
	PageInfo *PageInfo
	Count    Counter `json:"-"`
}

// Executor is the API view of an executor plugin.
type Executor struct {
	Name        string
	BuiltIn     bool
	Health      ExecutorHealth
	Version     *string
	Description *string
	LastError   *string
	Restarts    int
	InFlight    int
}

// Job is the API view of a job (its latest version).
type Job struct {
	ID          string
	Name        string
	Description string
	Version     int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ProjectID   string   `json:"-"`
	Spec        job.Spec `json:"-"`
}

func (Job) IsNode()                {}
func (j Job) GetID() string        { return j.ID }
func (j Job) ProjectScope() string { return j.ProjectID }

// JobConnection is a page of jobs.
type JobConnection struct {
	Edges    []*JobEdge
	PageInfo *PageInfo
	Count    Counter `json:"-"`
}

// JobEdge is one job in a JobConnection.
type JobEdge struct {
	Cursor string
	Node   *Job
}

// Run is the API view of a run; its project, steps and tasks are resolved
// on demand.
type Run struct {
	ID           string
	JobID        *string
	JobVersion   int
	Name         string
	Status       RunStatus
	Priority     int
	TriggerKind  string
	TriggeredBy  string
	RetryOf      *string
	Params       map[string]any
	SecretParams []string
	CreatedAt    time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	ProjectID    string `json:"-"`
}

func (r Run) ProjectScope() string { return r.ProjectID }

// RunUpdateKind is what a RunUpdate is (schema enum RunUpdateKind).
type RunUpdateKind string

const (
	RunUpdateKindSnapshot RunUpdateKind = "SNAPSHOT"
	RunUpdateKindRun      RunUpdateKind = "RUN"
	RunUpdateKindTask     RunUpdateKind = "TASK"
	RunUpdateKindProgress RunUpdateKind = "PROGRESS"
	RunUpdateKindResync   RunUpdateKind = "RESYNC"
)

func (e RunUpdateKind) MarshalGQL(w io.Writer) { fmt.Fprint(w, strconv.Quote(string(e))) }

func (e *RunUpdateKind) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("RunUpdateKind must be a string")
	}
	*e = RunUpdateKind(s)
	return nil
}

// TaskChange is a task's new status in a RunUpdate.
type TaskChange struct {
	ID        string
	StepRunID string
	HostID    string
	HostName  string
	Status    TaskStatus
	Attempt   int
}

// RunUpdate is one update of a run subscription. Err, when set, ends the
// subscription with that error (the kind field fails with it): the
// caller's credentials or permission no longer hold.
type RunUpdate struct {
	Kind  RunUpdateKind
	Run   *Run
	Steps []*StepRun
	Task  *TaskChange
	Err   error `json:"-"`
}

// TaskLogUpdate is one update of a taskLog subscription; Err as in
// RunUpdate (the chunks field fails with it).
type TaskLogUpdate struct {
	Chunks         []*LogChunk
	ResyncAfterSeq *int
	TaskStatus     *TaskStatus
	Err            error `json:"-"`
}

// WebhookTrigger is the API view of a webhook trigger; its project and job
// are resolved on demand. It never carries the secret.
type WebhookTrigger struct {
	ID               string
	Name             string
	URL              string
	Params           []*TriggerParam
	RequireTimestamp bool
	Priority         int
	Enabled          bool
	CreatedBy        string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	LastDeliveryAt   *time.Time
	ProjectID        string `json:"-"`
	JobID            string `json:"-"`
}

func (WebhookTrigger) IsNode()                {}
func (t WebhookTrigger) GetID() string        { return t.ID }
func (t WebhookTrigger) ProjectScope() string { return t.ProjectID }

// WebhookTriggerConnection is a page of webhook triggers.
type WebhookTriggerConnection struct {
	Edges    []*WebhookTriggerEdge
	PageInfo *PageInfo
	Count    Counter `json:"-"`
}

// WebhookTriggerEdge is one trigger in a WebhookTriggerConnection.
type WebhookTriggerEdge struct {
	Cursor string
	Node   *WebhookTrigger
}
