package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jobgraph/jobgraph/core/config"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/worker"
	"github.com/jobgraph/jobgraph/plugins/host"
)

// workerCommand is `jobgraph worker`: a standalone worker. It reaches the
// servers only through NATS and holds no database credentials; it needs a
// data directory only for the private copies of the plugin binaries.
func workerCommand(stderr io.Writer, environ []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run tasks from the queue on this machine's executors (needs --nats-url)",
		Long: "Takes the tasks of its pools from the NATS server the jobgraph servers use, runs them on the\n" +
			"built-in and third-party executors of this machine and reports back through NATS.\n" +
			"It needs no database: everything a task needs comes with it.",
		Args: cobra.NoArgs,
	}
	d := config.Default()
	fs := cmd.Flags()
	fs.String(configFlag, "", "read settings from the YAML `file` (default $"+envConfig+", else no file)")
	fs.String("data-dir", d.DataDir, "keep the plugins' private copies in `dir`")
	fs.String("plugin-dir", d.PluginDir, "load third-party executor plugins listed in `dir`/plugins.json (default <data-dir>/plugins)")
	fs.String("log-level", d.LogLevel, "log `level`: debug, info, warn or error")
	fs.String("log-format", d.LogFormat, "log `format`: text or json")
	addWorkerFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(cmd.Flags(), environ)
		if err != nil {
			return usageError{err}
		}
		switch {
		case cfg.NatsURL == "":
			return usageError{errors.New("nats_url: a standalone worker needs the NATS server the jobgraph servers use (--nats-url)")}
		case cfg.Workers == 0:
			return usageError{errors.New("workers: a worker with 0 slots would run nothing")}
		}
		log := newLogger(cfg, stderr)
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		context.AfterFunc(ctx, stop)
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
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
		w, err := startWorker(ctx, cfg, q, plugins, log)
		if err != nil {
			return err
		}
		<-ctx.Done()
		log.Info("worker stopping")
		w.Stop()
		return nil
	}
	return cmd
}

// openQueue connects to nats_url, or starts the embedded NATS in the data
// directory.
func openQueue(ctx context.Context, cfg config.Config, log *slog.Logger) (*queue.Queue, error) {
	stream, prefix := cfg.QueueNames()
	return queue.Open(ctx, queue.Options{URL: cfg.NatsURL, DataDir: cfg.DataDir, Stream: stream, SubjectPrefix: prefix,
		AckWait: cfg.WorkerTimeout, Logger: log})
}

// startWorker starts a worker on the plugin host for the configured pools.
func startWorker(ctx context.Context, cfg config.Config, q *queue.Queue, plugins *host.Host, log *slog.Logger) (*worker.Worker, error) {
	w, err := worker.New(worker.Options{Queue: q, Executors: plugins, Pools: cfg.Pools(), Slots: cfg.Workers,
		TouchEvery: cfg.WorkerTimeout / 6, Logger: log.With("component", "worker")})
	if err != nil {
		return nil, err
	}
	if err := w.Start(ctx); err != nil {
		return nil, err
	}
	return w, nil
}
