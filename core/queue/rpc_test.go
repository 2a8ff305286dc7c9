package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type echoReq struct {
	N    int    `json:"n"`
	Text string `json:"text"`
}

type echoResp struct {
	Double int    `json:"double"`
	Upper  string `json:"upper"`
}

func serve[Req, Resp any](t testing.TB, q *Queue, op string, h func(context.Context, Req) (Resp, error)) *Service {
	t.Helper()
	s, err := Serve(context.Background(), q, op, h)
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

func TestRPCRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			q := openQueue(t, m, nil)
			serve(t, q, "echo", func(_ context.Context, r echoReq) (echoResp, error) {
				return echoResp{Double: 2 * r.N, Upper: fmt.Sprintf("<%s>", r.Text)}, nil
			})
			resp, err := Call[echoReq, echoResp](callCtx(t), q, "echo", echoReq{N: 21, Text: "hi"})
			require.NoError(t, err)
			assert.Equal(t, echoResp{Double: 42, Upper: "<hi>"}, resp)

			// Many calls at once, all answered, each with its own reply.
			const n = 200
			var wg sync.WaitGroup
			errs := make([]error, n)
			got := make([]echoResp, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = Call[echoReq, echoResp](callCtx(t), q, "echo", echoReq{N: i, Text: fmt.Sprint(i)})
				}()
			}
			wg.Wait()
			for i := range n {
				require.NoError(t, errs[i], "call %d", i)
				assert.Equal(t, echoResp{Double: 2 * i, Upper: fmt.Sprintf("<%d>", i)}, got[i], "call %d", i)
			}
		})
	}
}

func TestRPCNoServer(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	start := time.Now()
	_, err := Call[echoReq, echoResp](callCtx(t), q, "nobody", echoReq{})
	require.ErrorIs(t, err, ErrNoServer)
	assert.Less(t, time.Since(start), 2*time.Second, "no responders is known at once, not after the timeout")

	// A cancelled caller gets its context's error, not ErrNoServer.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Call[echoReq, echoResp](ctx, q, "nobody", echoReq{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestRPCRemoteErrorAndPanic(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	serve(t, q, "op", func(_ context.Context, r echoReq) (echoResp, error) {
		switch r.Text {
		case "fail":
			return echoResp{}, errors.New("task t-1 not found")
		case "panic":
			panic("boom")
		}
		return echoResp{Double: 2 * r.N}, nil
	})
	ctx := callCtx(t)

	_, err := Call[echoReq, echoResp](ctx, q, "op", echoReq{Text: "fail"})
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "task t-1 not found", re.Msg)
	assert.NotErrorIs(t, err, ErrNoServer)

	_, err = Call[echoReq, echoResp](ctx, q, "op", echoReq{Text: "panic"})
	require.ErrorAs(t, err, &re)
	assert.Contains(t, re.Msg, "panic")
	assert.Contains(t, re.Msg, "boom")

	// Still serving after the panic.
	resp, err := Call[echoReq, echoResp](ctx, q, "op", echoReq{N: 4})
	require.NoError(t, err)
	assert.Equal(t, 8, resp.Double)

	// A request the handler cannot decode is a remote error too.
	_, err = Call[string, echoResp](ctx, q, "op", "not an object")
	require.ErrorAs(t, err, &re)
	assert.Contains(t, re.Msg, "undecodable request")
}

func TestRPCReplicasAnswerOnce(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			q := openQueue(t, m, nil)
			var mu sync.Mutex
			seen := map[int]int{} // request → handler invocations
			perReplica := [2]atomic.Int64{}
			for i := range 2 {
				// Each replica on a connection of its own, as two server processes.
				rq := q
				if i == 1 {
					rq = secondClient(t, q)
				}
				serve(t, rq, "op", func(_ context.Context, r echoReq) (echoResp, error) {
					mu.Lock()
					seen[r.N]++
					mu.Unlock()
					perReplica[i].Add(1)
					return echoResp{Double: 2 * r.N}, nil
				})
			}
			const n = 200
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := Call[echoReq, echoResp](callCtx(t), q, "op", echoReq{N: i})
					assert.NoError(t, err)
					assert.Equal(t, 2*i, resp.Double)
				}()
			}
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, seen, n)
			for i := range n {
				assert.Equal(t, 1, seen[i], "request %d handled once", i)
			}
			t.Logf("replica 0: %d, replica 1: %d", perReplica[0].Load(), perReplica[1].Load())
		})
	}
}

