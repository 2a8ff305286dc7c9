package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobgraph/jobgraph/core/config"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/graph"
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
		return serve(ctx, cfg, log, nil)
	}
	return cmd
}

// app is the server's object graph, built from the configuration.
type app struct {
	store     *store.Store
	projects  *project.Service
	inventory *inventory.Service
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
	return &app{
		store:     st,
		projects:  project.NewService(st),
		inventory: inventory.NewService(st, keyring),
	}, nil
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

// serve runs the server until ctx is done, then shuts down gracefully:
// requests in flight get cfg.ShutdownTimeout to finish. onListen, if not
// nil, is told the address once the server accepts connections.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, onListen func(addr string)) error {
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.store.Close()

	handler := graph.NewHandler(graph.Options{
		Projects:        a.projects,
		Inventory:       a.inventory,
		Logger:          log.With("component", "api"),
		Ready:           a.store.Ping,
		Console:         web.Handler(),
		GraphiQL:        cfg.GraphiQL,
		Introspection:   cfg.Introspection,
		ComplexityLimit: cfg.ComplexityLimit,
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
