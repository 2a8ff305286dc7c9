package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/run"
)

// ---- admission ----
//
// A run is created queued; the admitter alone starts it (queued → running),
// and the run's loop does nothing before that but wait (a canceled queued
// run is still finished by its loop, as Decide says). The admitter is one
// goroutine of the Engine, woken when a run is created, when a run ends, and
// every admitEvery as a safety net; each pass reads the queued runs and the
// running counts from the database and starts what the limits allow, by
// the rule in the package documentation ("Admission"). planAdmission is
// that rule, pure; admitPass reads and applies it.
//
// Only one pass runs at a time in an engine, so an engine never starts more
// than the limits allow. Several replicas each run an admitter, and two
// passes at the same moment may each start a run into the same last slot:
// limits hold per replica until one driver is elected (see engine.go).

const (
	// admitEvery is the admitter's safety-net period: a wake-up it missed
	// (a run finished by another replica, say) waits at most this long.
	admitEvery = 5 * time.Second
	// admitBatch is the most queued runs one pass looks at, oldest first.
	admitBatch = 5000
)

// Projects is what admission reads of projects (their MaxConcurrentRuns);
// *project.Service is one.
type Projects interface {
	ByIDs(ctx context.Context, ids []string) (map[string]project.Project, error)
}

// wakeAdmitter asks for an admission pass soon. It never blocks.
func (e *Engine) wakeAdmitter() {
	select {
	case e.admit <- struct{}{}:
	default:
	}
}

// admitter runs admission passes until the engine stops.
func (e *Engine) admitter() {
	defer e.wg.Done()
	tick := time.NewTicker(admitEvery)
	defer tick.Stop()
	for {
		if err := e.admitPass(e.ctx); err != nil && e.ctx.Err() == nil {
			e.log.Warn("admission", "err", err)
		}
		select {
		case <-e.ctx.Done():
			return
		case <-e.admit:
		case <-tick.C:
		}
	}
}

// admissionLimits are the caps that apply to the queued runs of one pass,
// by project ID and by job ID; a cap of 0 (or none) is no limit.
type admissionLimits struct {
	project map[string]int
	job     map[string]int
}

// planAdmission returns the runs of queued (oldest first) to start now, in
// the order to start them, given the runs running now. Runs with a cancel
// request are left to their loop. The rule (package documentation,
// "Admission"): higher priority first; within a priority, round-robin
// between projects — the project with the fewest running runs goes next,
// ties to the one whose oldest waiting run is older; a run whose project or
// job is at its limit is skipped, and holds back nothing else.
func planAdmission(queued []run.Run, running run.RunningCounts, lim admissionLimits) []run.Run {
	byProject := make(map[string]int, len(running.ByProject))
	for k, v := range running.ByProject {
		byProject[k] = v
	}
	byJob := make(map[string]int, len(running.ByJob))
	for k, v := range running.ByJob {
		byJob[k] = v
	}
	full := func(limit map[string]int, counts map[string]int, id string) bool {
		n := limit[id]
		return n > 0 && counts[id] >= n
	}
	waiting := make([]run.Run, 0, len(queued))
	for _, r := range queued {
		if r.CancelRequestedAt == nil {
			waiting = append(waiting, r)
		}
	}
	// Stable: within a priority, runs stay oldest first.
	slices.SortStableFunc(waiting, func(a, b run.Run) int { return cmp.Compare(b.Priority, a.Priority) })
	var out []run.Run
	for i := 0; i < len(waiting); {
		j := i
		queues := map[string][]run.Run{} // by project, oldest first
		for ; j < len(waiting) && waiting[j].Priority == waiting[i].Priority; j++ {
			queues[waiting[j].ProjectID] = append(queues[waiting[j].ProjectID], waiting[j])
		}
		i = j
		for {
			next := ""
			for p, q := range queues {
				if len(q) == 0 || full(lim.project, byProject, p) {
					delete(queues, p) // nothing more of p at this priority
					continue
				}
				if next == "" {
					next = p
					continue
				}
				best := queues[next][0]
				if c := cmp.Or(cmp.Compare(byProject[p], byProject[next]), q[0].CreatedAt.Compare(best.CreatedAt),
					cmp.Compare(q[0].ID, best.ID)); c < 0 {
					next = p
				}
			}
			if next == "" {
				break
			}
			r := queues[next][0]
			queues[next] = queues[next][1:]
			if r.JobID != "" && full(lim.job, byJob, r.JobID) {
				continue // its job is full; the project's next run may be of another job
			}
			out = append(out, r)
			byProject[r.ProjectID]++
			if r.JobID != "" {
				byJob[r.JobID]++
			}
		}
	}
	return out
}