func TestRPCStopWaitsForHandlers(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	var handlerCtxDone atomic.Bool
	s, err := Serve(context.Background(), q, "op", func(ctx context.Context, r echoReq) (echoResp, error) {
		started <- struct{}{}
		<-release // ignores ctx: Stop must still wait
		handlerCtxDone.Store(ctx.Err() != nil)
		return echoResp{Double: 2 * r.N}, nil
	})
	require.NoError(t, err)

	type result struct {
		resp echoResp
		err  error
	}
	callDone := make(chan result, 1)
	go func() {
		resp, err := Call[echoReq, echoResp](callCtx(t), q, "op", echoReq{N: 5})
		callDone <- result{resp, err}
	}()
	recv(t, started, "handler start")

	stopped := make(chan struct{})
	go func() { s.Stop(); close(stopped) }()
	noRecv(t, stopped, 200*time.Millisecond, "Stop return while a handler runs")
	close(release)
	recv(t, stopped, "Stop return")
	assert.True(t, handlerCtxDone.Load(), "Stop cancels the handlers' context")

	// The request being handled when Stop was called was still answered.
	r := recv(t, callDone, "reply to the request in flight")
	require.NoError(t, r.err)
	assert.Equal(t, 10, r.resp.Double)

	s.Stop() // idempotent
	start := time.Now()
	_, err = Call[echoReq, echoResp](callCtx(t), q, "op", echoReq{N: 1})
	require.ErrorIs(t, err, ErrNoServer)
	assert.Less(t, time.Since(start), 2*time.Second)
}

// Stopping a service under load: once Stop has returned no handler runs,
// and the handlers that ran were answered.
func TestRPCStopUnderLoad(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	var stopped atomic.Bool
	var running, late atomic.Int64
	s, err := Serve(context.Background(), q, "op", func(ctx context.Context, r echoReq) (echoResp, error) {
		if stopped.Load() {
			late.Add(1)
		}
		running.Add(1)
		<-ctx.Done() // busy until Stop
		return echoResp{Double: 2 * r.N}, nil
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var answered, noServer, timedOut atomic.Int64
	const n = rpcConcurrency + 100
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Call[echoReq, echoResp](ctx, q, "op", echoReq{N: i})
			switch {
			case err == nil:
				answered.Add(1)
			case ctx.Err() != nil:
				timedOut.Add(1)
			case errors.Is(err, ErrNoServer):
				noServer.Add(1)
			}
		}()
	}
	eventually(t, func() bool { return running.Load() == rpcConcurrency }, "every handler slot to be busy")
	s.Stop()
	stopped.Store(true)
	wg.Wait()
	assert.Zero(t, late.Load(), "handlers ran after Stop returned")
	assert.EqualValues(t, rpcConcurrency, answered.Load(), "the requests being handled were answered")
	// The requests that waited for a slot are answered "no server" at once,
	// so their callers try again rather than wait for the timeout.
	t.Logf("answered %d, no server at once %d, waited for the timeout %d",
		answered.Load(), noServer.Load(), timedOut.Load())
	assert.Zero(t, timedOut.Load(), "no caller waits for the timeout")
	assert.EqualValues(t, n, answered.Load()+noServer.Load())
}

func TestRPCServeContextStops(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Serve(ctx, q, "op", func(_ context.Context, r echoReq) (echoResp, error) { return echoResp{}, nil })
	require.NoError(t, err)
	_, err = Call[echoReq, echoResp](callCtx(t), q, "op", echoReq{})
	require.NoError(t, err)
	cancel()
	eventually(t, func() bool {
		_, err := Call[echoReq, echoResp](callCtx(t), q, "op", echoReq{})
		return errors.Is(err, ErrNoServer)
	}, "the service to stop with its context")
}

