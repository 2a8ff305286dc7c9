package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/rbac"
)

// finishedRun runs the job jobID to its end through the engine and returns
// the run's ID and its tasks.
func finishedRun(t *testing.T, b *testBundle, jobID string) (string, []run.Task) {
	t.Helper()
	ctx := context.Background()
	r, err := b.runs.RunJob(ctx, engine.RunJobRequest{JobID: jobID, Actor: "test"})
	require.NoError(t, err)
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !r.Status.Final() {
		select {
		case <-deadline.C:
			t.Fatalf("run %s did not finish: %s", r.ID, r.Status)
		case <-tick.C:
		}
		r, err = b.runs.GetRun(ctx, r.ID)
		require.NoError(t, err)
	}
	require.Equal(t, run.RunSucceeded, r.Status)
	p, err := b.runs.ListTasks(ctx, run.TaskFilter{RunID: r.ID}, core.PageArgs{})
	require.NoError(t, err)
	require.NotEmpty(t, p.Items)
	return r.ID, p.Items
}

// userWithRole creates a user holding role in projectID and returns a
// bundle that sends their token.
func userWithRole(t *testing.T, b *testBundle, name, projectID, role string) *testBundle {
	t.Helper()
	ctx := context.Background()
	u, err := b.ids.CreateUser(ctx, identity.CreateUserInput{Username: name, Password: name + "-password"})
	require.NoError(t, err)
	require.NoError(t, b.authz.Assign(ctx, u.ID, projectID, role))
	_, secret, err := b.ids.CreateToken(ctx, identity.CreateTokenInput{UserID: u.ID, Name: "test"})
	require.NoError(t, err)
	return b.withToken(secret)
}

// storedLog is the task's log as the store holds it, chunk after chunk,
// with the number of chunks and the last Seq.
func storedLog(t *testing.T, s *store.Store, taskID string) (data []byte, chunks int, last int64) {
	t.Helper()
	for {
		page, err := s.ReadLogs(context.Background(), taskID, last, run.MaxReadLogs)
		require.NoError(t, err)
		if len(page) == 0 {
			return data, chunks, last
		}
		for _, c := range page {
			data = append(data, c.Data...)
		}
		chunks += len(page)
		last = page[len(page)-1].Seq
	}
}

