package graph

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/trigger"
)

// maxHookBody bounds a webhook delivery's body.
const maxHookBody = 1 << 20

// deliverHook serves POST /hooks/{triggerID}: one webhook delivery. It is
// not authenticated by session or token: the delivery's signature is its
// credential, checked by core/trigger, which also audits every delivery.
//
// Answers, all JSON:
//
//	202 {"runId", "deliveryId"}          accepted: the run is queued
//	400 BAD_USER_INPUT                   the body or a header is malformed
//	401 UNAUTHENTICATED                  missing, malformed or wrong signature
//	403 FORBIDDEN                        a command guard rule blocks the run
//	404 NOT_FOUND                        unknown or disabled trigger (alike)
//	409 CONFLICT                         the delivery was already received
//	413 BAD_USER_INPUT                   the body is over 1 MiB
//	422 BAD_USER_INPUT                   a parameter did not map or has the wrong type
//
// Errors are {"error": {"code", "message", "field"?}}.
func (r *Resolver) deliverHook(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if r.triggers == nil {
		hookError(w, http.StatusNotFound, CodeNotFound, "webhook triggers are not enabled on this server", "")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxHookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			hookError(w, http.StatusRequestEntityTooLarge, CodeBadUserInput, "the body must be at most 1 MiB", "body")
			return
		}
		hookError(w, http.StatusBadRequest, CodeBadUserInput, "cannot read the body", "body")
		return
	}
	deliveryID := req.Header.Get(trigger.HeaderGitHubDelivery)
	if deliveryID == "" {
		deliveryID = req.Header.Get(trigger.HeaderDelivery)
	}
	res, err := r.triggers.Deliver(ctx, trigger.Request{
		TriggerID:       req.PathValue("triggerID"),
		GitHubSignature: strings.TrimSpace(req.Header.Get(trigger.HeaderGitHubSignature)),
		Signature:       strings.TrimSpace(req.Header.Get(trigger.HeaderSignature)),
		DeliveryID:      deliveryID,
		Body:            body,
		ClientAddr:      clientAddr(req),
		UserAgent:       req.UserAgent(),
	})
	if err != nil {
		r.writeHookError(w, req, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"runId": res.RunID, "deliveryId": res.DeliveryID})
}

func (r *Resolver) writeHookError(w http.ResponseWriter, req *http.Request, err error) {
	field := core.FieldOf(err)
	switch {
	case errors.Is(err, core.ErrUnauthenticated):
		hookError(w, http.StatusUnauthorized, CodeUnauthenticated, err.Error(), "")
	case errors.Is(err, core.ErrForbidden):
		hookError(w, http.StatusForbidden, CodeForbidden, err.Error(), "")
	case errors.Is(err, core.ErrNotFound):
		hookError(w, http.StatusNotFound, CodeNotFound, err.Error(), "")
	case errors.Is(err, core.ErrConflict):
		hookError(w, http.StatusConflict, CodeConflict, err.Error(), field)
	case errors.Is(err, core.ErrInvalidInput) && strings.HasPrefix(field, "params."):
		hookError(w, http.StatusUnprocessableEntity, CodeBadUserInput, err.Error(), field)
	case errors.Is(err, core.ErrInvalidInput):
		hookError(w, http.StatusBadRequest, CodeBadUserInput, err.Error(), field)
	default:
		ref := newRef()
		r.log.ErrorContext(req.Context(), "webhook delivery", "ref", ref, "err", err)
		hookError(w, http.StatusInternalServerError, CodeInternal, "internal error (ref "+ref+")", "")
	}
}

func hookError(w http.ResponseWriter, status int, code, message, field string) {
	e := map[string]string{"code": code, "message": message}
	if field != "" {
		e["field"] = field
	}
	writeJSON(w, status, map[string]any{"error": e})
}
