package rbac_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/rbac"
)

type testBundle struct {
	store  *store.Store
	authz  *rbac.Authorizer
	p1, p2 project.Project
	host2  inventory.Host // a host in p2
}

func setup(t *testing.T, s *store.Store) *testBundle {
	t.Helper()
	ctx := context.Background()
	a, err := rbac.New(ctx, s, rbac.Options{PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	projects := project.NewService(s, nil)
	b := &testBundle{store: s, authz: a}
	b.p1, err = projects.Create(ctx, project.CreateInput{Name: "p1"})
	require.NoError(t, err)
	b.p2, err = projects.Create(ctx, project.CreateInput{Name: "p2"})
	require.NoError(t, err)
	key, _ := secrets.GenerateKey()
	ring, _ := secrets.NewKeyring(key)
	b.host2, err = inventory.NewService(s, ring).CreateHost(ctx, inventory.CreateHostInput{ProjectID: b.p2.ID, Name: "h", Address: "h"})
	require.NoError(t, err)
	return b
}

func TestBuiltInRoles(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		a := b.authz
		require.NoError(t, a.Assign(ctx, "viewer1", b.p1.ID, rbac.RoleViewer))
		require.NoError(t, a.Assign(ctx, "owner1", b.p1.ID, rbac.RoleOwner))
		require.NoError(t, a.Assign(ctx, "op1", b.p1.ID, rbac.RoleOperator))
		require.NoError(t, a.GrantAdmin(ctx, "admin1"))
		viewer, owner, op, admin := rbac.Subject{UserID: "viewer1"}, rbac.Subject{UserID: "owner1"}, rbac.Subject{UserID: "op1"}, rbac.Subject{UserID: "admin1"}

		for _, p := range []rbac.Permission{rbac.ProjectRead, rbac.HostRead, rbac.CredentialRead} {
			require.True(t, a.Allowed(viewer, b.p1.ID, p), p)
			require.True(t, a.Allowed(op, b.p1.ID, p), p)
		}
		require.False(t, a.Allowed(viewer, b.p1.ID, rbac.HostWrite))
		require.True(t, a.Allowed(owner, b.p1.ID, rbac.HostWrite))
		require.True(t, a.Allowed(owner, b.p1.ID, rbac.MemberManage))
		require.False(t, a.Allowed(owner, "", rbac.ProjectCreate), "owners hold no system permission")
		require.True(t, a.Allowed(admin, b.p2.ID, rbac.HostWrite), "admins hold everything everywhere")
		require.True(t, a.Allowed(admin, "", rbac.UserManage))
		require.False(t, a.Allowed(rbac.Subject{}, b.p1.ID, rbac.ProjectRead), "anonymous holds nothing")

		// Errors: forbidden inside a visible project, not found outside it.
		require.ErrorIs(t, a.Check(ctx, viewer, b.p1.ID, rbac.HostWrite), core.ErrForbidden)
		require.ErrorIs(t, a.Check(ctx, viewer, b.p2.ID, rbac.HostRead), core.ErrNotFound)
		err := a.CheckObject(ctx, viewer, b.host2.ID, rbac.HostRead)
		require.ErrorIs(t, err, core.ErrNotFound)
		require.Equal(t, core.NotFound("host", b.host2.ID).Error(), err.Error(), "as if the host did not exist")
		require.ErrorIs(t, a.Check(ctx, rbac.Subject{}, b.p1.ID, rbac.HostRead), core.ErrUnauthenticated)
		require.NoError(t, a.CheckObject(ctx, admin, b.host2.ID, rbac.HostWrite))
		require.ErrorIs(t, a.CheckObject(ctx, admin, core.NewID(core.KindHost), rbac.HostRead), core.ErrNotFound)

		all, ids := a.VisibleProjects(viewer)
		require.False(t, all)
		require.Equal(t, []string{b.p1.ID}, ids)
		all, _ = a.VisibleProjects(admin)
		require.True(t, all)

		require.ErrorIs(t, a.Assign(ctx, "x", b.p1.ID, "nope"), core.ErrInvalidInput)
		require.ErrorIs(t, a.Assign(ctx, "x", core.NewID(core.KindProject), rbac.RoleViewer), core.ErrNotFound)
		require.NoError(t, a.Unassign(ctx, "viewer1", b.p1.ID, rbac.RoleViewer))
		require.False(t, a.Allowed(viewer, b.p1.ID, rbac.ProjectRead))
		require.ErrorIs(t, a.Unassign(ctx, "viewer1", b.p1.ID, rbac.RoleViewer), core.ErrNotFound)
	})
}

func TestTokensNarrowTheirUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		a := b.authz
		require.NoError(t, a.Assign(ctx, "u", b.p1.ID, rbac.RoleOwner))
		require.NoError(t, a.Assign(ctx, "u", b.p2.ID, rbac.RoleOwner))
		require.NoError(t, a.GrantAdmin(ctx, "root"))

		p1Only := rbac.Subject{UserID: "u", TokenProjectID: b.p1.ID}
		require.True(t, a.Allowed(p1Only, b.p1.ID, rbac.HostWrite))
		require.False(t, a.Allowed(p1Only, b.p2.ID, rbac.HostRead), "a project token sees no other project")
		_, ids := a.VisibleProjects(p1Only)
		require.Equal(t, []string{b.p1.ID}, ids)

		readOnly := rbac.Subject{UserID: "u", TokenRole: rbac.RoleViewer}
		require.True(t, a.Allowed(readOnly, b.p2.ID, rbac.HostRead))
		require.False(t, a.Allowed(readOnly, b.p2.ID, rbac.HostWrite), "a viewer token cannot write")

		adminToken := rbac.Subject{UserID: "root", TokenProjectID: b.p1.ID}
		require.False(t, a.Allowed(adminToken, "", rbac.UserManage), "a project token holds no system permission")
		all, _ := a.VisibleProjects(adminToken)
		require.False(t, all)

		// A token never exceeds its user.
		require.False(t, a.Allowed(rbac.Subject{UserID: "nobody", TokenRole: rbac.RoleOwner}, b.p1.ID, rbac.HostRead))
	})
}

// An approval asks for a role: holding it, or a role that includes all its
// permissions, qualifies, in that project only.
func TestHasRole(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		a := b.authz
		require.NoError(t, a.Assign(ctx, "owner", b.p1.ID, rbac.RoleOwner))
		require.NoError(t, a.Assign(ctx, "op", b.p1.ID, rbac.RoleOperator))
		require.NoError(t, a.Assign(ctx, "viewer", b.p1.ID, rbac.RoleViewer))
		require.NoError(t, a.GrantAdmin(ctx, "root"))
		for _, c := range []struct {
			user, project, role string
			want                bool
		}{
			{"op", b.p1.ID, rbac.RoleOperator, true},
			{"owner", b.p1.ID, rbac.RoleOperator, true}, // an owner holds every operator permission
			{"owner", b.p1.ID, rbac.RoleViewer, true},
			{"op", b.p1.ID, rbac.RoleOwner, false},
			{"viewer", b.p1.ID, rbac.RoleOperator, false},
			{"op", b.p2.ID, rbac.RoleOperator, false}, // another project
			{"root", b.p2.ID, rbac.RoleOwner, true},
			{"op", b.p1.ID, "no-such-role", false},
			{"", b.p1.ID, rbac.RoleViewer, false},
		} {
			require.Equal(t, c.want, a.HasRole(c.user, c.project, c.role), "%s as %s", c.user, c.role)
		}
	})
}

