package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// The identity service's tests cover the store through the service; these
// cover what the service cannot show: the guards that keep two replicas from
// both recording the same use, at sub-second precision on both dialects.

func TestTouchIsConditionalOnTheStoredTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		u := identity.User{ID: core.NewID(core.KindUser), Username: "alice", CreatedAt: base, UpdatedAt: base}
		require.NoError(t, s.CreateUser(ctx, u, "$argon2id$…"))
		require.ErrorIs(t, s.CreateUser(ctx, identity.User{ID: core.NewID(core.KindUser), Username: "alice", CreatedAt: base, UpdatedAt: base}, "x"), core.ErrConflict)

		tok := identity.Token{ID: core.NewID(core.KindToken), UserID: u.ID, Name: "ci", CreatedAt: base}
		require.NoError(t, s.CreateToken(ctx, tok, "aa"))
		ses := identity.Session{ID: core.NewID(core.KindSession), UserID: u.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour), LastSeenAt: base}
		require.NoError(t, s.CreateSession(ctx, ses, "bb"))

		lastUsed := func() *time.Time {
			got, err := s.GetToken(ctx, tok.ID)
			require.NoError(t, err)
			return got.LastUsedAt
		}
		lastSeen := func() time.Time {
			got, _, err := s.SessionBySecretHash(ctx, "bb")
			require.NoError(t, err)
			return got.LastSeenAt
		}
		steps := []struct {
			at, staleBefore time.Time
			want            time.Time
		}{
			{base.Add(500 * time.Millisecond), base.Add(-time.Minute), base.Add(500 * time.Millisecond)}, // never used / stale: written
			{base.Add(time.Second), base, base.Add(500 * time.Millisecond)},                              // stored .5s is later than base: kept
			{base.Add(2 * time.Second), base.Add(499999 * time.Microsecond), base.Add(500 * time.Millisecond)},
			{base.Add(3 * time.Second), base.Add(500 * time.Millisecond), base.Add(3 * time.Second)}, // equal: written
			{base.Add(4 * time.Second), base.Add(3*time.Second + time.Microsecond), base.Add(4 * time.Second)},
		}
		for i, st := range steps {
			require.NoError(t, s.TouchToken(ctx, tok.ID, st.at, st.staleBefore))
			require.Equal(t, st.want, *lastUsed(), "token step %d", i)
			if i == 0 {
				// The session starts out used at base, not never.
				require.NoError(t, s.TouchSession(ctx, ses.ID, st.at, ses.ExpiresAt, base))
			} else {
				require.NoError(t, s.TouchSession(ctx, ses.ID, st.at, ses.ExpiresAt, st.staleBefore))
			}
			require.Equal(t, st.want, lastSeen(), "session step %d", i)
		}

		require.NoError(t, s.RevokeToken(ctx, tok.ID, base.Add(time.Hour)))
		require.NoError(t, s.RevokeToken(ctx, tok.ID, base.Add(2*time.Hour)))
		got, err := s.GetToken(ctx, tok.ID)
		require.NoError(t, err)
		require.Equal(t, base.Add(time.Hour), *got.RevokedAt)
		require.ErrorIs(t, s.RevokeToken(ctx, core.NewID(core.KindToken), base), core.ErrNotFound)

		require.ErrorIs(t, s.DeleteSession(ctx, core.NewID(core.KindSession)), core.ErrNotFound)
		require.ErrorIs(t, s.SetLastLogin(ctx, core.NewID(core.KindUser), base), core.ErrNotFound)
		n, err := s.DeleteExpiredSessions(ctx, base.Add(time.Hour-time.Microsecond))
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = s.DeleteExpiredSessions(ctx, base.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}
