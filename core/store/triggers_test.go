package store_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/core/trigger"
)

func triggerFixture(t *testing.T, s *store.Store) (context.Context, trigger.Trigger) {
	t.Helper()
	b := runSetup(t, s)
	j := job.Job{ID: core.NewID(core.KindJob), ProjectID: b.project, Name: "deploy", Version: 1, CreatedAt: runBase, UpdatedAt: runBase}
	require.NoError(t, s.CreateJob(b.ctx, j))
	tr := trigger.Trigger{
		ID: core.NewID(core.KindTrigger), ProjectID: b.project, JobID: j.ID, Name: "github",
		Params: []trigger.ParamSource{
			{Name: "ref", Path: "$.ref"},
			{Name: "env", Value: json.RawMessage(`"prod"`)},
		},
		RequireTimestamp: true, Priority: 3, Enabled: true, CreatedBy: "usr_x", CreatedAt: runBase, UpdatedAt: runBase,
	}
	require.NoError(t, s.CreateTrigger(b.ctx, tr, []byte("sealed-1")))
	return b.ctx, tr
}

func TestTriggerStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, tr := triggerFixture(t, s)

		got, err := s.GetTrigger(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, tr, got)
		sealed, err := s.SealedTriggerSecret(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, []byte("sealed-1"), sealed)

		dup := tr
		dup.ID = core.NewID(core.KindTrigger)
		require.ErrorIs(t, s.CreateTrigger(ctx, dup, []byte("x")), core.ErrConflict)

		tr.Name, tr.Enabled, tr.Params = "gh", false, nil
		tr.UpdatedAt = runBase.Add(time.Minute)
		require.NoError(t, s.UpdateTrigger(ctx, tr, nil))
		got, err = s.GetTrigger(ctx, tr.ID)
		require.NoError(t, err)
		tr.Params = []trigger.ParamSource{}
		require.Equal(t, tr, got)
		sealed, err = s.SealedTriggerSecret(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, []byte("sealed-1"), sealed, "an update without a secret keeps it")
		require.NoError(t, s.UpdateTrigger(ctx, tr, []byte("sealed-2")))
		sealed, err = s.SealedTriggerSecret(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, []byte("sealed-2"), sealed)

		page, err := s.ListTriggers(ctx, trigger.Filter{ProjectID: tr.ProjectID}, core.PageArgs{First: 10})
		require.NoError(t, err)
		require.Len(t, page.Items, 1)
		n, err := s.CountTriggers(ctx, trigger.Filter{ProjectID: tr.ProjectID})
		require.NoError(t, err)
		require.Equal(t, 1, n)

		require.NoError(t, s.DeleteTrigger(ctx, tr.ID))
		_, err = s.GetTrigger(ctx, tr.ID)
		require.ErrorIs(t, err, core.ErrNotFound)
		require.ErrorIs(t, s.DeleteTrigger(ctx, tr.ID), core.ErrNotFound)
	})
}

func TestTriggerDeliveries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, tr := triggerFixture(t, s)
		at := runBase.Add(time.Hour)

		require.NoError(t, s.RecordDelivery(ctx, tr.ID, "d1", at))
		err := s.RecordDelivery(ctx, tr.ID, "d1", at)
		require.ErrorIs(t, err, core.ErrConflict)
		require.Equal(t, "deliveryId", core.FieldOf(err))

		require.NoError(t, s.SetDeliveryRun(ctx, tr.ID, "d1", "run_1", at))
		runID, err := s.DeliveryRun(ctx, tr.ID, "d1")
		require.NoError(t, err)
		require.Equal(t, "run_1", runID)
		got, err := s.GetTrigger(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, at, got.LastDeliveryAt)

		// A rolled-back transaction leaves the delivery ID free.
		boom := context.Canceled
		require.ErrorIs(t, s.InTx(ctx, func(ctx context.Context) error {
			require.NoError(t, s.RecordDelivery(ctx, tr.ID, "d2", at))
			return boom
		}), boom)
		require.NoError(t, s.RecordDelivery(ctx, tr.ID, "d2", at.Add(48*time.Hour)))

		// Concurrent deliveries of one ID: exactly one is recorded.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.InTx(ctx, func(ctx context.Context) error { return s.RecordDelivery(ctx, tr.ID, "d3", at) })
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, core.ErrConflict)
			}
		}
		require.Equal(t, 1, ok)

		// Pruning forgets old deliveries only.
		require.NoError(t, s.PruneDeliveries(ctx, tr.ID, at.Add(time.Hour)))
		_, err = s.DeliveryRun(ctx, tr.ID, "d1")
		require.ErrorIs(t, err, core.ErrNotFound)
		_, err = s.DeliveryRun(ctx, tr.ID, "d2")
		require.NoError(t, err)
		require.NoError(t, s.RecordDelivery(ctx, tr.ID, "d1", at.Add(2*time.Hour)))

		require.NoError(t, s.DeleteTrigger(ctx, tr.ID))
		_, err = s.DeliveryRun(ctx, tr.ID, "d2")
		require.ErrorIs(t, err, core.ErrNotFound)
	})
}
