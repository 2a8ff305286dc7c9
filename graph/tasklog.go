package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/rbac"
)

// downloadTaskLog serves GET /runs/{runID}/tasks/{taskID}/log: the whole
// stored log of one task as a text/plain attachment. Every chunk is written
// in Seq order exactly as it was stored, stdout, stderr and jobgraph's own
// system lines (the truncation marker) alike, with no prefix and no
// re-encoding, so the file is a byte copy of what the task printed. A task
// still running gives what is stored so far.
//
// Access is that of the taskLogs query: JOB_READ in the run's project. An
// anonymous caller gets 401; one who cannot see the project, an unknown or
// malformed ID, or a task of another run gets 404; one who sees the project
// without the permission gets 403. Refusals are audited like those of a
// query; downloads, like other reads, are not.
func (r *Resolver) downloadTaskLog(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	runID, taskID := req.PathValue("runID"), req.PathValue("taskID")
	c := callerFrom(ctx)
	if err := c.authenticated(); err != nil {
		r.recordLogDenied(ctx, taskID, err)
		r.writeHTTPError(ctx, w, "task log download", err)
		return
	}
	// A path that names no task is a missing resource, not bad input.
	if core.CheckID("runId", core.KindRun, runID) != nil {
		httpError(w, http.StatusNotFound, CodeNotFound, core.NotFound("run", clip(runID)).Error())
		return
	}
	if core.CheckID("taskId", core.KindTask, taskID) != nil {
		httpError(w, http.StatusNotFound, CodeNotFound, core.NotFound("task", clip(taskID)).Error())
		return
	}
	if err := r.authz.CheckObject(ctx, c.subject(), taskID, rbac.JobRead); err != nil {
		if errors.Is(err, core.ErrUnauthenticated) || errors.Is(err, core.ErrForbidden) || errors.Is(err, core.ErrNotFound) {
			r.recordLogDenied(ctx, taskID, err)
		}
		r.writeHTTPError(ctx, w, "task log download", err)
		return
	}
	e, err := r.engine()
	if err != nil {
		r.writeHTTPError(ctx, w, "task log download", err)
		return
	}
	task, err := findTask(ctx, e, runID, taskID)
	if err != nil {
		r.writeHTTPError(ctx, w, "task log download", err)
		return
	}

	// The first page is read before anything is sent, so that a failure
	// there is still an error status.
	chunks, err := e.ReadLogs(ctx, taskID, 0, run.MaxReadLogs)
	if err != nil {
		r.writeHTTPError(ctx, w, "task log download", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff") // a log may hold anything, HTML too
	h.Set("Content-Disposition", `attachment; filename="`+fileSafe(runID+"-"+task.HostName+"-"+taskID)+`.log"`)
	w.WriteHeader(http.StatusOK)
	for {
		for _, ch := range chunks {
			if _, err := w.Write(ch.Data); err != nil {
				return // the client went away
			}
		}
		if len(chunks) < run.MaxReadLogs {
			return
		}
		if chunks, err = e.ReadLogs(ctx, taskID, chunks[len(chunks)-1].Seq, run.MaxReadLogs); err != nil {
			if ctx.Err() == nil {
				r.log.ErrorContext(ctx, "task log download ended early", "task", taskID, "err", err)
			}
			// The status is gone: break the connection, so that the client
			// sees a failed download instead of a complete-looking short file.
			panic(http.ErrAbortHandler)
		}
	}
}

// findTask returns task taskID of run runID, or NotFound when the run has
// no such task.
func findTask(ctx context.Context, e Runs, runID, taskID string) (run.Task, error) {
	t, err := e.GetTask(ctx, taskID)
	if err != nil {
		return run.Task{}, err
	}
	if t.RunID != runID {
		return run.Task{}, core.NotFound("task", taskID)
	}
	return t, nil
}

// recordLogDenied audits a refused download, as deny does for a query.
func (r *Resolver) recordLogDenied(ctx context.Context, taskID string, err error) {
	ctx = context.WithoutCancel(ctx)
	ev := r.auditEvent(ctx, "downloadTaskLog")
	_, ev.Reason = outcomeOf(err)
	ev.Outcome = audit.Denied
	if core.CheckID("taskId", core.KindTask, taskID) == nil {
		ev.ObjectID, ev.ObjectKind, ev.ProjectID = taskID, core.KindTask.Noun(), r.projectOf(ctx, taskID)
	}
	if rerr := r.audit.Record(ctx, ev); rerr != nil {
		r.log.ErrorContext(ctx, "cannot record audit event", "action", ev.Action, "err", rerr)
	}
}

// fileSafe keeps a download's file name to letters, digits, '.', '_' and
// '-', which need no quoting in a header and are safe on every file system.
func fileSafe(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			return c
		}
		return '_'
	}, s)
}

// clip shortens an ID taken from a URL before it is quoted in a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
