package graph_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

func TestAuditExport(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		p1 := str(t, b.ok(t, `mutation { createProject(input: {name: "p1"}) { project { id } } }`, nil), "createProject.project.id")
		b.ok(t, `mutation { createProject(input: {name: "p2"}) { project { id } } }`, nil)
		b.fails(t, `mutation($p: ID!) { createHost(input: {projectId: $p, name: "h", address: "h", port: 0}) { host { id } } }`, map[string]any{"p": p1})

		export := func(token, query string) (*http.Response, []map[string]any) {
			t.Helper()
			req, err := http.NewRequest(http.MethodGet, b.srv.URL+"/audit/export"+query, nil)
			require.NoError(t, err)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := b.srv.Client().Do(req)
			require.NoError(t, err)
			t.Cleanup(func() { _ = resp.Body.Close() })
			var events []map[string]any
			if resp.StatusCode == http.StatusOK {
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					var ev map[string]any
					require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), sc.Text())
					events = append(events, ev)
				}
				require.NoError(t, sc.Err())
			}
			return resp, events
		}

		resp, events := export(b.token, "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
		var actions []string
		for _, ev := range events {
			actions = append(actions, ev["action"].(string)+"/"+ev["outcome"].(string))
		}
		require.Equal(t, []string{"createProject/allowed", "createProject/allowed", "createHost/failed", "exportAuditEvents/allowed"}, actions,
			"oldest first, the export itself included")

		resp, events = export(b.token, "?projectId="+p1+"&outcome=failed")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Len(t, events, 1)
		require.Equal(t, "invalid input: port", events[0]["reason"])

		viewer := b.newUser(t, "viewer", false)
		resp, _ = export(viewer, "")
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		resp, _ = export(viewer, "?projectId="+p1)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "a project the caller cannot see does not exist")
		resp, _ = export("", "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		resp, _ = export(b.token, "?since=yesterday")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
}
