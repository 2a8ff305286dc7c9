package trigger

import (
	"context"
	"errors"
	"strings"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/guard"
	"github.com/jobgraph/jobgraph/core/run"
)

// AuditAction is the action of a delivery's audit event.
const AuditAction = "deliverWebhook"

// Result is what an accepted delivery did.
type Result struct {
	RunID      string
	DeliveryID string
}

// Deliver takes one delivery: it finds the trigger, checks the signature,
// maps the payload to the job's parameters and, in one transaction,
// records the delivery ID and starts the run. Every delivery is audited,
// accepted or refused.
//
// Its errors: a *core.NotFoundError for an unknown or disabled trigger (the
// same for both), a *SignatureError, a *core.ConflictError for a replayed
// delivery, a *core.ValidationError naming the parameter (and the payload
// path) that did not map, and whatever the engine refuses the run with (a
// guard.BlockedError, say).
func (s *Service) Deliver(ctx context.Context, req Request) (Result, error) {
	ev := audit.Event{
		Action: AuditAction, ObjectKind: core.KindTrigger.Noun(), ClientAddr: req.ClientAddr, UserAgent: req.UserAgent,
	}
	res, err := s.deliver(ctx, req, &ev)
	if err != nil {
		ev.Outcome, ev.Reason = outcomeOf(err)
		if rerr := s.o.Audit.Record(context.WithoutCancel(ctx), ev); rerr != nil {
			s.log.ErrorContext(ctx, "cannot record audit event", "action", ev.Action, "err", rerr)
		}
	}
	return res, err
}

func (s *Service) deliver(ctx context.Context, req Request, ev *audit.Event) (Result, error) {
	notFound := core.NotFound(core.KindTrigger.Noun(), clip(req.TriggerID))
	if core.CheckID("id", core.KindTrigger, req.TriggerID) != nil {
		return Result{}, notFound
	}
	ev.ObjectID = req.TriggerID
	t, err := s.o.Store.GetTrigger(ctx, req.TriggerID)
	if errors.Is(err, core.ErrNotFound) {
		return Result{}, notFound
	}
	if err != nil {
		return Result{}, err
	}
	ev.ProjectID, ev.ActorID, ev.ActorName = t.ProjectID, "trigger:"+t.ID, t.Name
	if !t.Enabled {
		return Result{}, notFound
	}
	secret, err := s.openSecret(ctx, t.ID)
	if err != nil {
		return Result{}, err
	}
	now := s.o.Now()
	deliveryID, err := verify(req, secret, t.RequireTimestamp, now)
	if err != nil {
		return Result{}, err
	}
	params, unmapped, err := MapPayload(t.Params, req.Body)
	if err != nil {
		return Result{}, err
	}
	if s.o.Runs == nil {
		return Result{}, errors.New("runs are not enabled on this server")
	}
	var res Result
	err = s.o.Store.InTx(ctx, func(ctx context.Context) error {
		// The delivery is recorded first: a concurrent replay waits on its
		// unique key, and fails on it once this transaction commits; if
		// this one rolls back (the run was refused), the ID is not burnt.
		if err := s.o.Store.RecordDelivery(ctx, t.ID, deliveryID, now); err != nil {
			return err
		}
		r, err := s.o.Runs.RunJob(ctx, engine.RunJobRequest{
			ProjectID: t.ProjectID, JobID: t.JobID, Params: params, Priority: t.Priority,
			Trigger: run.Trigger{Kind: run.TriggerWebhook, Actor: t.ID},
		})
		if err != nil {
			return explainParam(err, unmapped)
		}
		if err := s.o.Store.SetDeliveryRun(ctx, t.ID, deliveryID, r.ID, now); err != nil {
			return err
		}
		if err := s.o.Store.PruneDeliveries(ctx, t.ID, now.Add(-DeliveryRetention)); err != nil {
			return err
		}
		res = Result{RunID: r.ID, DeliveryID: deliveryID}
		ok := *ev
		ok.ObjectKind, ok.ObjectID, ok.Outcome = core.KindRun.Noun(), r.ID, audit.Allowed
		return s.o.Audit.Record(ctx, ok)
	})
	if err != nil {
		var ce *core.ConflictError
		if errors.As(err, &ce) && ce.Field == "deliveryId" {
			return Result{}, s.replay(ctx, t.ID, deliveryID)
		}
		return Result{}, err
	}
	return res, nil
}

// replay explains a refused replay, naming the run the first delivery
// started. A delivery ID derived from the signature is not repeated.
func (s *Service) replay(ctx context.Context, triggerID, deliveryID string) error {
	what := "delivery " + deliveryID
	if strings.HasPrefix(deliveryID, "sig:") {
		what = "this signed delivery"
	}
	runID, err := s.o.Store.DeliveryRun(ctx, triggerID, deliveryID)
	if err != nil || runID == "" {
		return core.Conflict("deliveryId", "%s was already received", what)
	}
	return core.Conflict("deliveryId", "%s was already received (run %s)", what, runID)
}

// explainParam adds, to the engine's complaint about a parameter whose
// value the payload did not give, the path it was looked up at.
func explainParam(err error, unmapped map[string]string) error {
	var ve *core.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	name, ok := strings.CutPrefix(ve.Field, "params.")
	if !ok {
		return err
	}
	if path, ok := unmapped[name]; ok {
		return core.Invalid(ve.Field, "%s: %s is not in the payload", ve.Message, path)
	}
	return err
}

// outcomeOf classifies a refused delivery for the audit trail, with a
// reason that quotes no signature, secret or payload.
func outcomeOf(err error) (audit.Outcome, string) {
	var sig *SignatureError
	var blocked *guard.BlockedError
	switch {
	case errors.As(err, &sig):
		return audit.Denied, "unauthenticated: " + sig.Reason
	case errors.As(err, &blocked):
		return audit.Denied, "forbidden: command guard rule " + blocked.Match.RuleName
	case errors.Is(err, core.ErrForbidden), errors.Is(err, core.ErrNotFound):
		return audit.Denied, audit.ReasonOf(err)
	}
	return audit.Failed, audit.ReasonOf(err)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
