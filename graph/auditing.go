package graph

import (
	"context"
	"errors"
	"reflect"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/rbac"
)

// auditMutations runs every mutation in one database transaction together
// with its audit record, so that a change and the record of it commit or
// roll back together. A mutation that fails or is refused is recorded
// afterwards, in a transaction of its own, since its own rolled back.
func (r *Resolver) auditMutations(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "Mutation" || !fc.IsResolver {
		return next(ctx)
	}
	ev := r.auditEvent(ctx, fc.Field.Name)
	inTx := r.tx.InTx
	if outsideTx[fc.Field.Name] {
		inTx = func(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }
	}
	var res any
	err := inTx(ctx, func(ctx context.Context) error {
		var err error
		if res, err = next(ctx); err != nil {
			return err
		}
		describeResult(&ev, res)
		if ev.ActorID == "" {
			describeLogin(&ev, res)
		}
		ev.Outcome = audit.Allowed
		return r.audit.Record(ctx, ev)
	})
	if err != nil {
		ev.Outcome, ev.Reason = outcomeOf(err)
		if rerr := r.audit.Record(context.WithoutCancel(ctx), ev); rerr != nil {
			r.log.ErrorContext(ctx, "cannot record audit event", "action", ev.Action, "err", rerr)
		}
	}
	return res, err
}

// outsideTx lists the mutations that do not run inside one transaction with
// their audit record. login verifies a password (argon2id, tens of
// milliseconds on purpose) and must not hold a transaction, and with it
// SQLite's write lock, meanwhile; its only change is the session it creates,
// and its audit record follows in a transaction of its own.
var outsideTx = map[string]bool{"login": true}

// recordDenied records a refused query or connection.
func (r *Resolver) recordDenied(ctx context.Context, action string, err error) {
	ev := r.auditEvent(ctx, action)
	_, ev.Reason = outcomeOf(err)
	ev.Outcome = audit.Denied
	if rerr := r.audit.Record(context.WithoutCancel(ctx), ev); rerr != nil {
		r.log.ErrorContext(ctx, "cannot record audit event", "action", action, "err", rerr)
	}
}

// auditEvent describes the caller and, from the arguments as sent, the
// object a field acts on.
func (r *Resolver) auditEvent(ctx context.Context, action string) audit.Event {
	c := callerFrom(ctx)
	ev := audit.Event{Action: action, ClientAddr: c.clientAddr, UserAgent: c.userAgent}
	if p := c.principal; p != nil {
		ev.ActorID, ev.ActorName = p.Actor(), p.User.Username
		if p.Token != nil {
			ev.TokenID = p.Token.ID
		}
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		args := fc.Field.ArgumentMap(variables(ctx))
		input, _ := args["input"].(map[string]any)
		if input == nil {
			input = args
		}
		if id, _ := input["id"].(string); id != "" {
			ev.ObjectID, ev.ObjectKind = id, core.KindOf(id).Noun()
		}
		if pid, _ := input["projectId"].(string); pid != "" {
			ev.ProjectID = pid
		} else if ev.ObjectID != "" {
			ev.ProjectID = r.projectOf(ctx, ev.ObjectID)
		}
		if ev.ActorID == "" {
			// A failed login names who it tried to be.
			ev.ActorName, _ = input["username"].(string)
		}
	}
	return ev
}

// projectOf returns the project of the object an action names by ID, or ""
// if it has none or does not exist. It is looked up before the action runs:
// a delete's payload names no object, and a refused action none either, yet
// both belong in the project's own trail (Project.auditEvents).
func (r *Resolver) projectOf(ctx context.Context, id string) string {
	if core.CheckID("id", core.KindOf(id), id) != nil {
		return "" // malformed: the action fails on it
	}
	// Objects of kinds outside projects (users, tokens) have none.
	if pid, err := r.authz.ProjectOf(ctx, id); err == nil {
		return pid
	}
	return ""
}

func variables(ctx context.Context) map[string]any {
	if oc := graphql.GetOperationContext(ctx); oc != nil {
		return oc.Variables
	}
	return nil
}

// describeResult finds the object a mutation's payload carries (its first
// field that is a Node) and records it.
func describeResult(ev *audit.Event, res any) {
	v := reflect.ValueOf(res)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanInterface() {
			continue
		}
		node, ok := f.Interface().(model.Node)
		if !ok || reflect.ValueOf(node).IsNil() {
			continue
		}
		ev.ObjectID, ev.ObjectKind = node.GetID(), core.KindOf(node.GetID()).Noun()
		if scoped, ok := node.(model.ProjectScoped); ok && ev.ProjectID == "" {
			ev.ProjectID = scoped.ProjectScope()
		}
		return
	}
}

// describeLogin names the actor of a successful login, which had none.
func describeLogin(ev *audit.Event, res any) {
	if p, ok := res.(*model.LoginPayload); ok && p != nil && p.User != nil {
		ev.ActorID, ev.ActorName = "user:"+p.User.ID, p.User.Username
	}
}

// outcomeOf classifies a failed operation for the audit trail, with a
// reason that says why without quoting anything the caller sent.
func outcomeOf(err error) (audit.Outcome, string) {
	var (
		denied    *deniedError
		perm      *rbac.DeniedError
		authErr   *identity.AuthError
		throttled *identity.ThrottledError
	)
	switch {
	case errors.As(err, &perm):
		return audit.Denied, "forbidden: " + string(perm.Permission)
	case errors.As(err, &throttled):
		return audit.Denied, "unauthenticated: too many failed attempts"
	case errors.As(err, &authErr) && authErr.Reason != "":
		return audit.Denied, "unauthenticated: " + authErr.Reason
	case errors.As(err, &denied) || errors.Is(err, core.ErrUnauthenticated) || errors.Is(err, core.ErrForbidden):
		return audit.Denied, audit.ReasonOf(err)
	}
	return audit.Failed, strings.TrimSpace(audit.ReasonOf(err))
}
