package approval_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

func TestStatusTable(t *testing.T) {
	t.Parallel()
	for _, from := range approval.Statuses() {
		require.True(t, from.Valid())
		for _, to := range approval.Statuses() {
			want := from == approval.StatusPending && to != approval.StatusPending
			require.Equal(t, want, from.CanTransitionTo(to), "%s → %s", from, to)
		}
		require.Equal(t, from != approval.StatusPending, from.Final())
	}
	require.False(t, approval.Status("bogus").Valid())
	require.Error(t, approval.CheckTransition([]approval.Status{approval.StatusApproved}, approval.StatusRejected))
	require.NoError(t, approval.CheckTransition([]approval.Status{approval.StatusPending}, approval.StatusExpired))
}

type roles map[string]string // user → role in every project; "admin" is the admin

func (r roles) HasRole(u, _, role string) bool { return r[u] == "admin" || r[u] == role }
func (r roles) IsAdmin(u string) bool          { return r[u] == "admin" }

type waker struct{ woken []string }

func (w *waker) Wake(id string) { w.woken = append(w.woken, id) }

func TestDecideRules(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := core.Now()
		p := project.Project{ID: core.NewID(core.KindProject), Name: "p", CreatedAt: now, UpdatedAt: now}
		require.NoError(t, s.CreateProject(ctx, p))
		r := run.Run{ID: core.NewID(core.KindRun), ProjectID: p.ID, Name: "r", Status: run.RunWaitingApproval,
			Trigger: run.Trigger{Kind: run.TriggerManual, Actor: "user:usr_alice"}, Params: json.RawMessage(`{}`), CreatedAt: now}
		require.NoError(t, s.CreateRun(ctx, r, nil, nil))
		mk := func(deadline time.Time) string {
			a := approval.Approval{ID: core.NewID(core.KindApproval), ProjectID: p.ID, RunID: r.ID, Role: "owner", Required: 1,
				Status: approval.StatusPending, RequestedBy: r.Trigger.Actor, Deadline: deadline, CreatedAt: now}
			require.NoError(t, s.CreateApproval(ctx, a))
			return a.ID
		}
		w := &waker{}
		svc := approval.NewService(s, roles{"usr_alice": "owner", "usr_bob": "owner", "usr_carol": "viewer", "usr_root": "admin"}, w, nil)
		id := mk(now.Add(time.Hour))

		for _, c := range []struct {
			name, id, user string
			d              approval.Decision
			comment        string
			is             error
		}{
			{"bad id", "run_x", "usr_bob", approval.DecisionApprove, "", core.ErrInvalidInput},
			{"bad decision", id, "usr_bob", "maybe", "", core.ErrInvalidInput},
			{"long comment", id, "usr_bob", approval.DecisionApprove, strings.Repeat("x", 2001), core.ErrInvalidInput},
			{"unknown", core.NewID(core.KindApproval), "usr_bob", approval.DecisionApprove, "", core.ErrNotFound},
			{"anonymous", id, "", approval.DecisionApprove, "", core.ErrUnauthenticated},
			{"without the role", id, "usr_carol", approval.DecisionApprove, "", core.ErrForbidden},
			{"own run (\"user:\" actor)", id, "usr_alice", approval.DecisionApprove, "", core.ErrForbidden},
		} {
			_, err := svc.Decide(ctx, c.id, c.user, c.d, c.comment)
			require.ErrorIs(t, err, c.is, c.name)
		}
		require.Empty(t, w.woken)

		// The admin may approve whatever role it asks for.
		a, err := svc.Decide(ctx, id, "usr_root", approval.DecisionApprove, "ok")
		require.NoError(t, err)
		require.Equal(t, approval.StatusApproved, a.Status)
		require.Equal(t, []string{r.ID}, w.woken)
		_, err = svc.Decide(ctx, id, "usr_bob", approval.DecisionReject, "")
		require.ErrorIs(t, err, core.ErrConflict)

		// One's own run may be rejected.
		a, err = svc.Decide(ctx, mk(now.Add(time.Hour)), "usr_alice", approval.DecisionReject, "oops")
		require.NoError(t, err)
		require.Equal(t, approval.StatusRejected, a.Status)

		// Past its deadline: CONFLICT, and the engine is woken to expire it.
		expired := mk(now.Add(-time.Second))
		_, err = svc.Decide(ctx, expired, "usr_bob", approval.DecisionApprove, "")
		require.ErrorIs(t, err, core.ErrConflict)
		require.Len(t, w.woken, 3)
		a, err = svc.Get(ctx, expired)
		require.NoError(t, err)
		require.False(t, svc.CanDecide(a, "usr_bob"))
		require.Empty(t, a.Votes)
	})
}
