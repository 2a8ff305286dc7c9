package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/internal/testlog"
)

// externalURL is the NATS with JetStream that runs on the development and CI
// machines. An unreachable server fails the external-mode tests: never skipped.
const externalURL = "nats://127.0.0.1:4222"

const waitLong = 15 * time.Second // deadline for things that must happen

// testLogger sends warnings and errors to t (package testlog).
func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelWarn) }

func randHex(t testing.TB) string {
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

type mode string

const (
	embedded mode = "embedded"
	external mode = "external"
)

var modes = []mode{embedded, external}

// openQueue opens a queue in mode m. External queues get a stream and subject
// prefix of their own, deleted at cleanup.
func openQueue(t testing.TB, m mode, mut func(*Options)) *Queue {
	t.Helper()
	opts := Options{Logger: testLogger(t)}
	if m == embedded {
		opts.DataDir = t.TempDir()
	} else {
		id := randHex(t)
		opts.URL = externalURL
		opts.Stream = "JGTEST_" + id
		opts.SubjectPrefix = "jgtest." + id
	}
	if mut != nil {
		mut(&opts)
	}
	return openWith(t, opts)
}

func openWith(t testing.TB, opts Options) *Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	q, err := Open(ctx, opts)
	require.NoError(t, err, "open queue (is NATS running at %s for the external mode?)", externalURL)
	t.Cleanup(func() {
		if q.ns == nil && opts.URL != "" && q.opts.Stream != DefaultStream {
			q.stopConsumers()
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			assert.NoError(t, q.js.DeleteStream(ctx, q.opts.Stream))
			names := q.js.StreamNames(ctx)
			for n := range names.Name() {
				if strings.HasPrefix(n, "KV_"+q.opts.Stream+"_leader_") {
					assert.NoError(t, q.js.DeleteStream(ctx, n))
				}
			}
			assert.NoError(t, names.Err())
		}
		q.Close()
	})
	return q
}

// stopConsumers stops this queue's consumers (test helper, so that the
// external stream can be deleted before the connection drains).
func (q *Queue) stopConsumers() {
	q.mu.Lock()
	cs := make([]*Consumer, 0, len(q.consumers))
	for c := range q.consumers {
		cs = append(cs, c)
	}
	q.mu.Unlock()
	for _, c := range cs {
		c.Stop()
	}
}

// secondClient connects another client (another "worker process") to the
// same server as q. Closing its connection simulates that worker's death.
func secondClient(t testing.TB, q *Queue) *Queue {
	t.Helper()
	q2 := &Queue{opts: q.opts, log: q.log, ns: q.ns, consumers: map[*Consumer]struct{}{}}
	require.NoError(t, q2.connect())
	q2.ns = nil // not its server to shut down
	t.Cleanup(q2.Close)
	return q2
}

func consume(t testing.TB, q *Queue, opts ConsumerOptions, h Handler) *Consumer {
	t.Helper()
	c, err := q.Consume(context.Background(), opts, h)
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	return c
}

func publish(t testing.TB, q *Queue, m TaskMessage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	require.NoError(t, q.Publish(ctx, m))
}

func task(id string) TaskMessage {
	return TaskMessage{TaskID: id, RunID: "run-1", ProjectID: "proj-1", Executor: "ssh", Attempt: 1, Priority: 3}
}

// delivery is what a recording handler saw.
type delivery struct {
	Message      TaskMessage
	NumDelivered int
}

// recorder returns a handler that reports every delivery on a channel and
// then returns result(d).
func recorder(result func(ctx context.Context, d *Delivery) error) (Handler, <-chan delivery) {
	ch := make(chan delivery, 100)
	return func(ctx context.Context, d *Delivery) error {
		ch <- delivery{d.Message, d.NumDelivered}
		if result == nil {
			return nil
		}
		return result(ctx, d)
	}, ch
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLong):
		require.FailNow(t, "timed out waiting for "+what)
		panic("unreachable")
	}
}

// noRecv asserts that nothing arrives on ch during d.
func noRecv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		require.FailNow(t, fmt.Sprintf("unexpected %s: %+v", what, v))
	case <-timer.C:
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		<-tick.C
	}
}

