package graph_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/graph"
)

// liveFixture is a project with hosts web1..webN for the local executor,
// and a gate file that ad-hoc commands may wait for.
type liveFixture struct {
	b     *testBundle
	p     string
	hosts []string
	gate  string
}

func newLiveFixture(t *testing.T, b *testBundle, n int) *liveFixture {
	t.Helper()
	f := &liveFixture{b: b, p: b.createProject(t, "live"), gate: filepath.Join(t.TempDir(), "gate")}
	for i := range n {
		h := b.createHost(t, map[string]any{"projectId": f.p, "name": fmt.Sprintf("web%d", i+1), "address": "127.0.0.1", "labels": lbl("role", "web")})
		f.hosts = append(f.hosts, h["id"].(string))
	}
	return f
}

// adHoc runs command on the fixture's hosts and returns the run and its
// first task.
func (f *liveFixture) adHoc(t *testing.T, command string) (runID, taskID string) {
	t.Helper()
	data := f.b.ok(t, `mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id } } }`, map[string]any{"in": map[string]any{
		"projectId": f.p, "executor": "local", "action": "command", "params": map[string]any{"command": command},
		"targets": map[string]any{"hosts": f.hosts}}})
	runID = str(t, data, "adHocRun.run.id")
	data = f.b.ok(t, `query($id: ID!) { run(id: $id) { tasks(first: 1) { edges { node { id } } } } }`, map[string]any{"id": runID})
	return runID, str(t, data, "run.tasks.edges.0.node.id")
}

// waitGate is a shell loop that waits for the fixture's gate file.
func (f *liveFixture) waitGate() string {
	return "while [ ! -e " + f.gate + " ]; do sleep 0.01; done"
}

func (f *liveFixture) open(t *testing.T) { require.NoError(t, os.WriteFile(f.gate, nil, 0o600)) }

// waitLogged polls the task's stored log until it holds want.
func (f *liveFixture) waitLogged(t *testing.T, taskID, want string) {
	t.Helper()
	var text strings.Builder
	after := 0
	require.Eventually(t, func() bool {
		data := f.b.ok(t, `query($id: ID!, $after: Int) { taskLogs(taskId: $id, afterSeq: $after, first: 1000) { lastSeq chunks { data } } }`,
			map[string]any{"id": taskID, "after": after})
		for _, c := range get(t, data, "taskLogs.chunks").([]any) {
			text.WriteString(str(t, c, "data"))
		}
		after = num(t, data, "taskLogs.lastSeq")
		return strings.Contains(text.String(), want)
	}, 60*time.Second, 10*time.Millisecond)
}

const taskLogSub = `subscription($id: ID!, $after: Int) { taskLog(taskId: $id, afterSeq: $after) { chunks { seq stream data } resyncAfterSeq taskStatus } }`

// readLog reads a taskLog subscription to its end and returns the text,
// checking that seqs go on from after with no gap and no duplicate. It
// returns the resync point instead when the server sends one.
func readLog(t *testing.T, s *wsSub, after int) (text string, last int, resync *int, status string) {
	t.Helper()
	var b strings.Builder
	last = after
	for {
		m := s.next()
		if m.Type == "complete" {
			return b.String(), last, resync, status
		}
		require.Equal(t, "next", m.Type)
		require.Empty(t, m.Errors)
		u := get(t, m.Data, "taskLog").(map[string]any)
		for _, c := range u["chunks"].([]any) {
			seq := num(t, c, "seq")
			require.Equal(t, last+1, seq, "no gap, no duplicate")
			last = seq
			b.WriteString(str(t, c, "data"))
		}
		if r, ok := u["resyncAfterSeq"].(float64); ok {
			n := int(r)
			resync = &n
		}
		if st, ok := u["taskStatus"].(string); ok {
			status = st
		}
	}
}

