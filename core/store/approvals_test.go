package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

func newApproval(projectID, runID string, created time.Time) approval.Approval {
	return approval.Approval{
		ID: core.NewID(core.KindApproval), ProjectID: projectID, RunID: runID, Step: "approve", StepRunID: core.NewID(core.KindStepRun),
		Role: "operator", Required: 2, Status: approval.StatusPending, Message: "ship?", RequestedBy: "usr_alice",
		Deadline: created.Add(time.Hour), CreatedAt: created,
	}
}

func TestApprovalStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(1))
		require.NoError(t, s.CreateRun(b.ctx, r, steps, tasks))
		a := newApproval(b.project, r.ID, runBase)
		require.NoError(t, s.CreateApproval(b.ctx, a))
		guard := newApproval(b.project, r.ID, runBase.Add(time.Second))
		guard.StepRunID, guard.Step, guard.Required, guard.Reason = "", "", 1, `rule "rm" matched`
		require.NoError(t, s.CreateApproval(b.ctx, guard))

		got, err := s.GetApproval(b.ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, a, got)
		_, err = s.GetApproval(b.ctx, core.NewID(core.KindApproval))
		require.ErrorIs(t, err, core.ErrNotFound)
		p, err := s.ProjectOf(b.ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, b.project, p)

		tally, err := s.AddVote(b.ctx, a.ID, approval.Vote{UserID: "usr_bob", Decision: approval.DecisionApprove, Comment: "ok", At: runBase.Add(time.Minute)})
		require.NoError(t, err)
		require.Equal(t, approval.Tally{Approvals: 1}, tally)
		_, err = s.AddVote(b.ctx, a.ID, approval.Vote{UserID: "usr_bob", Decision: approval.DecisionReject, At: runBase.Add(time.Minute)})
		require.ErrorIs(t, err, core.ErrConflict, "one vote per person")
		got, err = s.GetApproval(b.ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, []approval.Vote{{UserID: "usr_bob", Decision: approval.DecisionApprove, Comment: "ok", At: runBase.Add(time.Minute)}}, got.Votes)

		ok, err := s.TransitionApproval(b.ctx, a.ID, []approval.Status{approval.StatusPending}, approval.StatusApproved, runBase.Add(2*time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.TransitionApproval(b.ctx, a.ID, []approval.Status{approval.StatusPending}, approval.StatusExpired, runBase.Add(3*time.Minute))
		require.NoError(t, err)
		require.False(t, ok, "already decided")
		_, err = s.AddVote(b.ctx, a.ID, approval.Vote{UserID: "usr_carol", Decision: approval.DecisionApprove, At: runBase})
		require.ErrorIs(t, err, core.ErrConflict, "decided")
		_, err = s.TransitionApproval(b.ctx, a.ID, []approval.Status{approval.StatusApproved}, approval.StatusPending, runBase)
		require.Error(t, err, "the table forbids it")

		all, err := s.RunApprovals(b.ctx, r.ID)
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, a.ID, all[0].ID)
		require.Equal(t, approval.StatusApproved, all[0].Status)
		require.Len(t, all[0].Votes, 1)

		page, err := s.ListApprovals(b.ctx, approval.Filter{ProjectIDs: []string{b.project}, Statuses: []approval.Status{approval.StatusPending}}, core.PageArgs{First: 10})
		require.NoError(t, err)
		require.Len(t, page.Items, 1)
		require.Equal(t, guard.ID, page.Items[0].ID)
		page, err = s.ListApprovals(b.ctx, approval.Filter{ProjectIDs: []string{b.project}}, core.PageArgs{First: 1})
		require.NoError(t, err)
		require.True(t, page.HasNext)
		require.Equal(t, guard.ID, page.Items[0].ID, "newest first")
		page, err = s.ListApprovals(b.ctx, approval.Filter{ProjectIDs: []string{b.project}}, core.PageArgs{First: 1, After: page.Cursors[0]})
		require.NoError(t, err)
		require.Equal(t, a.ID, page.Items[0].ID)
		page, err = s.ListApprovals(b.ctx, approval.Filter{ProjectIDs: []string{}}, core.PageArgs{First: 10})
		require.NoError(t, err)
		require.Empty(t, page.Items)
	})
}

// Concurrent votes are counted one after the other: with ten voters on an
// approval that needs ten, the tallies seen are 1..10, each once.
func TestApprovalStoreConcurrentVotes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		r, steps, tasks := fixture(b.project, runBase, hostIDs(1))
		require.NoError(t, s.CreateRun(b.ctx, r, steps, tasks))
		a := newApproval(b.project, r.ID, runBase)
		a.Required = 10
		require.NoError(t, s.CreateApproval(b.ctx, a))
		var mu sync.Mutex
		seen := map[int]bool{}
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var tally approval.Tally
				err := s.InTx(context.Background(), func(ctx context.Context) error {
					var err error
					tally, err = s.AddVote(ctx, a.ID, approval.Vote{UserID: core.NewID(core.KindUser), Decision: approval.DecisionApprove, At: runBase})
					return err
				})
				if !assertNoErr(t, err, i) {
					return
				}
				mu.Lock()
				seen[tally.Approvals] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		require.Len(t, seen, 10)
		for i := 1; i <= 10; i++ {
			require.True(t, seen[i], "tally %d", i)
		}
	})
}

func assertNoErr(t *testing.T, err error, i int) bool {
	t.Helper()
	if err != nil {
		t.Errorf("vote %d: %v", i, err)
		return false
	}
	return true
}
