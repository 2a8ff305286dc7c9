package main

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/secrets"
)

type e2eScheduleView struct {
	Schedule struct {
		Fires []struct {
			At      time.Time
			FiredAt time.Time
			Outcome string
			RunID   *string
		}
	}
}

// TestE2EScheduleLeaderKilled: two server replicas on MariaDB and the
// external NATS; a schedule fires every second from the one that leads.
// The leader process is SIGKILLed (no resignation); the other replica takes
// over once the lease expires and makes up the seconds it missed: every
// fire time exactly once, each with its own run.
func TestE2EScheduleLeaderKilled(t *testing.T) {
	t.Parallel()
	dsn := e2eMySQLDSN(t)
	ns := e2eNATSNamespace(t)
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	env := e2eEnv("JOBGRAPH_DB="+dsn, "JOBGRAPH_SECRET_KEY="+key.Encode())
	common := []string{"server", "--listen", "127.0.0.1:0", "--nats-url", e2eNATSURL, "--nats-namespace", ns,
		"--scheduler-lease", "1s", "--workers", "0"}
	procs := map[string]*e2eProc{
		"a": e2eStart(t, "replica a", env, append(common, "--data-dir", t.TempDir())...),
		"b": e2eStart(t, "replica b", env, append(common, "--data-dir", t.TempDir())...),
	}
	for _, p := range procs {
		p.waitServing()
		e2eLogin(t, p.url)
	}
	url := procs["a"].url
	project := e2eCreateProject(t, url, "sched")
	host := e2eCreateHost(t, url, map[string]any{"projectId": project, "name": "box", "address": "127.0.0.1"})
	jobID := e2eImportJob(t, url, project, `apiVersion: jobgraph/v1
kind: Job
name: tick
steps:
  - name: tick
    executor: local
    action: command
    targets:
      hosts: [`+host+`]
    params:
      command: "true"
`)
	schedID := e2eMutateID(t, url, `mutation($in: CreateScheduleInput!) { createSchedule(input: $in) { schedule { id } } }`,
		map[string]any{"projectId": project, "jobId": jobID, "name": "every-second", "expression": "* * * * * *", "overlap": "ALLOW"},
		"createSchedule", "schedule", "id")

	fires := func(url string) e2eScheduleView {
		var v e2eScheduleView
		e2eGraphQL(t, url, `query($id: ID!) { schedule(id: $id) { fires(last: 100) { at firedAt outcome runId } } }`,
			map[string]any{"id": schedID}, &v)
		return v
	}
	e2ePoll(t, "three fires", e2eTimeout, func() bool { return len(fires(url).Schedule.Fires) >= 3 })

	isLeader := e2eHasMsg("scheduler leader: firing schedules")
	leader, survivor := "a", "b"
	if len(procs["a"].lines(isLeader)) == 0 {
		leader, survivor = "b", "a"
	}
	require.Len(t, procs[leader].lines(isLeader), 1, "the leader said so")
	require.Empty(t, procs[survivor].lines(isLeader), "one leader")

	require.Equal(t, -1, procs[leader].stop(syscall.SIGKILL))
	killed := time.Now()
	url = procs[survivor].url
	procs[survivor].waitFor("the survivor's election", isLeader)
	e2ePoll(t, "fires by the survivor", e2eTimeout, func() bool {
		for _, f := range fires(url).Schedule.Fires {
			if f.FiredAt.After(killed.Add(time.Second)) {
				return true
			}
		}
		return false
	})
	t.Logf("the survivor fired again %s after the kill", time.Since(killed).Round(time.Millisecond))
	var off struct {
		SetScheduleEnabled struct{ Schedule struct{ Enabled bool } }
	}
	e2eGraphQL(t, url, `mutation($id: ID!) { setScheduleEnabled(input: {id: $id, enabled: false}) { schedule { enabled } } }`,
		map[string]any{"id": schedID}, &off)

	all := fires(url).Schedule.Fires
	require.Less(t, len(all), 100, "the window holds every fire")
	var times []time.Time
	runs := map[string]bool{}
	for _, f := range all {
		require.Equal(t, "STARTED", f.Outcome)
		require.NotNil(t, f.RunID)
		runs[*f.RunID] = true
		times = append(times, f.At)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		require.Equal(t, time.Second, times[i].Sub(times[i-1]), "fire times %s and %s: none twice, none lost", times[i-1], times[i])
	}
	require.Len(t, runs, len(all), "one run per fire time")
	var rv struct {
		Runs struct {
			Edges []struct {
				Node struct{ TriggerKind, TriggeredBy string }
			}
		}
	}
	e2eGraphQL(t, url, `query($p: ID!) { runs(projectId: $p, first: 200) { edges { node { triggerKind triggeredBy } } } }`,
		map[string]any{"p": project}, &rv)
	require.Len(t, rv.Runs.Edges, len(all), "no run without its fire record")
	for _, e := range rv.Runs.Edges {
		require.Equal(t, "schedule", e.Node.TriggerKind)
		require.True(t, strings.EqualFold(schedID, e.Node.TriggeredBy))
	}
}
