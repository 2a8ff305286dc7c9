package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/notify"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// TestAutomationEndToEnd runs issue 8's pieces together through the API: a
// signed webhook delivery starts a run whose command a guard rule holds for
// approval; a notification channel tells a receiver that it waits; a second
// operator approves it; the run succeeds and the receiver hears of that too.
func TestAutomationEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s, withTriggers(s))
		p := b.createProject(t, "automation")
		host := b.createHost(t, map[string]any{"projectId": p, "name": "web1", "address": "127.0.0.1"})
		u := approvalSetup(t, b, p)

		// The receiver records each notification's event and run.
		type note struct{ Event, Run, Status string }
		var mu sync.Mutex
		var got []note
		heard := make(chan struct{}, 16)
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, _ := io.ReadAll(r.Body)
			var m struct {
				Event string `json:"event"`
				Run   struct{ ID, Status string }
			}
			if json.Unmarshal(raw, &m) == nil {
				mu.Lock()
				got = append(got, note{m.Event, m.Run.ID, m.Run.Status})
				mu.Unlock()
				heard <- struct{}{}
			}
		}))
		t.Cleanup(rcv.Close)
		d := notify.NewDispatcher(b.notify, notify.DispatcherOptions{PollInterval: 50 * time.Millisecond})
		require.NoError(t, d.Start(context.Background()))
		t.Cleanup(d.Stop)
		b.ok(t, `mutation($in: CreateNotificationChannelInput!) { createNotificationChannel(input: $in) { channel { id } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "name": "ops", "events": []any{"APPROVAL_REQUESTED", "RUN_SUCCEEDED"},
				"webhook": map[string]any{"url": rcv.URL}}})
		b.ok(t, `mutation($in: CreateGuardRuleInput!) { createGuardRule(input: $in) { rule { id } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "name": "prod-deploys", "pattern": `\benv=prod\b`, "severity": "APPROVE", "approverRole": "operator"}})

		jobID := str(t, b.ok(t, `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "yaml": `apiVersion: jobgraph/v1
kind: Job
name: deploy
parameters:
  - name: env
    type: string
    required: true
steps:
  - name: deploy
    executor: local
    action: command
    targets:
      hosts: [` + host["id"].(string) + `]
    params:
      command: echo env=${{ params.env }}
`}}), "importJob.job.id")
		data := b.ok(t, `mutation($in: CreateTriggerInput!) { createTrigger(input: $in) { secret trigger { id } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "jobId": jobID, "name": "ci", "params": []any{map[string]any{"name": "env", "path": "$.env"}}}})
		secret, trigID := str(t, data, "createTrigger.secret"), str(t, data, "createTrigger.trigger.id")

		body := []byte(`{"env":"prod"}`)
		ans := b.hook(t, trigID, body, github(secret, body, "delivery-1"))
		require.Equal(t, http.StatusAccepted, ans.status, "%v", ans.body)
		runID := ans.body["runId"].(string)

		run := b.ok(t, runQ, map[string]any{"id": runID})
		require.Equal(t, "WAITING_APPROVAL", str(t, run, "run.status"), "the guard rule holds the webhook's run")
		as := get(t, run, "run.approvals").([]any)
		require.Len(t, as, 1)
		approvalID := as[0].(map[string]any)["id"].(string)

		wait := func(event string) {
			t.Helper()
			deadline := time.After(30 * time.Second)
			for {
				mu.Lock()
				for _, n := range got {
					if n.Event == event && n.Run == runID {
						mu.Unlock()
						return
					}
				}
				mu.Unlock()
				select {
				case <-heard:
				case <-deadline:
					t.Fatalf("no %s notification for %s; got %v", event, runID, got)
				}
			}
		}
		wait("approval_requested")

		u.op1.ok(t, approveQ, map[string]any{"id": approvalID, "c": "ship it"})
		waitRun(t, b, runID, "SUCCEEDED")
		wait("run_succeeded")

		// A replay of the delivery starts nothing.
		ans = b.hook(t, trigID, body, github(secret, body, "delivery-1"))
		require.Equal(t, http.StatusConflict, ans.status, "%v", ans.body)
		mu.Lock()
		defer mu.Unlock()
		for _, n := range got {
			require.Equal(t, runID, n.Run, "only the one run was notified: %v", got)
		}
	})
}
