package graph_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/scheduler"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/graph"
)

// newSchedule makes a schedule of a fresh job in P, as the admin, that
// fires once a year, and returns its ID.
func (fx *authzFixture) newSchedule(t *testing.T) string {
	t.Helper()
	data := fx.b.ok(t, `mutation($in: CreateScheduleInput!) { createSchedule(input: $in) { schedule { id } } }`,
		map[string]any{"in": map[string]any{"projectId": fx.p, "jobId": fx.newJob(t), "name": fx.uniq("sch"), "expression": "0 0 1 1 *"}})
	return str(t, data, "createSchedule.schedule.id")
}

const createSchedule = `mutation($in: CreateScheduleInput!) { createSchedule(input: $in) {
  schedule { id name expression timeZone params jitterSeconds overlap missed enabled nextFireAt dueAt nextFireTimes(count: 3) job { id } } } }`

func TestSchedulesThroughTheAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		p := b.createProject(t, "ops")
		data := b.ok(t, `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "yaml": deployYAML}})
		jobID := str(t, data, "importJob.job.id")

		// Bad input: a clear error naming the field, audited, nothing stored.
		for name, tc := range map[string]struct {
			in    map[string]any
			field string
		}{
			"expression": {map[string]any{"expression": "every tuesday"}, "expression"},
			"time zone":  {map[string]any{"timeZone": "Mars/Olympus"}, "timeZone"},
			"params":     {map[string]any{"params": map[string]any{"nope": 1}}, "params.nope"},
			"missing":    {map[string]any{"params": map[string]any{}}, "params.version"},
			"jitter":     {map[string]any{"jitterSeconds": 7200}, "jitter"},
		} {
			in := map[string]any{"projectId": p, "jobId": jobID, "name": "nightly", "expression": "30 2 * * *",
				"params": map[string]any{"version": "1.2"}}
			for k, v := range tc.in {
				in[k] = v
			}
			e := b.fails(t, createSchedule, map[string]any{"in": in})
			require.Equal(t, graph.CodeBadUserInput, e.Extensions["code"], "%s: %v", name, e)
			require.Equal(t, tc.field, e.Extensions["field"], "%s: %v", name, e)
		}
		data = b.ok(t, `query($p: ID!) { schedules(projectId: $p) { id } }`, map[string]any{"p": p})
		require.Empty(t, get(t, data, "schedules"), "nothing stored")
		data = b.ok(t, `{ auditEvents(filter: {action: "createSchedule"}) { totalCount edges { node { projectId outcome reason } } } }`, nil)
		require.Equal(t, float64(5), get(t, data, "auditEvents.totalCount"), "every refusal is audited")
		require.NotEqual(t, "ALLOWED", get(t, data, "auditEvents.edges.0.node.outcome"))

		// A good one, in Los Angeles across the spring-forward change.
		data = b.ok(t, createSchedule, map[string]any{"in": map[string]any{"projectId": p, "jobId": jobID, "name": "nightly",
			"expression": "30 2 * * *", "timeZone": "America/Los_Angeles", "params": map[string]any{"version": "1.2"},
			"overlap": "QUEUE", "missed": "RUN_ONCE", "jitterSeconds": 30}})
		id := str(t, data, "createSchedule.schedule.id")
		require.Equal(t, "QUEUE", get(t, data, "createSchedule.schedule.overlap"))
		require.Equal(t, "RUN_ONCE", get(t, data, "createSchedule.schedule.missed"))
		require.Equal(t, true, get(t, data, "createSchedule.schedule.enabled"))
		require.Equal(t, jobID, get(t, data, "createSchedule.schedule.job.id"))
		require.Len(t, get(t, data, "createSchedule.schedule.nextFireTimes"), 3)

		data = b.ok(t, `{ cronPreview(expression: "30 2 * * *", timeZone: "America/Los_Angeles", count: 2, after: "2026-03-07T20:00:00Z") }`, nil)
		require.Equal(t, []any{"2026-03-08T10:00:00Z", "2026-03-09T09:30:00Z"}, get(t, data, "cronPreview"),
			"03:00 PDT on the day 02:30 does not exist")
		e := b.fails(t, `{ cronPreview(expression: "* * *", count: 2) }`, nil)
		require.Equal(t, "expression", e.Extensions["field"])

		// Disable, change, delete.
		data = b.ok(t, `mutation($id: ID!) { setScheduleEnabled(input: {id: $id, enabled: false}) { schedule { enabled nextFireAt } } }`,
			map[string]any{"id": id})
		require.Nil(t, get(t, data, "setScheduleEnabled.schedule.nextFireAt"))
		e = b.fails(t, `mutation($id: ID!) { updateSchedule(input: {id: $id, timeZone: "Nowhere/Land"}) { schedule { id } } }`,
			map[string]any{"id": id})
		require.Equal(t, "timeZone", e.Extensions["field"])
		data = b.ok(t, `mutation($id: ID!) { updateSchedule(input: {id: $id, expression: "@daily", enabled: true}) { schedule { expression enabled nextFireAt } } }`,
			map[string]any{"id": id})
		require.Equal(t, "@daily", get(t, data, "updateSchedule.schedule.expression"))
		require.NotNil(t, get(t, data, "updateSchedule.schedule.nextFireAt"))
		data = b.ok(t, `query($id: ID!) { schedule(id: $id) { id project { id } } }`, map[string]any{"id": id})
		require.Equal(t, p, get(t, data, "schedule.project.id"))
		b.ok(t, `mutation($id: ID!) { deleteSchedule(input: {id: $id}) { deletedId } }`, map[string]any{"id": id})
		e = b.fails(t, `query($id: ID!) { schedule(id: $id) { id } }`, map[string]any{"id": id})
		require.Equal(t, graph.CodeNotFound, e.Extensions["code"])
	})
}

// TestScheduleStartsRunsThroughTheEngine fires a schedule with the real
// engine: the run it starts names the schedule, and the schedule its run.
func TestScheduleStartsRunsThroughTheEngine(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	p := b.createProject(t, "ops")
	data := b.ok(t, `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id } } }`,
		map[string]any{"in": map[string]any{"projectId": p, "yaml": deployYAML}})
	jobID := str(t, data, "importJob.job.id")
	b.createHost(t, map[string]any{"projectId": p, "name": "web1", "address": "127.0.0.1", "labels": lbl("tier", "web")})
	data = b.ok(t, createSchedule, map[string]any{"in": map[string]any{"projectId": p, "jobId": jobID, "name": "often",
		"expression": "* * * * * *", "params": map[string]any{"version": "2.0"}}})
	id := str(t, data, "createSchedule.schedule.id")

	sch := scheduler.NewScheduler(scheduler.SchedulerOptions{Store: b.store, Runs: b.store, Starter: b.runs,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(t, sch.Start(context.Background()))
	t.Cleanup(sch.Stop)

	const q = `query($id: ID!) { schedule(id: $id) { lastError lastRun { id triggerKind triggeredBy params } fires(last: 5) { outcome runId } } }`
	require.Eventually(t, func() bool {
		data = b.ok(t, q, map[string]any{"id": id})
		return get(t, data, "schedule.lastRun") != nil
	}, 15*time.Second, 50*time.Millisecond)
	sch.Stop()
	require.Equal(t, "schedule", get(t, data, "schedule.lastRun.triggerKind"))
	require.Equal(t, id, get(t, data, "schedule.lastRun.triggeredBy"))
	require.Equal(t, map[string]any{"version": "2.0"}, get(t, data, "schedule.lastRun.params"))
	require.Equal(t, "STARTED", get(t, data, "schedule.fires.0.outcome"))
}

// testWriter logs to t (only while the test runs: the scheduler is
// stopped before it ends).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
