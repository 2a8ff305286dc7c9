package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/config"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/events"
	"github.com/jobgraph/jobgraph/core/guard"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/notify"
	"github.com/jobgraph/jobgraph/core/project"
	runlog "github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/scheduler"
	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/trigger"
	"github.com/jobgraph/jobgraph/graph"
	"github.com/jobgraph/jobgraph/plugins/builtin"
	"github.com/jobgraph/jobgraph/plugins/host"
	"github.com/jobgraph/jobgraph/rbac"
	"github.com/jobgraph/jobgraph/web"
)

func serverCommand(stderr io.Writer, environ []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Serve the GraphQL API and the web console",
		Args:  cobra.NoArgs,
	}
	addConfigFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(cmd.Flags(), environ)
		if err != nil {
			return usageError{err}
		}
		log := newLogger(cfg, stderr)
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		// After the first signal, restore the default handling, so that a
		// second Ctrl-C ends a shutdown that takes too long.
		context.AfterFunc(ctx, stop)
		return serve(ctx, cfg, lookupEnv(environ, "JOBGRAPH_ADMIN_PASSWORD"), log, nil)
	}
	return cmd
}

// app is the server's object graph, built from the configuration.
type app struct {
	store     *store.Store
	projects  *project.Service
	inventory *inventory.Service
	identity  *identity.Service
	authz     *rbac.Authorizer
	audit     *audit.Recorder
	keyring   *secrets.Keyring
}

// openApp opens the database, loads the secret key, migrates the database
// and builds the services. The database comes first so that a server that
// cannot reach it fails without generating a key.
func openApp(ctx context.Context, cfg config.Config, log *slog.Logger) (*app, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := store.Open(ctx, store.Options{DSN: cfg.DB, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return nil, err
	}
	keyring, err := loadKeyring(cfg, log)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	res, err := st.Migrate(ctx)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	log.Info("database ready", "dialect", st.Dialect(), "schema_version", res.To, "migrations_applied", len(res.Applied))
	authz, err := rbac.New(ctx, st, rbac.Options{Logger: log})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	inv := inventory.NewService(st, keyring)
	if err := inv.VerifySealer(ctx); err != nil {
		_ = st.Close()
		return nil, err
	}
	return &app{
		store:     st,
		projects:  project.NewService(st, authz),
		inventory: inv,
		identity:  identity.NewService(st, identity.Options{RoleValidator: authz.ValidateRole}),
		authz:     authz,
		audit:     audit.NewRecorder(st),
		keyring:   keyring,
	}, nil
}

// bootstrapAdmin creates the first admin on a server that has no users: a
// user named admin, with the password in JOBGRAPH_ADMIN_PASSWORD or else a
// generated one, printed once to the log. Two replicas starting at once
// both try; the second finds the name taken and leaves it.
func bootstrapAdmin(ctx context.Context, a *app, password string, log *slog.Logger) error {
	n, err := a.identity.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	generated := password == ""
	if generated {
		password = rand.Text() // 26 base32 characters: 130 bits
	}
	u, err := createUser(ctx, a, identity.CreateUserInput{Username: "admin", DisplayName: "Administrator", Password: password}, true, "jobgraph server (first start)")
	switch {
	case errors.Is(err, core.ErrConflict):
		return nil // another replica made it
	case err != nil:
		return fmt.Errorf("create the first admin: %w", err)
	case generated:
		log.Warn("created the first admin; this password is shown only now: sign in and change it",
			"username", u.Username, "password", password)
	default:
		log.Info("created the first admin from JOBGRAPH_ADMIN_PASSWORD", "username", u.Username)
	}
	return nil
}

// loadKeyring returns the keyring that seals credentials: the configured key,
// or the key file, which is generated on first start.
func loadKeyring(cfg config.Config, log *slog.Logger) (*secrets.Keyring, error) {
	var key secrets.Key
	if cfg.SecretKey != "" {
		k, err := secrets.ParseKey(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("secret_key: %w", err)
		}
		key = k
	} else {
		k, created, err := secrets.LoadOrCreateKeyFile(cfg.KeyFile())
		if err != nil {
			return nil, err
		}
		if created {
			log.Warn("generated a new secret key for sealing credentials; back it up, credentials cannot be read without it",
				"path", cfg.KeyFile(), "key_id", k.ID())
		}
		key = k
	}
	return secrets.NewKeyring(key)
}

// startPlugins opens the executor plugin host with the built-in executors
// (this binary, re-executed as "jobgraph plugin serve NAME") and the
// third-party plugins listed in the plugin directory's manifest. Plugin
// processes start on first use. A third-party binary that is not listed, or
// whose checksum differs, is refused with a warning; the server still starts.
func startPlugins(ctx context.Context, cfg config.Config, log *slog.Logger) (*host.Host, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the jobgraph binary for built-in executors: %w", err)
	}
	h := host.New(host.Options{
		Logger:     log,
		PrivateDir: filepath.Join(cfg.DataDir, "plugins-run"),
	})
	for _, name := range slices.Sorted(maps.Keys(builtin.Executors())) {
		if err := h.Register(host.Source{Name: name, Path: self, Args: []string{"plugin", "serve", name}, BuiltIn: true}); err != nil {
			return nil, err
		}
	}
	dir := cfg.PluginDirectory()
	if _, err := os.Stat(dir); err == nil {
		sources, errs := host.Discover(dir, host.Manifest{})
		for _, err := range errs {
			log.Warn("refused an executor plugin", "dir", dir, "err", err)
		}
		for _, src := range sources {
			if err := h.Register(src); err != nil {
				log.Warn("refused an executor plugin", "plugin", src.Name, "err", err)
			}
		}
	}
	if err := h.Start(ctx); err != nil {
		return nil, err
	}
	names := make([]string, 0)
	for _, st := range h.List() {
		names = append(names, st.Name)
	}
	log.Info("executors registered", "executors", strings.Join(names, ","), "plugin_dir", dir)
	return h, nil
}