func depth(t testing.TB, q *Queue) uint64 {
	t.Helper()
	n, err := q.Depth(context.Background())
	require.NoError(t, err)
	return n
}

func noBackoff(int) time.Duration { return 0 }

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			q := openQueue(t, m, nil)
			h, got := recorder(nil)
			consume(t, q, ConsumerOptions{}, h)

			want := task("t-" + string(m))
			publish(t, q, want)
			d := recv(t, got, "delivery")
			assert.Equal(t, want, d.Message)
			assert.Equal(t, 1, d.NumDelivered)
			eventually(t, func() bool { return depth(t, q) == 0 }, "the acked message to leave the stream")
		})
	}
}

// A pool's tasks in flight are bounded by its workers' slots only, not by
// JetStream's default MaxAckPending (1,000): issue 10, benchmark 3.
func TestMoreThanAThousandInFlight(t *testing.T) {
	t.Parallel()
	const n = 1100
	q := openQueue(t, embedded, nil)
	release := make(chan struct{})
	all := make(chan struct{})
	var running atomic.Int64
	consume(t, q, ConsumerOptions{MaxInFlight: n}, func(ctx context.Context, _ *Delivery) error {
		if running.Add(1) == n {
			close(all)
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	for i := range n {
		publish(t, q, task(fmt.Sprintf("t-%d", i)))
	}
	recv(t, all, fmt.Sprintf("%d handlers running at once (%d are)", n, running.Load()))
	close(release)
	eventually(t, func() bool { return depth(t, q) == 0 }, "the acked messages to leave the stream")
}

// A run's tasks are published in one PublishAll; 10,000 at once passed the
// client's limit of outstanding async publishes when the acknowledgements
// lagged (issue 10, benchmark 3). Here three runs publish theirs together.
func TestPublishAllManyAtOnce(t *testing.T) {
	t.Parallel()
	const runs, n = 3, 10000
	q := openQueue(t, embedded, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errs := make(chan error, runs)
	for r := range runs {
		ms := make([]TaskMessage, n)
		for i := range ms {
			ms[i] = task(fmt.Sprintf("t-%d-%d", r, i))
		}
		go func() { errs <- q.PublishAll(ctx, ms) }()
	}
	for range runs {
		require.NoError(t, recv(t, errs, "PublishAll"))
	}
	assert.EqualValues(t, runs*n, depth(t, q))
}

func TestPublishDeduplicatesSameAttempt(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	m := task("t-dup")
	publish(t, q, m)
	publish(t, q, m) // the rescuer re-publishing after a crash
	assert.EqualValues(t, 1, depth(t, q))
	m.Attempt = 2 // a retry is a new message
	publish(t, q, m)
	assert.EqualValues(t, 2, depth(t, q))

	h, got := recorder(nil)
	consume(t, q, ConsumerOptions{}, h)
	assert.Equal(t, 1, recv(t, got, "attempt 1").Message.Attempt)
	assert.Equal(t, 2, recv(t, got, "attempt 2").Message.Attempt)
	noRecv(t, got, 300*time.Millisecond, "duplicate delivery")
}

func TestHandlerErrorIsRedelivered(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			q := openQueue(t, m, nil)
			h, got := recorder(func(_ context.Context, d *Delivery) error {
				if d.NumDelivered == 1 {
					return errors.New("host unreachable")
				}
				return nil
			})
			consume(t, q, ConsumerOptions{Backoff: noBackoff}, h)
			publish(t, q, task("t-retry"))
			assert.Equal(t, 1, recv(t, got, "first delivery").NumDelivered)
			assert.Equal(t, 2, recv(t, got, "redelivery").NumDelivered)
			eventually(t, func() bool { return depth(t, q) == 0 }, "the acked message to leave the stream")
		})
	}
}

func TestHeartbeatKeepsLease(t *testing.T) {
	t.Parallel()
	const ackWait = time.Second
	q := openQueue(t, embedded, func(o *Options) { o.AckWait = ackWait })
	release := make(chan struct{})
	h, got := recorder(func(ctx context.Context, _ *Delivery) error {
		select { // a task that runs longer than the ack wait
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	// Room for a redelivery in this worker and in another one.
	consume(t, q, ConsumerOptions{MaxInFlight: 2}, h)
	consume(t, secondClient(t, q), ConsumerOptions{MaxInFlight: 2}, h)

	publish(t, q, task("t-long"))
	assert.Equal(t, 1, recv(t, got, "delivery").NumDelivered)
	noRecv(t, got, 5*ackWait/2, "redelivery of a task whose handler still heartbeats")
	close(release)
	eventually(t, func() bool { return depth(t, q) == 0 }, "the acked message to leave the stream")
}

func TestDeadWorkerTaskIsRedelivered(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			const ackWait = time.Second
			q := openQueue(t, m, func(o *Options) { o.AckWait = ackWait })
			doomed := secondClient(t, q)

			hA, gotA := recorder(func(ctx context.Context, _ *Delivery) error {
				<-ctx.Done() // never finishes on its own
				return ctx.Err()
			})
			consume(t, doomed, ConsumerOptions{}, hA)
			publish(t, q, task("t-orphan"))
			recv(t, gotA, "first delivery to the doomed worker")

			hB, gotB := recorder(nil)
			consume(t, q, ConsumerOptions{}, hB)
			start := time.Now()
			doomed.nc.Close() // the worker dies: no ack, no more heartbeats

			d := recv(t, gotB, "redelivery to the surviving worker")
			assert.Equal(t, 2, d.NumDelivered)
			assert.Equal(t, "t-orphan", d.Message.TaskID)
			assert.GreaterOrEqual(t, time.Since(start), ackWait/2, "redelivered only once the lease ran out")
			eventually(t, func() bool { return depth(t, q) == 0 }, "the acked message to leave the stream")
		})
	}
}

func TestStopCancelsHandlersAndReleasesTasks(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil) // AckWait 30s: only a nak can hand the task over in time
	started := make(chan struct{}, 1)
	var returned atomic.Bool
	c, err := q.Consume(context.Background(), ConsumerOptions{}, func(ctx context.Context, _ *Delivery) error {
		started <- struct{}{}
		<-ctx.Done()
		returned.Store(true)
		return ctx.Err()
	})
	require.NoError(t, err)
	publish(t, q, task("t-stop"))
	recv(t, started, "handler start")
	c.Stop()
	assert.True(t, returned.Load(), "Stop waits for the handler")
	recv(t, c.Done(), "done")
	c.Stop() // idempotent

	h, got := recorder(nil)
	consume(t, q, ConsumerOptions{}, h)
	assert.Equal(t, 2, recv(t, got, "the released task").NumDelivered)
}

