package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/guard"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// stubGuard is the command guard (another package's service): verdict, when
// set, says what it finds in every run.
type stubGuard struct {
	mu      sync.Mutex
	verdict guard.Verdict
}

func (g *stubGuard) Check(context.Context, string, job.Spec, map[string]any) (guard.Verdict, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.verdict, nil
}

func (g *stubGuard) set(v guard.Verdict) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.verdict = v
}

// notes records what the engine tells its Notifier.
type notes struct {
	mu   sync.Mutex
	list []run.Notice
}

func (n *notes) Notify(_ context.Context, x run.Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, x)
}

func (n *notes) of(kind run.NoticeKind, runID string) []run.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []run.Notice
	for _, x := range n.list {
		if x.Kind == kind && x.Run.ID == runID {
			out = append(out, x)
		}
	}
	return out
}

// roles is rbac (a boundary here): user → project → role; admins hold all.
type roles struct {
	of     map[string]map[string]string
	admins map[string]bool
}

func (r roles) HasRole(userID, projectID, role string) bool {
	return r.admins[userID] || r.of[userID][projectID] == role
}

func (r roles) IsAdmin(userID string) bool { return r.admins[userID] }

const (
	requester = "usr_01JD00000000000000000000RQ"
	op1       = "usr_01JD00000000000000000000O1"
	op2       = "usr_01JD00000000000000000000O2"
	viewer    = "usr_01JD00000000000000000000VW"
	admin     = "usr_01JD00000000000000000000AD"
)

func (b *bundle) approvals(e *engine.Engine) *approval.Service {
	r := roles{of: map[string]map[string]string{
		requester: {b.p: "operator"}, op1: {b.p: "operator"}, op2: {b.p: "operator"}, viewer: {b.p: "viewer"},
	}, admins: map[string]bool{admin: true}}
	return approval.NewService(b.s, r, e, nil)
}

// approvalJob is build → approve (operator, count) → deploy.
func (b *bundle) approvalJob(t *testing.T, count int, timeout time.Duration) string {
	t.Helper()
	return b.job(t,
		step("build", "echo", `{"msg":"build"}`, job.Targets{Hosts: []string{b.hosts[0].ID}}),
		job.Step{Name: "approve", Needs: []string{"build"}, Approval: &job.Approval{Role: "operator", Count: count, Timeout: timeout, Message: "ship it?"}},
		step("deploy", "echo", `{"msg":"deploy"}`, job.Targets{Hosts: []string{b.hosts[1].ID}}, "approve"),
	)
}

// waitApproval waits until run id has a pending approval and returns it.
func (b *bundle) waitApproval(t *testing.T, id string) approval.Approval {
	t.Helper()
	var out approval.Approval
	require.Eventually(t, func() bool {
		as, err := b.s.RunApprovals(context.Background(), id)
		require.NoError(t, err)
		for _, a := range as {
			if a.Status == approval.StatusPending {
				out = a
				return true
			}
		}
		return false
	}, 20*time.Second, 10*time.Millisecond, "run %s never waited for an approval", id)
	return out
}

func (b *bundle) steps(t *testing.T, runID string) map[string]run.StepStatus {
	t.Helper()
	steps, err := b.s.StepRuns(context.Background(), runID)
	require.NoError(t, err)
	out := map[string]run.StepStatus{}
	for _, s := range steps {
		out[s.Name] = s.Status
	}
	return out
}

func (b *bundle) echoed(msg string) bool {
	b.fake.mu.Lock()
	defer b.fake.mu.Unlock()
	for _, p := range b.fake.rendered["echo"] {
		if p == `{"msg":"`+msg+`"}` {
			return true
		}
	}
	return false
}

