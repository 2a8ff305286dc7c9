package graph

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/rbac"
)

// exportAudit streams the audit trail as JSON Lines, oldest first, for
// archiving and SIEM ingestion. It needs SYSTEM_AUDIT_READ, or AUDIT_READ
// when limited to one project with ?projectId=. Filters: projectId, actorId,
// action, objectId, outcome (allowed|denied|failed), since and until
// (RFC 3339). The export is itself audited.
func (r *Resolver) exportAudit(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	q := req.URL.Query()
	f := audit.Filter{ActorID: q.Get("actorId"), Action: q.Get("action"), ObjectID: q.Get("objectId"), Outcome: audit.Outcome(q.Get("outcome"))}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				httpError(w, http.StatusBadRequest, CodeBadUserInput, fmt.Sprintf("%s: not an RFC 3339 time", name))
				return
			}
			*dst = t
		}
	}
	c := callerFrom(ctx)
	err := c.authenticated()
	if err == nil {
		if pid := q.Get("projectId"); pid != "" {
			f.ProjectIDs = []string{pid}
			if err = core.CheckID("projectId", core.KindProject, pid); err == nil {
				err = r.authz.Check(ctx, c.subject(), pid, rbac.ProjectAuditRead)
			}
		} else {
			err = r.authz.Check(ctx, c.subject(), "", rbac.SystemAuditRead)
		}
	}
	ctx = context.WithoutCancel(ctx)
	ev := r.auditEvent(ctx, "exportAuditEvents")
	if err != nil {
		ev.Outcome, ev.Reason = outcomeOf(err)
		_ = r.audit.Record(ctx, ev)
		r.writeHTTPError(ctx, w, "audit export", err)
		return
	}
	ev.Outcome, ev.ProjectID = audit.Allowed, q.Get("projectId")
	if err := r.audit.Record(ctx, ev); err != nil {
		httpError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="jobgraph-audit.jsonl"`)
	if _, err := r.audit.Export(req.Context(), f, w); err != nil {
		// Headers are gone: the client sees a truncated stream; say so in the log.
		r.log.ErrorContext(ctx, "audit export ended early", "err", err)
	}
}

// writeHTTPError answers a plain-HTTP endpoint's failure with the status
// of its code and the JSON body of httpError. An error of no known code is
// logged under what and shown only as "internal error".
func (r *Resolver) writeHTTPError(ctx context.Context, w http.ResponseWriter, what string, err error) {
	msg, code := err.Error(), codeOf(err, &gqlerror.Error{Err: err})
	status := map[string]int{
		CodeUnauthenticated: http.StatusUnauthorized, CodeForbidden: http.StatusForbidden,
		CodeNotFound: http.StatusNotFound, CodeBadUserInput: http.StatusBadRequest,
	}[code]
	if status == 0 {
		r.log.ErrorContext(ctx, what, "err", err)
		status, msg = http.StatusInternalServerError, "internal error"
	}
	httpError(w, status, code, msg)
}

func httpError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{"message": message, "extensions": map[string]string{"code": code}}}})
}