func TestCancelContextStopsConsumer(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	ctx, cancel := context.WithCancel(context.Background())
	h, got := recorder(nil)
	c, err := q.Consume(ctx, ConsumerOptions{}, h)
	require.NoError(t, err)
	publish(t, q, task("t-1"))
	recv(t, got, "delivery")
	cancel()
	recv(t, c.Done(), "consumer stop")
	publish(t, q, task("t-2"))
	noRecv(t, got, 200*time.Millisecond, "delivery after cancel")
}

func TestMaxDeliverDeadLetters(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, func(o *Options) { o.MaxDeliver = 2 })
	type dead struct {
		d   delivery
		err error
	}
	deadCh := make(chan dead, 10)
	h, got := recorder(func(context.Context, *Delivery) error { return errors.New("always fails") })
	consume(t, q, ConsumerOptions{
		Backoff: noBackoff,
		OnDeadLetter: func(d *Delivery, err error) {
			deadCh <- dead{delivery{d.Message, d.NumDelivered}, err}
		},
	}, h)
	publish(t, q, task("t-poison"))
	assert.Equal(t, 1, recv(t, got, "delivery 1").NumDelivered)
	assert.Equal(t, 2, recv(t, got, "delivery 2").NumDelivered)
	dl := recv(t, deadCh, "dead letter")
	assert.Equal(t, "t-poison", dl.d.Message.TaskID)
	assert.Equal(t, 2, dl.d.NumDelivered)
	assert.EqualError(t, dl.err, "always fails")
	noRecv(t, got, 500*time.Millisecond, "delivery after the dead letter")
	assert.Empty(t, deadCh)
	eventually(t, func() bool { return depth(t, q) == 0 }, "the terminated message to leave the stream")
}

