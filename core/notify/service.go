package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/run"
)

// Defaults of Options.
const (
	DefaultMaxAttempts    = 8
	DefaultAttemptTimeout = 10 * time.Second
	// notifyTimeout bounds Notify's insert: the engine waits for it.
	notifyTimeout = 5 * time.Second
	maxActorLen   = 64
)

// Store keeps channels and the deliveries outbox; *store.Store is one.
type Store interface {
	core.Transactor
	ProjectExists(ctx context.Context, id string) error
	GetProject(ctx context.Context, id string) (project.Project, error)

	// CreateChannel stores c and its sealed secrets.
	CreateChannel(ctx context.Context, c Channel, sealed []byte) error
	// UpdateChannel stores c, and sealed unless it is nil.
	UpdateChannel(ctx context.Context, c Channel, sealed []byte) error
	// DeleteChannel removes a channel and its deliveries.
	DeleteChannel(ctx context.Context, id string) error
	GetChannel(ctx context.Context, id string) (Channel, error)
	// ChannelsByID returns those of ids that exist, keyed by ID.
	ChannelsByID(ctx context.Context, ids []string) (map[string]Channel, error)
	SealedChannelSecrets(ctx context.Context, id string) ([]byte, error)
	// ListChannels pages through a project's channels by name.
	ListChannels(ctx context.Context, projectID string, page core.PageArgs) (core.Page[Channel], error)
	CountChannels(ctx context.Context, projectID string) (int, error)
	// EnabledChannels returns a project's enabled channels.
	EnabledChannels(ctx context.Context, projectID string) ([]Channel, error)

	// CreateDeliveries inserts pending deliveries.
	CreateDeliveries(ctx context.Context, ds []Delivery) error
	// ClaimDeliveries moves up to req.Limit due deliveries (pending and
	// due, or sending with an ended lease) to sending, counts an attempt
	// and sets their lease, atomically: two callers never claim one
	// delivery.
	ClaimDeliveries(ctx context.Context, req ClaimRequest) ([]Delivery, error)
	// FinishDelivery applies o if the delivery is still sending with
	// o.Attempts attempts, and reports whether it did.
	FinishDelivery(ctx context.Context, o Outcome) (bool, error)
	// NextDeliveryAt returns the earliest NextAttemptAt of the pending and
	// sending deliveries; ok is false when there are none.
	NextDeliveryAt(ctx context.Context) (at time.Time, ok bool, err error)
	// ListDeliveries pages through deliveries, newest first.
	ListDeliveries(ctx context.Context, f DeliveryFilter, page core.PageArgs) (core.Page[Delivery], error)
	CountDeliveries(ctx context.Context, f DeliveryFilter) (int, error)
	// DeleteDeliveriesBefore deletes sent and failed deliveries created
	// before t, and returns how many.
	DeleteDeliveriesBefore(ctx context.Context, t time.Time) (int64, error)
}

// Sealer encrypts secrets at rest; *secrets.Keyring is one.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Options configure a Service.
type Options struct {
	Store  Store
	Sealer Sealer
	// PublicURL is the server's public base URL (config public_url), for
	// the run links in messages; "" leaves them out.
	PublicURL string
	// MaxAttempts is how many attempts a delivery gets. Default
	// DefaultMaxAttempts.
	MaxAttempts int
	// AttemptTimeout bounds one attempt. Default DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Backoff is the wait after a failed attempt n. Default Backoff.
	Backoff func(attempt int) time.Duration
	// Now is the clock. Default core.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service manages a project's notification channels and turns the
// engine's notices into deliveries. It is the engine's Notifier.
type Service struct {
	o    Options
	log  *slog.Logger
	wake chan struct{} // Notify → the Dispatcher of this process
}

// NewService returns a Service.
func NewService(o Options) *Service {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.Backoff == nil {
		o.Backoff = Backoff
	}
	if o.Now == nil {
		o.Now = core.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return &Service{o: o, log: o.Logger.With("component", "notify"), wake: make(chan struct{}, 1)}
}

// ---- channels ----

// CreateChannelInput is what a new channel is made of.
type CreateChannelInput struct {
	ProjectID string
	Name      string
	Events    []Event
	Enabled   bool
	// Config is the kind's config, secrets included (&Webhook{...}).
	Config    Config
	CreatedBy string
}

// CreateChannel validates in, seals the secrets and stores the channel.
func (s *Service) CreateChannel(ctx context.Context, in CreateChannelInput) (Channel, error) {
	if err := core.CheckID("projectId", core.KindProject, in.ProjectID); err != nil {
		return Channel{}, err
	}
	now := s.o.Now()
	c := Channel{
		ID: core.NewID(core.KindChannel), ProjectID: in.ProjectID, Name: strings.TrimSpace(in.Name),
		Enabled: in.Enabled, CreatedBy: in.CreatedBy, CreatedAt: now, UpdatedAt: now,
	}
	if err := core.CheckName("name", c.Name, MaxChannelNameLen); err != nil {
		return Channel{}, err
	}
	if len(c.CreatedBy) > maxActorLen {
		return Channel{}, core.Invalid("createdBy", "must be at most %d bytes", maxActorLen)
	}
	var err error
	if c.Events, err = NewEventSet("events", in.Events...); err != nil {
		return Channel{}, err
	}
	if in.Config == nil {
		return Channel{}, core.Invalid("config", "give exactly one of webhook, slack or email")
	}
	sealed, err := s.prepare(&c, in.Config)
	if err != nil {
		return Channel{}, err
	}
	err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.o.Store.ProjectExists(ctx, c.ProjectID); err != nil {
			return err
		}
		return s.o.Store.CreateChannel(ctx, c, sealed)
	})
	if err != nil {
		return Channel{}, err
	}
	return c, nil
}

