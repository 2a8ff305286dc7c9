package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// BenchmarkRunStartup is issue 10's benchmark 2: the start-up of a large
// run. N inventory hosts (seeded with raw INSERTs, not measured) match the
// selector of a one-step job; each iteration calls RunJob and measures
//
//   - commit_ms: RunJob's return, i.e. the targets resolved and the run,
//     its step run and N tasks committed;
//   - first_ms: the first task message delivered by the queue to a
//     consumer standing in for a worker (it acks and records the time);
//   - stmts: the SQL statements the store ran between the call and the
//     first delivery (OnStatement; BEGIN/COMMIT not counted).
//
// The run is then canceled and awaited, outside the measurement, so that
// runs do not overlap. Every figure is the median of b.N runs on one
// database (which thus holds b.N×N tasks by the end); each run prints one
// JSON line (BENCH_JSON) and the benchmark reports the medians.
//
//	go test -run '^$' -bench RunStartup -benchtime 5x ./core/engine/
//
// STARTUP_HOSTS overrides N (default 10000).
func BenchmarkRunStartup(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("STARTUP_HOSTS")); err == nil && v > 0 {
		n = v
	}
	for _, d := range []store.Dialect{store.SQLite, store.MySQL} {
		var env *startupEnv
		b.Run(fmt.Sprintf("%s/hosts=%d", d, n), func(sb *testing.B) {
			if env == nil {
				env = newStartupEnv(b, d, n) // on the parent: reused by the sub-benchmark's reruns
			}
			env.bench(sb)
		})
	}
}

type startupEnv struct {
	d     store.Dialect
	n     int
	s     *store.Store
	e     *engine.Engine
	jobID string
	stmts atomic.Int64
	trace chan stmtAt // STARTUP_TRACE=1: every statement, for a timeline
	first chan string // run IDs of delivered messages
}

func newStartupEnv(b *testing.B, d store.Dialect, n int) *startupEnv {
	ctx := context.Background()
	s := storetest.New(b, d)
	env := &startupEnv{d: d, n: n, s: s, first: make(chan string, 1024)}
	now := time.Now().UTC()
	p := project.Project{ID: core.NewID(core.KindProject), Name: "bench", CreatedAt: now, UpdatedAt: now}
	require.NoError(b, s.CreateProject(ctx, p))
	db, err := s.SQLDB()
	require.NoError(b, err)
	hosts := make([][]any, n)
	labels := make([][]any, 0, 2*n)
	for i := range n {
		id := core.NewID(core.KindHost)
		hosts[i] = []any{id, p.ID, fmt.Sprintf("host%05d", i), fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), "linux", now, now}
		labels = append(labels, []any{id, "fleet", "bench"}, []any{id, "rack", strconv.Itoa(i % 40)})
	}
	require.NoError(b, storetest.Insert(ctx, db, "hosts", []string{"id", "project_id", "name", "address", "os", "created_at", "updated_at"}, hosts, 100))
	require.NoError(b, storetest.Insert(ctx, db, "host_labels", []string{"host_id", "label_key", "label_value"}, labels, 100))

	key, err := secrets.GenerateKey()
	require.NoError(b, err)
	ring, err := secrets.NewKeyring(key)
	require.NoError(b, err)
	inv := inventory.NewService(s, ring)
	jobs := job.NewService(s, anySchemas{})
	q, err := queue.Open(ctx, queue.Options{DataDir: b.TempDir(), AckWait: 30 * time.Second, Logger: testLogger()})
	require.NoError(b, err)
	b.Cleanup(q.Close)
	e := engine.New(engine.Options{Store: s, Jobs: jobs, Inventory: inv, Projects: project.NewService(s, nil), Schemas: anySchemas{},
		Queue: q, Logger: testLogger(), Approvals: s})
	require.NoError(b, e.Start(ctx))
	b.Cleanup(e.Stop)
	env.e = e
	// The stand-in worker: it takes every message, says which run it
	// belongs to, and acks it (the task stays queued until canceled).
	cons, err := q.Consume(ctx, queue.ConsumerOptions{MaxInFlight: 64}, func(_ context.Context, d *queue.Delivery) error {
		select {
		case env.first <- d.Message.RunID:
		default:
		}
		return nil
	})
	require.NoError(b, err)
	b.Cleanup(cons.Stop)
	j, err := jobs.Create(ctx, job.CreateInput{ProjectID: p.ID, Name: "startup", Spec: job.Spec{Steps: []job.Step{
		{Name: "one", Executor: "fake", Action: "echo", Params: json.RawMessage(`{"msg":"hi"}`), Targets: job.Targets{Selector: "fleet=bench"}},
	}}})
	require.NoError(b, err)
	env.jobID = j.ID
	if os.Getenv("STARTUP_TRACE") != "" {
		env.trace = make(chan stmtAt, 100000)
	}
	s.OnStatement(func(_ context.Context, sql string) {
		env.stmts.Add(1)
		if env.trace != nil {
			select {
			case env.trace <- stmtAt{time.Now(), sql}:
			default:
			}
		}
	})
	b.Cleanup(func() { s.OnStatement(nil) })
	return env
}

