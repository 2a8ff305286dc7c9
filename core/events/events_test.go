package events_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/events"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
)

// external opens a connection to the NATS server the tests share, with a
// stream and prefix of its own: two calls with the same id are two
// replicas of one installation.
func external(t *testing.T, id string) *queue.Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, queue.Options{URL: "nats://127.0.0.1:4222", Stream: "JGEV_" + id, SubjectPrefix: "jgev." + id,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err, "NATS with JetStream must run at 127.0.0.1:4222")
	t.Cleanup(func() {
		q.Close()
		// Leave nothing behind on the shared server.
		nc, err := nats.Connect("nats://127.0.0.1:4222")
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := jetstream.New(nc); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = js.DeleteStream(ctx, "JGEV_"+id)
		}
	})
	return q
}

func newID(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func recv[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-c:
		require.True(t, ok, "channel closed")
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		panic("unreachable")
	}
}

// An event published on one replica reaches the subscribers of another:
// run and project subscriptions, and logs.
func TestEventsCrossReplicas(t *testing.T) {
	id := newID(t)
	a, b := events.New(external(t, id), nil), events.New(external(t, id), nil)
	ctx := context.Background()
	runSub, err := b.SubscribeRun(ctx, "prj_1", "run_1", 16)
	require.NoError(t, err)
	projSub, err := b.SubscribeProject(ctx, "prj_1", 16)
	require.NoError(t, err)
	logSub, err := b.SubscribeLogs(ctx, "run_1", "tsk_1", 16)
	require.NoError(t, err)

	a.PublishRun(events.RunEvent{Kind: events.KindRun, ProjectID: "prj_2", RunID: "run_9", RunStatus: run.RunRunning})
	a.PublishRun(events.RunEvent{Kind: events.KindTask, ProjectID: "prj_1", RunID: "run_1",
		Task: &events.TaskChange{ID: "tsk_1", Status: run.TaskRunning, Attempt: 1}})
	a.PublishRun(events.RunEvent{Kind: events.KindRun, ProjectID: "prj_1", RunID: "run_2", RunStatus: run.RunSucceeded})
	a.PublishLogs(events.LogEvent{RunID: "run_1", TaskID: "tsk_1", Chunks: []run.LogChunk{{Seq: 1, Stream: run.StreamStdout, Data: []byte("hi\n")}}})

	ev := recv(t, runSub.C)
	require.Equal(t, "tsk_1", ev.Task.ID)
	require.Equal(t, run.TaskRunning, ev.Task.Status)
	require.Equal(t, "run_1", recv(t, projSub.C).RunID, "another project's run is not in the project's stream")
	require.Equal(t, "run_2", recv(t, projSub.C).RunID)
	l := recv(t, logSub.C)
	require.Equal(t, "hi\n", string(l.Chunks[0].Data))
	require.Equal(t, int64(1), l.Chunks[0].Seq)

	runSub.Close()
	runSub.Close()
	_, ok := <-runSub.C
	require.False(t, ok, "Close closes C")
}

// A subscriber that does not read loses events beyond its buffer, counts
// them, and never holds up the publisher or another subscriber.
func TestEventsBoundedBuffer(t *testing.T) {
	id := newID(t)
	q := external(t, id)
	bus := events.New(q, nil)
	ctx := context.Background()
	slow, err := bus.SubscribeLogs(ctx, "run_1", "tsk_1", 4)
	require.NoError(t, err)
	defer slow.Close()
	fast, err := bus.SubscribeLogs(ctx, "run_1", "tsk_1", 1000)
	require.NoError(t, err)
	defer fast.Close()
	for i := range 100 {
		bus.PublishLogs(events.LogEvent{RunID: "run_1", TaskID: "tsk_1", Chunks: []run.LogChunk{{Seq: int64(i + 1), Stream: run.StreamStdout, Data: []byte("x")}}})
	}
	for i := range 100 {
		require.Equal(t, int64(i+1), recv(t, fast.C).Chunks[0].Seq, "in order, none lost")
	}
	require.NoError(t, q.Flush(ctx))
	require.Eventually(t, func() bool { return len(slow.C) == 4 }, 10*time.Second, time.Millisecond)
	var lost int64
	require.Eventually(t, func() bool { lost += slow.Lost(); return lost == 96 }, 10*time.Second, time.Millisecond)
	require.Zero(t, slow.Lost(), "Lost resets")
	require.Equal(t, int64(1), recv(t, slow.C).Chunks[0].Seq, "the first ones stayed")
}

// Subscribers of one subject share the bus's NATS subscription: both get
// every event, and closing one leaves the other served.
func TestEventsSharedSubject(t *testing.T) {
	bus := events.New(external(t, newID(t)), nil)
	ctx := context.Background()
	a, err := bus.SubscribeLogs(ctx, "run_1", "tsk_1", 16)
	require.NoError(t, err)
	b, err := bus.SubscribeLogs(ctx, "run_1", "tsk_1", 16)
	require.NoError(t, err)
	defer b.Close()
	bus.PublishLogs(events.LogEvent{RunID: "run_1", TaskID: "tsk_1", Chunks: []run.LogChunk{{Seq: 1, Stream: run.StreamStdout}}})
	require.Equal(t, int64(1), recv(t, a.C).Chunks[0].Seq)
	require.Equal(t, int64(1), recv(t, b.C).Chunks[0].Seq)
	a.Close()
	bus.PublishLogs(events.LogEvent{RunID: "run_1", TaskID: "tsk_1", Chunks: []run.LogChunk{{Seq: 2, Stream: run.StreamStdout}}})
	require.Equal(t, int64(2), recv(t, b.C).Chunks[0].Seq)
	c, err := bus.SubscribeLogs(ctx, "run_1", "tsk_1", 16)
	require.NoError(t, err)
	defer c.Close()
	bus.PublishLogs(events.LogEvent{RunID: "run_1", TaskID: "tsk_1", Chunks: []run.LogChunk{{Seq: 3, Stream: run.StreamStdout}}})
	require.Equal(t, int64(3), recv(t, b.C).Chunks[0].Seq)
	require.Equal(t, int64(3), recv(t, c.C).Chunks[0].Seq)
}
