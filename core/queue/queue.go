package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jobgraph/jobgraph/core"
)

// Defaults applied by Open to the zero fields of Options.
const (
	DefaultAckWait       = 30 * time.Second
	DefaultMaxDeliver    = 5
	DefaultStream        = "JOBGRAPH_TASKS"
	DefaultSubjectPrefix = "jobgraph.tasks"
	// DuplicateWindow is how long the stream remembers a message ID: a
	// re-publish of the same task attempt within it is dropped.
	DuplicateWindow = 2 * time.Minute
	// anyPool is the subject token of tasks that any pool may run.
	anyPool = "any"
)

// Options configures a Queue. The zero value of a field means its default.
type Options struct {
	// URL of an external NATS server with JetStream (e.g.
	// "nats://user:pass@10.0.0.5:4222", comma-separated for a cluster). Empty
	// starts an embedded server in this process, reachable by no one else.
	URL string
	// DataDir holds the embedded server's store (in DataDir/nats). Required
	// when URL is empty; it must be persistent and used by one process only.
	DataDir string
	// Logger receives the queue's (and the embedded server's) logs.
	// Default: slog.Default().
	Logger *slog.Logger
	// AckWait is how long a delivered message stays leased to a worker
	// without an ack or heartbeat before it is redelivered. Default 30s.
	AckWait time.Duration
	// MaxDeliver is how many times a message is delivered at most. Default 5.
	MaxDeliver int
	// Stream is the JetStream stream's name. Default "JOBGRAPH_TASKS".
	Stream string
	// SubjectPrefix is the first tokens of every task subject. Default
	// "jobgraph.tasks". Two streams on one NATS server must not share it (two
	// installations on one cluster, or tests).
	SubjectPrefix string
	// Replicas of the stream on an external cluster. Default 1; the embedded
	// server can only hold 1.
	Replicas int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.AckWait == 0 {
		o.AckWait = DefaultAckWait
	}
	if o.MaxDeliver == 0 {
		o.MaxDeliver = DefaultMaxDeliver
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = DefaultSubjectPrefix
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.URL == "" && o.DataDir == "":
		return core.Invalid("dataDir", "is required for the embedded queue")
	case o.URL == "" && o.Replicas != 1:
		return core.Invalid("replicas", "must be 1 for the embedded queue")
	case o.AckWait < 100*time.Millisecond:
		return core.Invalid("ackWait", "must be at least 100ms")
	case o.MaxDeliver < 1:
		return core.Invalid("maxDeliver", "must be at least 1")
	case o.Replicas < 1 || o.Replicas > 5:
		return core.Invalid("replicas", "must be between 1 and 5")
	case !validName(o.Stream):
		return core.Invalid("stream", "must be a name without spaces, dots, '*', '>' or slashes")
	}
	for _, tok := range strings.Split(o.SubjectPrefix, ".") {
		if !validToken(tok) {
			return core.Invalid("subjectPrefix", "must be dot-separated tokens without spaces, '*' or '>'")
		}
	}
	return nil
}

// Queue is a connection to the task stream. It is safe for concurrent use.
type Queue struct {
	opts Options
	log  *slog.Logger
	ns   *server.Server // nil when external
	nc   *nats.Conn
	js   jetstream.JetStream

	mu        sync.Mutex
	consumers map[*Consumer]struct{}
	closed    bool
	closeOnce sync.Once
}

