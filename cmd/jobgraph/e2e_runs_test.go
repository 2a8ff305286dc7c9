//go:build unix

package main

// End-to-end tests of runs: a DAG job on a real sshd through GraphQL, on
// SQLite with the embedded NATS and on MariaDB with the external NATS, and
// the process-level faults (a worker killed mid-task, a server killed
// mid-run). They reuse the helpers of e2e_test.go. Nothing sleeps: every
// wait polls with a ticker until a deadline.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/plugins/ssh/sshdtest"
)

// e2eNATSURL is the NATS with JetStream of the development and CI machines.
// An unreachable server fails the tests that need it: never skipped.
const e2eNATSURL = "nats://127.0.0.1:4222"

// e2eRunTimeout bounds the wait for a run to end.
const e2eRunTimeout = 45 * time.Second

// e2eWorkerTimeout is the --worker-timeout of the fault tests: a silent
// worker's message goes to another worker after it, and the rescuer loses
// a running task after twice it.
const e2eWorkerTimeout = "2s"

// e2eMySQLDSN returns the DSN of a fresh MariaDB database, dropped when the
// test ends. Outside CI, JOBGRAPH_TEST_MYSQL_DSN=off skips the test;
// storetest refuses that setting under CI=true, and an unreachable server
// fails.
func e2eMySQLDSN(t *testing.T) string {
	t.Helper()
	if !slices.Contains(storetest.Dialects(t), store.MySQL) {
		t.Skip("JOBGRAPH_TEST_MYSQL_DSN=off: no MariaDB for this test")
	}
	return storetest.NewDSN(t, store.MySQL)
}

// e2eNATSNamespace returns a fresh --nats-namespace on the external NATS,
// whose stream and leader buckets are deleted when the test ends. Call it
// before starting the processes that use it, so that its cleanup runs after
// theirs (cleanups run last in, first out).
func e2eNATSNamespace(t *testing.T) string {
	t.Helper()
	nc, err := nats.Connect(e2eNATSURL, nats.Timeout(5*time.Second))
	require.NoError(t, err, "the external NATS with JetStream at %s is unreachable (start it: the e2e tests never skip it)", e2eNATSURL)
	var b [6]byte
	_, _ = rand.Read(b[:])
	ns := "e2e" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Errorf("jetstream: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
		defer cancel()
		stream := strings.ToUpper(ns) + "_TASKS"
		names := js.StreamNames(ctx)
		for n := range names.Name() {
			if n == stream || strings.HasPrefix(n, "KV_"+stream+"_") {
				if err := js.DeleteStream(ctx, n); err != nil {
					t.Errorf("delete stream %s: %v", n, err)
				}
			}
		}
		if err := names.Err(); err != nil {
			t.Errorf("list streams: %v", err)
		}
	})
	return ns
}

// e2ePoll calls cond every 50ms until it returns true, failing the test
// after timeout.
func e2ePoll(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %s", what, timeout)
		}
	}
}

// e2eMutateID runs a mutation and returns the id at the end of the path of
// nested single-field objects ("createHost.host.id").
func e2eMutateID(t *testing.T, baseURL, query string, in map[string]any, path ...string) string {
	t.Helper()
	var data map[string]any
	e2eGraphQL(t, baseURL, query, map[string]any{"in": in}, &data)
	var v any = data
	for _, k := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "no %s in %v", k, data)
		v = m[k]
	}
	id, _ := v.(string)
	require.NotEmpty(t, id, "%v", data)
	return id
}

func e2eCreateHost(t *testing.T, baseURL string, in map[string]any) string {
	t.Helper()
	return e2eMutateID(t, baseURL, `mutation($in: CreateHostInput!) { createHost(input: $in) { host { id } } }`, in, "createHost", "host", "id")
}

func e2eImportJob(t *testing.T, baseURL, projectID, yaml string) string {
	t.Helper()
	return e2eMutateID(t, baseURL, `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id } } }`,
		map[string]any{"projectId": projectID, "yaml": yaml}, "importJob", "job", "id")
}

func e2eRunJob(t *testing.T, baseURL, jobID string) string {
	t.Helper()
	return e2eMutateID(t, baseURL, `mutation($in: RunJobInput!) { runJob(input: $in) { run { id } } }`,
		map[string]any{"jobId": jobID}, "runJob", "run", "id")
}

type e2eTaskCounts struct {
	Total, Pending, Queued, Running, Succeeded, Failed, Canceled, TimedOut, Error, Lost int
}

