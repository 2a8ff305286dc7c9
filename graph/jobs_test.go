package graph_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/graph"
)

const deployYAML = `apiVersion: jobgraph/v1
kind: Job
name: deploy
description: Roll out a release
parameters:
  - name: version
    type: string
    required: true
steps:
  - name: fetch
    executor: local
    action: command
    targets:
      selector: tier=web
    params:
      command: echo fetch ${{ params.version }}
    outputs: [path]
  - name: restart
    executor: local
    action: command
    needs: [fetch]
    targets:
      selector: tier=web
    params:
      command: echo restart ${{ steps.fetch.outputs.path }}
`

func TestJobsThroughTheAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		p := b.createProject(t, "ops")
		const importJob = `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id name version steps { name needs } parameters { name type required } } } }`
		data := b.ok(t, importJob, map[string]any{"in": map[string]any{"projectId": p, "yaml": deployYAML}})
		id := str(t, data, "importJob.job.id")
		require.Equal(t, float64(1), get(t, data, "importJob.job.version"))
		require.Equal(t, "restart", get(t, data, "importJob.job.steps.1.name"))
		require.Equal(t, []any{"fetch"}, get(t, data, "importJob.job.steps.1.needs"), "the DAG")

		// Importing the same document again changes nothing; a change makes version 2.
		data = b.ok(t, importJob, map[string]any{"in": map[string]any{"projectId": p, "yaml": deployYAML}})
		require.Equal(t, float64(1), get(t, data, "importJob.job.version"))
		changed := strings.Replace(deployYAML, "echo fetch", "echo get", 1)
		data = b.ok(t, `mutation($in: UpdateJobInput!) { updateJob(input: $in) { job { version } } }`,
			map[string]any{"in": map[string]any{"id": id, "yaml": changed, "ifVersion": 1}})
		require.Equal(t, float64(2), get(t, data, "updateJob.job.version"))
		e := b.fails(t, `mutation($in: UpdateJobInput!) { updateJob(input: $in) { job { version } } }`,
			map[string]any{"in": map[string]any{"id": id, "yaml": deployYAML, "ifVersion": 1}})
		require.Equal(t, graph.CodeConflict, e.Extensions["code"], "the editor saw an old version")

		data = b.ok(t, `query($id: ID!) { job(id: $id) { yaml old: yaml(version: 1) versions { edges { node { version createdBy } } } } }`, map[string]any{"id": id})
		require.Contains(t, str(t, data, "job.yaml"), "echo get")
		require.Contains(t, str(t, data, "job.old"), "echo fetch", "old versions stay readable")
		require.Equal(t, float64(2), get(t, data, "job.versions.edges.0.node.version"), "newest first")
		require.True(t, strings.HasPrefix(str(t, data, "job.versions.edges.0.node.createdBy"), "user:"))

		for name, tc := range map[string]struct{ yaml, field string }{
			"unknown executor": {strings.ReplaceAll(deployYAML, "executor: local", "executor: teleport"), "steps[0].executor"},
			"unknown action":   {strings.Replace(deployYAML, "action: command", "action: reboot", 1), "steps[0].action"},
			"schema":           {strings.Replace(deployYAML, "command: echo fetch ${{ params.version }}", "command: 42", 1), "steps[0].params.command"},
			"cycle":            {strings.Replace(deployYAML, "    outputs: [path]", "    needs: [restart]\n    outputs: [path]", 1), "needs"},
			"missing output":   {strings.Replace(deployYAML, "outputs.path", "outputs.nope", 1), "steps[1].params"},
			"unknown field":    {strings.Replace(deployYAML, "description:", "descripton:", 1), "yaml"},
		} {
			e := b.fails(t, importJob, map[string]any{"in": map[string]any{"projectId": p, "yaml": strings.Replace(tc.yaml, "name: deploy", "name: other", 1)}})
			require.Equal(t, graph.CodeBadUserInput, e.Extensions["code"], "%s: %v", name, e)
			require.Contains(t, e.Extensions["field"], tc.field, "%s: %v", name, e)
		}
		require.Equal(t, float64(1), get(t, b.ok(t, `query($p: ID!) { jobs(projectId: $p) { totalCount } }`, map[string]any{"p": p}), "jobs.totalCount"),
			"nothing half-created")

		e = b.fails(t, `mutation($id: ID!) { deleteProject(input: {id: $id}) { deletedId } }`, map[string]any{"id": p})
		require.Equal(t, graph.CodeConflict, e.Extensions["code"])
		require.Contains(t, e.Message, "1 jobs")
		b.ok(t, `mutation($id: ID!) { deleteJob(input: {id: $id}) { deletedId } }`, map[string]any{"id": id})
		data = b.ok(t, `{ auditEvents(filter: {action: "deleteJob"}) { edges { node { projectId objectId outcome } } } }`, nil)
		require.Equal(t, p, get(t, data, "auditEvents.edges.0.node.projectId"), "a deleted job stays in its project's trail")
		require.Equal(t, id, get(t, data, "auditEvents.edges.0.node.objectId"))
		e = b.fails(t, `query($id: ID!) { job(id: $id) { id } }`, map[string]any{"id": id})
		require.Equal(t, graph.CodeNotFound, e.Extensions["code"])
	})
}