// lookupEnv returns the value of name in environ ("" if unset).
func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// serve runs the server until ctx is done, then shuts down gracefully:
// requests in flight get cfg.ShutdownTimeout to finish. onListen, if not
// nil, is told the address once the server accepts connections.
func serve(ctx context.Context, cfg config.Config, adminPassword string, log *slog.Logger, onListen func(addr string)) error {
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.store.Close()
	if err := bootstrapAdmin(ctx, a, adminPassword, log); err != nil {
		return err
	}
	if err := a.authz.Start(ctx); err != nil {
		return err
	}
	defer a.authz.Stop()
	retention := runlog.NewRetention(runlog.RetentionOptions{Logs: a.store, Keep: cfg.LogRetention, Logger: log})
	if err := retention.Start(ctx); err != nil {
		return err
	}
	defer retention.Stop()
	q, err := openQueue(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer q.Close()
	plugins, err := startPlugins(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer plugins.Stop()
	jobs := job.NewService(a.store, graph.ActionSchemas(plugins))
	guards := guard.NewService(a.store, a.authz)
	bus := events.New(q, log)
	// Defers run last in, first out: the worker stops first (and reports
	// its tasks to the engine), then the engine, the plugins, the queue.
	notifier := notify.NewService(notify.Options{Store: a.store, Sealer: a.keyring, PublicURL: cfg.PublicURL, Logger: log})
	runs := engine.New(engine.Options{Store: a.store, Jobs: jobs, Inventory: a.inventory, Projects: a.projects, Schemas: graph.ActionSchemas(plugins), Queue: q, Events: bus,
		StaleAfter: 2 * cfg.WorkerTimeout, Logger: log.With("component", "engine"), Runs: runlog.Options{MaxLogBytesPerTask: int64(cfg.LogMaxBytes)},
		Approvals: a.store, Guard: guards, Notifier: notifier})
	if err := runs.Start(ctx); err != nil {
		return err
	}
	defer runs.Stop()
	approvals := approval.NewService(a.store, a.authz, runs, nil)
	// The scheduler fires cron schedules from the one replica that leads
	// the election "scheduler"; it stops (resigning) before the engine.
	schedules := scheduler.NewService(a.store, jobs)
	sched := scheduler.NewScheduler(scheduler.SchedulerOptions{Store: a.store, Runs: a.store, Starter: runs, Elector: q,
		NodeID: nodeID(), Lease: cfg.SchedulerLease, Logger: log})
	if err := sched.Start(ctx); err != nil {
		return err
	}
	defer sched.Stop()
	// The notification dispatcher starts after the engine and stops before it.
	dispatcher := notify.NewDispatcher(notifier, notify.DispatcherOptions{Keep: cfg.LogRetention})
	if err := dispatcher.Start(ctx); err != nil {
		return err
	}
	defer dispatcher.Stop()
	if cfg.Workers > 0 {
		w, err := startWorker(ctx, cfg, q, plugins, log)
		if err != nil {
			return err
		}
		defer w.Stop()
	} else {
		log.Info("no worker in this process (workers: 0): tasks wait for `jobgraph worker` processes")
	}

	triggers := trigger.NewService(trigger.Options{Store: a.store, Sealer: a.keyring, Jobs: jobs, Runs: runs, Audit: a.audit,
		Logger: log})
	handler := graph.NewHandler(graph.Options{
		Projects:        a.projects,
		Inventory:       a.inventory,
		Jobs:            jobs,
		Guards:          guards,
		Runs:            runs,
		Approvals:       approvals,
		Events:          bus,
		Identity:        a.identity,
		Authz:           a.authz,
		Audit:           a.audit,
		Executors:       plugins,
		Tx:              a.store,
		Logger:          log.With("component", "api"),
		Ready:           a.store.Ping,
		Console:         web.Handler(),
		GraphiQL:        cfg.GraphiQL,
		Introspection:   cfg.Introspection,
		ComplexityLimit: cfg.ComplexityLimit,
		SecureCookies:   cfg.SecureCookies,
		AllowedOrigins:  cfg.Origins(),
		Triggers:        triggers,
		Schedules:       schedules,
		Notify:          notifier,
		PublicURL:       cfg.PublicURL,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info("jobgraph is serving", "url", url, "graphql", url+"/graphql", "version", version)
	if onListen != nil {
		onListen(ln.Addr().String())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// newLogger builds the process logger from the configuration.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// nodeID names this process in leader elections: host name, process ID and
// a random part, so that a restarted process is a new candidate.
func nodeID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