// Open starts the embedded NATS server (opts.URL empty) or connects to
// opts.URL, then creates the task stream or updates its configuration.
func Open(ctx context.Context, opts Options) (*Queue, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	q := &Queue{
		opts:      opts,
		log:       opts.Logger.With("component", "queue"),
		consumers: map[*Consumer]struct{}{},
	}
	if opts.URL == "" {
		ns, err := startEmbedded(opts.DataDir, q.log)
		if err != nil {
			return nil, err
		}
		q.ns = ns
	}
	if err := q.connect(); err != nil {
		q.shutdownServer()
		return nil, err
	}
	if err := q.ensureStream(ctx); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// startEmbedded runs a JetStream server inside this process with no listener:
// only in-process connections reach it (see STACK.md §8).
func startEmbedded(dataDir string, log *slog.Logger) (*server.Server, error) {
	storeDir := filepath.Join(dataDir, "nats")
	ns, err := server.NewServer(&server.Options{
		ServerName: "jobgraph-embedded",
		JetStream:  true,
		StoreDir:   storeDir,
		DontListen: true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded nats in %s: %w", storeDir, err)
	}
	ns.SetLoggerV2(serverLogger{log.With("nats", "embedded")}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("start embedded nats in %s: not ready after 30s", storeDir)
	}
	return ns, nil
}

// embeddedConn hands the connection the current embedded server, so that it
// reconnects to a restarted one (RestartEmbedded).
type embeddedConn struct{ q *Queue }

func (e embeddedConn) InProcessConn() (net.Conn, error) {
	e.q.mu.Lock()
	ns := e.q.ns
	e.q.mu.Unlock()
	if ns == nil || !ns.Running() {
		return nil, errors.New("embedded nats is not running")
	}
	return ns.InProcessConn()
}

// RestartEmbedded stops the embedded server and starts it again on the
// same store, as a crash and restart of it would; the connection
// reconnects by itself. It is for recovery drills and fault tests. Messages
// the store had not synced may be lost: the engine's rescuer publishes
// again every task the database still has queued.
func (q *Queue) RestartEmbedded() error {
	q.mu.Lock()
	old := q.ns
	q.mu.Unlock()
	if old == nil {
		return errors.New("queue: not embedded")
	}
	old.Shutdown()
	old.WaitForShutdown()
	ns, err := startEmbedded(q.opts.DataDir, q.log)
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.ns = ns
	q.mu.Unlock()
	return nil
}

func (q *Queue) connect() error {
	log := q.log
	natsOpts := []nats.Option{
		nats.Name("jobgraph"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("nats async error", "err", err)
		}),
	}
	var (
		nc  *nats.Conn
		err error
	)
	if q.opts.URL == "" {
		nc, err = nats.Connect(nats.DefaultURL, append(natsOpts, nats.InProcessServer(embeddedConn{q}))...)
		if err != nil {
			return fmt.Errorf("connect to embedded nats: %w", err)
		}
	} else {
		nc, err = nats.Connect(q.opts.URL, natsOpts...)
		if err != nil {
			return fmt.Errorf("connect to nats at %s: %w", RedactURL(q.opts.URL), err)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("jetstream on %s: %w", q.where(), err)
	}
	q.nc, q.js = nc, js
	return nil
}

func (q *Queue) ensureStream(ctx context.Context) error {
	cfg := jetstream.StreamConfig{
		Name:        q.opts.Stream,
		Description: "jobgraph tasks ready to run (work queue; the database holds the truth)",
		Subjects:    []string{q.opts.SubjectPrefix + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    q.opts.Replicas,
		Duplicates:  DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	}
	if _, err := q.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("create stream %s on %s: %w", q.opts.Stream, q.where(), err)
	}
	return nil
}

// where names the server for error messages, without credentials.
func (q *Queue) where() string {
	if q.opts.URL == "" {
		return "embedded nats"
	}
	return "nats at " + RedactURL(q.opts.URL)
}

// RedactURL returns a NATS URL (or comma-separated list) with any password or
// token replaced by "xxxxx", fit for logs and error messages.
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil {
			if strings.Contains(p, "@") { // unparsable: drop what precedes '@'
				p = "xxxxx@" + p[strings.LastIndex(p, "@")+1:]
			}
			parts[i] = p
			continue
		}
		if u.User != nil {
			if _, hasPass := u.User.Password(); hasPass {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx") // a bare user is a token
			}
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// Close stops every consumer of this queue (waiting for their handlers),
// drains the connection and shuts the embedded server down. It is idempotent.
func (q *Queue) Close() {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		cs := make([]*Consumer, 0, len(q.consumers))
		for c := range q.consumers {
			cs = append(cs, c)
		}
		q.mu.Unlock()
		for _, c := range cs {
			c.Stop()
		}
		if q.nc != nil {
			q.drain()
		}
		q.shutdownServer()
	})
}

func (q *Queue) drain() {
	closed := make(chan struct{})
	q.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := q.nc.Drain(); err != nil {
		q.nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		q.log.Warn("nats drain timed out, closing")
		q.nc.Close()
	}
}

func (q *Queue) shutdownServer() {
	q.mu.Lock()
	ns := q.ns
	q.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// TaskMessage says that a task is ready to run. It carries identifiers only:
// the worker reads everything else from the database.
type TaskMessage struct {
	TaskID    string `json:"taskId"`
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	Executor  string `json:"executor"`
	// Pool is the worker pool label the step requires; "" means any pool.
	Pool string `json:"pool,omitempty"`
	// Attempt numbers the task's attempts (a retry is a new attempt, a new
	// message); it is part of the deduplication ID.
	Attempt int `json:"attempt"`
	// Priority is informational here: see the package doc.
	Priority int `json:"priority,omitempty"`
}

func (m TaskMessage) validate() error {
	switch {
	case m.TaskID == "":
		return core.Invalid("taskId", "is required")
	case !validToken(m.Executor):
		return core.Invalid("executor", "must be a name without spaces, dots, '*' or '>'")
	case m.Pool != "" && !validPool(m.Pool):
		return invalidPool()
	case m.Attempt < 0:
		return core.Invalid("attempt", "must not be negative")
	}
	return nil
}

// msgID is the deduplication ID: one message per task attempt.
func (m TaskMessage) msgID() string { return m.TaskID + "/" + strconv.Itoa(m.Attempt) }

func (q *Queue) poolSubject(pool string) string {
	if pool == "" {
		pool = anyPool
	}
	return q.opts.SubjectPrefix + "." + pool
}

// Subject returns the subject m is published on.
func (q *Queue) Subject(m TaskMessage) string { return q.poolSubject(m.Pool) + "." + m.Executor }

// Publish sends m and returns once the stream has stored it. A second Publish
// of the same task attempt (TaskID and Attempt) within DuplicateWindow is
// accepted and dropped, so re-publishing after a crash is safe.
func (q *Queue) Publish(ctx context.Context, m TaskMessage) error {
	return q.PublishAll(ctx, []TaskMessage{m})
}

// PublishAll publishes ms without waiting for each acknowledgement in
// turn, then waits for them all; it reports the first failure. The same
// duplicate rule as Publish applies.
func (q *Queue) PublishAll(ctx context.Context, ms []TaskMessage) error {
	// In windows: the client refuses an async publish once 4,000 wait for
	// their acknowledgement ("stalled with too many outstanding async
	// published messages", after 200ms), which left most of a
	// 10,000-task run to the rescuer, 500 a sweep (issue 10, benchmark 3).
	for w := range slices.Chunk(ms, publishBatch) {
		if err := q.publishWindow(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// publishBatch is how many task messages PublishAll has in flight at
// once, well under the client's limit of outstanding async publishes
// (4,000 by default) even with a few runs publishing together.
const publishBatch = 500

func (q *Queue) publishWindow(ctx context.Context, ms []TaskMessage) error {
	futures := make([]jetstream.PubAckFuture, 0, len(ms))
	for _, m := range ms {
		if err := m.validate(); err != nil {
			return err
		}
		data, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode task %s: %w", m.TaskID, err)
		}
		f, err := q.js.PublishAsync(q.Subject(m), data, jetstream.WithMsgID(m.msgID()), jetstream.WithExpectStream(q.opts.Stream))
		if err != nil {
			return fmt.Errorf("publish task %s: %w", m.TaskID, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish task %s: %w", ms[i].TaskID, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Depth returns how many messages the stream holds: published and not yet
// acked or terminated (including the ones leased to workers).
func (q *Queue) Depth(ctx context.Context) (uint64, error) {
	s, err := q.js.Stream(ctx, q.opts.Stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", q.opts.Stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", q.opts.Stream, err)
	}
	return info.State.Msgs, nil
}

// validToken reports whether s can be one token of a subject.
func validToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}

// validName reports whether s can name a stream or a durable consumer.
func validName(s string) bool {
	return validToken(s) && !strings.ContainsAny(s, `/\`)
}

func validPool(p string) bool { return validToken(p) && p != anyPool }

func invalidPool() error {
	return core.Invalid("pool", "must be a label without spaces, dots, '*' or '>', and not %q", anyPool)
}

var errClosed = errors.New("queue closed")

// serverLogger sends the embedded server's logs to slog.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) Noticef(f string, v ...any) { s.l.Info(fmt.Sprintf(f, v...)) }
func (s serverLogger) Warnf(f string, v ...any)   { s.l.Warn(fmt.Sprintf(f, v...)) }
func (s serverLogger) Fatalf(f string, v ...any)  { s.l.Error(fmt.Sprintf(f, v...)) }
func (s serverLogger) Errorf(f string, v ...any)  { s.l.Error(fmt.Sprintf(f, v...)) }
func (s serverLogger) Debugf(f string, v ...any)  { s.l.Debug(fmt.Sprintf(f, v...)) }
func (s serverLogger) Tracef(f string, v ...any)  { s.l.Debug(fmt.Sprintf(f, v...)) }
