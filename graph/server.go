package graph

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"

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
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/rbac"
)

// Options configure the HTTP handler of the API.
type Options struct {
	Projects  *project.Service
	Inventory *inventory.Service
	Jobs      *job.Service
	// Guards manages command guard rules.
	Guards   *guard.Service
	Identity *identity.Service
	Authz    *rbac.Authorizer
	Audit    *audit.Recorder
	// Executors lists the executor plugins.
	Executors Executors
	// Runs runs jobs and reads runs (*core/engine.Engine); nil refuses
	// runJob and cancelRun and shows no runs.
	Runs Runs
	// Approvals records votes on approvals; nil refuses approve and reject
	// and shows no approvals.
	Approvals *approval.Service
	// Events carries run and log events to subscriptions (from any
	// replica); nil turns subscriptions off.
	Events *events.Bus
	// LiveRecheck is how often a subscription checks that the caller's
	// credentials and permission still hold. Default 10s.
	LiveRecheck time.Duration
	// LiveBuffer is how many updates a subscription holds for a subscriber
	// that does not keep up, before it drops them (run updates: a snapshot
	// follows) or tells it to resync (logs). Default 64.
	LiveBuffer int
	// KeepAlive is how often WebSocket connections are pinged, and how long
	// a client may take to answer before it is taken for gone. Default 10s.
	KeepAlive time.Duration
	// Tx runs a mutation and its audit record in one transaction.
	Tx     core.Transactor
	Logger *slog.Logger
	// Ready reports whether the server can serve (the database answers); it
	// backs /readyz.
	Ready func(ctx context.Context) error
	// Console serves the web console at "/"; nil serves nothing there.
	Console http.Handler
	// GraphiQL serves the GraphiQL page at /graphiql.
	GraphiQL bool
	// Introspection allows schema introspection queries.
	Introspection bool
	// ComplexityLimit caps a query's cost: each field costs 1, and a list
	// costs its page size times its items' cost.
	ComplexityLimit int
	// SecureCookies marks the session cookie Secure even on plain HTTP
	// (behind a TLS-terminating proxy). It is always Secure over TLS.
	SecureCookies bool
	// Triggers takes webhook deliveries at POST /hooks/{triggerID} and
	// manages triggers; nil turns both off.
	Triggers *trigger.Service
	// PublicURL is the server's URL as others reach it
	// ("https://jobgraph.example.com"); it prefixes webhook trigger URLs.
	PublicURL string
	// AllowedOrigins are other origins (e.g. "https://console.example.com")
	// whose browser requests may use the session cookie.
	AllowedOrigins []string
	// Schedules manages cron schedules (nil: the schedule API answers that
	// this server runs no jobs).
	Schedules *scheduler.Service
	// Notify manages notification channels; nil refuses their fields.
	Notify *notify.Service
}

// maxBodyBytes bounds a request body; the largest legitimate input is a
// credential's secret (64 KiB).
const maxBodyBytes = 1 << 20

