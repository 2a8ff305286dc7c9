// Package graph serves jobgraph's GraphQL API. Its resolvers are thin: each
// converts its arguments, calls a core service, and converts the result
// (convert.go). Who may call what is declared in the schema and enforced in
// one place (directive.go); every mutation is audited in its own
// transaction (auditing.go); errors become GraphQL errors in one place
// (errors.go). The generated executor lives in graph/generated and the
// schema in schema/*.graphqls.
package graph

import (
	"context"
	"log/slog"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/events"
	"github.com/jobgraph/jobgraph/core/guard"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/notify"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/scheduler"
	"github.com/jobgraph/jobgraph/core/trigger"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/plugins/host"
	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/rbac"
)

// Resolver holds the services the API calls. It never holds a database
// handle: persistence is the core's business. tx only lets a mutation and
// its audit record share one transaction.
type Resolver struct {
	projects  *project.Service
	inventory *inventory.Service
	jobs      *job.Service
	guards    *guard.Service
	identity  *identity.Service
	authz     *rbac.Authorizer
	audit     *audit.Recorder
	executors Executors
	runs      Runs
	approvals *approval.Service
	events    *events.Bus
	tx        core.Transactor
	log       *slog.Logger
	triggers  *trigger.Service
	publicURL string
	schedules *scheduler.Service
	notify    *notify.Service

	secureCookies  bool
	allowedOrigins []string
	liveRecheck    time.Duration
	liveBuf        int
}

// Executors is what the API shows of the executor plugins;
// *plugins/host.Host is it.
type Executors interface {
	// List reports every registered executor without starting any.
	List() []host.Status
	// Describe reports an executor's actions, starting it if needed.
	Describe(ctx context.Context, name string) (sdk.Info, error)
}

// projectByID loads a project through the request's loader; "" is none.
func (r *Resolver) projectByID(ctx context.Context, id string) (*model.Project, error) {
	if id == "" {
		return nil, nil
	}
	p, err := r.loadersFor(ctx).project.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return toModelProject(p), nil
}

// auditEvents lists the audit trail, newest first.
func (r *Resolver) auditEvents(ctx context.Context, f audit.Filter, first *int, after *string) (*model.AuditEventConnection, error) {
	page, err := r.audit.List(ctx, f, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toAuditConnection(page, counter(f, r.audit.Count)), nil
}

// ownToken returns an API token the caller may manage: one of its own, or
// any for an admin. Another user's token is reported as not found.
func (r *Resolver) ownToken(ctx context.Context, id string) (identity.Token, error) {
	t, err := r.identity.GetToken(ctx, id)
	if err != nil {
		return identity.Token{}, err
	}
	p := callerFrom(ctx).principal
	if t.UserID == p.User.ID || r.authz.Allowed(callerFrom(ctx).subject(), "", rbac.UserManage) {
		return t, nil
	}
	return identity.Token{}, core.NotFound("API token", id)
}