func (env *startupEnv) bench(b *testing.B) {
	ctx := context.Background()
	var commit, first, stmts []float64
	for range b.N {
		b.StopTimer()
		env.drain()
		env.stmts.Store(0)
		b.StartTimer()
		t0 := time.Now()
		r, err := env.e.RunJob(ctx, engine.RunJobRequest{JobID: env.jobID})
		require.NoError(b, err)
		tCommit := time.Since(t0)
		for id := range env.first {
			if id == r.ID {
				break
			}
		}
		tFirst := time.Since(t0)
		nStmts := env.stmts.Load()
		b.StopTimer()
		env.printTrace(t0, tFirst)
		commit = append(commit, ms(tCommit))
		first = append(first, ms(tFirst))
		stmts = append(stmts, float64(nStmts))
		fmt.Printf("BENCH_JSON {\"bench\":\"run_startup\",\"b_n\":%d,\"dialect\":%q,\"hosts\":%d,\"commit_ms\":%.1f,\"first_task_ms\":%.1f,\"tasks_per_s\":%.0f,\"sql_statements\":%d}\n",
			b.N, env.d, env.n, ms(tCommit), ms(tFirst), float64(env.n)/tCommit.Seconds(), nStmts)
		_, err = env.e.CancelRun(ctx, r.ID)
		require.NoError(b, err)
		env.waitFinal(b, r.ID)
		b.StartTimer()
	}
	b.ReportMetric(median(commit), "commit_ms")
	b.ReportMetric(median(first), "first_task_ms")
	b.ReportMetric(float64(env.n)/median(commit)*1000, "tasks/s")
	b.ReportMetric(median(stmts), "sql_stmts")
}

// drain forgets deliveries of earlier runs.
func (env *startupEnv) drain() {
	for {
		select {
		case <-env.first:
		default:
			return
		}
	}
}

func (env *startupEnv) waitFinal(b *testing.B, id string) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for {
		r, err := env.s.GetRun(context.Background(), id)
		require.NoError(b, err)
		if r.Status.Final() {
			require.Equal(b, run.RunCanceled, r.Status)
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			b.Fatalf("run %s still %s", id, r.Status)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type stmtAt struct {
	at  time.Time
	sql string
}

// printTrace prints the statements run up to the first delivery, runs of
// the same statement folded into one line with their count.
func (env *startupEnv) printTrace(t0 time.Time, until time.Duration) {
	if env.trace == nil {
		return
	}
	var last string
	var n int
	var from time.Duration
	flush := func(to time.Duration) {
		if n > 0 {
			fmt.Printf("  %8.1f–%8.1f ms  %4dx  %.110s\n", ms(from), ms(to), n, last)
		}
	}
	for {
		select {
		case st := <-env.trace:
			d := st.at.Sub(t0)
			if d > until {
				continue
			}
			key := st.sql
			if i := strings.Index(key, "VALUES"); i > 0 {
				key = key[:i]
			}
			if key != last {
				flush(d)
				last, n, from = key, 0, d
			}
			n++
		default:
			flush(until)
			return
		}
	}
}