func TestCustomRoles(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		a := b.authz
		_, err := a.DefineRole(ctx, "inventory-editor", []rbac.Permission{rbac.ProjectRead, rbac.HostRead, rbac.HostWrite, rbac.HostWrite})
		require.NoError(t, err)
		r, ok := a.Role("inventory-editor")
		require.True(t, ok)
		require.Equal(t, []rbac.Permission{rbac.HostRead, rbac.HostWrite, rbac.ProjectRead}, r.Permissions)
		require.NoError(t, a.Assign(ctx, "ed", b.p1.ID, "inventory-editor"))
		ed := rbac.Subject{UserID: "ed"}
		require.True(t, a.Allowed(ed, b.p1.ID, rbac.HostWrite))
		require.False(t, a.Allowed(ed, b.p1.ID, rbac.CredentialRead))

		for name, perms := range map[string][]rbac.Permission{
			"owner": {rbac.HostRead}, "Bad Name": {rbac.HostRead}, "empty": nil,
			"sys": {rbac.UserManage}, "unknown": {"host:explode"},
		} {
			_, err := a.DefineRole(ctx, name, perms)
			require.Error(t, err, name)
		}
		require.ErrorIs(t, a.DeleteRole(ctx, "inventory-editor"), core.ErrConflict, "held roles are not deleted")
		require.NoError(t, a.Unassign(ctx, "ed", b.p1.ID, "inventory-editor"))
		require.NoError(t, a.DeleteRole(ctx, "inventory-editor"))
		_, ok = a.Role("inventory-editor")
		require.False(t, ok)
		require.ErrorIs(t, a.DeleteRole(ctx, rbac.RoleViewer), core.ErrInvalidInput)
	})
}

// TestPolicyChangesFollowTheTransaction: a change rolled back never reaches
// the enforcer; a committed one does.
func TestPolicyChangesFollowTheTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		boom := errors.New("boom")
		err := s.InTx(ctx, func(ctx context.Context) error {
			require.NoError(t, b.authz.Assign(ctx, "u", b.p1.ID, rbac.RoleOwner))
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.False(t, b.authz.Allowed(rbac.Subject{UserID: "u"}, b.p1.ID, rbac.ProjectRead))
		require.NoError(t, b.authz.Reload(ctx))
		require.False(t, b.authz.Allowed(rbac.Subject{UserID: "u"}, b.p1.ID, rbac.ProjectRead), "nothing was stored")

		require.NoError(t, s.InTx(ctx, func(ctx context.Context) error {
			return b.authz.Assign(ctx, "u", b.p1.ID, rbac.RoleOwner)
		}))
		require.True(t, b.authz.Allowed(rbac.Subject{UserID: "u"}, b.p1.ID, rbac.ProjectRead))
	})
}

// TestReplicasConverge: a change made through one replica's authorizer
// reaches another's through the policy version.
func TestReplicasConverge(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		other, err := rbac.New(ctx, s, rbac.Options{PollInterval: 10 * time.Millisecond})
		require.NoError(t, err)
		require.NoError(t, other.Start(ctx))
		t.Cleanup(other.Stop)
		<-other.Started()

		u := rbac.Subject{UserID: "u"}
		require.NoError(t, b.authz.Assign(ctx, "u", b.p1.ID, rbac.RoleViewer))
		require.Eventually(t, func() bool { return other.Allowed(u, b.p1.ID, rbac.HostRead) }, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, b.authz.Unassign(ctx, "u", b.p1.ID, rbac.RoleViewer))
		require.Eventually(t, func() bool { return !other.Allowed(u, b.p1.ID, rbac.HostRead) }, 10*time.Second, 5*time.Millisecond)
	})
}

// TestCheckCatchesUpBeforeRefusing: a grant made through another replica
// holds at once for Check, without waiting for the poll.
func TestCheckCatchesUpBeforeRefusing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		other, err := rbac.New(ctx, s, rbac.Options{}) // never started: no polling
		require.NoError(t, err)
		u := rbac.Subject{UserID: "u"}
		require.ErrorIs(t, other.Check(ctx, u, b.p1.ID, rbac.HostRead), core.ErrNotFound)
		require.NoError(t, b.authz.Assign(ctx, "u", b.p1.ID, rbac.RoleViewer))
		require.NoError(t, other.Check(ctx, u, b.p1.ID, rbac.HostRead))
	})
}