func TestCancelNoticeReachesEverySubscriber(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			q := openQueue(t, m, nil)
			q2 := secondClient(t, q)
			ch1, ch2 := make(chan CancelNotice, 10), make(chan CancelNotice, 10)
			unsub1, err := q.SubscribeCancel(func(n CancelNotice) { ch1 <- n })
			require.NoError(t, err)
			defer unsub1()
			unsub2, err := q2.SubscribeCancel(func(n CancelNotice) { ch2 <- n })
			require.NoError(t, err)
			// q2's subscription must have reached the server before q publishes.
			require.NoError(t, q2.nc.Flush())

			want := CancelNotice{Tasks: []string{"t-1", "t-2"}}
			require.NoError(t, q.PublishCancel(want))
			assert.Equal(t, want, recv(t, ch1, "notice on subscriber 1"))
			assert.Equal(t, want, recv(t, ch2, "notice on subscriber 2"))

			unsub2()
			require.NoError(t, q2.nc.Flush())
			require.NoError(t, q.PublishCancel(CancelNotice{Tasks: []string{"t-3"}}))
			assert.Equal(t, []string{"t-3"}, recv(t, ch1, "second notice").Tasks)
			noRecv(t, ch2, 100*time.Millisecond, "notice after unsubscribe")
		})
	}
}

func TestRestartEmbedded(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	var calls atomic.Int64
	serve(t, q, "op", func(_ context.Context, r echoReq) (echoResp, error) {
		calls.Add(1)
		return echoResp{Double: 2 * r.N}, nil
	})
	_, err := Call[echoReq, echoResp](callCtx(t), q, "op", echoReq{N: 1})
	require.NoError(t, err)

	publish(t, q, task("t-before-restart"))
	require.NoError(t, q.RestartEmbedded())

	// The connection reconnects (ReconnectWait is 1s) and resubscribes.
	eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := Call[echoReq, echoResp](ctx, q, "op", echoReq{N: 3})
		return err == nil && resp.Double == 6
	}, "Call to work again after the restart")

	// The message published before the restart survived it (a graceful
	// shutdown syncs the store), and new ones are taken too.
	h, got := recorder(nil)
	consume(t, q, ConsumerOptions{}, h)
	assert.Equal(t, "t-before-restart", recv(t, got, "delivery of the message published before the restart").Message.TaskID)
	publish(t, q, task("t-after-restart"))
	assert.Equal(t, "t-after-restart", recv(t, got, "delivery after the restart").Message.TaskID)
	eventually(t, func() bool { return depth(t, q) == 0 }, "the acked messages to leave the stream")

	// Cancel notices flow again too.
	ch := make(chan CancelNotice, 1)
	unsub, err := q.SubscribeCancel(func(n CancelNotice) { ch <- n })
	require.NoError(t, err)
	defer unsub()
	require.NoError(t, q.PublishCancel(CancelNotice{Tasks: []string{"t"}}))
	recv(t, ch, "cancel notice after the restart")

	// An external queue cannot be restarted.
	require.Error(t, openQueue(t, external, nil).RestartEmbedded())
}

// A consumer that was already running when the server restarted carries on.
func TestRestartEmbeddedRunningConsumer(t *testing.T) {
	t.Parallel()
	q := openQueue(t, embedded, nil)
	h, got := recorder(nil)
	consume(t, q, ConsumerOptions{PollWait: time.Second}, h)
	publish(t, q, task("t-1"))
	assert.Equal(t, "t-1", recv(t, got, "delivery before the restart").Message.TaskID)
	eventually(t, func() bool { return depth(t, q) == 0 }, "the ack")

	require.NoError(t, q.RestartEmbedded())
	eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return q.Publish(ctx, task("t-2")) == nil
	}, "publish to work again after the restart")
	assert.Equal(t, "t-2", recv(t, got, "delivery after the restart").Message.TaskID)
	eventually(t, func() bool { return depth(t, q) == 0 }, "the ack after the restart")
}
