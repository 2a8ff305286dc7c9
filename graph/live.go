package graph

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/events"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/rbac"
)

// The subscriptions: each follows events (core/events) from any replica,
// starting from what the database holds, and never holds more than a
// bounded number of updates for a slow subscriber:
//
//   - runUpdates sends a SNAPSHOT, then RUN, TASK and PROGRESS updates; if
//     the subscriber falls behind (its buffer is full, or events were
//     dropped on the way), the updates in between are replaced by one new
//     SNAPSHOT once it has room. It ends with the final run's SNAPSHOT.
//   - taskLog replays the stored log after afterSeq, then forwards stored
//     chunks as they are announced, filling any gap in sequence numbers
//     from the database, so the client sees each chunk once, in order.
//     Chunks a slow subscriber cannot take yet are merged into its next
//     update; one that falls too far behind (maxPendingBytes) gets
//     resyncAfterSeq and the end: it subscribes again from there, the
//     database being the buffer. It ends once the task is final and its
//     log read to the end.
//   - projectRuns starts with a RESYNC (read the runs now), then forwards
//     RUN and PROGRESS updates of the project's runs; falling behind gives
//     one more RESYNC.
//
// Every liveRecheck the caller's token or session and permission are
// checked again; when they no longer hold, the subscription's last update
// carries the error (UNAUTHENTICATED or FORBIDDEN) and it ends.

// eventBuffer is how many events wait for a subscriber's goroutine.
const eventBuffer = 1024

// liveBuffer is how many updates wait for a slow subscriber (Options).
func (r *Resolver) liveBuffer() int {
	if r.liveBuf > 0 {
		return r.liveBuf
	}
	return 64
}

var errNoEvents = errors.New("this server has no event bus: subscriptions are off")

// live is what every subscription needs: the engine, the bus, and a check
// that the caller may still see the object.
type live struct {
	r     *Resolver
	e     Runs
	bus   *events.Bus
	check func(ctx context.Context) error
}

func (r *Resolver) live(ctx context.Context, perm rbac.Permission, objectID, projectID string) (*live, error) {
	e, err := r.engine()
	if err != nil {
		return nil, err
	}
	if r.events == nil {
		return nil, errNoEvents
	}
	c := callerFrom(ctx)
	check := func(ctx context.Context) error {
		if c.secret != "" {
			p, err := r.identity.Authenticate(ctx, c.secret)
			if err != nil {
				return err
			}
			c.principal = &p
		}
		if projectID != "" {
			return r.authz.Check(ctx, c.subject(), projectID, perm)
		}
		return r.authz.CheckObject(ctx, c.subject(), objectID, perm)
	}
	return &live{r: r, e: e, bus: r.events, check: check}, nil
}

// recheckEvery is the subscriptions' recheck ticker's period.
func (r *Resolver) recheckEvery() time.Duration {
	if r.liveRecheck > 0 {
		return r.liveRecheck
	}
	return 10 * time.Second
}

// deniedErr presents a failed recheck as the API presents any refusal.
func (l *live) deniedErr(ctx context.Context, err error) error {
	if errors.Is(err, core.ErrUnauthenticated) || errors.Is(err, core.ErrForbidden) || errors.Is(err, core.ErrNotFound) {
		return l.r.deny(ctx, err)
	}
	return err
}

// ---- runUpdates ----

func (r *Resolver) followRun(ctx context.Context, runID string) (<-chan *model.RunUpdate, error) {
	l, err := r.live(ctx, rbac.JobRead, runID, "")
	if err != nil {
		return nil, err
	}
	x, err := l.e.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	sub, err := l.bus.SubscribeRun(ctx, x.ProjectID, runID, eventBuffer)
	if err != nil {
		return nil, err
	}
	out := make(chan *model.RunUpdate, r.liveBuffer())
	go func() {
		defer close(out)
		defer sub.Close()
		cur := x // the run as last known: updates carry its latest status
		snapshot := func() (*model.RunUpdate, bool) {
			x, err := l.e.GetRun(ctx, runID)
			if err != nil {
				return nil, false
			}
			cur = x
			steps, err := l.e.StepRuns(ctx, runID)
			if err != nil {
				return nil, false
			}
			u := &model.RunUpdate{Kind: model.RunUpdateKindSnapshot, Run: toModelRun(x)}
			for _, s := range steps {
				u.Steps = append(u.Steps, toModelStepRun(s))
			}
			return u, x.Status.Final()
		}
		l.runLoop(ctx, sub, out, snapshot, func(ev events.RunEvent) (*model.RunUpdate, bool) {
			if ev.Kind == events.KindRun && ev.RunStatus.Final() {
				return nil, true // end with the final run as stored
			}
			if ev.RunStatus != "" {
				cur.Status = ev.RunStatus
			}
			return runUpdateOf(ev, cur), false
		})
	}()
	return out, nil
}