func TestTaskLogDownload(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		p := b.createProject(t, "logs")
		b.createHost(t, map[string]any{"projectId": p, "name": "web-1", "address": "127.0.0.1", "labels": lbl("env", "prod")})
		jobID := str(t, b.ok(t, `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "yaml": authzJobYAML("hello")}}), "importJob.job.id")
		runID, tasks := finishedRun(t, b, jobID)
		task := tasks[0]
		otherRun, otherTasks := finishedRun(t, b, jobID)

		// Past what the executor wrote, more than two pages of chunks of
		// every stream, with bytes that are not UTF-8: the download must
		// be a byte copy of all of them, in order.
		_, _, seq := storedLog(t, s, task.ID)
		require.NotZero(t, seq, "the executor logged something")
		var extra []run.LogChunk
		streams := []run.LogStream{run.StreamStdout, run.StreamStderr, run.StreamSystem}
		for i := range 2*run.MaxReadLogs + 17 {
			seq++
			data := fmt.Sprintf("%s line %d\n", streams[i%3], i)
			if i%100 == 0 {
				data += "\xff\xfe raw\r\n"
			}
			extra = append(extra, run.LogChunk{TaskID: task.ID, Seq: seq, Stream: streams[i%3], Data: []byte(data), At: time.Now()})
		}
		res, err := s.AppendLogs(ctx, extra, 0)
		require.NoError(t, err)
		require.Equal(t, len(extra), res.Stored)
		want, n, _ := storedLog(t, s, task.ID)
		require.Greater(t, n, 2*run.MaxReadLogs)

		path := "/runs/" + runID + "/tasks/" + task.ID + "/log"
		resp := b.get(t, path)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Equal(t, `attachment; filename="`+runID+"-web-1-"+task.ID+`.log"`, resp.Header.Get("Content-Disposition"))
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, want, got, "the stored chunks, in order, byte for byte")
		require.True(t, strings.HasPrefix(string(got), "hello"), "the executor's own output comes first: %.40q", got)
		require.Contains(t, string(got), "stderr line 1\n", "stderr chunks carry no prefix")

		// A viewer of the project may download it, like taskLogs.
		viewer := userWithRole(t, b, "viewer", p, rbac.RoleViewer)
		resp = viewer.get(t, path)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		got, err = io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, want, got)

		// A task with an empty log is an empty file.
		_, err = s.DeleteLogsBefore(ctx, time.Now().Add(time.Hour))
		require.NoError(t, err)
		resp = b.get(t, "/runs/"+otherRun+"/tasks/"+otherTasks[0].ID+"/log")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		got, err = io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Empty(t, got)

		// Refusals, each with a JSON error body.
		expectError := func(bb *testBundle, path string, status int, code string) {
			t.Helper()
			resp := bb.get(t, path)
			require.Equal(t, status, resp.StatusCode, path)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"), path)
			var body struct{ Errors []gqlError }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body), path)
			require.Len(t, body.Errors, 1, path)
			require.Equal(t, code, body.Errors[0].Extensions["code"], path)
		}
		expectError(b.withToken(""), path, http.StatusUnauthorized, "UNAUTHENTICATED")
		expectError(b.withToken("jgp_not-a-real-token"), path, http.StatusUnauthorized, "UNAUTHENTICATED")
		expectError(b, "/runs/"+otherRun+"/tasks/"+task.ID+"/log", http.StatusNotFound, "NOT_FOUND") // another run's task
		expectError(b, "/runs/"+runID+"/tasks/"+otherTasks[0].ID+"/log", http.StatusNotFound, "NOT_FOUND")
		expectError(b, "/runs/"+core.NewID(core.KindRun)+"/tasks/"+task.ID+"/log", http.StatusNotFound, "NOT_FOUND")
		expectError(b, "/runs/"+runID+"/tasks/"+core.NewID(core.KindTask)+"/log", http.StatusNotFound, "NOT_FOUND")
		expectError(b, "/runs/"+runID+"/tasks/nope/log", http.StatusNotFound, "NOT_FOUND")
		expectError(b, "/runs/nope/tasks/"+task.ID+"/log", http.StatusNotFound, "NOT_FOUND")
		expectError(b, "/runs/"+runID+"/tasks/"+runID+"/log", http.StatusNotFound, "NOT_FOUND") // a run ID is no task ID

		// A viewer of another project cannot tell the task exists.
		q := b.createProject(t, "elsewhere")
		outsider := userWithRole(t, b, "outsider", q, rbac.RoleViewer)
		expectError(outsider, path, http.StatusNotFound, "NOT_FOUND")
		// One who sees the project without JOB_READ is refused.
		_, err = b.authz.DefineRole(ctx, "looker", []rbac.Permission{rbac.ProjectRead})
		require.NoError(t, err)
		looker := userWithRole(t, b, "looker", p, "looker")
		expectError(looker, path, http.StatusForbidden, "FORBIDDEN")

		// The refusals by the authorizer are audited, as taskLogs' are: the
		// two anonymous ones, the admin's unknown task, the outsider's and
		// the looker's. Downloads, malformed IDs and mismatched runs are not.
		page, err := audit.NewRecorder(s).List(ctx, audit.Filter{Action: "downloadTaskLog"}, core.PageArgs{First: 50})
		require.NoError(t, err)
		var who []string
		for _, ev := range page.Items {
			require.Equal(t, audit.Denied, ev.Outcome, "%+v", ev)
			require.NotEmpty(t, ev.Reason, "%+v", ev)
			name, _, _ := strings.Cut(ev.ActorName, "-") // setup's admin is admin-<random>
			who = append(who, name)
			if ev.ActorName == "looker" {
				require.Equal(t, task.ID, ev.ObjectID)
				require.Equal(t, "task", ev.ObjectKind)
				require.Equal(t, p, ev.ProjectID)
				require.Equal(t, "forbidden: job:read", ev.Reason)
			}
		}
		require.ElementsMatch(t, []string{"", "", "admin", "outsider", "looker"}, who)
	})
}
