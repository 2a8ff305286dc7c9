package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jobgraph/jobgraph/core"
)

// Handler runs one delivered task. Its result settles the message unless it
// settled it itself (Delivery.Ack, Nak or Term): nil acks, an error naks with
// backoff or, on the last delivery, terminates and reports a dead letter. ctx
// is cancelled when the consumer stops; the handler should then return
// promptly (its message is naked for another worker unless it returns nil).
type Handler func(ctx context.Context, d *Delivery) error

// ConsumerOptions configures one Consume call.
type ConsumerOptions struct {
	// Name of the durable consumer shared by every worker of the pool.
	// Default "pool-<pool>" ("pool-any" for Pool "").
	Name string
	// Pool is the worker pool label whose tasks this consumer receives; ""
	// receives the tasks that require no pool.
	Pool string
	// Executors limits the consumer to these executors' tasks; empty means
	// all. Every worker of a pool must give the same set (see the package doc).
	Executors []string
	// MaxInFlight is how many handlers run at once in this process. Default 1.
	MaxInFlight int
	// Backoff is the delay before a message whose handler failed is
	// delivered again, by the number of deliveries so far (1 after the first).
	// Default: 1s doubling per delivery, at most 5 minutes.
	Backoff func(numDelivered int) time.Duration
	// OnDeadLetter is called (from the handler's goroutine) when a handler
	// fails on a message's last delivery (MaxDeliver), after the message was
	// terminated. err is the handler's error.
	OnDeadLetter func(d *Delivery, err error)
	// PollWait bounds one pull request to the server. Default 20s.
	PollWait time.Duration
}

