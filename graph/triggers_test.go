package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/core/trigger"
	"github.com/jobgraph/jobgraph/graph"
)

const hookJobYAML = `apiVersion: jobgraph/v1
kind: Job
name: hooked
parameters:
  - name: ref
    type: string
    required: true
  - name: count
    type: number
  - name: dry
    type: boolean
  - name: env
    type: choice
    choices: [dev, prod]
  - name: targets
    type: hosts
    required: true
steps:
  - name: echo
    executor: local
    action: command
    targets:
      param: targets
    params:
      command: echo ${{ params.ref }} ${{ params.env }}
`

// withTriggers gives the API a trigger service over the bundle's engine.
func withTriggers(s *store.Store) func(*graph.Options) {
	return func(o *graph.Options) {
		key, _ := secrets.GenerateKey()
		ring, _ := secrets.NewKeyring(key)
		o.Triggers = trigger.NewService(trigger.Options{Store: s, Sealer: ring, Jobs: o.Jobs, Runs: o.Runs, Audit: o.Audit})
		o.PublicURL = "https://jobs.example.com/"
	}
}

type hookAnswer struct {
	status int
	body   map[string]any
}

func (b *testBundle) hook(t *testing.T, id string, body []byte, headers map[string]string) hookAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/hooks/"+id, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := b.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	return hookAnswer{status: resp.StatusCode, body: out}
}

func github(secret string, body []byte, delivery string) map[string]string {
	return map[string]string{trigger.HeaderGitHubSignature: trigger.GitHubSignature(secret, body), trigger.HeaderGitHubDelivery: delivery}
}