func TestPoolsAreIsolated(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			q := openQueue(t, m, nil)
			pools := []string{"", "zone-a", "zone-b"}
			got := map[string]<-chan delivery{}
			for _, p := range pools {
				h, ch := recorder(nil)
				got[p] = ch
				consume(t, q, ConsumerOptions{Pool: p}, h)
			}
			// And a pool whose workers only serve winrm.
			hw, winrm := recorder(nil)
			consume(t, q, ConsumerOptions{Pool: "windows", Executors: []string{"winrm"}}, hw)

			for _, p := range pools {
				for i := range 3 {
					tm := task(fmt.Sprintf("t-%s-%d", p, i))
					tm.Pool = p
					publish(t, q, tm)
				}
			}
			for _, p := range pools {
				for range 3 {
					d := recv(t, got[p], "delivery to pool "+p)
					assert.Equal(t, p, d.Message.Pool, "pool %q got another pool's task", p)
				}
			}
			tm := task("t-win")
			tm.Pool, tm.Executor = "windows", "winrm"
			publish(t, q, tm)
			assert.Equal(t, "t-win", recv(t, winrm, "winrm delivery").Message.TaskID)
			for _, p := range pools {
				noRecv(t, got[p], 100*time.Millisecond, "extra delivery to pool "+p)
			}

			// A worker of pool "windows" that serves other executors would
			// starve the first: refused.
			_, err := q.Consume(context.Background(),
				ConsumerOptions{Pool: "windows", Executors: []string{"ssh"}}, hw)
			require.ErrorIs(t, err, core.ErrConflict)
			// The same set is fine: the workers share the durable.
			consume(t, secondClient(t, q), ConsumerOptions{Pool: "windows", Executors: []string{"winrm"}}, hw)
		})
	}
}

func TestEmbeddedRestartKeepsUnackedMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A lease held when the server stopped may survive the restart (the
	// consumer's state is written asynchronously): it then runs out after
	// AckWait, kept short here.
	opts := Options{DataDir: dir, Logger: testLogger(t), AckWait: time.Second}

	q1, err := Open(context.Background(), opts)
	require.NoError(t, err)
	publish(t, q1, task("t-leased"))
	publish(t, q1, task("t-waiting"))
	h, got := recorder(func(ctx context.Context, _ *Delivery) error {
		<-ctx.Done() // still running when the server stops
		return ctx.Err()
	})
	_, err = q1.Consume(context.Background(), ConsumerOptions{}, h)
	require.NoError(t, err)
	assert.Equal(t, "t-leased", recv(t, got, "delivery before restart").Message.TaskID)
	q1.Close()
	q1.Close() // idempotent

	q2 := openWith(t, opts)
	assert.EqualValues(t, 2, depth(t, q2))
	h2, got2 := recorder(nil)
	consume(t, q2, ConsumerOptions{}, h2)
	seen := map[string]int{}
	for range 2 {
		d := recv(t, got2, fmt.Sprintf("delivery after restart (seen %v)", seen))
		seen[d.Message.TaskID] = d.NumDelivered
	}
	assert.Equal(t, map[string]int{"t-leased": 2, "t-waiting": 1}, seen)
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	_, err := Open(ctx, Options{})
	require.ErrorIs(t, err, core.ErrInvalidInput)
	assert.Equal(t, "dataDir", core.FieldOf(err))

	_, err = Open(ctx, Options{URL: "nats://jobgraph:s3cret@127.0.0.1:1", Logger: testLogger(t)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "127.0.0.1:1")
	assert.NotContains(t, err.Error(), "s3cret")

	assert.Equal(t, "nats://tok:xxxxx@a:4222,nats://xxxxx@b:4222,nats://c:4222",
		RedactURL("nats://tok:pw@a:4222,nats://secrettoken@b:4222,nats://c:4222"))
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	ctx := context.Background()
	for name, m := range map[string]TaskMessage{
		"taskId":   {Executor: "ssh"},
		"executor": {TaskID: "t", Executor: "ss.h"},
		"pool":     {TaskID: "t", Executor: "ssh", Pool: "any"},
	} {
		err := q.Publish(ctx, m)
		require.ErrorIs(t, err, core.ErrInvalidInput, name)
		assert.Equal(t, name, core.FieldOf(err))
	}
	h, _ := recorder(nil)
	for name, o := range map[string]ConsumerOptions{
		"pool":        {Pool: "a>b"},
		"name":        {Name: "a.b"},
		"executors":   {Executors: []string{"*"}},
		"maxInFlight": {MaxInFlight: -1},
	} {
		_, err := q.Consume(ctx, o, h)
		require.ErrorIs(t, err, core.ErrInvalidInput, name)
		assert.Equal(t, name, core.FieldOf(err))
	}
}

// campaign runs Leader in the background and reports its result.
func campaign(q *Queue, ctx context.Context, node string, ttl time.Duration) <-chan *Leadership {
	ch := make(chan *Leadership, 1)
	go func() {
		l, err := q.Leader(ctx, "scheduler", node, ttl)
		if err != nil {
			close(ch)
			return
		}
		ch <- l
	}()
	return ch
}

func TestLeaderElection(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			const ttl = time.Second
			q := openQueue(t, m, nil)
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)

			a := recv(t, campaign(q, ctx, "node-a", ttl), "node-a elected")
			require.NotNil(t, a)
			assert.Equal(t, "node-a", a.NodeID())

			// node-b waits while node-a renews (across more than one TTL).
			bq := secondClient(t, q)
			bCh := campaign(bq, ctx, "node-b", ttl)
			noRecv(t, bCh, 3*ttl/2, "node-b elected while node-a renews")
			select {
			case <-a.Lost():
				require.FailNow(t, "node-a lost a leadership it kept renewing")
			default:
			}

			// node-a resigns: node-b takes over.
			a.Resign()
			a.Resign() // idempotent
			recv(t, a.Lost(), "node-a lost")
			require.Error(t, a.Context().Err())
			b := recv(t, bCh, "node-b elected")
			require.NotNil(t, b)

			// node-b's process dies: its renewals fail, it learns it lost, and
			// node-c is elected once the key has expired.
			cCh := campaign(q, ctx, "node-c", ttl)
			bq.nc.Close()
			recv(t, b.Lost(), "node-b lost")
			c := recv(t, cCh, "node-c elected")
			require.NotNil(t, c)

			// node-c restarts under the same ID: it takes its key back at once.
			c2 := recv(t, campaign(q, ctx, "node-c", ttl), "node-c re-elected")
			require.NotNil(t, c2)
			recv(t, c.Lost(), "the old node-c incarnation lost (its revision is stale)")

			// Cancelling the campaign ctx ends the leadership and frees the key.
			cancel()
			recv(t, c2.Lost(), "node-c lost on cancel")
		})
	}
}

func TestLeaderInvalidInput(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	for field, call := range map[string]func() error{
		"name":   func() error { _, err := q.Leader(context.Background(), "a.b", "n", time.Second); return err },
		"nodeId": func() error { _, err := q.Leader(context.Background(), "s", "", time.Second); return err },
		"ttl":    func() error { _, err := q.Leader(context.Background(), "s", "n", time.Millisecond); return err },
	} {
		err := call()
		require.ErrorIs(t, err, core.ErrInvalidInput, field)
		assert.Equal(t, field, core.FieldOf(err))
	}
}

// BenchmarkPublishConsume measures the embedded queue end to end: b.N tasks
// published (8 publishers, each waiting for the stream's ack) and consumed
// (64 handlers, double ack). Reported as msgs/s.
func BenchmarkPublishConsume(b *testing.B) {
	q := openQueue(b, embedded, nil)
	var consumed atomic.Int64
	all := make(chan struct{})
	n := int64(b.N)
	consume(b, q, ConsumerOptions{MaxInFlight: 64}, func(context.Context, *Delivery) error {
		if consumed.Add(1) == n {
			close(all)
		}
		return nil
	})
	b.ResetTimer()
	var wg sync.WaitGroup
	const publishers = 8
	for p := range publishers {
		wg.Go(func() {
			for i := p; i < b.N; i += publishers {
				if err := q.Publish(context.Background(), task(fmt.Sprintf("t-%d", i))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("consumed %d of %d", consumed.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
