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