func lines(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// TestSubscribeTaskLogReplayThenLive: the stored part first, then live
// chunks, with no gap and no duplicate, then the task's final status.
func TestSubscribeTaskLogReplayThenLive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		f := newLiveFixture(t, b, 1)
		_, task := f.adHoc(t, "for i in $(seq 1 300); do echo line $i; done; "+f.waitGate()+"; for i in $(seq 301 600); do echo line $i; done")
		f.waitLogged(t, task, "line 300\n")
		sub := b.subscribe(t, taskLogSub, map[string]any{"id": task, "after": 0})
		f.open(t)
		text, last, resync, status := readLog(t, sub, 0)
		require.Nil(t, resync)
		require.Equal(t, "SUCCEEDED", status)
		require.Equal(t, lines(1, 600), text)

		// From a given seq on: only what follows (the last chunk).
		sub = b.subscribe(t, taskLogSub, map[string]any{"id": task, "after": last - 1})
		tail, _, _, status := readLog(t, sub, last-1)
		require.NotEmpty(t, tail)
		require.Less(t, len(tail), len(text))
		require.True(t, strings.HasSuffix(text, tail), tail)
		require.Equal(t, "SUCCEEDED", status)
	})
}

// TestSubscribeRunUpdates: a snapshot, task and progress updates as the
// run goes, and the final run's snapshot last.
func TestSubscribeRunUpdates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		f := newLiveFixture(t, b, 3)
		run, _ := f.adHoc(t, f.waitGate()+"; echo done")
		sub := b.subscribe(t, `subscription($id: ID!) { runUpdates(runId: $id) {
			kind run { id status } steps { name status counts { total succeeded } } task { hostName status attempt } } }`,
			map[string]any{"id": run})
		first := sub.next()
		require.Equal(t, "SNAPSHOT", str(t, first.Data, "runUpdates.kind"))
		require.Equal(t, run, str(t, first.Data, "runUpdates.run.id"))
		f.open(t)
		succeeded := map[string]bool{}
		var last map[string]any
		for {
			m := sub.next()
			if m.Type == "complete" {
				break
			}
			require.Empty(t, m.Errors)
			last = get(t, m.Data, "runUpdates").(map[string]any)
			if last["kind"] == "TASK" {
				require.Equal(t, "RUNNING", str(t, last, "run.status"), "a task update carries the run's latest status")
				if str(t, last, "task.status") == "SUCCEEDED" {
					succeeded[str(t, last, "task.hostName")] = true
				}
			}
		}
		require.Equal(t, "SNAPSHOT", last["kind"], "the last update is the final run as stored")
		require.Equal(t, "SUCCEEDED", str(t, last, "run.status"))
		require.Equal(t, 3, num(t, last, "steps.0.counts.succeeded"))
		require.Len(t, succeeded, 3, "each task's end was announced")
	})
}

// TestSubscribeTaskLogResync: a subscriber that stops reading falls
// behind; it is told where to resume, and resuming there gives the rest.
func TestSubscribeTaskLogResync(t *testing.T) {
	t.Parallel()
	// The subscriber reads nothing for a while: it must not be taken for
	// gone by the keep-alive meanwhile.
	b := setup(t, storetest.New(t, store.SQLite), func(o *graph.Options) { o.LiveBuffer = 2; o.KeepAlive = time.Minute })
	b.smallWindow = true // the subscriber's socket buffers little: it fills fast
	f := newLiveFixture(t, b, 1)
	// 100 bursts of 1000 lines of 80 bytes, 50ms apart: about 100 updates
	// and 8 MB, more than the subscriber's and the server's socket buffers
	// (at most 4 MiB here) hold.
	const n = 100000
	pad := strings.Repeat("x", 70)
	_, task := f.adHoc(t, f.waitGate()+"; for i in $(seq 0 99); do seq -f 'line %.0f "+pad+"' $((i*1000+1)) $((i*1000+1000)); sleep 0.05; done")
	sub := b.subscribe(t, taskLogSub, map[string]any{"id": task, "after": 0})
	f.open(t)
	f.waitLogged(t, task, fmt.Sprintf("line %d %s\n", n, pad)) // while the subscriber reads nothing
	text, last, resync, _ := readLog(t, sub, 0)
	require.NotNil(t, resync, "a subscriber that fell behind is told where to resume")
	require.Equal(t, last, *resync)
	rest, _, again, status := readLog(t, b.subscribe(t, taskLogSub, map[string]any{"id": task, "after": *resync}), *resync)
	require.Nil(t, again)
	require.Equal(t, "SUCCEEDED", status)
	var want strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "line %d %s\n", i, pad)
	}
	require.Equal(t, want.String(), text+rest)
}

