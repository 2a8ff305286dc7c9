// Package events carries what happens to runs from the engine of any
// replica to the subscribers of any replica, over core NATS: status changes
// of runs, steps and tasks, and the log chunks just stored. Nothing is kept:
// events are news, the database is the record. A subscriber reads what it
// needs from the database first and then follows the events, and goes back
// to the database when it missed some (a gap in log sequence numbers, or a
// buffer that overflowed).
//
// Subjects, under the queue's event prefix:
//
//	run.<project>.<run>   RunEvent: a run or task changed status, or progress
//	log.<run>.<task>      LogEvent: chunks of a task's log were stored
//
// so a project's dashboard subscribes to run.<project>.*.
//
// Every Subscription has a bounded buffer. A subscriber that does not keep
// up loses events, never slows the publisher or other subscribers, and
// learns it from Lost: it then resynchronises from the database.
package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
)

// Kind says what a RunEvent is about.
type Kind string

const (
	// KindRun: the run's status changed (RunStatus).
	KindRun Kind = "run"
	// KindTask: a task's status changed (Task).
	KindTask Kind = "task"
	// KindProgress: the steps' statuses and task counts as the run's loop
	// last read them (Steps, RunStatus). Published when they changed, at
	// most once per round of the loop, so a subscriber gets counts without
	// reading the database.
	KindProgress Kind = "progress"
)

// RunEvent is a status change of a run, one of its steps or one of its
// tasks.
type RunEvent struct {
	Kind      Kind          `json:"kind"`
	ProjectID string        `json:"projectId"`
	RunID     string        `json:"runId"`
	RunStatus run.RunStatus `json:"runStatus,omitempty"` // KindRun, KindProgress
	Task      *TaskChange   `json:"task,omitempty"`      // KindTask
	Steps     []run.StepRun `json:"steps,omitempty"`     // KindProgress, with Counts
	At        time.Time     `json:"at"`
}

// TaskChange is a task's new status.
type TaskChange struct {
	ID        string         `json:"id"`
	StepRunID string         `json:"stepRunId"`
	HostID    string         `json:"hostId,omitempty"`
	HostName  string         `json:"hostName,omitempty"`
	Status    run.TaskStatus `json:"status"`
	Attempt   int            `json:"attempt"`
}

// LogEvent says that these chunks of a task's log were stored.
type LogEvent struct {
	RunID  string         `json:"runId"`
	TaskID string         `json:"taskId"`
	Chunks []run.LogChunk `json:"chunks"`
}

// Bus publishes and subscribes events on a queue's NATS connection. The
// subscribers of one subject in this process share one NATS subscription:
// each event is received and decoded once, then handed to all of them.
type Bus struct {
	q   *queue.Queue
	log *slog.Logger

	mu   sync.Mutex
	hubs map[string]*hub
}

// hub is the one NATS subscription of a subject and its local sinks.
type hub struct {
	unsub func()
	mu    sync.RWMutex
	sinks map[*sink]struct{}
}

// sink takes a decoded event; it must not block.
type sink struct{ deliver func(v any) }

// New returns a Bus on q.
func New(q *queue.Queue, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus{q: q, log: log.With("component", "events"), hubs: map[string]*hub{}}
}

func runSubject(projectID, runID string) string { return "run." + projectID + "." + runID }
func logSubject(runID, taskID string) string    { return "log." + runID + "." + taskID }

// PublishRun publishes ev. It is best effort: a failure is logged, and
// subscribers that missed the event catch up from the database.
func (b *Bus) PublishRun(ev RunEvent) {
	if b == nil {
		return
	}
	b.publish(runSubject(ev.ProjectID, ev.RunID), ev)
}

// PublishLogs publishes ev, best effort as PublishRun.
func (b *Bus) PublishLogs(ev LogEvent) {
	if b == nil || len(ev.Chunks) == 0 {
		return
	}
	b.publish(logSubject(ev.RunID, ev.TaskID), ev)
}

func (b *Bus) publish(subject string, v any) {
	data, err := json.Marshal(v)
	if err == nil {
		err = b.q.PublishEvent(subject, data)
	}
	if err != nil {
		b.log.Warn("publish event", "subject", subject, "err", err)
	}
}

// SubscribeRun follows the events of one run.
func (b *Bus) SubscribeRun(ctx context.Context, projectID, runID string, buffer int) (*Subscription[RunEvent], error) {
	return subscribe[RunEvent](ctx, b, runSubject(projectID, runID), buffer)
}

// SubscribeProject follows the events of every run of a project.
func (b *Bus) SubscribeProject(ctx context.Context, projectID string, buffer int) (*Subscription[RunEvent], error) {
	return subscribe[RunEvent](ctx, b, runSubject(projectID, "*"), buffer)
}

// SubscribeLogs follows the stored chunks of one task's log.
func (b *Bus) SubscribeLogs(ctx context.Context, runID, taskID string, buffer int) (*Subscription[LogEvent], error) {
	return subscribe[LogEvent](ctx, b, logSubject(runID, taskID), buffer)
}

// Subscription is a bounded stream of events. C is closed by Close.
type Subscription[T any] struct {
	C <-chan T

	c     chan T
	lost  atomic.Int64
	unsub func()
	mu    sync.Mutex
	done  bool
}

func subscribe[T any](ctx context.Context, b *Bus, subject string, buffer int) (*Subscription[T], error) {
	if buffer < 1 {
		buffer = 1
	}
	s := &Subscription[T]{c: make(chan T, buffer)}
	s.C = s.c
	sk := &sink{deliver: func(v any) {
		ev, ok := v.(T)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.done {
			return
		}
		select {
		case s.c <- ev:
		default:
			s.lost.Add(1) // full: the subscriber resynchronises
		}
	}}
	b.mu.Lock()
	h, ok := b.hubs[subject]
	if !ok {
		h = &hub{sinks: map[*sink]struct{}{}}
		unsub, err := b.q.SubscribeEvents(subject, func(data []byte) {
			var v T
			if json.Unmarshal(data, &v) != nil {
				return
			}
			h.mu.RLock()
			defer h.mu.RUnlock()
			for sk := range h.sinks {
				sk.deliver(v)
			}
		})
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		h.unsub = unsub
		b.hubs[subject] = h
	}
	h.mu.Lock()
	h.sinks[sk] = struct{}{}
	h.mu.Unlock()
	b.mu.Unlock()
	s.unsub = func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		h.mu.Lock()
		delete(h.sinks, sk)
		empty := len(h.sinks) == 0
		h.mu.Unlock()
		if empty && b.hubs[subject] == h {
			delete(b.hubs, subject)
			h.unsub()
		}
	}
	// The subscription is in force once the server has it: events
	// published after Subscribe returns reach it.
	if err := b.q.Flush(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Lost returns how many events were dropped because the buffer was full,
// and resets the count.
func (s *Subscription[T]) Lost() int64 { return s.lost.Swap(0) }

// Close stops the subscription and closes C. It is idempotent.
func (s *Subscription[T]) Close() {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	close(s.c)
	s.mu.Unlock()
	s.unsub()
}