// NewHandler returns the server's HTTP handler: the API at /graphql (HTTP
// and WebSocket), GraphiQL at /graphiql, /healthz (the process is up),
// /readyz (the database answers), the audit export at /audit/export, a task's
// whole log at /runs/{runID}/tasks/{taskID}/log and the console at /.
func NewHandler(opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{
		projects: opts.Projects, inventory: opts.Inventory, jobs: opts.Jobs, guards: opts.Guards, identity: opts.Identity, authz: opts.Authz,
		audit: opts.Audit, executors: opts.Executors, runs: opts.Runs, approvals: opts.Approvals, events: opts.Events, liveRecheck: opts.LiveRecheck, liveBuf: opts.LiveBuffer, tx: opts.Tx, log: log, secureCookies: opts.SecureCookies, allowedOrigins: opts.AllowedOrigins,
	}
	r.schedules = opts.Schedules

	r.triggers, r.publicURL = opts.Triggers, opts.PublicURL
	r.notify = opts.Notify

	mux := http.NewServeMux()
	mux.Handle("/graphql", r.authenticate(newGraphQLServer(r, opts)))
	mux.Handle("GET /audit/export", r.authenticate(http.HandlerFunc(r.exportAudit)))
	mux.Handle("GET /runs/{runID}/tasks/{taskID}/log", r.authenticate(http.HandlerFunc(r.downloadTaskLog)))
	mux.HandleFunc("POST /hooks/{triggerID}", r.deliverHook) // the signature is the credential
	if opts.GraphiQL {
		mux.Handle("GET /graphiql", playground.Handler("jobgraph", "/graphql"))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if opts.Ready != nil {
			if err := opts.Ready(ctx); err != nil {
				log.Warn("not ready", "err", err)
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database unreachable"})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if opts.Console != nil {
		mux.Handle("/", opts.Console)
	}
	return accessLog(log, mux)
}

// newGraphQLServer configures gqlgen explicitly: the transports, the query
// cache, the limits and the error handling are all chosen here.
func newGraphQLServer(r *Resolver, opts Options) http.Handler {
	cfg := generated.Config{Resolvers: r, Directives: r.directives()}
	setComplexity(&cfg.Complexity)
	srv := handler.New(generated.NewExecutableSchema(cfg))
	srv.AddTransport(transport.Websocket{
		InitFunc:              r.websocketInit,
		KeepAlivePingInterval: cmp.Or(opts.KeepAlive, 10*time.Second),
		PingPongInterval:      cmp.Or(opts.KeepAlive, 10*time.Second),
		InitTimeout:           10 * time.Second,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.AroundOperations(r.withLoaders)
	srv.AroundFields(r.auditMutations)
	srv.SetParserTokenLimit(20000)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	limit := opts.ComplexityLimit
	if limit <= 0 {
		limit = 25000
	}
	srv.Use(extension.FixedComplexityLimit(limit))
	srv.SetErrorPresenter(errorPresenter(r.log))
	srv.SetRecoverFunc(recoverFunc(r.log))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.Body = http.MaxBytesReader(w, req.Body, maxBodyBytes)
		srv.ServeHTTP(w, req)
	})
}

// setComplexity prices every connection at its page size times the cost of
// one item, so that nesting lists (projects → hosts → …) is bounded.
func setComplexity(c *generated.ComplexityRoot) {
	page := func(first *int, child int) int {
		n := core.DefaultPageSize
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + n*child
	}
	c.Query.Projects = func(child int, first *int, _ *string, _ *model.ProjectFilter) int { return page(first, child) }
	c.Query.Hosts = func(child int, _ string, first *int, _ *string, _ *model.HostFilter) int { return page(first, child) }
	c.Query.HostGroups = func(child int, _ string, first *int, _ *string, _ *model.HostGroupFilter) int {
		return page(first, child)
	}
	c.Query.Credentials = func(child int, _ string, first *int, _ *string, _ *model.CredentialFilter) int {
		return page(first, child)
	}
	c.Query.SelectorPreview = func(child int, _, _ string, first *int, _ *string) int { return page(first, child) }
	c.Project.Hosts = func(child int, first *int, _ *string, _ *model.HostFilter) int { return page(first, child) }
	c.Project.HostGroups = func(child int, first *int, _ *string, _ *model.HostGroupFilter) int { return page(first, child) }
	c.Project.Credentials = func(child int, first *int, _ *string, _ *model.CredentialFilter) int { return page(first, child) }
	c.HostGroup.Members = func(child int, first *int, _ *string) int { return page(first, child) }
	c.Project.AuditEvents = func(child int, first *int, _ *string, _ *model.AuditFilter) int { return page(first, child) }
	c.Query.AuditEvents = func(child int, first *int, _ *string, _ *model.AuditFilter, _ *string) int {
		return page(first, child)
	}
	c.Query.APITokens = func(child int, first *int, _ *string) int { return page(first, child) }
	c.Query.Jobs = func(child int, _ string, first *int, _ *string, _ *model.JobFilter) int { return page(first, child) }
	c.Job.Versions = func(child int, first *int, _ *string) int { return page(first, child) }
	c.Query.Runs = func(child int, _ string, first *int, _ *string, _ *model.RunFilter) int { return page(first, child) }
	c.Run.Tasks = func(child int, first *int, _ *string, _ *string) int { return page(first, child) }
	c.Query.TaskLogs = func(child int, _ string, _ *int, first *int) int { return page(first, child) }
	c.Query.Triggers = func(child int, _ string, first *int, _ *string) int { return page(first, child) }
	c.Query.Users = func(child int, first *int, _ *string, _ *model.UserFilter) int { return page(first, child) }
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// accessLog logs one line per request: never a body, a query string or a
// header, since any of them may carry a secret.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, req)
		log.LogAttrs(req.Context(), slog.LevelDebug, "http request",
			slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (the
// WebSocket upgrade needs its Hijacker).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
