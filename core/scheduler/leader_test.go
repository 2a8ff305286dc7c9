package scheduler_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/scheduler"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// natsURL is the NATS with JetStream of the development and CI machines;
// unreachable, the test fails (never skips).
const natsURL = "nats://127.0.0.1:4222"

// namespace returns a stream name of the test's own on the external NATS,
// whose streams (and leader buckets) are deleted at cleanup.
func namespace(t *testing.T) (stream, prefix string) {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	require.NoError(t, err, "the external NATS at %s is unreachable", natsURL)
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	stream = "JGSCHED_" + strings.ToUpper(id)
	t.Cleanup(func() {
		defer nc.Close()
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		names := js.StreamNames(ctx)
		for n := range names.Name() {
			if n == stream || strings.HasPrefix(n, "KV_"+stream+"_") {
				assert.NoError(t, js.DeleteStream(ctx, n))
			}
		}
		assert.NoError(t, names.Err())
	})
	return stream, "jgsched." + id
}

type firedBy struct {
	node string
	fire scheduler.Fire
}

// TestTwoReplicasFireOnceAndTakeOver runs two schedulers on one database,
// each with its own NATS connection, and a schedule that fires every
// second. Only the leader fires, each fire time once; when the leader's
// connection dies (no resignation: its lease must expire), the other takes
// over within a bound and goes on where it stopped, without a duplicate
// and, within the grace, without a gap.
func TestTwoReplicasFireOnceAndTakeOver(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		const lease = 600 * time.Millisecond
		b := setup(t, s)
		b.svc = scheduler.NewService(s, jobs{b.job.ID: b.job}) // the real clock
		b.starter.now = core.Now
		sc := b.create(t, "* * * * * *", func(in *scheduler.CreateInput) { in.Overlap = scheduler.OverlapAllow })

		stream, prefix := namespace(t)
		var mu sync.Mutex
		var fired []firedBy
		nodes := map[string]*scheduler.Scheduler{}
		queues := map[string]*queue.Queue{}
		for _, node := range []string{"node-a", "node-b"} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			q, err := queue.Open(ctx, queue.Options{URL: natsURL, Stream: stream, SubjectPrefix: prefix, Logger: testLogger(t)})
			cancel()
			require.NoError(t, err)
			t.Cleanup(q.Close)
			queues[node] = q
			nodes[node] = scheduler.NewScheduler(scheduler.SchedulerOptions{
				Store: s, Runs: s, Starter: b.starter, Elector: q, NodeID: node, Lease: lease,
				Logger: testLogger(t),
				OnFire: func(f scheduler.Fire) {
					mu.Lock()
					fired = append(fired, firedBy{node, f})
					mu.Unlock()
				},
			})
			require.NoError(t, nodes[node].Start(context.Background()))
			t.Cleanup(nodes[node].Stop)
		}
		snapshot := func() []firedBy {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(fired)
		}
		count := func(node string) int {
			n := 0
			for _, f := range snapshot() {
				if f.node == node {
					n++
				}
			}
			return n
		}

		require.Eventually(t, func() bool { return len(snapshot()) >= 3 }, 15*time.Second, 20*time.Millisecond)
		leader := snapshot()[0].node
		follower := map[string]string{"node-a": "node-b", "node-b": "node-a"}[leader]
		assert.Zero(t, count(follower), "only the leader fires")
		assert.True(t, nodes[leader].IsLeader())
		assert.False(t, nodes[follower].IsLeader())

		// The leader's NATS connection dies: it cannot renew its lease and
		// stops firing; the follower is elected once the lease expires.
		killed := time.Now()
		queues[leader].Close()
		require.Eventually(t, func() bool { return count(follower) >= 1 }, 10*time.Second, 10*time.Millisecond)
		takeover := time.Since(killed)
		t.Logf("takeover after %s", takeover)
		assert.Less(t, takeover, 3*lease+2*time.Second, "the follower takes over within the lease and a fire interval")
		require.Eventually(t, func() bool { return count(follower) >= 3 }, 10*time.Second, 20*time.Millisecond)
		nodes[leader].Stop()
		nodes[follower].Stop()
		assert.False(t, nodes[follower].IsLeader())

		// Every fire time once, as consecutive seconds; one run per fire, each
		// started by the schedule.
		all := snapshot()
		var times []time.Time
		for i, f := range all {
			assert.Equal(t, scheduler.OutcomeStarted, f.fire.Outcome)
			times = append(times, f.fire.At)
			if i > 0 && all[i-1].node == follower {
				assert.Equal(t, follower, f.node, "the old leader never fires again")
			}
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(times); i++ {
			assert.Equal(t, time.Second, times[i].Sub(times[i-1]), "fire %d: %s after %s", i, times[i], times[i-1])
		}
		records, err := b.svc.Fires(b.ctx, sc.ID, 100)
		require.NoError(t, err)
		assert.Len(t, records, len(all), "the fire records agree")
		runs := b.starter.started()
		require.Len(t, runs, len(all), "one run per fire time")
		ids := map[string]bool{}
		for _, r := range runs {
			assert.Equal(t, run.Trigger{Kind: run.TriggerSchedule, Actor: sc.ID}, r.Trigger)
			ids[r.ID] = true
		}
		for _, f := range records {
			assert.True(t, ids[f.RunID], "fire %s names a run that started", f.At)
		}
		got := b.get(t, sc.ID)
		assert.Equal(t, times[len(times)-1], *got.LastFireAt)
	})
}

// TestTwoLeadersStillFireOnce runs two schedulers that both believe they
// lead (no election: a lease that outlived its holder's pause looks like
// this): the compare-and-set in the database still lets each fire time
// start one run.
func TestTwoLeadersStillFireOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		b.svc = scheduler.NewService(s, jobs{b.job.ID: b.job})
		b.starter.now = core.Now
		sc := b.create(t, "* * * * * *", func(in *scheduler.CreateInput) { in.Overlap = scheduler.OverlapAllow })
		var mu sync.Mutex
		seen := map[time.Time]int{}
		for range 2 {
			sch := scheduler.NewScheduler(scheduler.SchedulerOptions{
				Store: s, Runs: s, Starter: b.starter, Logger: testLogger(t),
				OnFire: func(f scheduler.Fire) { mu.Lock(); seen[f.At]++; mu.Unlock() },
			})
			require.NoError(t, sch.Start(context.Background()))
			t.Cleanup(sch.Stop)
		}
		require.Eventually(t, func() bool { return len(b.starter.started()) >= 4 }, 15*time.Second, 20*time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		for at, n := range seen {
			assert.Equal(t, 1, n, "fire time %s", at)
		}
		records, err := b.svc.Fires(b.ctx, sc.ID, 100)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(records), 4)
	})
}
