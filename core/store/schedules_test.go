package store_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/scheduler"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

func scheduleFixture(projectID, name string, next time.Time) scheduler.Schedule {
	due := next.Add(1500 * time.Millisecond)
	return scheduler.Schedule{
		ID: core.NewID(core.KindSchedule), ProjectID: projectID, JobID: core.NewID(core.KindJob), Name: name,
		Expression: "*/5 * * * *", TimeZone: "Europe/Berlin", Params: json.RawMessage(`{"v":"1"}`), Priority: 3,
		Jitter: 2 * time.Second, Overlap: scheduler.OverlapQueue, Missed: scheduler.MissedRunOnce, Enabled: true,
		NextFireAt: &next, DueAt: &due, CreatedBy: "usr_alice", CreatedAt: runBase, UpdatedAt: runBase,
	}
}

func TestScheduleStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := runSetup(t, s)
		next := runBase.Truncate(time.Second).Add(time.Minute)
		a := scheduleFixture(b.project, "nightly", next)
		require.NoError(t, s.CreateSchedule(b.ctx, a))
		err := s.CreateSchedule(b.ctx, scheduleFixture(b.project, "nightly", next))
		require.ErrorIs(t, err, core.ErrConflict)
		assert.Equal(t, "name", core.FieldOf(err))

		got, err := s.GetSchedule(b.ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, a, got)

		// Due: only at or after due_at, only when enabled.
		due, err := s.DueSchedules(b.ctx, next, 10)
		require.NoError(t, err)
		assert.Empty(t, due)
		due, err = s.DueSchedules(b.ctx, a.DueAt.Add(time.Millisecond), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		nd, err := s.NextDue(b.ctx)
		require.NoError(t, err)
		require.NotNil(t, nd)
		assert.True(t, a.DueAt.Equal(*nd))

		// Advance is a compare-and-set on next_fire_at: the second with the
		// same previous time loses.
		adv := a
		n2 := next.Add(5 * time.Minute)
		adv.NextFireAt, adv.DueAt, adv.LastFireAt, adv.LastRunID = &n2, &n2, &next, core.NewID(core.KindRun)
		ok, err := s.AdvanceSchedule(b.ctx, adv, next)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = s.AdvanceSchedule(b.ctx, adv, next)
		require.NoError(t, err)
		assert.False(t, ok)
		got, err = s.GetSchedule(b.ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, adv.LastRunID, got.LastRunID)
		assert.True(t, n2.Equal(*got.NextFireAt))

		// Update is conditional on the next fire time it read.
		upd := got
		upd.Name, upd.Enabled, upd.NextFireAt, upd.DueAt = "hourly", false, nil, nil
		err = s.UpdateSchedule(b.ctx, upd, &next) // stale
		require.ErrorIs(t, err, core.ErrConflict)
		require.NoError(t, s.UpdateSchedule(b.ctx, upd, got.NextFireAt))
		got, err = s.GetSchedule(b.ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, "hourly", got.Name)
		assert.Nil(t, got.NextFireAt)
		assert.Equal(t, adv.LastRunID, got.LastRunID, "an edit keeps the fire history")
		nd, err = s.NextDue(b.ctx)
		require.NoError(t, err)
		assert.Nil(t, nd, "a disabled schedule is never due")

		// Fires: one per time.
		f := scheduler.Fire{ScheduleID: a.ID, At: next, FiredAt: next.Add(time.Second), Outcome: scheduler.OutcomeStarted, RunID: adv.LastRunID}
		require.NoError(t, s.RecordFire(b.ctx, f))
		require.ErrorIs(t, s.RecordFire(b.ctx, f), core.ErrConflict)
		fires, err := s.ListFires(b.ctx, a.ID, 10)
		require.NoError(t, err)
		require.Len(t, fires, 1)
		assert.Equal(t, f, fires[0])

		list, err := s.ListSchedules(b.ctx, b.project)
		require.NoError(t, err)
		require.Len(t, list, 1)

		require.NoError(t, s.DeleteSchedule(b.ctx, a.ID))
		_, err = s.GetSchedule(b.ctx, a.ID)
		assert.True(t, errors.Is(err, core.ErrNotFound))
		assert.ErrorIs(t, s.DeleteSchedule(b.ctx, a.ID), core.ErrNotFound)
		fires, err = s.ListFires(b.ctx, a.ID, 10)
		require.NoError(t, err)
		assert.Empty(t, fires, "fires go with their schedule")
	})
}
