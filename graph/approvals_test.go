package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/rbac"
)

// approvalJobYAML is build → approve (two operators) → deploy.
const approvalJobYAML = `apiVersion: jobgraph/v1
kind: Job
name: ship
steps:
  - name: build
    executor: local
    action: command
    targets:
      selector: role=web
    params:
      command: echo build
  - name: approve
    needs: [build]
    approval: {role: operator, count: 2, timeout: 1h, message: "ship it?"}
  - name: deploy
    executor: local
    action: command
    needs: [approve]
    targets:
      selector: role=web
    params:
      command: echo deploy
`

type approvalUsers struct {
	requester, op1, op2, viewer *testBundle
	op1ID                       string
}

func approvalSetup(t *testing.T, b *testBundle, p string) approvalUsers {
	t.Helper()
	ctx := context.Background()
	user := func(name, role string) (*testBundle, string) {
		u, err := b.ids.CreateUser(ctx, identity.CreateUserInput{Username: name + "-" + strings.ToLower(p[len(p)-6:]), Password: name + "-password"})
		require.NoError(t, err)
		require.NoError(t, b.authz.Assign(ctx, u.ID, p, role))
		_, _, tb := createTestToken(t, b, u.ID, identity.CreateTokenInput{})
		return tb, u.ID
	}
	var u approvalUsers
	u.requester, _ = user("requester", rbac.RoleOperator)
	u.op1, u.op1ID = user("op1", rbac.RoleOperator)
	u.op2, _ = user("op2", rbac.RoleOperator)
	u.viewer, _ = user("viewer", rbac.RoleViewer)
	return u
}

const (
	approveQ = `mutation($id: ID!, $c: String) { approve(input: {id: $id, comment: $c}) { approval { id status votes { userId decision comment user { username } } } } }`
	rejectQ  = `mutation($id: ID!, $c: String) { reject(input: {id: $id, comment: $c}) { approval { id status decidedAt } } }`
	runQ     = `query($id: ID!) { run(id: $id) { status steps { name status } approvals { id step role required status message canDecide } } }`
)

// waitingApproval runs the job as the requester and waits until its
// approval step waits; it returns the run and approval IDs.
func waitingApproval(t *testing.T, u approvalUsers, jobID string) (string, string) {
	t.Helper()
	data := u.requester.ok(t, `mutation($in: RunJobInput!) { runJob(input: $in) { run { id } } }`, map[string]any{"in": map[string]any{"jobId": jobID}})
	runID := str(t, data, "runJob.run.id")
	require.Eventually(t, func() bool {
		data := u.op1.ok(t, runQ, map[string]any{"id": runID})
		return len(get(t, data, "run.approvals").([]any)) > 0 && get(t, data, "run.steps").([]any)[1].(map[string]any)["status"] == "WAITING_APPROVAL"
	}, 30*time.Second, 20*time.Millisecond)
	data = u.op1.ok(t, runQ, map[string]any{"id": runID})
	require.Equal(t, "RUNNING", str(t, data, "run.status"), "the run goes on running while a step waits")
	require.Equal(t, []any{
		map[string]any{"name": "build", "status": "SUCCEEDED"},
		map[string]any{"name": "approve", "status": "WAITING_APPROVAL"},
		map[string]any{"name": "deploy", "status": "PENDING"},
	}, get(t, data, "run.steps"))
	a := get(t, data, "run.approvals").([]any)[0].(map[string]any)
	approvalID, _ := a["id"].(string)
	require.Equal(t, map[string]any{"id": approvalID, "step": "approve", "role": "operator", "required": float64(2),
		"status": "PENDING", "message": "ship it?", "canDecide": true}, a)
	return runID, approvalID
}

func waitRun(t *testing.T, b *testBundle, runID, status string) {
	t.Helper()
	require.Eventually(t, func() bool {
		return str(t, b.ok(t, runQ, map[string]any{"id": runID}), "run.status") == status
	}, 30*time.Second, 20*time.Millisecond, "run %s never became %s", runID, status)
}

func TestApproveByRoleThroughTheAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		p := b.createProject(t, "approvals")
		b.createHost(t, map[string]any{"projectId": p, "name": "web1", "address": "127.0.0.1", "labels": lbl("role", "web")})
		jobID := str(t, b.ok(t, `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id steps { name executor approval { role count timeoutSeconds message } } } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "yaml": approvalJobYAML}}), "importJob.job.id")
		data := b.ok(t, `query($id: ID!) { job(id: $id) { steps { name approval { role count timeoutSeconds message } } } }`, map[string]any{"id": jobID})
		require.Equal(t, map[string]any{"name": "approve", "approval": map[string]any{"role": "operator", "count": float64(2), "timeoutSeconds": float64(3600), "message": "ship it?"}},
			get(t, data, "job.steps").([]any)[1])
		u := approvalSetup(t, b, p)
		runID, id := waitingApproval(t, u, jobID)

		// The inbox.
		inbox := `query($p: ID!) { approvals(projectId: $p, status: [PENDING]) { edges { node { id canDecide run { id } project { id } } } } }`
		data = u.op1.ok(t, inbox, map[string]any{"p": p})
		require.Equal(t, []any{map[string]any{"node": map[string]any{"id": id, "canDecide": true, "run": map[string]any{"id": runID}, "project": map[string]any{"id": p}}}},
			get(t, data, "approvals.edges"))
		data = u.requester.ok(t, inbox, map[string]any{"p": p})
		require.Equal(t, false, get(t, data, "approvals.edges").([]any)[0].(map[string]any)["node"].(map[string]any)["canDecide"], "not one's own run")

		e := u.requester.fails(t, approveQ, map[string]any{"id": id})
		require.Equal(t, "FORBIDDEN", e.Extensions["code"], "four eyes: %v", e)
		e = u.viewer.fails(t, approveQ, map[string]any{"id": id})
		require.Equal(t, "FORBIDDEN", e.Extensions["code"], "%v", e)
		e = b.fails(t, approveQ, map[string]any{"id": "apv_01JD0000000000000000000000"})
		require.Equal(t, "NOT_FOUND", e.Extensions["code"], "%v", e)

		data = u.op1.ok(t, approveQ, map[string]any{"id": id, "c": "looks good"})
		require.Equal(t, "PENDING", str(t, data, "approve.approval.status"), "one of two")
		require.Equal(t, []any{map[string]any{"userId": u.op1ID, "decision": "APPROVE", "comment": "looks good",
			"user": map[string]any{"username": "op1-" + strings.ToLower(p[len(p)-6:])}}}, get(t, data, "approve.approval.votes"))
		e = u.op1.fails(t, approveQ, map[string]any{"id": id})
		require.Equal(t, "CONFLICT", e.Extensions["code"], "a second vote: %v", e)

		data = u.op2.ok(t, approveQ, map[string]any{"id": id})
		require.Equal(t, "APPROVED", str(t, data, "approve.approval.status"))
		waitRun(t, b, runID, "SUCCEEDED")
		data = u.op1.ok(t, inbox, map[string]any{"p": p})
		require.Empty(t, get(t, data, "approvals.edges"), "the inbox is empty")
		data = u.viewer.ok(t, `query($id: ID!) { approval(id: $id) { status votes { decision } decidedAt } }`, map[string]any{"id": id})
		require.Equal(t, "APPROVED", str(t, data, "approval.status"))
		require.Len(t, get(t, data, "approval.votes"), 2)

		// Audited: who approved which approval, allowed or not.
		data = b.ok(t, `query($p: ID!) { project(id: $p) { auditEvents(first: 100) { edges { node { action objectId objectKind outcome } } } } }`, map[string]any{"p": p})
		var approves []any
		for _, edge := range get(t, data, "project.auditEvents.edges").([]any) {
			n := edge.(map[string]any)["node"].(map[string]any)
			if n["action"] == "approve" {
				require.Equal(t, id, n["objectId"])
				require.Equal(t, "approval", n["objectKind"])
				approves = append(approves, n["outcome"])
			}
		}
		require.ElementsMatch(t, []any{"ALLOWED", "ALLOWED", "DENIED", "DENIED", "FAILED"}, approves)

		// A rejection fails the step and the run; the approval is decided.
		runID, id = waitingApproval(t, u, jobID)
		// runUpdates shows the waiting step as it shows any status.
		sub := u.op1.subscribe(t, `subscription($id: ID!) { runUpdates(runId: $id) { kind run { id status } steps { name status } } }`,
			map[string]any{"id": runID})
		first := sub.next()
		require.Equal(t, "SNAPSHOT", str(t, first.Data, "runUpdates.kind"))
		require.Equal(t, "WAITING_APPROVAL", str(t, first.Data, "runUpdates.steps.1.status"))
		data = u.op2.ok(t, rejectQ, map[string]any{"id": id, "c": "not today"})
		require.Equal(t, "REJECTED", str(t, data, "reject.approval.status"))
		require.NotNil(t, get(t, data, "reject.approval.decidedAt"))
		var last map[string]any
		for {
			m := sub.next()
			if m.Type == "complete" {
				break
			}
			require.Empty(t, m.Errors)
			last = get(t, m.Data, "runUpdates").(map[string]any)
		}
		require.Equal(t, "FAILED", str(t, last, "run.status"))
		require.Equal(t, "FAILED", str(t, last, "steps.1.status"))
		data = b.ok(t, runQ, map[string]any{"id": runID})
		require.Equal(t, "FAILED", get(t, data, "run.steps").([]any)[1].(map[string]any)["status"])
		require.Equal(t, "SKIPPED", get(t, data, "run.steps").([]any)[2].(map[string]any)["status"])
		e = u.op1.fails(t, approveQ, map[string]any{"id": id})
		require.Equal(t, "CONFLICT", e.Extensions["code"], "%v", e)
	})
}

// A project's command guard rules hold or refuse runs of the real engine.
func TestGuardRuleHoldsRunThroughTheAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		p := b.createProject(t, "guarded-runs")
		b.createHost(t, map[string]any{"projectId": p, "name": "web1", "address": "127.0.0.1", "labels": lbl("role", "web")})
		u := approvalSetup(t, b, p)
		rule := `mutation($in: CreateGuardRuleInput!) { createGuardRule(input: $in) { rule { id } } }`
		b.ok(t, rule, map[string]any{"in": map[string]any{"projectId": p, "name": "deploys", "pattern": `echo deploy`, "severity": "APPROVE", "approverRole": "operator"}})
		b.ok(t, rule, map[string]any{"in": map[string]any{"projectId": p, "name": "no-shutdown", "pattern": `shutdown`, "severity": "BLOCK"}})
		adHoc := `mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id status approvals { id status reason role } } } }`
		in := func(cmd string) map[string]any {
			return map[string]any{"in": map[string]any{"projectId": p, "executor": "local", "action": "command",
				"params": map[string]any{"command": cmd}, "targets": map[string]any{"selector": "role=web"}}}
		}

		e := u.requester.fails(t, adHoc, in("echo shutdown now"))
		require.Equal(t, "FORBIDDEN", e.Extensions["code"], "%v", e)
		require.Contains(t, e.Message, `"no-shutdown"`)

		data := u.requester.ok(t, adHoc, in("echo deploy"))
		runID := str(t, data, "adHocRun.run.id")
		require.Equal(t, "WAITING_APPROVAL", str(t, data, "adHocRun.run.status"))
		as := get(t, data, "adHocRun.run.approvals").([]any)
		require.Len(t, as, 1)
		a := as[0].(map[string]any)
		require.Equal(t, "PENDING", a["status"])
		require.Equal(t, "operator", a["role"])
		require.Contains(t, a["reason"], `"deploys"`)

		e = u.requester.fails(t, approveQ, map[string]any{"id": a["id"]})
		require.Equal(t, "FORBIDDEN", e.Extensions["code"], "four eyes: %v", e)
		u.op1.ok(t, approveQ, map[string]any{"id": a["id"], "c": "go"})
		waitRun(t, b, runID, "SUCCEEDED")
	})
}
