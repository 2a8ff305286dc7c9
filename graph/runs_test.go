package graph_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// runsJobYAML is a two-step job on the hosts labelled role=web: "greet"
// echoes a parameter with the local executor, then "after" uses greet's
// exit_code output.
const runsJobYAML = `apiVersion: jobgraph/v1
kind: Job
name: greet
parameters:
  - name: who
    type: string
    default: world
steps:
  - name: greet
    executor: local
    action: command
    targets:
      selector: role=web
    strategy:
      batchSize: 1
    outputs: [exit_code]
    params:
      command: echo hello-${{ params.who }}
  - name: after
    executor: local
    action: command
    needs: [greet]
    targets:
      selector: role=web
    params:
      command: echo greet exited ${{ steps.greet.outputs.exit_code }}
`

func TestRunJobEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		p := b.createProject(t, "runs")
		for _, name := range []string{"web1", "web2"} {
			b.createHost(t, map[string]any{"projectId": p, "name": name, "address": "127.0.0.1", "labels": lbl("role", "web")})
		}
		data := b.ok(t, `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "yaml": runsJobYAML}})
		jobID := str(t, data, "importJob.job.id")

		bad := b.fails(t, `mutation($in: RunJobInput!) { runJob(input: $in) { run { id } } }`,
			map[string]any{"in": map[string]any{"jobId": jobID, "params": map[string]any{"who": 3}}})
		require.Equal(t, "BAD_USER_INPUT", bad.Extensions["code"], "%v", bad)
		require.Contains(t, bad.Message, "params.who")

		data = b.ok(t, `mutation($in: RunJobInput!) { runJob(input: $in) { run { id status name jobVersion params } } }`,
			map[string]any{"in": map[string]any{"jobId": jobID, "params": map[string]any{"who": "graph"}, "priority": 5}})
		runID := str(t, data, "runJob.run.id")
		require.Equal(t, "greet", str(t, data, "runJob.run.name"))
		require.Equal(t, "graph", str(t, data, "runJob.run.params.who"))

		const q = `query($id: ID!) { run(id: $id) { id status priority finishedAt
			steps { name status counts { total succeeded } }
			tasks(first: 10) { edges { node { id hostName status exitCode attempt outputs } } } } }`
		deadline := time.NewTimer(30 * time.Second)
		defer deadline.Stop()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var run map[string]any
		for {
			data = b.ok(t, q, map[string]any{"id": runID})
			run = get(t, data, "run").(map[string]any)
			if st := run["status"].(string); st != "QUEUED" && st != "RUNNING" {
				break
			}
			select {
			case <-deadline.C:
				t.Fatalf("run %s did not finish: %v", runID, run)
			case <-tick.C:
			}
		}
		require.Equal(t, "SUCCEEDED", run["status"], "%v", run)
		require.Equal(t, 5, num(t, run, "priority"))
		require.NotNil(t, run["finishedAt"])
		require.Equal(t, "greet", str(t, run, "steps.0.name"))
		require.Equal(t, "SUCCEEDED", str(t, run, "steps.0.status"))
		require.Equal(t, 2, num(t, run, "steps.0.counts.total"))
		require.Equal(t, 2, num(t, run, "steps.1.counts.succeeded"))
		edges := get(t, run, "tasks.edges").([]any)
		require.Len(t, edges, 4)
		var hosts []string
		for i := range edges {
			node := get(t, edges[i], "node")
			hosts = append(hosts, str(t, node, "hostName"))
			require.Equal(t, "SUCCEEDED", str(t, node, "status"))
			require.Equal(t, 0, num(t, node, "exitCode"))
			require.Equal(t, 1, num(t, node, "attempt"))
			require.Equal(t, "0", str(t, node, "outputs.exit_code"))
		}
		require.Equal(t, []string{"web1", "web2", "web1", "web2"}, hosts)

		logsOf := func(taskID string) string {
			data := b.ok(t, `query($id: ID!) { taskLogs(taskId: $id, afterSeq: 0, first: 100) { lastSeq chunks { seq stream data at } } }`,
				map[string]any{"id": taskID})
			var out strings.Builder
			for i, c := range get(t, data, "taskLogs.chunks").([]any) {
				require.Equal(t, i+1, num(t, c, "seq"))
				require.Equal(t, "STDOUT", str(t, c, "stream"))
				out.WriteString(str(t, c, "data"))
			}
			return out.String()
		}
		require.Contains(t, logsOf(str(t, edges[0], "node.id")), "hello-graph")
		require.Contains(t, logsOf(str(t, edges[3], "node.id")), "greet exited 0")

		data = b.ok(t, `query($p: ID!, $j: ID!) { runs(projectId: $p, filter: {status: [SUCCEEDED], jobId: $j}) { edges { node { id } } } }`,
			map[string]any{"p": p, "j": jobID})
		require.Equal(t, runID, str(t, data, "runs.edges.0.node.id"))

		// Canceling a final run changes nothing.
		data = b.ok(t, `mutation($id: ID!) { cancelRun(input: {id: $id}) { run { status } } }`, map[string]any{"id": runID})
		require.Equal(t, "SUCCEEDED", str(t, data, "cancelRun.run.status"))
	})
}

// waitRun polls run(id) until it is final and returns it.
func (b *testBundle) waitRun(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		data := b.ok(t, `query($id: ID!) { run(id: $id) { id status name jobId triggerKind retryOf
			steps { name status counts { total succeeded failed } }
			tasks(first: 50) { edges { node { id hostName status } } } } }`, map[string]any{"id": id})
		r := get(t, data, "run").(map[string]any)
		if st := r["status"].(string); st != "QUEUED" && st != "RUNNING" {
			return r
		}
		select {
		case <-deadline.C:
			t.Fatalf("run %s did not finish: %v", id, r)
		case <-tick.C:
		}
	}
}

func TestAdHocAndRetryRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		p := b.createProject(t, "adhoc")
		var hostIDs []string
		for _, name := range []string{"web1", "web2", "web3"} {
			h := b.createHost(t, map[string]any{"projectId": p, "name": name, "address": "127.0.0.1", "labels": lbl("role", "web")})
			hostIDs = append(hostIDs, h["id"].(string))
		}
		const adhoc = `mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id name jobId status } } }`
		for _, c := range []struct {
			in    map[string]any
			field string
		}{
			{map[string]any{"executor": "nope", "action": "command", "targets": map[string]any{"selector": "role=web"}}, "executor"},
			{map[string]any{"executor": "local", "action": "nope", "targets": map[string]any{"selector": "role=web"}}, "action"},
			{map[string]any{"executor": "local", "action": "command", "params": map[string]any{"cmd": "x"}, "targets": map[string]any{"selector": "role=web"}}, "params"},
			{map[string]any{"executor": "local", "action": "command", "params": map[string]any{"command": "x"}, "targets": map[string]any{"selector": "role=db"}}, "targets"},
			{map[string]any{"executor": "local", "action": "command", "params": map[string]any{"command": "x"}, "targets": map[string]any{"selector": "role=web"}, "priority": 200}, "priority"},
			{map[string]any{"executor": "local", "action": "command", "params": map[string]any{"command": "x"}, "targets": map[string]any{"selector": "role=web"}, "timeoutSeconds": -1}, "timeoutSeconds"},
		} {
			c.in["projectId"] = p
			bad := b.fails(t, adhoc, map[string]any{"in": c.in})
			require.Equal(t, "BAD_USER_INPUT", bad.Extensions["code"], "%v", bad)
			require.True(t, strings.HasPrefix(bad.Extensions["field"].(string), c.field), "%s: %v", c.field, bad)
		}
		data := b.ok(t, `query($p: ID!) { runs(projectId: $p) { edges { node { id } } } }`, map[string]any{"p": p})
		require.Empty(t, get(t, data, "runs.edges"), "nothing half-created")

		// A command that fails on whichever host runs it first, once.
		lock := t.TempDir() + "/lock"
		data = b.ok(t, adhoc, map[string]any{"in": map[string]any{"projectId": p, "executor": "local", "action": "command",
			"params":   map[string]any{"command": "if mkdir " + lock + " 2>/dev/null; then echo first; exit 4; fi; echo again"},
			"targets":  map[string]any{"hosts": hostIDs},
			"strategy": map[string]any{"maxParallel": 1}}})
		require.True(t, strings.HasPrefix(str(t, data, "adHocRun.run.name"), "local command: if mkdir "), str(t, data, "adHocRun.run.name"))
		require.Nil(t, get(t, data, "adHocRun.run.jobId"))
		orig := b.waitRun(t, str(t, data, "adHocRun.run.id"))
		require.Equal(t, "FAILED", orig["status"])
		require.Equal(t, "adhoc", str(t, orig, "steps.0.name"))
		require.Equal(t, 1, num(t, orig, "steps.0.counts.failed"))
		require.Equal(t, 2, num(t, orig, "steps.0.counts.succeeded"))
		var failedHost string
		for _, e := range get(t, orig, "tasks.edges").([]any) {
			if str(t, e, "node.status") == "FAILED" {
				failedHost = str(t, e, "node.hostName")
			}
		}

		const retry = `mutation($in: RetryRunInput!) { retryRun(input: $in) { run { id triggerKind retryOf } } }`
		data = b.ok(t, retry, map[string]any{"in": map[string]any{"runId": orig["id"], "failedOnly": true}})
		require.Equal(t, "retry", str(t, data, "retryRun.run.triggerKind"))
		require.Equal(t, orig["id"], str(t, data, "retryRun.run.retryOf"))
		again := b.waitRun(t, str(t, data, "retryRun.run.id"))
		require.Equal(t, "SUCCEEDED", again["status"])
		edges := get(t, again, "tasks.edges").([]any)
		require.Len(t, edges, 1, "only the failed host runs again")
		require.Equal(t, failedHost, str(t, edges[0], "node.hostName"))

		bad := b.fails(t, retry, map[string]any{"in": map[string]any{"runId": again["id"], "failedOnly": true}})
		require.Equal(t, "BAD_USER_INPUT", bad.Extensions["code"], "%v", bad)
		require.Equal(t, "failedOnly", bad.Extensions["field"])

		// Filters: trigger, host, time range.
		data = b.ok(t, `query($p: ID!, $h: ID!) { runs(projectId: $p, filter: {triggerKind: "retry", hostId: $h}) { edges { node { id } } } }`,
			map[string]any{"p": p, "h": hostIDs[0]})
		if failedHost == "web1" {
			require.Len(t, get(t, data, "runs.edges"), 1)
		} else {
			require.Empty(t, get(t, data, "runs.edges"))
		}
		data = b.ok(t, `query($p: ID!, $t: Time!) { runs(projectId: $p, filter: {createdAfter: $t}) { edges { node { id } } } }`,
			map[string]any{"p": p, "t": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		require.Empty(t, get(t, data, "runs.edges"))
		bad = b.fails(t, `query($p: ID!) { runs(projectId: $p, filter: {triggerKind: "cron"}) { edges { node { id } } } }`, map[string]any{"p": p})
		require.Equal(t, "filter.triggerKind", bad.Extensions["field"])
	})
}