// runLoop sends a snapshot, then the updates conv makes of events (nil:
// none; resnap: send a snapshot instead), until a snapshot says final, ctx
// ends or the recheck fails. Updates that do not fit are dropped and a
// snapshot follows once there is room.
func (l *live) runLoop(ctx context.Context, sub *events.Subscription[events.RunEvent], out chan<- *model.RunUpdate,
	snapshot func() (u *model.RunUpdate, final bool), conv func(events.RunEvent) (u *model.RunUpdate, resnap bool)) {
	recheck := time.NewTicker(l.r.recheckEvery())
	defer recheck.Stop()
	behind := true // the first update is a snapshot
	for {
		if behind || sub.Lost() > 0 {
			behind = true
			if len(out) < cap(out) {
				u, final := snapshot()
				if u != nil {
					out <- u
					behind = false
					if final {
						return
					}
				}
			}
		}
		var retry <-chan time.Time // only a subscriber that is behind polls for room
		if behind {
			retry = time.After(50 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-recheck.C:
			if err := l.check(ctx); err != nil {
				out <- &model.RunUpdate{Err: l.deniedErr(ctx, err)}
				return
			}
		case <-retry:
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if behind {
				continue // the coming snapshot has it
			}
			u, resnap := conv(ev)
			if resnap {
				behind = true
				continue
			}
			if u == nil {
				continue
			}
			select {
			case out <- u:
			default:
				behind = true
			}
		}
	}
}

// runUpdateOf converts an event of run x (as first read: its immutable
// fields) into an update.
func runUpdateOf(ev events.RunEvent, x run.Run) *model.RunUpdate {
	if ev.RunStatus != "" {
		x.Status = ev.RunStatus
	}
	x.ID, x.ProjectID = ev.RunID, ev.ProjectID
	u := &model.RunUpdate{Run: toModelRun(x)}
	switch ev.Kind {
	case events.KindRun:
		u.Kind = model.RunUpdateKindRun
	case events.KindProgress:
		u.Kind = model.RunUpdateKindProgress
		for _, s := range ev.Steps {
			u.Steps = append(u.Steps, toModelStepRun(s))
		}
	case events.KindTask:
		if ev.Task == nil {
			return nil
		}
		u.Kind = model.RunUpdateKindTask
		t := ev.Task
		u.Task = &model.TaskChange{ID: t.ID, StepRunID: t.StepRunID, HostID: t.HostID, HostName: t.HostName,
			Status: model.TaskStatus(strings.ToUpper(string(t.Status))), Attempt: t.Attempt}
	default:
		return nil
	}
	return u
}

// ---- projectRuns ----

func (r *Resolver) followProject(ctx context.Context, projectID string) (<-chan *model.RunUpdate, error) {
	l, err := r.live(ctx, rbac.JobRead, "", projectID)
	if err != nil {
		return nil, err
	}
	sub, err := l.bus.SubscribeProject(ctx, projectID, eventBuffer)
	if err != nil {
		return nil, err
	}
	out := make(chan *model.RunUpdate, r.liveBuffer())
	go func() {
		defer close(out)
		defer sub.Close()
		// The "snapshot" of a project is a RESYNC: read the runs now.
		resync := func() (*model.RunUpdate, bool) { return &model.RunUpdate{Kind: model.RunUpdateKindResync}, false }
		l.runLoop(ctx, sub, out, resync, func(ev events.RunEvent) (*model.RunUpdate, bool) {
			if ev.Kind == events.KindTask {
				return nil, false // a dashboard follows runs; runUpdates has the tasks
			}
			u := runUpdateOf(ev, run.Run{})
			if u != nil {
				u.Run.Name = "" // not carried by events: read run(id) for it
			}
			return u, false
		})
	}()
	return out, nil
}

// ---- taskLog ----

func (r *Resolver) followLog(ctx context.Context, taskID string, afterSeq int64) (<-chan *model.TaskLogUpdate, error) {
	if afterSeq < 0 {
		return nil, core.Invalid("afterSeq", "must not be negative")
	}
	l, err := r.live(ctx, rbac.JobRead, taskID, "")
	if err != nil {
		return nil, err
	}
	t, err := l.e.GetTask(ctx, taskID)
	if err != nil {
		return nil, err
	}
	x, err := l.e.GetRun(ctx, t.RunID)
	if err != nil {
		return nil, err
	}
	// Subscribe before reading the database: a chunk stored meanwhile is
	// either read or announced, and the seq filter drops it the other time.
	logs, err := l.bus.SubscribeLogs(ctx, t.RunID, taskID, eventBuffer)
	if err != nil {
		return nil, err
	}
	status, err := l.bus.SubscribeRun(ctx, x.ProjectID, t.RunID, eventBuffer)
	if err != nil {
		logs.Close()
		return nil, err
	}
	out := make(chan *model.TaskLogUpdate, r.liveBuffer())
	go func() {
		defer close(out)
		defer logs.Close()
		defer status.Close()
		l.logLoop(ctx, taskID, afterSeq, logs, status, out)
	}()
	return out, nil
}

// A log subscription holds at most maxPendingChunks chunks, and
// maxPendingBytes of them, for a subscriber that does not keep up; past
// either, the subscriber is told to resync.
const (
	maxPendingChunks = 5000
	maxPendingBytes  = 1 << 20
	// slowSubscriber is how long a full subscription waits for its
	// subscriber before telling it to resync.
	slowSubscriber = time.Second
)

func (l *live) logLoop(ctx context.Context, taskID string, last int64, logs *events.Subscription[events.LogEvent],
	status *events.Subscription[events.RunEvent], out chan<- *model.TaskLogUpdate) {
	// Chunks wait in pending until the subscriber's buffer has room, and
	// go out together: a subscriber that falls behind gets fewer, larger
	// updates, and past maxPendingChunks a resync.
	var pending []*model.LogChunk
	pendingBytes := 0
	add := func(c run.LogChunk) bool {
		if len(pending) >= maxPendingChunks || pendingBytes+len(c.Data) > maxPendingBytes && len(pending) > 0 {
			// Full: wait a little for the subscriber to take them, then
			// give up on it.
			t := time.NewTimer(slowSubscriber)
			select {
			case out <- &model.TaskLogUpdate{Chunks: pending}:
				t.Stop()
				pending, pendingBytes = nil, 0
				pending = append(pending, toModelChunk(c))
				pendingBytes += len(c.Data)
				last = c.Seq
				return true
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return false
			}
			resume := pending[0].Seq - 1
			select {
			case out <- &model.TaskLogUpdate{ResyncAfterSeq: &resume}:
			case <-ctx.Done():
			}
			return false
		}
		pending = append(pending, toModelChunk(c))
		pendingBytes += len(c.Data)
		last = c.Seq
		return true
	}
	flush := func() {
		if len(pending) == 0 {
			return
		}
		select {
		case out <- &model.TaskLogUpdate{Chunks: pending}:
			pending, pendingBytes = nil, 0
		default:
		}
	}
	// catchUp reads what is stored after last, up to seq upTo (0: all).
	catchUp := func(upTo int64) bool {
		for {
			chunks, err := l.e.ReadLogs(ctx, taskID, last, run.MaxReadLogs)
			if err != nil {
				return false
			}
			n := 0
			for _, c := range chunks {
				if upTo > 0 && c.Seq > upTo {
					break
				}
				if !add(c) {
					return false
				}
				n++
			}
			if len(chunks) < run.MaxReadLogs || n < len(chunks) {
				return true
			}
		}
	}
	// finish ends the stream once the task is final: the rest of its log
	// is stored by then (a worker reports the end after its last line).
	finish := func() bool {
		t, err := l.e.GetTask(ctx, taskID)
		if err != nil || !t.Status.Final() {
			return false
		}
		if !catchUp(0) {
			return true
		}
		st := model.TaskStatus(strings.ToUpper(string(t.Status)))
		select {
		case out <- &model.TaskLogUpdate{Chunks: nonNil(pending), TaskStatus: &st}:
		case <-ctx.Done():
		}
		return true
	}
	if !catchUp(0) || finish() {
		return
	}
	flush()
	recheck := time.NewTicker(l.r.recheckEvery())
	defer recheck.Stop()
	for {
		if logs.Lost() > 0 && !catchUp(0) {
			return
		}
		flush()
		var retry <-chan time.Time // only chunks that wait poll for room
		if len(pending) > 0 {
			retry = time.After(20 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-recheck.C:
			if err := l.check(ctx); err != nil {
				out <- &model.TaskLogUpdate{Err: l.deniedErr(ctx, err)}
				return
			}
		case <-retry:
		case ev, ok := <-status.C:
			if !ok {
				return
			}
			if ev.Kind == events.KindTask && ev.Task != nil && ev.Task.ID == taskID && ev.Task.Status.Final() && finish() {
				return
			}
			if ev.Kind == events.KindRun && ev.RunStatus.Final() && finish() {
				return
			}
		case ev, ok := <-logs.C:
			if !ok {
				return
			}
			for _, c := range ev.Chunks {
				if c.Seq <= last {
					continue // read already
				}
				// A gap: its chunks were announced in events this
				// subscriber lost; read them.
				if c.Seq > last+1 && !catchUp(c.Seq-1) {
					return
				}
				if c.Seq > last && !add(c) {
					return
				}
			}
		}
	}
}
