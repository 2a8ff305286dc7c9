// Command inflight is issue 10's benchmark 3, tasks in flight: an ad-hoc
// `http` request on N inventory hosts (10,000 by default) through a real
// `jobgraph server` with one worker of N slots, against a local HTTP server
// (in this program) that answers each request after -hold (30 s).
//
//	inflight -jobgraph BIN [-n 10000] [-hold 30s] [-out FILE]
//
// The local server counts the requests it holds at once: the proof that all
// N are in flight together. Reported: the peak of requests held at once, the
// time from the adHocRun mutation to the first and to the N-th request held,
// the resident memory (VmRSS sampled every 200 ms, and VmHWM at the end) of
// the server process and of its http plugin process, and their total, the
// time to the run's end (SUCCEEDED, all N tasks), and the server tree's CPU.
// Memory per in-flight task is (peak total RSS - RSS before the run) / N.
//
// Setup, not measured: the server (temp data dir, SQLite, embedded NATS,
// --workers N), the project and the N hosts (label bench=inflight,
// 127.0.0.1). The open-file limit of this process (and so of the server and
// its plugins) is raised first: N sockets on each side.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobgraph/jobgraph/bench/internal/jgbench"
)

func main() {
	bin := flag.String("jobgraph", "", "path of the jobgraph binary")
	n := flag.Int("n", 10000, "tasks (hosts)")
	hold := flag.Duration("hold", 30*time.Second, "how long the local server holds each request")
	workers := flag.Int("workers", 0, "the server's --workers (0: n)")
	out := flag.String("out", "", "also append the result line to this file")
	keep := flag.Bool("keep", false, "keep the data dir and the server log")
	extra := flag.String("server-args", "", "more flags for jobgraph server, space-separated")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "usage: inflight -jobgraph BIN [-n 10000] [-hold 30s]")
		os.Exit(2)
	}
	if *workers == 0 {
		*workers = *n
	}
	nofile := jgbench.RaiseNoFile(uint64(2**n + 4096))

	// ---- the local HTTP server -----------------------------------------
	var cur, peak, total atomic.Int64
	var t0 atomic.Int64 // the mutation's time, Unix ns
	var firstAt, allAt atomic.Int64
	var reachedOnce sync.Once
	reached := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cur.Add(1)
		total.Add(1)
		now := time.Now().UnixNano()
		firstAt.CompareAndSwap(0, now)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		if c >= int64(*n) && r.URL.Path == "/hold" {
			allAt.CompareAndSwap(0, now)
			reachedOnce.Do(func() { close(reached) })
		}
		if r.URL.Path == "/hold" {
			select {
			case <-time.After(*hold):
			case <-r.Context().Done():
			}
		}
		cur.Add(-1)
		_, _ = io.WriteString(w, "ok\n")
	}), ReadHeaderTimeout: time.Minute}
	go func() { _ = hs.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/hold"

	// ---- jobgraph ----------------------------------------------------------
	args := []string{"--workers", strconv.Itoa(*workers)}
	if *extra != "" {
		args = append(args, strings.Fields(*extra)...)
	}
	srv, err := jgbench.Start("inflight", *bin, args, nil)
	check(err)
	srv.Keep = *keep
	defer srv.Stop()
	jgbench.StopOnSignal(srv)
	fail := func(err error) {
		srv.Keep = true
		srv.Stop()
		fmt.Fprintln(os.Stderr, "inflight:", err)
		os.Exit(1)
	}
	project, err := srv.Project("inflight")
	if err != nil {
		fail(err)
	}
	t := time.Now()
	hosts := make([]map[string]any, *n)
	for i := range hosts {
		labels := []map[string]any{{"key": "bench", "value": "inflight"}}
		if i < 10 {
			labels = append(labels, map[string]any{"key": "warm", "value": "yes"})
		}
		hosts[i] = map[string]any{"name": fmt.Sprintf("h%05d", i), "address": "127.0.0.1", "labels": labels}
	}
	if err := srv.CreateHosts(project, hosts); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "inflight: %d hosts created in %s (open files limit %d)\n", *n, time.Since(t).Round(time.Millisecond), nofile)

	// Warm-up (not measured): 10 requests answered at once start the http
	// plugin process, so that the baseline below includes it.
	if err := runAndWait(srv, project, "http://"+ln.Addr().String()+"/fast", "warm=yes", time.Minute); err != nil {
		fail(err)
	}
	total.Store(0)
	firstAt.Store(0)

	// ---- memory sampler ----------------------------------------------------
	pluginPID := func() int {
		all := jgbench.Procs()
		for p := range jgbench.Descendants(all, srv.PID) {
			if strings.Contains(all[p].Args, "plugin serve http") {
				return p
			}
		}
		return 0
	}
	var mu sync.Mutex
	var srvPeak, plugPeak, totPeak, plugPID int64
	srvIdle := jgbench.StatusKB(srv.PID, "VmRSS:")
	plugIdle := jgbench.StatusKB(pluginPID(), "VmRSS:")
	sample := func() {
		s := jgbench.StatusKB(srv.PID, "VmRSS:")
		mu.Lock()
		defer mu.Unlock()
		if plugPID == 0 {
			plugPID = int64(pluginPID())
		}
		var p int64
		if plugPID != 0 {
			p = jgbench.StatusKB(int(plugPID), "VmRSS:")
		}
		srvPeak, plugPeak, totPeak = max(srvPeak, s), max(plugPeak, p), max(totPeak, s+p)
	}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			sample()
			select {
			case <-stopSampling:
				return
			case <-tk.C:
			}
		}
	}()

	// ---- the run ------------------------------------------------------------
	self0, desc0 := jgbench.TreeTicks(srv.PID)
	start := time.Now()
	t0.Store(start.UnixNano())
	var started struct {
		AdHocRun struct{ Run struct{ ID string } }
	}
	if err := srv.GQL(`mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id } } }`,
		map[string]any{"in": map[string]any{"projectId": project, "executor": "http", "action": "request",
			"params":  map[string]any{"url": url, "timeout_ms": int((*hold + 5*time.Minute).Milliseconds())},
			"targets": map[string]any{"selector": "bench=inflight"}}}, &started); err != nil {
		fail(err)
	}
	runID := started.AdHocRun.Run.ID
	// Progress, and the final state.
	var status string
	var ok int
	var atAll, plugAtAll, srvAtAll int64
	deadline := time.Now().Add(*hold + 10*time.Minute)
	tk := time.NewTicker(time.Second)
	for {
		select {
		case <-reached:
			if atAll == 0 {
				mu.Lock()
				srvAtAll, plugAtAll = jgbench.StatusKB(srv.PID, "VmRSS:"), jgbench.StatusKB(int(plugPID), "VmRSS:")
				mu.Unlock()
				atAll = 1
			}
			reached = nil
		case <-tk.C:
		}
		var v struct {
			Run struct {
				Status string
				Steps  []struct {
					Counts struct{ Total, Succeeded, Running int }
				}
			}
		}
		if err := srv.GQL(`query($id: ID!) { run(id: $id) { status steps { counts { total succeeded running } } } }`, map[string]any{"id": runID}, &v); err != nil {
			fail(err)
		}
		running, succ := 0, 0
		for _, s := range v.Run.Steps {
			running += s.Counts.Running
			succ += s.Counts.Succeeded
		}
		fmt.Fprintf(os.Stderr, "inflight: t=%5.1fs held=%d peak=%d requests=%d running=%d succeeded=%d status=%s srv_rss=%dMB plugin_rss=%dMB\n",
			time.Since(start).Seconds(), cur.Load(), peak.Load(), total.Load(), running, succ, v.Run.Status,
			jgbench.StatusKB(srv.PID, "VmRSS:")>>10, jgbench.StatusKB(int(plugPID), "VmRSS:")>>10)
		if slices.Contains([]string{"SUCCEEDED", "FAILED", "CANCELED", "TIMED_OUT"}, v.Run.Status) {
			status, ok = v.Run.Status, succ
			break
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("run %s not final after %s", runID, time.Since(start)))
		}
	}
	wall := time.Since(start)
	self1, desc1 := jgbench.TreeTicks(srv.PID)
	close(stopSampling)
	<-sampled
	srvHWM, plugHWM := jgbench.StatusKB(srv.PID, "VmHWM:"), jgbench.StatusKB(int(plugPID), "VmHWM:")
	_ = hs.Shutdown(context.Background())

	sec := func(ns int64) float64 {
		if ns == 0 {
			return -1
		}
		return float64(ns-t0.Load()) / 1e9
	}
	mb := func(kb int64) float64 { return float64(kb) / 1024 }
	perTask := -1.0
	if srvAtAll > 0 {
		perTask = float64(srvAtAll+plugAtAll-srvIdle-plugIdle) / float64(*n) // kB
	}
	line := fmt.Sprintf("inflight n=%d hold_s=%.0f workers=%d peak_inflight=%d requests=%d first_req_s=%.3f all_inflight_s=%.3f run_s=%.3f status=%s tasks_ok=%d "+
		"server_rss_idle_mb=%.1f plugin_rss_idle_mb=%.1f server_rss_at_all_mb=%.1f plugin_rss_at_all_mb=%.1f server_rss_peak_mb=%.1f plugin_rss_peak_mb=%.1f total_rss_peak_mb=%.1f "+
		"server_hwm_mb=%.1f plugin_hwm_mb=%.1f kb_per_task=%.1f server_cpu_s=%.2f plugin_cpu_s=%.2f load=%q",
		*n, hold.Seconds(), *workers, peak.Load(), total.Load(), sec(firstAt.Load()), sec(allAt.Load()), wall.Seconds(), status, ok,
		mb(srvIdle), mb(plugIdle), mb(srvAtAll), mb(plugAtAll), mb(srvPeak), mb(plugPeak), mb(totPeak), mb(srvHWM), mb(plugHWM), perTask,
		jgbench.TicksToS(self1-self0), jgbench.TicksToS(desc1-desc0), jgbench.LoadAvg())
	fmt.Println(line)
	if *out != "" {
		if f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, line)
			_ = f.Close()
		}
	}
	fmt.Fprintf(os.Stderr, "\n| tasks | peak in flight | time to all in flight s | run s | server RSS MB (at all / peak) | plugin RSS MB (at all / peak) | total peak MB | KB per task |\n")
	fmt.Fprintf(os.Stderr, "|---:|---:|---:|---:|---|---|---:|---:|\n")
	fmt.Fprintf(os.Stderr, "| %d | %d | %.1f | %.1f | %.0f / %.0f | %.0f / %.0f | %.0f | %.1f |\n",
		*n, peak.Load(), sec(allAt.Load()), wall.Seconds(), mb(srvAtAll), mb(srvPeak), mb(plugAtAll), mb(plugPeak), mb(totPeak), perTask)
}

// runAndWait runs an ad-hoc http request on the hosts of selector and
// waits for the run to succeed.
func runAndWait(srv *jgbench.Server, project, url, selector string, timeout time.Duration) error {
	var started struct {
		AdHocRun struct{ Run struct{ ID string } }
	}
	if err := srv.GQL(`mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id } } }`,
		map[string]any{"in": map[string]any{"projectId": project, "executor": "http", "action": "request",
			"params": map[string]any{"url": url}, "targets": map[string]any{"selector": selector}}}, &started); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var v struct{ Run struct{ Status string } }
		if err := srv.GQL(`query($id: ID!) { run(id: $id) { status } }`, map[string]any{"id": started.AdHocRun.Run.ID}, &v); err != nil {
			return err
		}
		switch v.Run.Status {
		case "SUCCEEDED":
			return nil
		case "FAILED", "CANCELED", "TIMED_OUT":
			return fmt.Errorf("warm-up run %s", v.Run.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("warm-up run not final within %s", timeout)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "inflight:", err)
		os.Exit(1)
	}
}