// prepare validates cfg, stores its settings in c and returns its sealed
// secrets.
func (s *Service) prepare(c *Channel, cfg Config) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	settings, secrets, err := encode(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode %s channel: %w", cfg.Kind(), err)
	}
	sealed, err := s.o.Sealer.Seal(secrets, channelAAD(c.ID))
	if err != nil {
		return nil, fmt.Errorf("seal secrets of channel %s: %w", c.ID, err)
	}
	c.Kind, c.Settings = cfg.Kind(), settings
	return sealed, nil
}

// UpdateChannelInput changes a channel. Absent (nil) fields stay. A Config
// replaces the settings; the secrets it leaves empty are kept. A channel's
// kind never changes.
type UpdateChannelInput struct {
	ID      string
	Name    *string
	Events  []Event // nil: unchanged
	Enabled *bool
	Config  Config
}

// UpdateChannel applies in to the channel it names.
func (s *Service) UpdateChannel(ctx context.Context, in UpdateChannelInput) (Channel, error) {
	if err := core.CheckID("id", core.KindChannel, in.ID); err != nil {
		return Channel{}, err
	}
	var c Channel
	err := s.o.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if c, err = s.o.Store.GetChannel(ctx, in.ID); err != nil {
			return err
		}
		if in.Name != nil {
			c.Name = strings.TrimSpace(*in.Name)
			if err := core.CheckName("name", c.Name, MaxChannelNameLen); err != nil {
				return err
			}
		}
		if in.Events != nil {
			if c.Events, err = NewEventSet("events", in.Events...); err != nil {
				return err
			}
		}
		if in.Enabled != nil {
			c.Enabled = *in.Enabled
		}
		var sealed []byte
		if in.Config != nil {
			if in.Config.Kind() != c.Kind {
				return core.Invalid("config", "the channel is a %s channel: its kind never changes", c.Kind)
			}
			old, err := s.open(ctx, c)
			if err != nil {
				return err
			}
			in.Config.KeepSecrets(old)
			if sealed, err = s.prepare(&c, in.Config); err != nil {
				return err
			}
		}
		c.UpdatedAt = s.o.Now()
		return s.o.Store.UpdateChannel(ctx, c, sealed)
	})
	return c, err
}

// DeleteChannel removes a channel and its deliveries.
func (s *Service) DeleteChannel(ctx context.Context, id string) error {
	if err := core.CheckID("id", core.KindChannel, id); err != nil {
		return err
	}
	return s.o.Store.DeleteChannel(ctx, id)
}

// GetChannel returns one channel (never its secrets).
func (s *Service) GetChannel(ctx context.Context, id string) (Channel, error) {
	if err := core.CheckID("id", core.KindChannel, id); err != nil {
		return Channel{}, err
	}
	return s.o.Store.GetChannel(ctx, id)
}

// ChannelsByID returns those of ids that exist, keyed by ID.
func (s *Service) ChannelsByID(ctx context.Context, ids []string) (map[string]Channel, error) {
	return s.o.Store.ChannelsByID(ctx, ids)
}

// ListChannels returns one page of a project's channels, by name.
func (s *Service) ListChannels(ctx context.Context, projectID string, page core.PageArgs) (core.Page[Channel], error) {
	if err := core.CheckID("projectId", core.KindProject, projectID); err != nil {
		return core.Page[Channel]{}, err
	}
	if err := page.Validate(); err != nil {
		return core.Page[Channel]{}, err
	}
	return s.o.Store.ListChannels(ctx, projectID, page)
}

// CountChannels counts a project's channels.
func (s *Service) CountChannels(ctx context.Context, projectID string) (int, error) {
	return s.o.Store.CountChannels(ctx, projectID)
}

// ListDeliveries returns one page of deliveries, newest first.
func (s *Service) ListDeliveries(ctx context.Context, f DeliveryFilter, page core.PageArgs) (core.Page[Delivery], error) {
	if err := core.CheckID("projectId", core.KindProject, f.ProjectID); err != nil {
		return core.Page[Delivery]{}, err
	}
	if f.ChannelID != "" {
		if err := core.CheckID("channelId", core.KindChannel, f.ChannelID); err != nil {
			return core.Page[Delivery]{}, err
		}
	}
	if f.Status != "" && !f.Status.Valid() {
		return core.Page[Delivery]{}, core.Invalid("status", "unknown delivery status %q", f.Status)
	}
	if err := page.Validate(); err != nil {
		return core.Page[Delivery]{}, err
	}
	return s.o.Store.ListDeliveries(ctx, f, page)
}