func TestApprovalStepNeedsTwoOperators(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		svc := b.approvals(b.e)
		ctx := context.Background()
		r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.approvalJob(t, 2, time.Hour), Actor: requester})
		require.NoError(t, err)
		a := b.waitApproval(t, r.ID)
		require.Equal(t, "approve", a.Step)
		require.Equal(t, "operator", a.Role)
		require.Equal(t, 2, a.Required)
		require.Equal(t, "ship it?", a.Message)
		require.Equal(t, requester, a.RequestedBy)
		require.Equal(t, map[string]run.StepStatus{"build": run.StepSucceeded, "approve": run.StepWaitingApproval, "deploy": run.StepPending}, b.steps(t, r.ID))
		got, err := s.GetRun(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, run.RunRunning, got.Status, "the run goes on running while a step waits")
		n := b.notes.of(run.NoticeApproval, r.ID)
		require.Len(t, n, 1)
		require.Equal(t, a.ID, n[0].ApprovalID)
		require.Equal(t, "approve", n[0].Step)

		_, err = svc.Decide(ctx, a.ID, requester, approval.DecisionApprove, "mine")
		require.ErrorIs(t, err, core.ErrForbidden, "four eyes")
		_, err = svc.Decide(ctx, a.ID, viewer, approval.DecisionApprove, "")
		require.ErrorIs(t, err, core.ErrForbidden)
		require.ErrorContains(t, err, "requires the role operator")

		a, err = svc.Decide(ctx, a.ID, op1, approval.DecisionApprove, "looks good")
		require.NoError(t, err)
		require.Equal(t, approval.StatusPending, a.Status, "one of two")
		require.Equal(t, []approval.Vote{{UserID: op1, Decision: approval.DecisionApprove, Comment: "looks good", At: a.Votes[0].At}}, a.Votes)
		_, err = svc.Decide(ctx, a.ID, op1, approval.DecisionApprove, "again")
		require.ErrorIs(t, err, core.ErrConflict, "a second vote")
		require.Equal(t, run.StepWaitingApproval, b.steps(t, r.ID)["approve"])
		require.False(t, b.echoed("deploy"), "deploy waits for the second approval")

		a, err = svc.Decide(ctx, a.ID, op2, approval.DecisionApprove, "")
		require.NoError(t, err)
		require.Equal(t, approval.StatusApproved, a.Status)
		require.NotNil(t, a.DecidedAt)
		require.Equal(t, run.RunSucceeded, b.wait(t, r.ID).Status)
		require.Equal(t, map[string]run.StepStatus{"build": run.StepSucceeded, "approve": run.StepSucceeded, "deploy": run.StepSucceeded}, b.steps(t, r.ID))
		require.True(t, b.echoed("deploy"))
		_, err = svc.Decide(ctx, a.ID, admin, approval.DecisionReject, "too late")
		require.ErrorIs(t, err, core.ErrConflict, "decided")
	})
}

func TestApprovalStepRejectFailsRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		svc := b.approvals(b.e)
		ctx := context.Background()
		r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.approvalJob(t, 2, time.Hour), Actor: requester})
		require.NoError(t, err)
		a := b.waitApproval(t, r.ID)
		_, err = svc.Decide(ctx, a.ID, op1, approval.DecisionApprove, "")
		require.NoError(t, err)
		// The requester may reject their own run.
		a, err = svc.Decide(ctx, a.ID, requester, approval.DecisionReject, "wrong branch")
		require.NoError(t, err)
		require.Equal(t, approval.StatusRejected, a.Status)
		require.Equal(t, run.RunFailed, b.wait(t, r.ID).Status)
		require.Equal(t, map[string]run.StepStatus{"build": run.StepSucceeded, "approve": run.StepFailed, "deploy": run.StepSkipped}, b.steps(t, r.ID))
		require.False(t, b.echoed("deploy"))
	})
}

func TestApprovalStepTimesOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.approvalJob(t, 1, 300*time.Millisecond), Actor: requester})
		require.NoError(t, err)
		a := b.waitApproval(t, r.ID)
		require.Equal(t, run.RunFailed, b.wait(t, r.ID).Status)
		require.Equal(t, run.StepTimedOut, b.steps(t, r.ID)["approve"])
		a, err = s.GetApproval(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, approval.StatusExpired, a.Status)
		_, err = b.approvals(b.e).Decide(ctx, a.ID, op1, approval.DecisionApprove, "")
		require.ErrorIs(t, err, core.ErrConflict)
	})
}

func TestApprovalStepCanceledWithItsRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.approvalJob(t, 1, time.Hour), Actor: requester})
		require.NoError(t, err)
		a := b.waitApproval(t, r.ID)
		_, err = b.e.CancelRun(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, run.RunCanceled, b.wait(t, r.ID).Status)
		require.Equal(t, map[string]run.StepStatus{"build": run.StepSucceeded, "approve": run.StepCanceled, "deploy": run.StepCanceled}, b.steps(t, r.ID))
		a, err = s.GetApproval(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, approval.StatusCanceled, a.Status)
	})
}

func TestApprovalSurvivesRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.approvalJob(t, 1, time.Hour), Actor: requester})
		require.NoError(t, err)
		a := b.waitApproval(t, r.ID)
		b.e.Stop()
		b.e = b.engine(t)
		_, err = b.approvals(b.e).Decide(ctx, a.ID, admin, approval.DecisionApprove, "after the restart")
		require.NoError(t, err)
		require.Equal(t, run.RunSucceeded, b.wait(t, r.ID).Status)
		require.True(t, b.echoed("deploy"))
	})
}

func approveMatch() guard.Verdict {
	return guard.Verdict{Matches: []guard.Match{{RuleID: "gdr_x", RuleName: "no-rm", Severity: guard.SeverityApprove,
		ApproverRole: "operator", Step: "build", Field: "params.msg", Excerpt: "build"}}}
}

