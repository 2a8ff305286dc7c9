package trigger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
)

// Store is what triggers need from storage; *store.Store is one.
type Store interface {
	core.Transactor
	CreateTrigger(ctx context.Context, t Trigger, sealed []byte) error
	// UpdateTrigger stores t's fields; a non-nil sealed replaces the secret.
	UpdateTrigger(ctx context.Context, t Trigger, sealed []byte) error
	DeleteTrigger(ctx context.Context, id string) error
	GetTrigger(ctx context.Context, id string) (Trigger, error)
	SealedTriggerSecret(ctx context.Context, id string) ([]byte, error)
	ListTriggers(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Trigger], error)
	CountTriggers(ctx context.Context, f Filter) (int, error)
	// RecordDelivery remembers a delivery ID of a trigger, or returns a
	// *core.ConflictError if it was already recorded.
	RecordDelivery(ctx context.Context, triggerID, deliveryID string, at time.Time) error
	// SetDeliveryRun notes the run a recorded delivery started, and the
	// trigger's LastDeliveryAt.
	SetDeliveryRun(ctx context.Context, triggerID, deliveryID, runID string, at time.Time) error
	// DeliveryRun returns the run a recorded delivery started.
	DeliveryRun(ctx context.Context, triggerID, deliveryID string) (string, error)
	// PruneDeliveries forgets a trigger's deliveries received before.
	PruneDeliveries(ctx context.Context, triggerID string, before time.Time) error
}

// Sealer encrypts secrets at rest; *secrets.Keyring is one.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Jobs reads jobs; *job.Service is one.
type Jobs interface {
	Get(ctx context.Context, id string) (job.Job, error)
}

// RunStarter starts runs; *engine.Engine is one. RunJob must take part in
// the transaction its ctx carries.
type RunStarter interface {
	RunJob(ctx context.Context, req engine.RunJobRequest) (run.Run, error)
}

// Auditor records deliveries; *audit.Recorder is one.
type Auditor interface {
	Record(ctx context.Context, ev audit.Event) error
}

// Options configure a Service.
type Options struct {
	Store  Store
	Sealer Sealer
	Jobs   Jobs
	// Runs starts the runs of accepted deliveries; nil refuses them.
	Runs   RunStarter
	Audit  Auditor
	Logger *slog.Logger
	// Now is the clock (default core.Now).
	Now func() time.Time
}

// Service manages webhook triggers and takes their deliveries.
type Service struct {
	o   Options
	log *slog.Logger
}

// NewService returns a Service.
func NewService(o Options) *Service {
	if o.Now == nil {
		o.Now = core.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, log: log.With("component", "trigger")}
}

// SetRuns sets the run starter, for a server that builds the engine after
// the service.
func (s *Service) SetRuns(r RunStarter) { s.o.Runs = r }

// CreateInput is what a new trigger is made of.
type CreateInput struct {
	ProjectID string
	JobID     string
	Name      string
	// Secret, when set, is the secret to use (one a sender already has);
	// otherwise one is generated.
	Secret           *string
	Params           []ParamSource
	RequireTimestamp bool
	Priority         int
	// Enabled defaults to true.
	Enabled   *bool
	CreatedBy string
}

// Create validates in and stores a trigger. It returns the secret: the one
// time it is shown.
func (s *Service) Create(ctx context.Context, in CreateInput) (Trigger, string, error) {
	if err := core.CheckID("projectId", core.KindProject, in.ProjectID); err != nil {
		return Trigger{}, "", err
	}
	if err := core.CheckID("jobId", core.KindJob, in.JobID); err != nil {
		return Trigger{}, "", err
	}
	now := s.o.Now()
	t := Trigger{
		ID: core.NewID(core.KindTrigger), ProjectID: in.ProjectID, JobID: in.JobID, Name: strings.TrimSpace(in.Name),
		Params: slices.Clone(in.Params), RequireTimestamp: in.RequireTimestamp, Priority: in.Priority,
		Enabled: in.Enabled == nil || *in.Enabled, CreatedBy: in.CreatedBy, CreatedAt: now, UpdatedAt: now,
	}
	if err := t.validate(); err != nil {
		return Trigger{}, "", err
	}
	secret, err := newSecret(in.Secret)
	if err != nil {
		return Trigger{}, "", err
	}
	sealed, err := s.seal(t.ID, secret)
	if err != nil {
		return Trigger{}, "", err
	}
	err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.checkJob(ctx, t); err != nil {
			return err
		}
		return s.o.Store.CreateTrigger(ctx, t, sealed)
	})
	if err != nil {
		return Trigger{}, "", err
	}
	return t, secret, nil
}

