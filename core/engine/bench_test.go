package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/core/worker"
)

// BenchmarkRunTinyTasks runs one step of tiny tasks (the fake's echo: one
// log line each) on N hosts through the whole path: planning, the queue,
// the worker's claim, logs and finish, and the run loop. It reports
// tasks/s. The executor is in process, so this measures jobgraph alone.
func BenchmarkRunTinyTasks(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.MySQL} {
		for _, n := range []int{1000} {
			b.Run(fmt.Sprintf("%s/hosts=%d", d, n), func(b *testing.B) {
				s := storetest.New(b, d)
				bb := setup(b, s)
				ctx := context.Background()
				for i := range n {
					_, err := bb.inv.CreateHost(ctx, inventory.CreateHostInput{ProjectID: bb.p, Name: fmt.Sprintf("bench%04d", i),
						Address: "10.1.0.1", OS: inventory.OSLinux, Labels: map[string]string{"role": "bench"}})
					require.NoError(b, err)
				}
				// A worker with the default slots, as a server's own.
				w, err := worker.New(worker.Options{Queue: bb.q, Executors: bb.fake, Logger: testLogger()})
				require.NoError(b, err)
				require.NoError(b, w.Start(ctx))
				b.Cleanup(w.Stop)
				jobID := bb.job(b, step("a", "echo", `{"msg":"hi"}`, job.Targets{Selector: "role=bench"}))
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					r, err := bb.e.RunJob(ctx, engine.RunJobRequest{JobID: jobID})
					require.NoError(b, err)
					r = bb.wait(b, r.ID)
					require.Equal(b, run.RunSucceeded, r.Status)
				}
				b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "tasks/s")
			})
		}
	}
}