type e2eStep struct {
	ID, Name, Status string
	Counts           e2eTaskCounts
}

type e2eTask struct {
	ID, StepRunID, HostName, Status, Error string
	Attempt                                int
	ExitCode                               *int
	Outputs                                map[string]any
	LogBytes                               int
	StartedAt, FinishedAt                  *time.Time
}

type e2eRunView struct {
	ID, Status string
	Steps      []e2eStep
	Tasks      []e2eTask
}

// step returns the step named name and its tasks, in the run's order.
func (r e2eRunView) step(t *testing.T, name string) (e2eStep, []e2eTask) {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name {
			var tasks []e2eTask
			for _, x := range r.Tasks {
				if x.StepRunID == s.ID {
					tasks = append(tasks, x)
				}
			}
			return s, tasks
		}
	}
	t.Fatalf("run %s has no step %s: %+v", r.ID, name, r.Steps)
	return e2eStep{}, nil
}

const e2eRunQuery = `query($id: ID!) { run(id: $id) { id status
	steps { id name status counts { total pending queued running succeeded failed canceled timedOut error lost } }
	tasks(first: 500) { edges { node { id stepRunId hostName status attempt exitCode error outputs logBytes startedAt finishedAt } } pageInfo { hasNextPage } } } }`

func e2eGetRun(t *testing.T, baseURL, runID string) e2eRunView {
	t.Helper()
	var data struct {
		Run *struct {
			ID, Status string
			Steps      []e2eStep
			Tasks      struct {
				Edges    []struct{ Node e2eTask }
				PageInfo struct{ HasNextPage bool }
			}
		}
	}
	e2eGraphQL(t, baseURL, e2eRunQuery, map[string]any{"id": runID}, &data)
	require.NotNil(t, data.Run, "no run %s", runID)
	require.False(t, data.Run.Tasks.PageInfo.HasNextPage)
	v := e2eRunView{ID: data.Run.ID, Status: data.Run.Status, Steps: data.Run.Steps}
	for _, e := range data.Run.Tasks.Edges {
		v.Tasks = append(v.Tasks, e.Node)
	}
	return v
}

// e2eWaitRun polls the run until it is final and returns it.
func e2eWaitRun(t *testing.T, baseURL, runID string) e2eRunView {
	t.Helper()
	var r e2eRunView
	e2ePoll(t, "run "+runID+" final", e2eRunTimeout, func() bool {
		r = e2eGetRun(t, baseURL, runID)
		return slices.Contains([]string{"SUCCEEDED", "FAILED", "CANCELED", "TIMED_OUT"}, r.Status)
	})
	return r
}

type e2eChunk struct {
	Seq          int64
	Stream, Data string
}

// e2eTaskLogs reads a task's whole log through taskLogs, a page at a time,
// and requires its seqs to be 1..n, contiguous and unique.
func e2eTaskLogs(t *testing.T, baseURL, taskID string) []e2eChunk {
	t.Helper()
	var all []e2eChunk
	after := int64(0)
	for {
		var data struct {
			TaskLogs struct {
				Chunks  []e2eChunk
				LastSeq int64
			}
		}
		e2eGraphQL(t, baseURL, `query($id: ID!, $after: Int) { taskLogs(taskId: $id, afterSeq: $after, first: 1000) { chunks { seq stream data } lastSeq } }`,
			map[string]any{"id": taskID, "after": after}, &data)
		all = append(all, data.TaskLogs.Chunks...)
		if len(data.TaskLogs.Chunks) == 0 || data.TaskLogs.LastSeq == after {
			break
		}
		after = data.TaskLogs.LastSeq
	}
	for i, c := range all {
		require.Equal(t, int64(i+1), c.Seq, "task %s: seqs not 1..n, contiguous and unique: %+v", taskID, all)
	}
	return all
}

func e2eLogText(chunks []e2eChunk) string {
	var b strings.Builder
	for _, c := range chunks {
		b.WriteString(c.Data)
	}
	return b.String()
}

// e2eLogFile downloads a task's log file.
func e2eLogFile(t *testing.T, baseURL, runID, taskID string) []byte {
	t.Helper()
	resp, err := e2eClientFor(baseURL).Get(baseURL + "/runs/" + runID + "/tasks/" + taskID + "/log")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	return body
}