// DefaultBackoff is the default ConsumerOptions.Backoff.
func DefaultBackoff(numDelivered int) time.Duration {
	d := time.Second
	for i := 1; i < numDelivered && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// Delivery is one delivery of a message to this worker.
type Delivery struct {
	Message TaskMessage
	// NumDelivered counts this delivery: 1 the first time.
	NumDelivered int
	// Seq is the message's sequence number in the stream: every delivery
	// of one message has the same, a re-published message another.
	Seq uint64

	msg     jetstream.Msg
	settled atomic.Bool
}

const settleTimeout = 10 * time.Second

// InProgress renews the lease (resets the ack wait). The consumer calls it
// every AckWait/3 while the handler runs; handlers need not.
func (d *Delivery) InProgress() error { return d.msg.InProgress() }

// Ack removes the message from the queue, waiting for the server to confirm.
func (d *Delivery) Ack() error {
	d.settled.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	return d.msg.DoubleAck(ctx)
}

// Nak asks for the message to be delivered again after delay (at once if 0).
func (d *Delivery) Nak(delay time.Duration) error {
	d.settled.Store(true)
	if delay <= 0 {
		return d.msg.Nak()
	}
	return d.msg.NakWithDelay(delay)
}

// Term tells the server never to deliver the message again.
func (d *Delivery) Term() error {
	d.settled.Store(true)
	return d.msg.Term()
}

// Consumer receives tasks for one pool and runs the handler on them. It
// follows the lifecycle of CONVENTIONS 12: it is started by Consume, Stop is
// idempotent, and Done is closed once it has stopped.
type Consumer struct {
	q          *Queue
	name       string
	log        *slog.Logger
	cons       jetstream.Consumer
	handler    Handler
	opts       ConsumerOptions
	ackWait    time.Duration
	maxDeliver int
	ctx        context.Context
	cancel     context.CancelFunc
	handlers   sync.WaitGroup
	done       chan struct{}

	// The leases of the deliveries being handled, renewed by one goroutine
	// (beat) for all of them: a goroutine and a ticker per delivery cost
	// about 8 KB each, 80 MB with 10,000 tasks in flight (issue 10,
	// benchmark 3).
	beatMu   sync.Mutex
	beating  map[*Delivery]beatState
	beatDone chan struct{}
}

type beatState struct {
	last time.Time // the lease was last taken or renewed
	log  *slog.Logger
}

// Consume creates the pool's durable consumer if needed and runs handler on
// its messages, up to MaxInFlight at a time, until ctx is cancelled, Stop is
// called or the queue is closed.
func (q *Queue) Consume(ctx context.Context, opts ConsumerOptions, handler Handler) (*Consumer, error) {
	if handler == nil {
		return nil, core.Invalid("handler", "is required")
	}
	if opts.Pool != "" && !validPool(opts.Pool) {
		return nil, invalidPool()
	}
	poolTok := opts.Pool
	if poolTok == "" {
		poolTok = anyPool
	}
	if opts.Name == "" {
		opts.Name = "pool-" + poolTok
	}
	if !validName(opts.Name) {
		return nil, core.Invalid("name", "must be a name without spaces, dots, '*', '>' or slashes")
	}
	if opts.MaxInFlight == 0 {
		opts.MaxInFlight = 1
	}
	if opts.MaxInFlight < 0 || opts.MaxInFlight > 10000 {
		return nil, core.Invalid("maxInFlight", "must be between 1 and 10000")
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.PollWait == 0 {
		opts.PollWait = 20 * time.Second
	}
	if opts.PollWait < 100*time.Millisecond {
		return nil, core.Invalid("pollWait", "must be at least 100ms")
	}
	filters, err := q.filters(opts.Pool, opts.Executors)
	if err != nil {
		return nil, err
	}

	// One durable per pool: refuse to change another worker's filter (see the
	// package doc) rather than starve it silently.
	if existing, err := q.js.Consumer(ctx, q.opts.Stream, opts.Name); err == nil {
		have := consumerFilters(existing.CachedInfo().Config)
		if !slices.Equal(have, filters) {
			return nil, core.Conflict("executors",
				"consumer %s already filters %v, not %v: every worker of pool %q must serve the same executors",
				opts.Name, have, filters, opts.Pool)
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("look up consumer %s on %s: %w", opts.Name, q.where(), err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       opts.Name,
		Description:   "jobgraph workers of pool " + poolTok,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.opts.AckWait,
		MaxDeliver:    q.opts.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// No cap on the messages leased at once across the pool's workers:
		// each worker pulls only as many as it has free slots (run), so the
		// slots are the flow control. JetStream's default, 1,000, held a
		// pool to 1,000 tasks in flight however many slots its workers had
		// (issue 10, benchmark 3).
		MaxAckPending: -1,
	}
	if len(filters) == 1 {
		cfg.FilterSubject = filters[0]
	} else {
		cfg.FilterSubjects = filters
	}
	cons, err := q.js.CreateOrUpdateConsumer(ctx, q.opts.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on %s: %w", opts.Name, q.where(), err)
	}

	cctx, cancel := context.WithCancel(ctx)
	c := &Consumer{
		q:          q,
		name:       opts.Name,
		log:        q.log.With("consumer", opts.Name),
		cons:       cons,
		handler:    handler,
		opts:       opts,
		ackWait:    q.opts.AckWait,
		maxDeliver: q.opts.MaxDeliver,
		ctx:        cctx,
		cancel:     cancel,
		done:       make(chan struct{}),
		beating:    map[*Delivery]beatState{},
		beatDone:   make(chan struct{}),
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		cancel()
		return nil, errClosed
	}
	q.consumers[c] = struct{}{}
	q.mu.Unlock()
	go c.run()
	go c.beat()
	return c, nil
}

func (q *Queue) filters(pool string, executors []string) ([]string, error) {
	base := q.poolSubject(pool)
	if len(executors) == 0 {
		return []string{base + ".*"}, nil
	}
	out := make([]string, 0, len(executors))
	for _, e := range executors {
		if !validToken(e) {
			return nil, core.Invalid("executors", "%q is not a valid executor name", e)
		}
		out = append(out, base+"."+e)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func consumerFilters(cfg jetstream.ConsumerConfig) []string {
	var fs []string
	if cfg.FilterSubject != "" {
		fs = append(fs, cfg.FilterSubject)
	}
	fs = append(fs, cfg.FilterSubjects...)
	slices.Sort(fs)
	return fs
}

// Stop stops fetching, cancels the handlers' context and waits for them to
// return. It is idempotent.
func (c *Consumer) Stop() {
	c.cancel()
	<-c.done
}

// Done is closed once the consumer has stopped and its handlers returned.
func (c *Consumer) Done() <-chan struct{} { return c.done }

// Name returns the durable consumer's name.
func (c *Consumer) Name() string { return c.name }

// run pulls exactly as many messages as there are free handler slots, so no
// message waits in a local buffer while its lease runs out.
func (c *Consumer) run() {
	defer func() {
		c.handlers.Wait()
		c.q.mu.Lock()
		delete(c.q.consumers, c)
		c.q.mu.Unlock()
		close(c.beatDone)
		close(c.done)
	}()
	slots := make(chan struct{}, c.opts.MaxInFlight)
	for {
		// Wait for one free slot, then take every other free one.
		select {
		case slots <- struct{}{}:
		case <-c.ctx.Done():
			return
		}
		n := 1
	take:
		for n < c.opts.MaxInFlight {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break take
			}
		}
		got, err := c.fetch(n, slots)
		for range n - got {
			<-slots
		}
		if c.ctx.Err() != nil {
			return
		}
		if err != nil {
			c.log.Warn("fetch tasks", "err", err)
			select { // the server or the connection is away: don't spin
			case <-time.After(time.Second):
			case <-c.ctx.Done():
				return
			}
		}
	}
}

// fetch runs one pull request for up to n messages and starts a handler for
// each as it arrives. It returns how many it started.
func (c *Consumer) fetch(n int, slots chan struct{}) (int, error) {
	fctx, cancel := context.WithTimeout(c.ctx, c.opts.PollWait)
	defer cancel()
	batch, err := c.cons.Fetch(n, jetstream.FetchContext(fctx))
	if err != nil {
		return 0, err
	}
	got := 0
	for m := range batch.Messages() {
		got++
		c.handlers.Add(1)
		go func() {
			defer func() { <-slots; c.handlers.Done() }()
			c.handle(m)
		}()
	}
	err = batch.Error()
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, nats.ErrTimeout) {
		return got, nil
	}
	return got, err
}

func (c *Consumer) handle(m jetstream.Msg) {
	d := &Delivery{msg: m, NumDelivered: 1}
	if md, err := m.Metadata(); err == nil {
		d.NumDelivered = int(md.NumDelivered)
		d.Seq = md.Sequence.Stream
	}
	if err := json.Unmarshal(m.Data(), &d.Message); err != nil {
		c.log.Error("undecodable task message, terminating it", "subject", m.Subject(), "err", err)
		if err := m.TermWithReason("undecodable"); err != nil {
			c.log.Warn("terminate message", "err", err)
		}
		return
	}
	log := c.log.With("task", d.Message.TaskID, "attempt", d.Message.Attempt, "delivery", d.NumDelivered)

	stopBeat := c.heartbeat(d, log)
	err := c.call(d)
	stopBeat()
	if d.settled.Load() {
		return
	}
	var settleErr error
	switch {
	case err == nil:
		settleErr = d.Ack()
	case c.ctx.Err() != nil:
		// Stopping: hand the task to another worker now rather than after
		// AckWait. Not a failure, so never a dead letter.
		log.Info("consumer stopping, releasing task", "err", err)
		settleErr = d.Nak(0)
	case d.NumDelivered >= c.maxDeliver:
		log.Warn("task failed on its last delivery, dead letter", "err", err)
		settleErr = d.Term()
		if c.opts.OnDeadLetter != nil {
			c.opts.OnDeadLetter(d, err)
		}
	default:
		delay := c.opts.Backoff(d.NumDelivered)
		log.Info("task failed, will be redelivered", "err", err, "delay", delay)
		settleErr = d.Nak(delay)
	}
	if settleErr != nil {
		// The lease will run out and the message will be redelivered.
		log.Warn("settle message", "err", settleErr)
	}
}

// call runs the handler, turning a panic into an error.
func (c *Consumer) call(d *Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return c.handler(c.ctx, d)
}

// heartbeat has d's lease renewed every AckWait/3 or so, by beat, until
// the returned func is called; after it returns, no renewal is sent.
func (c *Consumer) heartbeat(d *Delivery, log *slog.Logger) (stop func()) {
	c.beatMu.Lock()
	c.beating[d] = beatState{last: time.Now(), log: log}
	c.beatMu.Unlock()
	return func() {
		c.beatMu.Lock()
		delete(c.beating, d)
		c.beatMu.Unlock()
	}
}

// beat renews the leases of the deliveries being handled until the
// consumer is done: every AckWait/6 it renews those last renewed at least
// AckWait/6 ago, so a lease is renewed at most AckWait/3 after the last
// renewal (plus the time a round takes), well within AckWait.
func (c *Consumer) beat() {
	period := c.ackWait / 6
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.beatDone:
			return
		}
		now := time.Now()
		// Under beatMu, so that a stopped heartbeat sends nothing more;
		// InProgress only queues a publish on the connection.
		c.beatMu.Lock()
		for d, st := range c.beating {
			if now.Sub(st.last) < period || d.settled.Load() {
				continue
			}
			if err := d.InProgress(); err != nil {
				st.log.Warn("heartbeat", "err", err)
			}
			c.beating[d] = beatState{last: now, log: st.log}
		}
		c.beatMu.Unlock()
	}
}