func TestGuardHoldsRunUntilApproved(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		b.guard.set(approveMatch())
		svc := b.approvals(b.e)
		ctx := context.Background()
		jobID := b.job(t, step("build", "echo", `{"msg":"held"}`, job.Targets{Hosts: []string{b.hosts[0].ID}}))
		r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: jobID, Actor: requester})
		require.NoError(t, err)
		require.Equal(t, run.RunWaitingApproval, r.Status)
		as, err := s.RunApprovals(ctx, r.ID)
		require.NoError(t, err)
		require.Len(t, as, 1)
		a := as[0]
		require.Empty(t, a.StepRunID)
		require.Equal(t, "operator", a.Role)
		require.Equal(t, 1, a.Required)
		require.Contains(t, a.Reason, `"no-rm"`)
		require.Contains(t, a.Reason, `step "build" params.msg`)
		require.WithinDuration(t, r.CreatedAt.Add(approval.DefaultTimeout), a.Deadline, time.Millisecond)
		n := b.notes.of(run.NoticeApproval, r.ID)
		require.Len(t, n, 1)
		require.Equal(t, a.ID, n[0].ApprovalID)
		require.Equal(t, run.RunWaitingApproval, n[0].Status)

		// The admitter leaves it alone until it is approved.
		got, err := s.GetRun(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, run.RunWaitingApproval, got.Status)
		require.False(t, b.echoed("held"))
		_, err = svc.Decide(ctx, a.ID, op1, approval.DecisionApprove, "fine")
		require.NoError(t, err)
		got = b.wait(t, r.ID)
		require.Equal(t, run.RunSucceeded, got.Status)
		require.NotNil(t, got.StartedAt)
		require.True(t, b.echoed("held"))

		// Rejected, a held run ends canceled and never runs.
		r, err = b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.job(t, step("x", "echo", `{"msg":"never"}`, job.Targets{Hosts: []string{b.hosts[0].ID}})), Actor: requester})
		require.NoError(t, err)
		a = b.waitApproval(t, r.ID)
		_, err = svc.Decide(ctx, a.ID, op2, approval.DecisionReject, "no")
		require.NoError(t, err)
		got = b.wait(t, r.ID)
		require.Equal(t, run.RunCanceled, got.Status)
		require.Nil(t, got.StartedAt)
		require.Equal(t, run.StepCanceled, b.steps(t, r.ID)["x"])
		require.False(t, b.echoed("never"))

		// Canceled while held.
		r, err = b.e.RunJob(ctx, engine.RunJobRequest{JobID: jobID, Actor: requester})
		require.NoError(t, err)
		_, err = b.e.CancelRun(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, run.RunCanceled, b.wait(t, r.ID).Status)
		as, err = s.RunApprovals(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, approval.StatusCanceled, as[0].Status)
	})
}

func TestGuardBlockStoresNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		done, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.job(t, step("a", "echo", `{"msg":"ok"}`, job.Targets{Hosts: []string{b.hosts[0].ID}})), Actor: requester})
		require.NoError(t, err)
		require.Equal(t, run.RunSucceeded, b.wait(t, done.ID).Status)
		b.guard.set(guard.Verdict{Matches: []guard.Match{{RuleName: "no-mkfs", Severity: guard.SeverityBlock, Step: "a", Field: "params.msg"}}})
		_, err = b.e.RetryRun(ctx, engine.RetryRunRequest{RunID: done.ID, Actor: requester})
		require.ErrorIs(t, err, core.ErrForbidden, "a retry is checked too")
		_, err = b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.job(t, step("a", "echo", `{"msg":"mkfs"}`, job.Targets{Hosts: []string{b.hosts[0].ID}})), Actor: requester})
		require.ErrorIs(t, err, core.ErrForbidden)
		require.ErrorContains(t, err, `"no-mkfs"`)
		_, err = b.e.AdHocRun(ctx, engine.AdHocRequest{ProjectID: b.p, Executor: "fake", Action: "echo", Params: []byte(`{"msg":"mkfs"}`),
			Targets: job.Targets{Hosts: []string{b.hosts[0].ID}}, Actor: requester})
		require.ErrorIs(t, err, core.ErrForbidden)
		runs, err := s.ListRuns(ctx, run.Filter{ProjectIDs: []string{b.p}}, core.PageArgs{First: 10})
		require.NoError(t, err)
		require.Len(t, runs.Items, 1, "only the run made before the rule")
	})
}

func TestGuardApprovalExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		b.guard.set(approveMatch())
		ctx := context.Background()
		r, err := b.e.RunJob(ctx, engine.RunJobRequest{JobID: b.job(t, step("a", "echo", `{"msg":"late"}`, job.Targets{Hosts: []string{b.hosts[0].ID}})), Actor: requester})
		require.NoError(t, err)
		// Expire it by moving its deadline (24h) into the past, as the
		// store sees it, and waking the loop.
		db, err := s.SQLDB()
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "UPDATE approvals SET deadline = ? WHERE run_id = ?", time.Now().UTC().Add(-time.Second), r.ID)
		require.NoError(t, err)
		b.e.Wake(r.ID)
		got := b.wait(t, r.ID)
		require.Equal(t, run.RunTimedOut, got.Status)
		as, err := s.RunApprovals(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, approval.StatusExpired, as[0].Status)
	})
}
