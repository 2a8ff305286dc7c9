package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/run"
)

// TestPlanAdmission checks the admission rule (package documentation,
// "Admission") on plain data.
func TestPlanAdmission(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	n := 0
	// q makes a queued run, each one younger than the one before.
	q := func(project, jobID string, priority int) run.Run {
		n++
		return run.Run{ID: fmt.Sprintf("run_%02d", n), ProjectID: project, JobID: jobID, Priority: priority,
			Status: run.RunQueued, CreatedAt: base.Add(time.Duration(n) * time.Second)}
	}
	canceled := q("A", "", 0)
	canceled.ID, canceled.CancelRequestedAt, n = "run_canceled", &base, 0
	ids := func(rs []run.Run) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	cases := []struct {
		name    string
		queued  []run.Run
		running run.RunningCounts
		lim     admissionLimits
		want    []string
	}{
		{
			name:   "no limits: all, oldest first",
			queued: []run.Run{q("A", "", 0), q("A", "", 0), q("B", "", 0)},
			want:   []string{"run_01", "run_03", "run_02"}, // B has none running once A's first started
		},
		{
			name:   "higher priority first, whatever its age",
			queued: []run.Run{q("A", "", -5), q("A", "", 0), q("A", "", 10)},
			want:   []string{"run_06", "run_05", "run_04"},
		},
		{
			name:    "round-robin: the project with fewer running goes first",
			queued:  []run.Run{q("A", "", 0), q("A", "", 0), q("A", "", 0), q("B", "", 0), q("B", "", 0)},
			running: run.RunningCounts{ByProject: map[string]int{"A": 1}},
			want:    []string{"run_10", "run_07", "run_11", "run_08", "run_09"},
		},
		{
			name:    "a project at its limit is skipped, the other project goes on",
			queued:  []run.Run{q("A", "", 0), q("A", "", 0), q("B", "", 0)},
			running: run.RunningCounts{ByProject: map[string]int{"A": 1}},
			lim:     admissionLimits{project: map[string]int{"A": 2}},
			want:    []string{"run_14", "run_12"},
		},
		{
			name:    "a blocked high-priority run holds back no lower-priority run",
			queued:  []run.Run{q("A", "j1", 10), q("A", "j2", 0), q("B", "", -10)},
			running: run.RunningCounts{ByProject: map[string]int{"A": 1}, ByJob: map[string]int{"j1": 1}},
			lim:     admissionLimits{job: map[string]int{"j1": 1}},
			want:    []string{"run_16", "run_17"},
		},
		{
			name:   "job limit counts the runs admitted in the same pass",
			queued: []run.Run{q("A", "j1", 0), q("A", "j1", 0), q("A", "j1", 0), q("A", "", 0)},
			lim:    admissionLimits{job: map[string]int{"j1": 2}},
			want:   []string{"run_18", "run_19", "run_21"},
		},
		{
			name:   "a canceled queued run is left to its loop",
			queued: []run.Run{canceled, q("A", "", 0)},
			want:   []string{"run_22"},
		},
		{
			name:    "limits of 0 are none",
			queued:  []run.Run{q("A", "j1", 0), q("A", "j1", 0)},
			running: run.RunningCounts{ByProject: map[string]int{"A": 50}, ByJob: map[string]int{"j1": 50}},
			lim:     admissionLimits{project: map[string]int{"A": 0}, job: map[string]int{"j1": 0}},
			want:    []string{"run_23", "run_24"},
		},
	}
	for _, c := range cases {
		before := fmt.Sprint(c.running)
		require.Equal(t, c.want, ids(planAdmission(c.queued, c.running, c.lim)), c.name)
		require.Equal(t, before, fmt.Sprint(c.running), "%s: the counts given are not changed", c.name)
	}
}
