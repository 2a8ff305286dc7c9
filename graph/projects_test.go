package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// TestAPIProjectMaxConcurrentRuns: the project's run limit through the
// API — created, read, changed, left alone by an update that does not name
// it, and refused out of range before anything is written.
func TestAPIProjectMaxConcurrentRuns(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		create := `mutation($in: CreateProjectInput!) { createProject(input: $in) { project { id maxConcurrentRuns } } }`
		update := `mutation($in: UpdateProjectInput!) { updateProject(input: $in) { project { id description maxConcurrentRuns } } }`
		read := `query($id: ID!) { project(id: $id) { maxConcurrentRuns } }`

		data := b.ok(t, create, map[string]any{"in": map[string]any{"name": "ops"}})
		ops := str(t, data, "createProject.project.id")
		require.Equal(t, 0, num(t, data, "createProject.project.maxConcurrentRuns"), "no limit by default")

		data = b.ok(t, create, map[string]any{"in": map[string]any{"name": "batch", "maxConcurrentRuns": 3}})
		batch := str(t, data, "createProject.project.id")
		require.Equal(t, 3, num(t, data, "createProject.project.maxConcurrentRuns"))
		require.Equal(t, 3, num(t, b.ok(t, read, map[string]any{"id": batch}), "project.maxConcurrentRuns"))

		data = b.ok(t, update, map[string]any{"in": map[string]any{"id": ops, "maxConcurrentRuns": 2}})
		require.Equal(t, 2, num(t, data, "updateProject.project.maxConcurrentRuns"))
		data = b.ok(t, update, map[string]any{"in": map[string]any{"id": ops, "description": "x"}})
		require.Equal(t, 2, num(t, data, "updateProject.project.maxConcurrentRuns"), "an update that does not name it keeps it")
		data = b.ok(t, update, map[string]any{"in": map[string]any{"id": ops, "maxConcurrentRuns": 0}})
		require.Equal(t, 0, num(t, data, "updateProject.project.maxConcurrentRuns"), "0 lifts the limit")

		for _, n := range []int{-1, 10001} {
			e := b.fails(t, create, map[string]any{"in": map[string]any{"name": "bad", "maxConcurrentRuns": n}})
			require.Equal(t, "BAD_USER_INPUT", e.Extensions["code"], "%v", e)
			require.Equal(t, "maxConcurrentRuns", e.Extensions["field"], "%v", e)
			e = b.fails(t, update, map[string]any{"in": map[string]any{"id": batch, "description": "changed", "maxConcurrentRuns": n}})
			require.Equal(t, "BAD_USER_INPUT", e.Extensions["code"], "%v", e)
			require.Equal(t, "maxConcurrentRuns", e.Extensions["field"], "%v", e)
			require.Contains(t, e.Message, "between 0 (no limit) and 10000")
		}
		data = b.ok(t, `{ projects { totalCount edges { node { name description maxConcurrentRuns } } } }`, nil)
		require.Equal(t, 2, num(t, data, "projects.totalCount"), "no project half-created")
		require.Equal(t, "batch", str(t, data, "projects.edges.0.node.name"))
		require.Equal(t, "", str(t, data, "projects.edges.0.node.description"), "nothing half-updated")
		require.Equal(t, 3, num(t, data, "projects.edges.0.node.maxConcurrentRuns"))
	})
}
