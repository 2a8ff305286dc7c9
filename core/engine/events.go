package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/jobgraph/jobgraph/core/events"
	"github.com/jobgraph/jobgraph/core/run"
)

// The engine tells subscribers (core/events) what it changed, after the
// change is stored: a run's status, each task's status, the stored log
// chunks (dispatch.go), and after each round of a run's loop that saw new
// step statuses or counts, a progress event with them. Publishing is best
// effort and costs no database read: subscribers read the database first
// and on any doubt.

// projectOf is the project of a run, from the run's cache ("" when it
// cannot be read: the event then reaches the run's subscribers only).
func (e *Engine) projectOf(ctx context.Context, runID string) string {
	if e.o.Events == nil {
		return ""
	}
	r, err := e.runOf(ctx, e.activate(runID, nil))
	if err != nil {
		return ""
	}
	return r.ProjectID
}

func (e *Engine) runEvent(r run.Run, status run.RunStatus) {
	e.o.Events.PublishRun(events.RunEvent{Kind: events.KindRun, ProjectID: r.ProjectID, RunID: r.ID, RunStatus: status, At: e.o.Now().UTC()})
}

func (e *Engine) taskEvent(projectID string, t run.Task, status run.TaskStatus, attempt int) {
	e.o.Events.PublishRun(events.RunEvent{Kind: events.KindTask, ProjectID: projectID, RunID: t.RunID, At: e.o.Now().UTC(),
		Task: &events.TaskChange{ID: t.ID, StepRunID: t.StepRunID, HostID: t.HostID, HostName: t.HostName, Status: status, Attempt: attempt}})
}

// notify gives n to the Notifier, if there is one.
func (e *Engine) notify(ctx context.Context, n run.Notice) {
	if e.o.Notifier != nil {
		n.Run.Status = n.Status
		e.o.Notifier.Notify(ctx, n)
	}
}

// announce publishes the run's progress if it changed since the last one.
func (e *Engine) announce(ar *activeRun, l *loaded) {
	if e.o.Events == nil {
		return
	}
	var b strings.Builder
	fmt.Fprint(&b, l.run.Status)
	for _, s := range l.steps {
		fmt.Fprintf(&b, "|%s %s %+v", s.ID, s.Status, s.Counts)
	}
	sig := b.String()
	e.mu.Lock()
	same := ar.progress == sig
	ar.progress = sig
	e.mu.Unlock()
	if !same {
		e.o.Events.PublishRun(events.RunEvent{Kind: events.KindProgress, ProjectID: l.run.ProjectID, RunID: l.run.ID,
			RunStatus: l.run.Status, Steps: l.steps, At: e.o.Now().UTC()})
	}
}
