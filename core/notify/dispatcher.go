package notify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Defaults of DispatcherOptions.
const (
	DefaultBatch        = 16
	DefaultPollInterval = time.Second
	DefaultPruneEvery   = time.Hour
)

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	// Batch is how many deliveries one claim takes, and sends at once.
	// Default DefaultBatch.
	Batch int
	// PollInterval is the longest the dispatcher sleeps between looks at
	// the outbox, so that another replica's deliveries are seen. Default
	// DefaultPollInterval.
	PollInterval time.Duration
	// Keep is how long sent and failed deliveries are kept (config
	// log_retention); 0 keeps them forever.
	Keep time.Duration
	// PruneEvery is the time between prunes. Default DefaultPruneEvery.
	PruneEvery time.Duration
	// OnFinish, if set, hears of every delivery's outcome once stored
	// (tests wait on it).
	OnFinish func(Outcome)
}

// Dispatcher sends the deliveries of the outbox. Every server replica runs
// one; they share the outbox through the store's claims, so each delivery
// is sent by one of them at a time.
//
// Its lifecycle is that of every long-running component (CONVENTIONS 12):
// NewDispatcher starts nothing; Start starts the loop and closes Started;
// Stop cancels the attempts in flight (they stay claimed until their lease
// ends, then another dispatcher takes them back), waits for the loop, and is
// idempotent and safe before Start.
//
// The loop: claim up to Batch due deliveries (a lease of twice the attempt
// timeout plus 5s), send them concurrently, each bounded by the attempt
// timeout, and store each outcome: sent; pending again after Backoff; or
// failed, on a permanent error or once MaxAttempts are spent. When nothing
// is due it sleeps until the next delivery is due, at most PollInterval, or
// until Notify wakes it.
type Dispatcher struct {
	s   *Service
	o   DispatcherOptions
	log *slog.Logger

	mu      sync.Mutex
	cancel  context.CancelFunc
	stopped bool
	started chan struct{}
	done    chan struct{}
}

// NewDispatcher returns a Dispatcher of s's deliveries.
func NewDispatcher(s *Service, o DispatcherOptions) *Dispatcher {
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = DefaultPruneEvery
	}
	return &Dispatcher{s: s, o: o, log: s.log.With("component", "notify_dispatcher"), started: make(chan struct{}), done: make(chan struct{})}
}

// Start starts the loop; it returns at once.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil || d.stopped {
		return errors.New("notification dispatcher: already started")
	}
	ctx, d.cancel = context.WithCancel(ctx)
	go d.loop(ctx)
	close(d.started)
	return nil
}

// Started is closed once the loop runs.
func (d *Dispatcher) Started() <-chan struct{} { return d.started }

// Stop stops the loop and waits for it.
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	d.stopped = true
	cancel := d.cancel
	d.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-d.done
}

func (d *Dispatcher) loop(ctx context.Context) {
	defer close(d.done)
	var lastPrune time.Time
	for ctx.Err() == nil {
		n, err := d.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("cannot claim notification deliveries; retrying", "err", err, "in", d.o.PollInterval)
		}
		if n == d.o.Batch {
			continue // there may be more due
		}
		if d.o.Keep > 0 && time.Since(lastPrune) >= d.o.PruneEvery {
			lastPrune = time.Now()
			if n, err := d.s.o.Store.DeleteDeliveriesBefore(ctx, d.s.o.Now().Add(-d.o.Keep)); err != nil && ctx.Err() == nil {
				d.log.Error("cannot delete old notification deliveries", "err", err)
			} else if n > 0 {
				d.log.Info("deleted old notification deliveries", "deliveries", n)
			}
		}
		wait := d.o.PollInterval
		if at, ok, err := d.s.o.Store.NextDeliveryAt(ctx); err == nil && ok {
			wait = min(wait, max(at.Sub(d.s.o.Now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-d.s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce claims the due deliveries (at most Batch), sends them and stores
// the outcomes; it returns how many it claimed. The loop calls it; it is
// exported for tests.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	now := d.s.o.Now()
	lease := 2*d.s.o.AttemptTimeout + 5*time.Second
	ds, err := d.s.o.Store.ClaimDeliveries(ctx, ClaimRequest{Now: now, LeaseUntil: now.Add(lease), Limit: d.o.Batch})
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, dl := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.deliver(ctx, dl)
		}()
	}
	wg.Wait()
	return len(ds), nil
}

// deliver makes one attempt at dl and stores its outcome.
func (d *Dispatcher) deliver(ctx context.Context, dl Delivery) {
	o := Outcome{ID: dl.ID, Attempts: dl.Attempts}
	err := d.attempt(ctx, dl)
	if ctx.Err() != nil {
		return // stopping: the lease runs out and another takes it back
	}
	now := d.s.o.Now()
	switch {
	case err == nil:
		o.Status, o.SentAt = DeliverySent, &now
	case IsPermanent(err) || dl.Attempts >= d.s.o.MaxAttempts:
		o.Status, o.LastError = DeliveryFailed, errText(err)
	default:
		o.Status, o.LastError, o.NextAttemptAt = DeliveryPending, errText(err), now.Add(d.s.o.Backoff(dl.Attempts))
	}
	applied, ferr := d.s.o.Store.FinishDelivery(context.WithoutCancel(ctx), o)
	switch {
	case ferr != nil:
		d.log.Error("cannot store a notification delivery's outcome; it will be retried", "delivery", dl.ID, "err", ferr)
		return
	case !applied:
		d.log.Warn("a notification delivery's lease ran out before its attempt ended", "delivery", dl.ID)
		return
	case o.Status == DeliveryFailed:
		d.log.Warn("notification delivery failed", "delivery", dl.ID, "channel", dl.ChannelID, "attempts", dl.Attempts, "err", o.LastError)
	case o.Status == DeliveryPending:
		d.log.Info("notification delivery attempt failed; retrying", "delivery", dl.ID, "attempt", dl.Attempts, "next", o.NextAttemptAt, "err", o.LastError)
	}
	if d.o.OnFinish != nil {
		d.o.OnFinish(o)
	}
}

// errLeaseSpent fails a delivery taken back after its last attempt.
var errLeaseSpent = Permanent(errors.New("the last attempt did not report back before its lease ran out"))

func (d *Dispatcher) attempt(ctx context.Context, dl Delivery) error {
	if dl.Attempts > d.s.o.MaxAttempts {
		return errLeaseSpent
	}
	chs, err := d.s.o.Store.ChannelsByID(ctx, []string{dl.ChannelID})
	if err != nil {
		return err
	}
	c, ok := chs[dl.ChannelID]
	if !ok {
		return Permanent(errors.New("the channel was deleted"))
	}
	cfg, err := d.s.open(ctx, c)
	if err != nil {
		return err
	}
	var m Message
	if err := json.Unmarshal(dl.Payload, &m); err != nil {
		return Permanent(errors.New("malformed payload"))
	}
	actx, cancel := context.WithTimeout(ctx, d.s.o.AttemptTimeout)
	defer cancel()
	err = cfg.Send(actx, m)
	if err != nil && actx.Err() != nil && ctx.Err() == nil {
		return errors.New("no answer within " + d.s.o.AttemptTimeout.String())
	}
	return err
}

// errText is err's message, bounded for the last_error column.
func errText(err error) string {
	return truncate(err.Error(), 1000)
}
