//go:build unix

package main

// End-to-end test of the subscriptions across replicas: two servers share
// a MariaDB database and a namespace on the external NATS; a run executed
// by one replica's engine and worker is followed over WebSocket on the
// other. It reuses the helpers of e2e_test.go and e2e_runs_test.go.
// Nothing sleeps: every wait is on a message, with a deadline.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/secrets"
)

// e2eWSMsg is a graphql-transport-ws message from the server: next (Data,
// Errors), error or complete; Err is set instead when the connection ended.
type e2eWSMsg struct {
	Type   string
	ID     string
	Data   map[string]any
	Errors []json.RawMessage
	Err    error
}

// e2eWSSub is one subscription on a graphql-transport-ws connection of its
// own. A goroutine reads the connection, answers pings and hands the other
// messages to C, so that the server never waits for the test.
type e2eWSSub struct {
	t *testing.T
	C <-chan e2eWSMsg
}

// e2eSubscribe connects to baseURL's /graphql with token, starts query and
// returns the subscription. The connection closes when the test ends.
func e2eSubscribe(t *testing.T, baseURL, token, query string, vars map[string]any) *e2eWSSub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dialCtx, dialCancel := context.WithTimeout(ctx, e2eTimeout)
	defer dialCancel()
	c, _, err := websocket.Dial(dialCtx, "ws"+strings.TrimPrefix(baseURL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: http.Header{"User-Agent": {"e2e-live"}}})
	require.NoError(t, err)
	c.SetReadLimit(16 << 20)
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		c.CloseNow()
		<-done
	})
	require.NoError(t, wsjson.Write(dialCtx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"authToken": token}}))
	var ack struct{ Type string }
	require.NoError(t, wsjson.Read(dialCtx, c, &ack))
	require.Equal(t, "connection_ack", ack.Type)
	require.NoError(t, wsjson.Write(dialCtx, c, map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": query, "variables": vars}}))

	out := make(chan e2eWSMsg, 4096)
	go func() {
		defer close(done)
		defer close(out)
		send := func(m e2eWSMsg) bool {
			select {
			case out <- m:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			var raw struct {
				Type    string          `json:"type"`
				ID      string          `json:"id"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := wsjson.Read(ctx, c, &raw); err != nil {
				send(e2eWSMsg{Err: err})
				return
			}
			m := e2eWSMsg{Type: raw.Type, ID: raw.ID}
			switch raw.Type {
			case "ping":
				if err := wsjson.Write(ctx, c, map[string]any{"type": "pong"}); err != nil {
					send(e2eWSMsg{Err: err})
					return
				}
				continue
			case "pong":
				continue
			case "next":
				var p struct {
					Data   map[string]any    `json:"data"`
					Errors []json.RawMessage `json:"errors"`
				}
				if err := json.Unmarshal(raw.Payload, &p); err != nil {
					send(e2eWSMsg{Err: fmt.Errorf("next payload %s: %w", raw.Payload, err)})
					return
				}
				m.Data, m.Errors = p.Data, p.Errors
			case "error":
				_ = json.Unmarshal(raw.Payload, &m.Errors)
			}
			if !send(m) || m.Type == "complete" || m.Type == "error" {
				return // the only operation on this connection ended
			}
		}
	}()
	return &e2eWSSub{t: t, C: out}
}

// next returns the subscription's next message: next or complete. It
// fails the test on an error, a closed connection, or none within
// e2eTimeout.
func (s *e2eWSSub) next() e2eWSMsg {
	s.t.Helper()
	timer := time.NewTimer(e2eTimeout)
	defer timer.Stop()
	select {
	case m, ok := <-s.C:
		require.True(s.t, ok, "the subscription's connection was read to its end")
		require.NoError(s.t, m.Err)
		require.NotEqual(s.t, "error", m.Type, "errors: %s", m.Errors)
		require.Contains(s.t, []string{"next", "complete"}, m.Type)
		require.Equal(s.t, "1", m.ID)
		require.Empty(s.t, m.Errors)
		return m
	case <-timer.C:
		s.t.Fatalf("no subscription message within %s", e2eTimeout)
		return e2eWSMsg{}
	}
}

// e2eField returns data[key] as an object.
func e2eField(t *testing.T, data map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := data[key].(map[string]any)
	require.True(t, ok, "no object %s in %v", key, data)
	return v
}

// e2eLogReader reads a taskLog subscription, checking that seqs go on from
// 1 with no gap and no duplicate.
type e2eLogReader struct {
	t      *testing.T
	sub    *e2eWSSub
	text   strings.Builder
	last   int
	status string // the final status, once sent
	ended  bool   // complete was received
}

// read handles one message.
func (r *e2eLogReader) read() {
	r.t.Helper()
	m := r.sub.next()
	if m.Type == "complete" {
		r.ended = true
		return
	}
	require.Empty(r.t, r.status, "an update after the final status: %v", m.Data)
	u := e2eField(r.t, m.Data, "taskLog")
	require.Nil(r.t, u["resyncAfterSeq"], "the subscriber fell behind: %v", u)
	chunks, _ := u["chunks"].([]any)
	for _, c := range chunks {
		c := c.(map[string]any)
		seq := int(c["seq"].(float64))
		require.Equal(r.t, r.last+1, seq, "no gap, no duplicate; so far %q", r.text.String())
		r.last = seq
		r.text.WriteString(c["data"].(string))
	}
	if st, ok := u["taskStatus"].(string); ok {
		r.status = st
	}
}

// readUntil reads until the text holds want; the task must not end first.
func (r *e2eLogReader) readUntil(want string) {
	r.t.Helper()
	for !strings.Contains(r.text.String(), want) {
		r.read()
		require.Empty(r.t, r.status, "the task ended before its log held %q: %q", want, r.text.String())
		require.False(r.t, r.ended)
	}
}

func e2eLines(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// TestE2ESubscriptionAcrossReplicas: replica A (with its worker) runs a
// command; subscribers on replica B (no worker) get the run's updates and
// the task's log as it is written, every line once and in order, then the
// ends: the events of A's engine and worker reach B through NATS.
func TestE2ESubscriptionAcrossReplicas(t *testing.T) {
	t.Parallel()
	start := time.Now()
	dsn := e2eMySQLDSN(t)
	ns := e2eNATSNamespace(t)
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	// The replicas share the database, the NATS namespace and the key.
	env := e2eEnv("JOBGRAPH_DB="+dsn, "JOBGRAPH_SECRET_KEY="+key.Encode())
	common := []string{"server", "--listen", "127.0.0.1:0", "--nats-url", e2eNATSURL, "--nats-namespace", ns}
	a := e2eStart(t, "replica a", env, append(common, "--data-dir", t.TempDir())...)
	b := e2eStart(t, "replica b", env, append(common, "--data-dir", t.TempDir(), "--workers", "0")...)
	a.waitServing()
	b.waitServing()
	e2eLogin(t, a.url)
	e2eLogin(t, b.url)
	t.Logf("replicas serving after %s", time.Since(start).Round(time.Millisecond))

	// The command prints lines 1-40, waits for gate 1, prints 41-80, waits
	// for gate 2, prints 81-120. Lines 41-80 are stored and sent while the
	// task still runs: they reach B as log events, not as the end's reread.
	dir := t.TempDir()
	gate1, gate2 := filepath.Join(dir, "gate1"), filepath.Join(dir, "gate2")
	open := func(gate string) { require.NoError(t, os.WriteFile(gate, nil, 0o600)) }
	// The command's process group outlives killed servers: never leave it
	// waiting (it also gives up once dir is gone).
	t.Cleanup(func() { _ = os.WriteFile(gate1, nil, 0o600); _ = os.WriteFile(gate2, nil, 0o600) })
	wait := func(gate string) string {
		return fmt.Sprintf("while [ ! -e %s ] && [ -d %s ]; do sleep 0.01; done", gate, dir)
	}
	command := "for i in $(seq 1 40); do echo line $i; done; " + wait(gate1) +
		"; for i in $(seq 41 80); do echo line $i; done; " + wait(gate2) +
		"; for i in $(seq 81 120); do echo line $i; done"

	project := e2eCreateProject(t, a.url, "live")
	host := e2eCreateHost(t, a.url, map[string]any{"projectId": project, "name": "box", "address": "127.0.0.1"})
	var tok struct {
		CreateApiToken struct{ Secret string }
	}
	e2eGraphQL(t, a.url, `mutation($in: CreateApiTokenInput!) { createApiToken(input: $in) { secret } }`,
		map[string]any{"in": map[string]any{"name": "live"}}, &tok)
	token := tok.CreateApiToken.Secret
	require.NotEmpty(t, token)

	runID := e2eMutateID(t, a.url, `mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id } } }`,
		map[string]any{"projectId": project, "executor": "local", "action": "command",
			"params": map[string]any{"command": command}, "targets": map[string]any{"hosts": []string{host}}},
		"adHocRun", "run", "id")
	var taskID string
	e2ePoll(t, "the run's task", e2eTimeout, func() bool {
		r := e2eGetRun(t, b.url, runID)
		if len(r.Tasks) > 0 {
			require.Len(t, r.Tasks, 1)
			taskID = r.Tasks[0].ID
		}
		return taskID != ""
	})

	updates := e2eSubscribe(t, b.url, token, `subscription($id: ID!) { runUpdates(runId: $id) {
		kind run { id status } steps { name status counts { total succeeded } } task { id status } } }`,
		map[string]any{"id": runID})
	first := updates.next()
	require.Equal(t, "next", first.Type)
	u := e2eField(t, first.Data, "runUpdates")
	require.Equal(t, "SNAPSHOT", u["kind"], "%v", u)
	require.Equal(t, runID, e2eField(t, u, "run")["id"])
	require.NotEqual(t, "SUCCEEDED", e2eField(t, u, "run")["status"], "the run waits for the gates")

	log := &e2eLogReader{t: t, sub: e2eSubscribe(t, b.url, token,
		`subscription($id: ID!, $after: Int) { taskLog(taskId: $id, afterSeq: $after) { chunks { seq stream data } resyncAfterSeq taskStatus } }`,
		map[string]any{"id": taskID, "after": 0})}
	log.readUntil("line 40\n")
	open(gate1)
	log.readUntil("line 80\n")
	require.Equal(t, e2eLines(1, 80), log.text.String())
	open(gate2)
	for !log.ended {
		log.read()
	}
	require.Equal(t, "SUCCEEDED", log.status, "the last update carries the task's final status")
	require.Equal(t, e2eLines(1, 120), log.text.String(), "every line once, in order")

	var kinds []string
	for {
		m := updates.next()
		if m.Type == "complete" {
			break
		}
		u = e2eField(t, m.Data, "runUpdates")
		kinds = append(kinds, u["kind"].(string))
		require.Equal(t, runID, e2eField(t, u, "run")["id"], "%v", u)
		if u["kind"] == "TASK" {
			require.Equal(t, taskID, e2eField(t, u, "task")["id"], "%v", u)
		}
	}
	t.Logf("runUpdates after the first SNAPSHOT: %v", kinds)
	require.NotEmpty(t, kinds)
	require.Equal(t, "SNAPSHOT", u["kind"], "the last update is the final run as stored: %v", kinds)
	require.Equal(t, "SUCCEEDED", e2eField(t, u, "run")["status"])
	steps, _ := u["steps"].([]any)
	require.Len(t, steps, 1, "%v", u)
	counts := steps[0].(map[string]any)["counts"].(map[string]any)
	require.Equal(t, map[string]any{"total": float64(1), "succeeded": float64(1)}, counts)

	// B's view of the stored log agrees with what it sent live: the same
	// text, the same chunks.
	stored := e2eTaskLogs(t, b.url, taskID)
	require.Equal(t, e2eLines(1, 120), e2eLogText(stored))
	require.Equal(t, len(stored), log.last, "the subscriber got every stored chunk")
	require.Equal(t, "SUCCEEDED", e2eGetRun(t, b.url, runID).Status)
	t.Logf("run followed on the other replica in %s in all", time.Since(start).Round(time.Millisecond))

	require.Equal(t, 0, a.stop(syscall.SIGTERM))
	require.Equal(t, 0, b.stop(syscall.SIGTERM))
}