// CountDeliveries counts the deliveries f selects.
func (s *Service) CountDeliveries(ctx context.Context, f DeliveryFilter) (int, error) {
	return s.o.Store.CountDeliveries(ctx, f)
}

// TestChannel sends a test message through the channel now, once, and
// returns the sender's error as sendErr; err reports a channel that cannot
// be loaded.
func (s *Service) TestChannel(ctx context.Context, id string) (sendErr error, err error) {
	if err := core.CheckID("id", core.KindChannel, id); err != nil {
		return nil, err
	}
	c, err := s.o.Store.GetChannel(ctx, id)
	if err != nil {
		return nil, err
	}
	cfg, err := s.open(ctx, c)
	if err != nil {
		return nil, err
	}
	m := Message{Event: EventTest, Run: RunInfo{Name: "test", Status: string(run.RunSucceeded),
		Project: s.projectInfo(ctx, c.ProjectID), Trigger: TriggerInfo{Kind: string(run.TriggerManual)}, CreatedAt: s.o.Now()}}
	actx, cancel := context.WithTimeout(ctx, s.o.AttemptTimeout)
	defer cancel()
	return cfg.Send(actx, m), nil
}

// open returns c's config with its secrets.
func (s *Service) open(ctx context.Context, c Channel) (Config, error) {
	sealed, err := s.o.Store.SealedChannelSecrets(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	plain, err := s.o.Sealer.Open(sealed, channelAAD(c.ID))
	if err != nil {
		return nil, fmt.Errorf("open secrets of channel %s: %w", c.ID, err)
	}
	return decode(c.Kind, c.Settings, plain)
}

// channelAAD binds sealed secrets to their channel.
func channelAAD(id string) []byte { return []byte("notification-channel/" + id) }

// ---- notices ----

// EventOf maps an engine notice to a channel event; ok is false for a
// notice no channel hears of.
func EventOf(n run.Notice) (Event, bool) {
	switch n.Kind {
	case run.NoticeApproval:
		return EventApprovalRequested, true
	case run.NoticeFinished:
		switch n.Status {
		case run.RunSucceeded:
			return EventRunSucceeded, true
		case run.RunFailed, run.RunTimedOut:
			return EventRunFailed, true
		case run.RunCanceled:
			return EventRunCanceled, true
		}
	}
	return "", false
}

// Notify implements engine.Notifier: it writes one pending delivery per
// enabled channel of the run's project that hears of the event, and wakes
// the dispatcher. It only inserts rows (bounded by a short timeout); the
// sending happens in the Dispatcher. A failure is logged: the engine has
// nothing to do about it.
func (s *Service) Notify(ctx context.Context, n run.Notice) {
	ev, ok := EventOf(n)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	if err := s.notify(ctx, ev, n); err != nil {
		s.log.Error("cannot queue notifications; they are lost", "run", n.Run.ID, "event", ev, "err", err)
	}
}

func (s *Service) notify(ctx context.Context, ev Event, n run.Notice) error {
	channels, err := s.o.Store.EnabledChannels(ctx, n.Run.ProjectID)
	if err != nil {
		return err
	}
	var ds []Delivery
	var payload json.RawMessage
	for _, c := range channels {
		if !c.Events.Has(ev) {
			continue
		}
		if payload == nil {
			if payload, err = json.Marshal(s.message(ctx, ev, n)); err != nil {
				return err
			}
		}
		now := s.o.Now()
		ds = append(ds, Delivery{
			ID: core.NewID(core.KindDelivery), ChannelID: c.ID, ProjectID: c.ProjectID, RunID: n.Run.ID, Event: ev,
			Payload: payload, Status: DeliveryPending, NextAttemptAt: now, CreatedAt: now,
		})
	}
	if len(ds) == 0 {
		return nil
	}
	if err := s.o.Store.CreateDeliveries(ctx, ds); err != nil {
		return err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// message describes notice n as event ev.
func (s *Service) message(ctx context.Context, ev Event, n run.Notice) Message {
	r := n.Run
	status := n.Status
	if status == "" {
		status = r.Status
	}
	m := Message{Event: ev, Reason: n.Reason, Run: RunInfo{
		ID: r.ID, Name: r.Name, Status: string(status), Project: s.projectInfo(ctx, r.ProjectID),
		Trigger:   TriggerInfo{Kind: string(r.Trigger.Kind), Actor: r.Trigger.Actor},
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
	}}
	if s.o.PublicURL != "" && r.ID != "" {
		m.Run.URL = s.o.PublicURL + "/runs/" + url.PathEscape(r.ID)
	}
	if ev == EventApprovalRequested {
		m.Approval = &ApprovalInfo{ID: n.ApprovalID, Step: n.Step}
	}
	return m
}

// projectInfo names project id; a project that cannot be read keeps its ID
// only.
func (s *Service) projectInfo(ctx context.Context, id string) ProjectInfo {
	p, err := s.o.Store.GetProject(ctx, id)
	if err != nil {
		return ProjectInfo{ID: id}
	}
	return ProjectInfo{ID: id, Name: p.Name}
}
