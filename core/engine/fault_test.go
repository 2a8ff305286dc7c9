package engine_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// The fault tests break one part under a running run and check what the
// issue asks of every fault: the run ends, no task is counted twice (each
// ran one attempt), and every log line is stored once, in order.

// gatedRun starts a two-step run whose first step waits at the gate on
// every host, and returns once all three tasks are waiting.
func gatedRun(t *testing.T, b *bundle) run.Run {
	t.Helper()
	jobID := b.job(t,
		step("a", "gate", `{}`, job.Targets{Selector: "role=web"}),
		step("b", "echo", `{"msg":"after a"}`, job.Targets{Selector: "role=web"}, "a"))
	r, err := b.e.RunJob(context.Background(), engine.RunJobRequest{JobID: jobID})
	require.NoError(t, err)
	for range 3 {
		select {
		case <-b.fake.blocked:
		case <-time.After(30 * time.Second):
			t.Fatal("the tasks did not reach the gate")
		}
	}
	return r
}

// checkOnceEach asserts that the run succeeded with every task at its
// first attempt and each log exactly as the executor wrote it.
func checkOnceEach(t *testing.T, b *bundle, r run.Run) {
	t.Helper()
	r = b.wait(t, r.ID)
	require.Equal(t, run.RunSucceeded, r.Status)
	want := map[string]string{"a": "before gate\nafter gate\n", "b": "after a\n"}
	for name, tasks := range b.tasks(t, r.ID) {
		require.Len(t, tasks, 3, name)
		for _, task := range tasks {
			require.Equal(t, run.TaskSucceeded, task.Status, "%s on %s", name, task.HostName)
			require.Equal(t, 1, task.Attempt, "%s on %s ran once", name, task.HostName)
			logs, err := b.e.ReadLogs(context.Background(), task.ID, 0, 100)
			require.NoError(t, err)
			var got strings.Builder
			for i, c := range logs {
				require.Equal(t, int64(i+1), c.Seq)
				got.WriteString(string(c.Data))
			}
			require.Equal(t, want[name], got.String(), "%s on %s", name, task.HostName)
		}
	}
}

// TestFaultEmbeddedNATSRestart restarts the embedded NATS server while
// tasks run: the worker's reports wait for it, the messages it holds are
// settled or come back and are dropped, and the run ends as if nothing
// happened.
func TestFaultEmbeddedNATSRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		r := gatedRun(t, b)
		require.NoError(t, b.q.RestartEmbedded())
		close(b.fake.gate)
		checkOnceEach(t, b, r)
	})
}

// TestFaultDatabaseBlip cuts the engine from MariaDB while tasks run and
// finish: reports fail and are retried, the run loop retries, and once the
// database is back the run ends with nothing lost or counted twice.
func TestFaultDatabaseBlip(t *testing.T) {
	dsn := storetest.NewDSN(t, store.MySQL)
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	proxy := startProxy(t, cfg.Addr)
	cfg.Addr = proxy.addr()
	s, err := store.Open(context.Background(), store.Options{DSN: cfg.FormatDSN(), DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	_, err = s.Migrate(context.Background())
	require.NoError(t, err)

	b := setup(t, s)
	r := gatedRun(t, b)
	proxy.cut()
	close(b.fake.gate) // the tasks end while the database is away
	// Hold the outage until the engine and the worker have been refused a
	// few times.
	require.Eventually(t, func() bool { return proxy.refused.Load() >= 5 }, 30*time.Second, 5*time.Millisecond)
	proxy.restore()
	checkOnceEach(t, b, r)
}

// proxy forwards TCP connections to a server until cut: then it closes
// every open connection and refuses new ones until restore.
type proxy struct {
	ln      net.Listener
	target  string
	refused atomic.Int64

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if down {
			p.refused.Add(1)
			_ = c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