func TestWebhookTriggers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s, withTriggers(s))
		p := b.createProject(t, "hooks")
		host := b.createHost(t, map[string]any{"projectId": p, "name": "web1", "address": "127.0.0.1"})
		hostID := host["id"].(string)
		jobID := str(t, b.ok(t, `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "yaml": hookJobYAML}}), "importJob.job.id")

		const create = `mutation($in: CreateTriggerInput!) { createTrigger(input: $in) { secret trigger { id url name enabled priority
			params { name path value } job { id } project { id } } } }`
		params := []map[string]any{
			{"name": "ref", "path": "$.ref"},
			{"name": "count", "path": "$.commits[1].n"},
			{"name": "dry", "path": `$["dry run"]`},
			{"name": "env", "path": "$.repository.env"},
			{"name": "targets", "value": []string{hostID}},
		}
		// A parameter the job does not have, and a bad path, are refused.
		bad := b.fails(t, create, map[string]any{"in": map[string]any{"projectId": p, "jobId": jobID, "name": "x",
			"params": []map[string]any{{"name": "nope", "path": "$.a"}}}})
		require.Equal(t, "params.nope", bad.Extensions["field"])
		bad = b.fails(t, create, map[string]any{"in": map[string]any{"projectId": p, "jobId": jobID, "name": "x",
			"params": []map[string]any{{"name": "ref", "path": "ref"}}}})
		require.Equal(t, "params.ref", bad.Extensions["field"])

		data := b.ok(t, create, map[string]any{"in": map[string]any{"projectId": p, "jobId": jobID, "name": "github", "priority": 4, "params": params}})
		id := str(t, data, "createTrigger.trigger.id")
		secret := str(t, data, "createTrigger.secret")
		require.Len(t, secret, 64)
		require.Equal(t, "https://jobs.example.com/hooks/"+id, str(t, data, "createTrigger.trigger.url"))
		require.Equal(t, jobID, str(t, data, "createTrigger.trigger.job.id"))
		require.Equal(t, "$.commits[1].n", str(t, data, "createTrigger.trigger.params.0.path"))

		// The secret is never returned again.
		data = b.ok(t, `query($id: ID!) { trigger(id: $id) { id name } }`, map[string]any{"id": id})
		require.NotContains(t, asJSONString(t, data), secret)

		payload := []byte(`{"ref":"refs/heads/main","commits":[{"n":1},{"n":7}],"dry run":true,"repository":{"env":"prod"}}`)

		// Missing, malformed, wrong and tampered signatures: 401, nothing runs.
		a := b.hook(t, id, payload, map[string]string{trigger.HeaderGitHubDelivery: "d0"})
		require.Equal(t, http.StatusUnauthorized, a.status)
		require.Equal(t, "missing signature", get(t, a.body, "error.message"))
		a = b.hook(t, id, payload, map[string]string{trigger.HeaderGitHubSignature: "md5=abc", trigger.HeaderGitHubDelivery: "d0"})
		require.Equal(t, http.StatusUnauthorized, a.status)
		a = b.hook(t, id, payload, github("not-the-secret-at-all", payload, "d0"))
		require.Equal(t, http.StatusUnauthorized, a.status)
		require.Equal(t, "signature does not match", get(t, a.body, "error.message"))
		a = b.hook(t, id, bytes.Replace(payload, []byte("main"), []byte("evil"), 1), github(secret, payload, "d0"))
		require.Equal(t, http.StatusUnauthorized, a.status)
		require.Equal(t, "UNAUTHENTICATED", get(t, a.body, "error.code"))
		// A good signature without a delivery ID is bad input.
		a = b.hook(t, id, payload, map[string]string{trigger.HeaderGitHubSignature: trigger.GitHubSignature(secret, payload)})
		require.Equal(t, http.StatusBadRequest, a.status)

		// Accepted: nested paths, array indexes, quoted keys and types.
		a = b.hook(t, id, payload, github(secret, payload, "d1"))
		require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
		runID := a.body["runId"].(string)
		require.Equal(t, "d1", a.body["deliveryId"])
		run := b.ok(t, `query($id: ID!) { run(id: $id) { triggerKind triggeredBy priority params } }`, map[string]any{"id": runID})
		require.Equal(t, "WEBHOOK", strings.ToUpper(str(t, run, "run.triggerKind")))
		require.Equal(t, id, str(t, run, "run.triggeredBy"))
		require.Equal(t, 4, num(t, run, "run.priority"))
		require.Equal(t, "refs/heads/main", str(t, run, "run.params.ref"))
		require.Equal(t, 7, num(t, run, "run.params.count"))
		require.Equal(t, true, get(t, run, "run.params.dry"))
		require.Equal(t, "prod", str(t, run, "run.params.env"))
		b.waitRun(t, runID)

		// A replay: 409, and still one run.
		a = b.hook(t, id, payload, github(secret, payload, "d1"))
		require.Equal(t, http.StatusConflict, a.status)
		require.Contains(t, get(t, a.body, "error.message"), runID)
		countRuns := func() int {
			data := b.ok(t, `query($p: ID!) { runs(projectId: $p, first: 100) { edges { node { id } } } }`, map[string]any{"p": p})
			return len(get(t, data, "runs.edges").([]any))
		}
		require.Equal(t, 1, countRuns())

		// Payloads that do not map: 422 naming the parameter and path; the
		// delivery ID is not burnt.
		noRef := []byte(`{"commits":[]}`)
		a = b.hook(t, id, noRef, github(secret, noRef, "d2"))
		require.Equal(t, http.StatusUnprocessableEntity, a.status, "%v", a.body)
		require.Equal(t, "params.ref", get(t, a.body, "error.field"))
		require.Contains(t, get(t, a.body, "error.message"), "$.ref")
		wrongType := []byte(`{"ref":"x","commits":[{},{"n":"seven"}]}`)
		a = b.hook(t, id, wrongType, github(secret, wrongType, "d2"))
		require.Equal(t, http.StatusUnprocessableEntity, a.status)
		require.Equal(t, "params.count", get(t, a.body, "error.field"))
		badChoice := []byte(`{"ref":"x","repository":{"env":"staging"}}`)
		a = b.hook(t, id, badChoice, github(secret, badChoice, "d2"))
		require.Equal(t, "params.env", get(t, a.body, "error.field"))
		notJSON := []byte(`ref=main`)
		a = b.hook(t, id, notJSON, github(secret, notJSON, "d2"))
		require.Equal(t, http.StatusBadRequest, a.status)
		require.Equal(t, 1, countRuns())
		minimal := []byte(`{"ref":"v2"}`)
		a = b.hook(t, id, minimal, github(secret, minimal, "d2"))
		require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
		b.waitRun(t, a.body["runId"].(string))

		// Timestamped style, in and out of the window; its replay too.
		ts := func(at time.Time, body []byte) map[string]string {
			return map[string]string{trigger.HeaderSignature: trigger.TimestampedSignature(secret, body, at)}
		}
		now := time.Now()
		a = b.hook(t, id, minimal, ts(now.Add(-10*time.Minute), minimal))
		require.Equal(t, http.StatusUnauthorized, a.status)
		a = b.hook(t, id, minimal, ts(now.Add(10*time.Minute), minimal))
		require.Equal(t, http.StatusUnauthorized, a.status)
		signed := ts(now.Add(-time.Minute), minimal)
		a = b.hook(t, id, minimal, signed)
		require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
		b.waitRun(t, a.body["runId"].(string))
		a = b.hook(t, id, minimal, signed)
		require.Equal(t, http.StatusConflict, a.status)
		require.NotContains(t, get(t, a.body, "error.message"), signed[trigger.HeaderSignature][20:])

		// Rotation: the old secret stops working.
		data = b.ok(t, `mutation($id: ID!) { rotateTriggerSecret(input: {id: $id}) { secret trigger { id } } }`, map[string]any{"id": id})
		newSecret := str(t, data, "rotateTriggerSecret.secret")
		require.NotEqual(t, secret, newSecret)
		a = b.hook(t, id, minimal, github(secret, minimal, "d3"))
		require.Equal(t, http.StatusUnauthorized, a.status)
		a = b.hook(t, id, minimal, github(newSecret, minimal, "d3"))
		require.Equal(t, http.StatusAccepted, a.status)
		b.waitRun(t, a.body["runId"].(string))

		// RequireTimestamp refuses GitHub's style.
		b.ok(t, `mutation($id: ID!) { updateTrigger(input: {id: $id, requireTimestamp: true}) { trigger { requireTimestamp } } }`, map[string]any{"id": id})
		a = b.hook(t, id, minimal, github(newSecret, minimal, "d4"))
		require.Equal(t, http.StatusUnauthorized, a.status)

		// Disabled and unknown triggers answer alike.
		b.ok(t, `mutation($id: ID!) { updateTrigger(input: {id: $id, enabled: false}) { trigger { enabled } } }`, map[string]any{"id": id})
		disabled := b.hook(t, id, minimal, ts(time.Now(), minimal))
		require.Equal(t, http.StatusNotFound, disabled.status)
		unknown := b.hook(t, "trg_01JD0000000000000000000000", minimal, ts(time.Now(), minimal))
		require.Equal(t, http.StatusNotFound, unknown.status)
		require.Equal(t, "NOT_FOUND", get(t, disabled.body, "error.code"))
		require.Equal(t, "NOT_FOUND", get(t, unknown.body, "error.code"))

		// Oversized bodies: 413.
		a = b.hook(t, id, bytes.Repeat([]byte("x"), 1<<20+1), nil)
		require.Equal(t, http.StatusRequestEntityTooLarge, a.status)

		// Every delivery is audited; refusals say why, never the signature.
		events := b.ok(t, `query($p: ID!) { auditEvents(projectId: $p, first: 100, filter: {action: "deliverWebhook"}) {
			edges { node { actorId outcome reason objectId objectKind } } } }`, map[string]any{"p": p})
		var denied, failed, allowed int
		var reasons []string
		for _, e := range get(t, events, "auditEvents.edges").([]any) {
			n := get(t, e, "node").(map[string]any)
			require.Equal(t, "trigger:"+id, n["actorId"])
			switch n["outcome"] {
			case "DENIED":
				denied++
			case "FAILED":
				failed++
			case "ALLOWED":
				allowed++
				require.Equal(t, "run", n["objectKind"])
			}
			if r, ok := n["reason"].(string); ok {
				reasons = append(reasons, r)
				require.NotContains(t, r, secret)
			}
		}
		require.Equal(t, 4, allowed)
		require.GreaterOrEqual(t, denied, 9, "%v", reasons)
		require.GreaterOrEqual(t, failed, 7, "%v", reasons)
		require.Contains(t, reasons, "unauthenticated: signature does not match")
		require.Contains(t, reasons, "conflict: deliveryId")
		require.Contains(t, reasons, "invalid input: params.ref")

		// Delete.
		b.ok(t, `mutation($id: ID!) { deleteTrigger(input: {id: $id}) { deletedId } }`, map[string]any{"id": id})
		require.Equal(t, "NOT_FOUND", b.fails(t, `query($id: ID!) { trigger(id: $id) { id } }`, map[string]any{"id": id}).Extensions["code"])
	})
}

func asJSONString(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return string(raw)
}