// TestSubscriptionEndsWhenTokenRevoked: the recheck ends a subscription
// whose token was revoked, with UNAUTHENTICATED.
func TestSubscriptionEndsWhenTokenRevoked(t *testing.T) {
	t.Parallel()
	s := storetest.New(t, store.SQLite)
	b := setup(t, s, func(o *graph.Options) { o.LiveRecheck = 20 * time.Millisecond })
	f := newLiveFixture(t, b, 1)
	run, _ := f.adHoc(t, f.waitGate())
	t.Cleanup(func() { f.open(t) })
	ctx := context.Background()
	u, err := b.ids.CreateUser(ctx, identity.CreateUserInput{Username: "eve", Password: "eve-password"})
	require.NoError(t, err)
	require.NoError(t, b.authz.GrantAdmin(ctx, u.ID))
	tok, secret, err := b.ids.CreateToken(ctx, identity.CreateTokenInput{UserID: u.ID, Name: "live"})
	require.NoError(t, err)
	sub := b.withToken(secret).subscribe(t, `subscription($id: ID!) { runUpdates(runId: $id) { kind } }`, map[string]any{"id": run})
	require.Equal(t, "SNAPSHOT", str(t, sub.next().Data, "runUpdates.kind"))
	require.NoError(t, b.ids.RevokeToken(ctx, tok.ID))
	for {
		m := sub.next()
		require.NotEqual(t, "complete", m.Type, "ended without saying why")
		if len(m.Errors) > 0 {
			require.Equal(t, graph.CodeUnauthenticated, m.Errors[0].Extensions["code"])
			break
		}
	}
	require.Equal(t, "complete", sub.next().Type)
}

// TestSubscriptionsLeakNothing: subscribers that go away, cleanly or not,
// leave no goroutine behind.
func TestSubscriptionsLeakNothing(t *testing.T) {
	s := storetest.New(t, store.SQLite)
	b := setup(t, s)
	f := newLiveFixture(t, b, 1)
	run, task := f.adHoc(t, "echo started; "+f.waitGate())
	t.Cleanup(func() { f.open(t) })
	f.waitLogged(t, task, "started")
	settle := func() int {
		n := runtime.NumGoroutine()
		for range 50 { // poll until it stops falling
			time.Sleep(0) // yield only
			runtime.Gosched()
			n = min(n, runtime.NumGoroutine())
		}
		return n
	}
	base := settle()
	var subs []*wsSub
	for i := range 30 {
		switch i % 3 {
		case 0:
			subs = append(subs, b.subscribe(t, taskLogSub, map[string]any{"id": task, "after": 0}))
		case 1:
			subs = append(subs, b.subscribe(t, `subscription($id: ID!) { runUpdates(runId: $id) { kind } }`, map[string]any{"id": run}))
		default:
			subs = append(subs, b.subscribe(t, `subscription($id: ID!) { projectRuns(projectId: $id) { kind } }`, map[string]any{"id": f.p}))
		}
	}
	for _, sub := range subs {
		sub.next() // each is running
	}
	require.Greater(t, runtime.NumGoroutine(), base+30)
	for _, sub := range subs {
		sub.close() // abruptly: no complete, no close handshake
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= base+2 }, 30*time.Second, 20*time.Millisecond,
		"goroutines: %d, before: %d", runtime.NumGoroutine(), base)
}

// TestSubscribeProjectRuns: a RESYNC first, then the project's runs as
// they are queued, start and end.
func TestSubscribeProjectRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	f := newLiveFixture(t, b, 1)
	sub := b.subscribe(t, `subscription($p: ID!) { projectRuns(projectId: $p) { kind run { id status } } }`, map[string]any{"p": f.p})
	require.Equal(t, "RESYNC", str(t, sub.next().Data, "projectRuns.kind"))
	run, _ := f.adHoc(t, "echo hi")
	var statuses []string
	for {
		m := sub.next()
		require.Equal(t, "next", m.Type)
		u := get(t, m.Data, "projectRuns").(map[string]any)
		require.Contains(t, []any{"RUN", "PROGRESS"}, u["kind"])
		require.Equal(t, run, str(t, u, "run.id"))
		if u["kind"] == "RUN" {
			statuses = append(statuses, str(t, u, "run.status"))
			if statuses[len(statuses)-1] == "SUCCEEDED" {
				break
			}
		}
	}
	require.Equal(t, []string{"QUEUED", "RUNNING", "SUCCEEDED"}, statuses)
}
