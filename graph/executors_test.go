package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

func TestExecutorsQuery(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	data := b.ok(t, `{ executors { name builtIn health restarts actions { name description paramsSchema secretParams } } }`, nil)
	execs := get(t, data, "executors").([]any)
	require.Len(t, execs, 1)
	require.Equal(t, "local", get(t, execs[0], "name"))
	require.Equal(t, true, get(t, execs[0], "builtIn"))
	require.Equal(t, "NOT_STARTED", get(t, execs[0], "health"))
	actions := get(t, execs[0], "actions").([]any)
	require.NotEmpty(t, actions)
	var names []string
	for _, a := range actions {
		names = append(names, get(t, a, "name").(string))
		require.Equal(t, "object", get(t, a, "paramsSchema.type"), "the schema is served as JSON, ready for a form")
	}
	require.Contains(t, names, "command")
}