// admitPass reads the queued runs, the running counts and the limits, and
// starts the runs planAdmission picks.
func (e *Engine) admitPass(ctx context.Context) error {
	queued, err := e.o.Store.QueuedRuns(ctx, admitBatch)
	if err != nil || len(queued) == 0 {
		return err
	}
	running, err := e.o.Store.RunningCounts(ctx)
	if err != nil {
		return err
	}
	lim, err := e.limits(ctx, queued)
	if err != nil {
		return err
	}
	for _, r := range planAdmission(queued, running, lim) {
		now := e.o.Now().UTC()
		res, err := e.o.Store.TransitionRun(ctx, r.ID, []run.RunStatus{run.RunQueued}, run.RunRunning, run.RunPatch{StartedAt: &now})
		if errors.Is(err, core.ErrNotFound) {
			continue // deleted by retention meanwhile
		}
		if err != nil {
			return err
		}
		if res.Applied {
			e.log.Debug("run admitted", "run", r.ID, "project", r.ProjectID, "job", r.JobID, "priority", r.Priority)
			e.runEvent(r, run.RunRunning)
			e.activate(r.ID, nil)
		}
		// Not applied: canceled and finished meanwhile. The slot it was
		// given stays unused until the next pass, which its end wakes.
	}
	return nil
}

// limits reads the caps of the projects and jobs of queued: a project's
// MaxConcurrentRuns, and the Concurrency of its job's current version (of
// the run's own spec when the job was deleted).
func (e *Engine) limits(ctx context.Context, queued []run.Run) (admissionLimits, error) {
	lim := admissionLimits{project: map[string]int{}, job: map[string]int{}}
	var projects []string
	seenProject, seenJob := map[string]bool{}, map[string]bool{}
	for _, r := range queued {
		if !seenProject[r.ProjectID] {
			seenProject[r.ProjectID] = true
			projects = append(projects, r.ProjectID)
		}
		if r.JobID == "" || seenJob[r.JobID] {
			continue
		}
		seenJob[r.JobID] = true
		j, err := e.o.Jobs.Get(ctx, r.JobID)
		switch {
		case err == nil:
			lim.job[r.JobID] = j.Spec.Concurrency
		case errors.Is(err, core.ErrNotFound):
			// A spec that cannot be read sets no limit here; the run's
			// loop reports the problem.
			full, err := e.o.Store.GetRun(ctx, r.ID)
			if err != nil && !errors.Is(err, core.ErrNotFound) {
				return admissionLimits{}, err
			}
			if spec, err := job.DecodeSpec(full.Spec); err == nil {
				lim.job[r.JobID] = spec.Concurrency
			}
		default:
			return admissionLimits{}, fmt.Errorf("job %s: %w", r.JobID, err)
		}
	}
	if e.o.Projects != nil {
		ps, err := e.o.Projects.ByIDs(ctx, projects)
		if err != nil {
			return admissionLimits{}, fmt.Errorf("projects: %w", err)
		}
		for id, p := range ps {
			lim.project[id] = p.MaxConcurrentRuns
		}
	}
	return lim, nil
}