// checkJob makes sure t's job is in t's project and has every parameter t
// maps.
func (s *Service) checkJob(ctx context.Context, t Trigger) error {
	j, err := s.o.Jobs.Get(ctx, t.JobID)
	if errors.Is(err, core.ErrNotFound) || err == nil && j.ProjectID != t.ProjectID {
		return core.Invalid("jobId", "no job %q in this project", t.JobID)
	}
	if err != nil {
		return err
	}
	for _, p := range t.Params {
		if !slices.ContainsFunc(j.Spec.Parameters, func(jp job.Parameter) bool { return jp.Name == p.Name }) {
			return core.Invalid("params."+p.Name, "the job has no parameter %q", p.Name)
		}
	}
	return nil
}

// UpdateInput changes a trigger; nil fields stay as they are.
type UpdateInput struct {
	ID               string
	Name             *string
	Params           *[]ParamSource
	RequireTimestamp *bool
	Priority         *int
	Enabled          *bool
}

// Update applies in to the trigger it names.
func (s *Service) Update(ctx context.Context, in UpdateInput) (Trigger, error) {
	if err := core.CheckID("id", core.KindTrigger, in.ID); err != nil {
		return Trigger{}, err
	}
	var t Trigger
	err := s.o.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = s.o.Store.GetTrigger(ctx, in.ID); err != nil {
			return err
		}
		if in.Name != nil {
			t.Name = strings.TrimSpace(*in.Name)
		}
		if in.Params != nil {
			t.Params = slices.Clone(*in.Params)
		}
		if in.RequireTimestamp != nil {
			t.RequireTimestamp = *in.RequireTimestamp
		}
		if in.Priority != nil {
			t.Priority = *in.Priority
		}
		if in.Enabled != nil {
			t.Enabled = *in.Enabled
		}
		if err := t.validate(); err != nil {
			return err
		}
		if in.Params != nil {
			if err := s.checkJob(ctx, t); err != nil {
				return err
			}
		}
		t.UpdatedAt = s.o.Now()
		return s.o.Store.UpdateTrigger(ctx, t, nil)
	})
	return t, err
}

// RotateSecret replaces a trigger's secret (with secret if given, else a
// generated one) and returns the new one: the one time it is shown. The old
// secret stops working at once.
func (s *Service) RotateSecret(ctx context.Context, id string, secret *string) (Trigger, string, error) {
	if err := core.CheckID("id", core.KindTrigger, id); err != nil {
		return Trigger{}, "", err
	}
	plain, err := newSecret(secret)
	if err != nil {
		return Trigger{}, "", err
	}
	sealed, err := s.seal(id, plain)
	if err != nil {
		return Trigger{}, "", err
	}
	var t Trigger
	err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = s.o.Store.GetTrigger(ctx, id); err != nil {
			return err
		}
		t.UpdatedAt = s.o.Now()
		return s.o.Store.UpdateTrigger(ctx, t, sealed)
	})
	if err != nil {
		return Trigger{}, "", err
	}
	return t, plain, nil
}

// Delete removes a trigger and the record of its deliveries.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := core.CheckID("id", core.KindTrigger, id); err != nil {
		return err
	}
	return s.o.Store.DeleteTrigger(ctx, id)
}

// Get returns one trigger.
func (s *Service) Get(ctx context.Context, id string) (Trigger, error) {
	if err := core.CheckID("id", core.KindTrigger, id); err != nil {
		return Trigger{}, err
	}
	return s.o.Store.GetTrigger(ctx, id)
}

// List returns one page of a project's triggers, ordered by name.
func (s *Service) List(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Trigger], error) {
	if err := core.CheckID("projectId", core.KindProject, f.ProjectID); err != nil {
		return core.Page[Trigger]{}, err
	}
	if err := page.Validate(); err != nil {
		return core.Page[Trigger]{}, err
	}
	return s.o.Store.ListTriggers(ctx, f, page)
}

// Count counts the triggers f selects.
func (s *Service) Count(ctx context.Context, f Filter) (int, error) {
	return s.o.Store.CountTriggers(ctx, f)
}

// newSecret checks a chosen secret, or generates 32 random bytes (as 64
// hexadecimal characters, the form senders' settings take).
func newSecret(chosen *string) (string, error) {
	if chosen != nil {
		if n := len(*chosen); n < MinSecretLen || n > MaxSecretLen {
			return "", core.Invalid("secret", "must be %d to %d characters", MinSecretLen, MaxSecretLen)
		}
		return *chosen, nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func (s *Service) seal(id, secret string) ([]byte, error) {
	sealed, err := s.o.Sealer.Seal([]byte(secret), secretAAD(id))
	if err != nil {
		return nil, fmt.Errorf("seal secret of trigger %s: %w", id, err)
	}
	return sealed, nil
}

func (s *Service) openSecret(ctx context.Context, id string) ([]byte, error) {
	sealed, err := s.o.Store.SealedTriggerSecret(ctx, id)
	if err != nil {
		return nil, err
	}
	plain, err := s.o.Sealer.Open(sealed, secretAAD(id))
	if err != nil {
		return nil, fmt.Errorf("open secret of trigger %s: %w", id, err)
	}
	return plain, nil
}

// secretAAD binds a sealed secret to its trigger.
func secretAAD(id string) []byte { return []byte("trigger/" + id) }