// TestE2EDAGOnSSHD: a three-step DAG (prepare on every tier=web host, then
// deploy with a rolling strategy of 2 using prepare's output, then verify
// on one host) runs on a real sshd through GraphQL, and its logs and
// outputs are readable afterwards.
func TestE2EDAGOnSSHD(t *testing.T) {
	t.Parallel()
	t.Run("sqlite+embedded", func(t *testing.T) {
		t.Parallel()
		srv := e2eStartServer(t, "server", e2eEnv(), "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
		e2eDAGOnSSHD(t, srv.url)
	})
	t.Run("mariadb+external-nats", func(t *testing.T) {
		t.Parallel()
		dsn := e2eMySQLDSN(t)
		ns := e2eNATSNamespace(t)
		// No worker in the server: a standalone worker, with no database,
		// runs every task.
		srv := e2eStartServer(t, "server", e2eEnv("JOBGRAPH_DB="+dsn), "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
			"--nats-url", e2eNATSURL, "--nats-namespace", ns, "--workers", "0")
		e2eStart(t, "worker", e2eEnv(), "worker", "--data-dir", t.TempDir(), "--nats-url", e2eNATSURL, "--nats-namespace", ns)
		e2eDAGOnSSHD(t, srv.url)
	})
}

func e2eDAGOnSSHD(t *testing.T, url string) {
	start := time.Now()
	sshd := sshdtest.Start(t)
	project := e2eCreateProject(t, url, "dag")
	cred := e2eMutateID(t, url, `mutation($in: CreateCredentialInput!) { createCredential(input: $in) { credential { id } } }`,
		map[string]any{"projectId": project, "name": "sshd", "kind": "SSH_KEY", "username": "root", "secret": string(sshd.ClientKey)},
		"createCredential", "credential", "id")
	hosts := make([]string, 4)
	for i := range hosts {
		hosts[i] = e2eCreateHost(t, url, map[string]any{"projectId": project, "name": fmt.Sprintf("web-%d", i+1),
			"address": sshd.Addr, "port": sshd.Port, "defaultCredentialId": cred,
			"labels": []map[string]any{{"key": "tier", "value": "web"}}})
	}
	q := strconv.Quote
	// prepare trusts the host key on first use, which the ssh executor
	// exports as the output host_key; deploy and verify check it strictly.
	yaml := `apiVersion: jobgraph/v1
kind: Job
name: dag
steps:
  - name: prepare
    executor: ssh
    action: command
    targets:
      selector: tier=web
    params:
      command: ` + q(`echo "prepare on $(hostname)"`) + `
      host_key_policy: accept-new
    outputs: [host_key, exit_code]
  - name: deploy
    executor: ssh
    action: command
    needs: [prepare]
    targets:
      selector: tier=web
    strategy:
      batchSize: 2
    params:
      command: ` + q(`echo "deploy key=${{ steps.prepare.outputs.host_key }} exit=${{ steps.prepare.outputs.exit_code }}"; sleep 0.3; echo deployed >&2`) + `
      known_hosts: ` + q(sshd.KnownHosts) + `
  - name: verify
    executor: ssh
    action: command
    needs: [deploy]
    targets:
      hosts: [` + hosts[0] + `]
    params:
      command: ` + q(`echo verified`) + `
      known_hosts: ` + q(sshd.KnownHosts) + `
`
	jobID := e2eImportJob(t, url, project, yaml)
	runID := e2eRunJob(t, url, jobID)
	r := e2eWaitRun(t, url, runID)
	t.Logf("run %s ended %s in %s (setup and run)", runID, r.Status, time.Since(start).Round(time.Millisecond))
	require.Equal(t, "SUCCEEDED", r.Status, "%+v", r)

	want := map[string]int{"prepare": 4, "deploy": 4, "verify": 1}
	require.Len(t, r.Steps, 3)
	require.Len(t, r.Tasks, 9, "one task per step and host, none twice")
	for _, s := range r.Steps {
		require.Equal(t, "SUCCEEDED", s.Status, "%+v", s)
		require.Equal(t, e2eTaskCounts{Total: want[s.Name], Succeeded: want[s.Name]}, s.Counts, s.Name)
	}

	_, prepare := r.step(t, "prepare")
	keys := map[string]string{}
	for _, x := range prepare {
		require.Equal(t, "SUCCEEDED", x.Status)
		require.Equal(t, 1, x.Attempt)
		key, _ := x.Outputs["host_key"].(string)
		require.True(t, strings.HasPrefix(key, "ssh-") || strings.HasPrefix(key, "ecdsa-"), "prepare's host_key output: %+v", x.Outputs)
		require.Equal(t, "0", x.Outputs["exit_code"], "%+v", x.Outputs)
		keys[x.HostName] = key
		logs := e2eTaskLogs(t, url, x.ID)
		require.Contains(t, e2eLogText(logs), "prepare on ")
	}

	// The rolling strategy: the second batch started once the first ended.
	_, deploy := r.step(t, "deploy")
	require.Len(t, deploy, 4)
	byStart := slices.Clone(deploy)
	for _, x := range byStart {
		require.NotNil(t, x.StartedAt, "%+v", x)
		require.NotNil(t, x.FinishedAt, "%+v", x)
	}
	slices.SortFunc(byStart, func(a, b e2eTask) int { return a.StartedAt.Compare(*b.StartedAt) })
	first, second := byStart[:2], byStart[2:]
	for _, a := range first {
		for _, b := range second {
			require.False(t, b.StartedAt.Before(*a.FinishedAt), "rolling: %s (batch 2) started at %s, before %s (batch 1) finished at %s",
				b.HostName, b.StartedAt, a.HostName, a.FinishedAt)
		}
	}
	for _, batch := range [][]e2eTask{first, second} {
		require.True(t, batch[1].StartedAt.Before(*batch[0].FinishedAt), "the tasks of a batch run at once: %s started at %s, after %s finished at %s",
			batch[1].HostName, batch[1].StartedAt, batch[0].HostName, batch[0].FinishedAt)
	}
	require.ElementsMatch(t, []string{deploy[0].HostName, deploy[1].HostName}, []string{first[0].HostName, first[1].HostName},
		"the first batch is the first two tasks in the run's order")

	// The template was rendered with prepare's output on the same host, and
	// the log reads the same through taskLogs and as a file.
	for _, x := range r.Tasks {
		text := e2eLogText(e2eTaskLogs(t, url, x.ID))
		require.Equal(t, text, string(e2eLogFile(t, url, runID, x.ID)), "task %s: taskLogs and the log file differ", x.ID)
		require.Equal(t, len(text), x.LogBytes, "task %s: logBytes", x.ID)
	}
	for _, x := range deploy {
		logs := e2eTaskLogs(t, url, x.ID)
		text := e2eLogText(logs)
		require.Equal(t, 1, strings.Count(text, "deploy key="+keys[x.HostName]+" exit=0\n"), "deploy on %s: %q", x.HostName, text)
		require.Equal(t, 1, strings.Count(text, "deployed\n"), "%q", text)
		for _, c := range logs {
			if strings.Contains(c.Data, "deployed") {
				require.Equal(t, "STDERR", c.Stream, "%+v", logs)
			} else {
				require.Equal(t, "STDOUT", c.Stream, "%+v", logs)
			}
		}
	}
	_, verify := r.step(t, "verify")
	require.Len(t, verify, 1)
	require.Equal(t, "web-1", verify[0].HostName)
	require.Equal(t, "verified\n", e2eLogText(e2eTaskLogs(t, url, verify[0].ID)))
}

// e2eBlockOnceJob is a job of one local step whose command blocks on its
// first attempt only: the first attempt creates marker, writes its PID to
// pidFile, prints "started" and sleeps; any later attempt prints "second".
func e2eBlockOnceJob(t *testing.T, hostID string) (yaml, marker string) {
	t.Helper()
	dir := t.TempDir()
	marker = filepath.Join(dir, "marker")
	pidFile := filepath.Join(dir, "pid")
	// The local executor runs commands in a process group of their own,
	// which outlives a killed worker: end the sleeper with the test.
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	cmd := fmt.Sprintf(`if [ -e %[1]s ]; then echo second; else touch %[1]s; echo $$ > %[2]s; echo started; exec sleep 60; fi`, marker, pidFile)
	return `apiVersion: jobgraph/v1
kind: Job
name: block-once
steps:
  - name: block
    executor: local
    action: command
    targets:
      hosts: [` + hostID + `]
    retries: 1
    params:
      command: ` + strconv.Quote(cmd) + `
`, marker
}

// e2eWaitStarted waits until the run's only task is running and its log
// shows "started", and returns the task's ID.
func e2eWaitStarted(t *testing.T, url, runID string) string {
	t.Helper()
	var taskID string
	e2ePoll(t, "the task logs started", e2eTimeout, func() bool {
		r := e2eGetRun(t, url, runID)
		require.NotContains(t, []string{"SUCCEEDED", "FAILED", "CANCELED", "TIMED_OUT"}, r.Status, "%+v", r)
		if len(r.Tasks) != 1 || r.Tasks[0].Status != "RUNNING" {
			return false
		}
		taskID = r.Tasks[0].ID
		return strings.Contains(e2eLogText(e2eTaskLogs(t, url, taskID)), "started\n")
	})
	return taskID
}

// e2eRequireRetriedOnce checks that the run succeeded on the second
// attempt of its only task, whose log holds the first attempt's line and
// the second's, once each, with contiguous unique seqs.
func e2eRequireRetriedOnce(t *testing.T, url string, r e2eRunView, taskID string) {
	t.Helper()
	require.Equal(t, "SUCCEEDED", r.Status, "%+v", r)
	require.Len(t, r.Tasks, 1, "one task row")
	x := r.Tasks[0]
	require.Equal(t, taskID, x.ID)
	require.Equal(t, "SUCCEEDED", x.Status, "%+v", x)
	require.Equal(t, 2, x.Attempt, "%+v", x)
	require.Len(t, r.Steps, 1)
	require.Equal(t, "SUCCEEDED", r.Steps[0].Status)
	require.Equal(t, e2eTaskCounts{Total: 1, Succeeded: 1}, r.Steps[0].Counts, "the task counted once")
	logs := e2eTaskLogs(t, url, x.ID)
	text := e2eLogText(logs)
	require.Equal(t, 1, strings.Count(text, "started\n"), "%q", text)
	require.Equal(t, 1, strings.Count(text, "second\n"), "%q", text)
	require.Less(t, strings.Index(text, "started\n"), strings.Index(text, "second\n"), "%q", text)
	require.Equal(t, text, string(e2eLogFile(t, url, r.ID, x.ID)))
}

// TestE2EWorkerKilledMidTask: a standalone worker is SIGKILLed while its
// task runs; another worker takes the task over, which is retried once and
// succeeds, with every log line once.
func TestE2EWorkerKilledMidTask(t *testing.T) {
	t.Parallel()
	start := time.Now()
	dsn := e2eMySQLDSN(t)
	ns := e2eNATSNamespace(t)
	natsArgs := []string{"--nats-url", e2eNATSURL, "--nats-namespace", ns, "--worker-timeout", e2eWorkerTimeout}
	srv := e2eStartServer(t, "server", e2eEnv("JOBGRAPH_DB="+dsn),
		append([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--workers", "0"}, natsArgs...)...)
	first := e2eStart(t, "worker 1", e2eEnv(), append([]string{"worker", "--data-dir", t.TempDir()}, natsArgs...)...)

	project := e2eCreateProject(t, srv.url, "faults")
	host := e2eCreateHost(t, srv.url, map[string]any{"projectId": project, "name": "box", "address": "127.0.0.1"})
	yaml, _ := e2eBlockOnceJob(t, host)
	runID := e2eRunJob(t, srv.url, e2eImportJob(t, srv.url, project, yaml))
	taskID := e2eWaitStarted(t, srv.url, runID)

	require.Equal(t, -1, first.stop(syscall.SIGKILL))
	killed := time.Now()
	e2eStart(t, "worker 2", e2eEnv(), append([]string{"worker", "--data-dir", t.TempDir()}, natsArgs...)...)
	r := e2eWaitRun(t, srv.url, runID)
	t.Logf("run ended %s %s after the kill, %s in all", r.Status, time.Since(killed).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	e2eRequireRetriedOnce(t, srv.url, r, taskID)
}

// TestE2EServerRestartMidRun: the server (with its worker and embedded
// NATS) is SIGKILLed while a task runs and started again on the same data
// directory; the run resumes, the task is found lost, retried once and
// succeeds, with every log line once.
func TestE2EServerRestartMidRun(t *testing.T) {
	t.Parallel()
	start := time.Now()
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--worker-timeout", e2eWorkerTimeout}
	srv := e2eStartServer(t, "server", e2eEnv(), args...)

	project := e2eCreateProject(t, srv.url, "faults")
	host := e2eCreateHost(t, srv.url, map[string]any{"projectId": project, "name": "box", "address": "127.0.0.1"})
	yaml, _ := e2eBlockOnceJob(t, host)
	runID := e2eRunJob(t, srv.url, e2eImportJob(t, srv.url, project, yaml))
	taskID := e2eWaitStarted(t, srv.url, runID)

	require.Equal(t, -1, srv.stop(syscall.SIGKILL))
	killed := time.Now()
	again := e2eStartServer(t, "server again", e2eEnv(), args...)
	r := e2eWaitRun(t, again.url, runID)
	t.Logf("run ended %s %s after the kill, %s in all", r.Status, time.Since(killed).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	e2eRequireRetriedOnce(t, again.url, r, taskID)
}
