//go:build linux

package host

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jobgraph/jobgraph/plugins/host/testdata/plugins/testexec"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// benchWorkers is how many goroutines submit tasks at once.
const benchWorkers = 256

// BenchmarkExecuteNoop runs b.N no-op tasks through one plugin process
// from 256 goroutines, and reports tasks/s and the CPU time per task of
// the host (this process) and of the plugin process. Run it as
//
//	go test -run '^$' -bench ExecuteNoop -benchtime 10000x ./plugins/host/
func BenchmarkExecuteNoop(b *testing.B) {
	bb := setup(b, testOptions(), src("good", "good"))
	if _, err := bb.host.Describe(b.Context(), "good"); err != nil {
		b.Fatal(err)
	}
	pid := bb.status(b, "good").PID
	exec := func(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
		return bb.host.Execute(ctx, "good", task, out)
	}
	runBench(b, exec, pid)
	if st := bb.status(b, "good"); st.PID != pid || st.Restarts != 0 {
		b.Fatalf("the plugin process changed during the benchmark: %+v", st)
	}
}

// BenchmarkExecuteInProcess runs the same executor in this process, for
// comparison: what the process boundary costs.
func BenchmarkExecuteInProcess(b *testing.B) {
	g := testexec.NewGood()
	runBench(b, g.Execute, 0)
}

func runBench(b *testing.B, exec func(context.Context, sdk.Task, sdk.Output) (sdk.Result, error), pluginPID int) {
	ctx := b.Context()
	var next, failed atomic.Int64
	var firstErr atomic.Value
	host0 := selfCPU()
	plugin0, _ := procCPU(pluginPID)
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			out := discardOutput{}
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				task := sdk.Task{ID: "t-" + strconv.FormatInt(i, 10), Action: "noop", Params: []byte(`{}`), Attempt: 1}
				res, err := exec(ctx, task, out)
				if err == nil && res.Status != sdk.StatusSucceeded {
					err = fmt.Errorf("status %v: %s", res.Status, res.Error)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d tasks failed, first: %v", n, b.N, firstErr.Load())
	}
	hostCPU := selfCPU() - host0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
	b.ReportMetric(perTask(hostCPU, b.N), "host-cpu-µs/task")
	total := hostCPU
	if pluginPID != 0 {
		plugin1, err := procCPU(pluginPID)
		if err != nil {
			b.Fatal(err)
		}
		total += plugin1 - plugin0
		b.ReportMetric(perTask(plugin1-plugin0, b.N), "plugin-cpu-µs/task")
	}
	b.ReportMetric(perTask(total, b.N), "cpu-µs/task")
	b.ReportMetric(0, "ns/op") // meaningless here: see tasks/s
}

func perTask(d time.Duration, n int) float64 {
	return float64(d.Microseconds()) / float64(n)
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user+system CPU time, from /proc/<pid>/stat
// (utime and stime, fields 14 and 15, in clock ticks of 1/100 s).
func procCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest) // f[0] is field 3
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %q", pid, data)
	}
	const clockTicks = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// discardOutput is an sdk.Output that drops everything.
type discardOutput struct{}

func (discardOutput) Stdout() io.Writer        { return io.Discard }
func (discardOutput) Stderr() io.Writer        { return io.Discard }
func (discardOutput) Progress(int, string)     {}
func (discardOutput) SetOutput(string, string) {}
