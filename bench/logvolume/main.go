// Command logvolume is issue 10's benchmark 8, log volume: one task writing
// about 200 MB of printable text to stdout over SSH, through a real
// `jobgraph server`, with one taskLog subscriber reading all of it.
//
//	logvolume -jobgraph BIN -port PORT -key KEY -known-hosts FILE [-bytes 150000000] [-cap BYTES] [-out FILE]
//
// The task runs `head -c B /dev/zero | base64 -w 100` (B = -bytes; 150 MB
// of zeros make 202 MB of text: 4/3 of B plus a newline per 100 characters)
// on the loopback sshd (127.0.0.1:PORT, the shared harness's, key and
// known_hosts from it: strict host key checking). It starts printing once a
// gate file exists, after the subscriber is live, so that the whole output
// flows while both are watched. The server's per-task log cap is -cap
// (--log-max-bytes; 0 keeps the server's default, 10 MiB).
//
// Reported, from the gate (t0):
//   - into storage: the task's logBytes, polled every 100 ms: MB/s from the
//     first poll that saw bytes to the first that saw the final size, and
//     over the whole window (t0 to the final size);
//   - to the subscriber (taskLog, graphql-transport-ws, one connection):
//     bytes of chunk data received, MB/s from its first chunk to its last,
//     and over t0 to the task's final status;
//   - the server's VmRSS (sampled every 100 ms: before, peak) and VmHWM, and
//     the ssh plugin process's;
//   - CPU over the window: the server process, its descendants (the ssh
//     plugin), the sshd tree (the remote head and base64 included), this
//     program;
//   - checks: every chunk's seq contiguous, the subscriber's bytes equal the
//     stored bytes, the stored size equal to the output (cap raised) or to
//     the cap with the truncation marker last (default cap).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobgraph/jobgraph/bench/internal/jgbench"
)

const logSub = `subscription($id: ID!, $after: Int) { taskLog(taskId: $id, afterSeq: $after) { chunks { seq stream data } resyncAfterSeq taskStatus } }`

func main() {
	bin := flag.String("jobgraph", "", "path of the jobgraph binary")
	port := flag.Int("port", 2222, "the loopback sshd's port")
	keyFile := flag.String("key", "", "the SSH client key")
	khFile := flag.String("known-hosts", "", "known_hosts for 127.0.0.1:PORT")
	nbytes := flag.Int64("bytes", 150_000_000, "bytes of zeros to base64 (the output is 4/3 of it plus a newline per 100 characters)")
	logCap := flag.Int64("cap", 0, "the server's --log-max-bytes (0: its default)")
	out := flag.String("out", "", "also append the result line to this file")
	keep := flag.Bool("keep", false, "keep the data dir and the server log")
	sshdPIDFile := flag.String("sshd-pid", "", "file holding the sshd's PID (for its CPU)")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up after this")
	sshConfig := flag.String("ssh-config", "", "the harness's ssh_config: the peer (OpenSSH's ssh reading the same command's output) runs first")
	flag.Parse()
	if *bin == "" || *keyFile == "" || *khFile == "" {
		fmt.Fprintln(os.Stderr, "usage: logvolume -jobgraph BIN -port PORT -key KEY -known-hosts FILE [-bytes N] [-cap N]")
		os.Exit(2)
	}
	key, err := os.ReadFile(*keyFile)
	check(err)
	kh, err := os.ReadFile(*khFile)
	check(err)
	sshdPID := 0
	if *sshdPIDFile != "" {
		if b, err := os.ReadFile(*sshdPIDFile); err == nil {
			sshdPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	lines := (*nbytes*4/3 + 99) / 100
	want := *nbytes*4/3 + lines // base64 -w 100: 100 characters and a newline per line

	// The peer: OpenSSH's client reading the same output, counted and thrown
	// away (the transport's and the remote command's floor, in this run).
	peerMBps, peerS, peerCPU := -1.0, -1.0, -1.0
	if *sshConfig != "" {
		cw := &countWriter{}
		c := exec.Command("ssh", "-F", *sshConfig, "host0001", fmt.Sprintf("head -c %d /dev/zero | base64 -w 100", *nbytes))
		c.Stdout = cw
		c.Stderr = os.Stderr
		t := time.Now()
		check(c.Run())
		peerS = time.Since(t).Seconds()
		if cw.n != want {
			check(fmt.Errorf("peer: ssh printed %d bytes, want %d", cw.n, want))
		}
		peerMBps = float64(cw.n) / 1e6 / peerS
		peerCPU = (c.ProcessState.UserTime() + c.ProcessState.SystemTime()).Seconds()
		fmt.Fprintf(os.Stderr, "logvolume: peer ssh: %d bytes in %.2fs (%.1f MB/s, ssh client CPU %.2fs)\n", cw.n, peerS, peerMBps, peerCPU)
	}

	var args []string
	if *logCap > 0 {
		args = append(args, "--log-max-bytes", strconv.FormatInt(*logCap, 10))
	}
	srv, err := jgbench.Start("logvolume", *bin, args, nil)
	check(err)
	srv.Keep = *keep
	defer srv.Stop()
	jgbench.StopOnSignal(srv)
	fail := func(err error) {
		srv.Keep = true
		srv.Stop()
		fmt.Fprintln(os.Stderr, "logvolume:", err)
		os.Exit(1)
	}
	must := func(err error) {
		if err != nil {
			fail(err)
		}
	}
	token, err := srv.Token("logvolume")
	must(err)
	project, err := srv.Project("logvolume")
	must(err)
	var cred struct {
		CreateCredential struct{ Credential struct{ ID string } }
	}
	must(srv.GQL(`mutation($in: CreateCredentialInput!) { createCredential(input: $in) { credential { id } } }`,
		map[string]any{"in": map[string]any{"projectId": project, "name": "sshd", "kind": "SSH_KEY", "username": "root", "secret": string(key)}}, &cred))
	must(srv.CreateHosts(project, []map[string]any{{"name": "sshd", "address": "127.0.0.1", "port": *port,
		"defaultCredentialId": cred.CreateCredential.Credential.ID, "labels": []map[string]any{{"key": "bench", "value": "logvolume"}}}}))

	gate := filepath.Join(srv.DataDir, "gate")
	cmdLine := fmt.Sprintf(`while [ ! -e '%s' ]; do sleep 0.02; done; head -c %d /dev/zero | base64 -w 100`, gate, *nbytes)
	var started struct {
		AdHocRun struct{ Run struct{ ID string } }
	}
	must(srv.GQL(`mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id } } }`,
		map[string]any{"in": map[string]any{"projectId": project, "executor": "ssh", "action": "command",
			"params":  map[string]any{"command": cmdLine, "known_hosts": string(kh)},
			"targets": map[string]any{"selector": "bench=logvolume"}}}, &started))
	runID := started.AdHocRun.Run.ID
	taskID := ""
	for i := 0; taskID == ""; i++ {
		var v struct {
			Run struct {
				Tasks struct {
					Edges []struct{ Node struct{ ID, Status string } }
				}
			}
		}
		must(srv.GQL(`query($id: ID!) { run(id: $id) { tasks(first: 1) { edges { node { id status } } } } }`, map[string]any{"id": runID}, &v))
		if e := v.Run.Tasks.Edges; len(e) > 0 && e[0].Node.Status == "RUNNING" {
			taskID = e[0].Node.ID
		} else if i > 600 {
			fail(fmt.Errorf("run %s: no running task after 60s", runID))
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}

	// ---- the subscriber ------------------------------------------------------
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ws, err := srv.DialWS(ctx, token)
	must(err)
	subID, err := ws.Subscribe(ctx, logSub, map[string]any{"id": taskID, "after": 0})
	must(err)
	type subResult struct {
		bytes, frameBytes  int64
		chunks, updates    int
		system             int
		resyncs            int
		first, last, final time.Time
		status             string
		lastSeq            int64
		lastStream         string
		lastData           string
		err                error
	}
	subDone := make(chan subResult, 1)
	var subBytes atomic.Int64
	go func() {
		var r subResult
		defer func() { subDone <- r }()
		for {
			m, err := ws.Next(ctx)
			if err != nil {
				r.err = err
				return
			}
			now := time.Now()
			if m.Type != "next" {
				if m.Type == "error" {
					r.err = fmt.Errorf("subscription error: %s", m.Payload)
					return
				}
				continue
			}
			if m.ID != subID {
				continue
			}
			var p struct {
				Data struct {
					TaskLog *struct {
						Chunks []struct {
							Seq    int64
							Stream string
							Data   string
						}
						ResyncAfterSeq *int64
						TaskStatus     *string
					} `json:"taskLog"`
				} `json:"data"`
				Errors []json.RawMessage `json:"errors"`
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || p.Data.TaskLog == nil || len(p.Errors) > 0 {
				r.err = fmt.Errorf("bad update %.300s: %v", m.Payload, err)
				return
			}
			u := p.Data.TaskLog
			r.updates++
			r.frameBytes += int64(m.Size)
			for _, c := range u.Chunks {
				if c.Seq != r.lastSeq+1 {
					r.err = fmt.Errorf("seq %d after %d", c.Seq, r.lastSeq)
					return
				}
				r.lastSeq = c.Seq
				if r.first.IsZero() {
					r.first = now
				}
				r.last = now
				r.chunks++
				if c.Stream == "SYSTEM" {
					r.system++ // the truncation marker: not counted in logBytes
				} else {
					r.bytes += int64(len(c.Data))
				}
				r.lastStream, r.lastData = c.Stream, c.Data
			}
			subBytes.Store(r.bytes)
			if u.ResyncAfterSeq != nil {
				r.resyncs++
				r.lastSeq = *u.ResyncAfterSeq
				if subID, err = ws.Subscribe(ctx, logSub, map[string]any{"id": taskID, "after": r.lastSeq}); err != nil {
					r.err = err
					return
				}
			}
			if u.TaskStatus != nil {
				r.status, r.final = *u.TaskStatus, now
				return
			}
		}
	}()

	// ---- memory sampler -------------------------------------------------------
	pluginPID := func() int {
		all := jgbench.Procs()
		for p := range jgbench.Descendants(all, srv.PID) {
			if strings.Contains(all[p].Args, "plugin serve ssh") {
				return p
			}
		}
		return 0
	}
	plug := pluginPID()
	srvBefore, plugBefore := jgbench.StatusKB(srv.PID, "VmRSS:"), jgbench.StatusKB(plug, "VmRSS:")
	var mu sync.Mutex
	var srvPeak, plugPeak int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			s, p := jgbench.StatusKB(srv.PID, "VmRSS:"), jgbench.StatusKB(plug, "VmRSS:")
			mu.Lock()
			srvPeak, plugPeak = max(srvPeak, s), max(plugPeak, p)
			mu.Unlock()
			select {
			case <-stopSampling:
				return
			case <-tk.C:
			}
		}
	}()

	// ---- the window ---------------------------------------------------------
	time.Sleep(300 * time.Millisecond) // the subscription's first (empty) read is done
	s0, d0 := jgbench.TreeTicks(srv.PID)
	h0, _ := treeAll(sshdPID)
	c0 := jgbench.SelfCPU()
	t0 := time.Now()
	must(os.WriteFile(gate, nil, 0o644))
	var storedFirst, storedFinal time.Time
	var stored int64
	var truncated bool
	var status string
	tk := time.NewTicker(100 * time.Millisecond)
	for {
		<-tk.C
		var r struct {
			Run struct {
				Tasks struct {
					Edges []struct {
						Node struct {
							Status       string
							LogBytes     int64
							LogTruncated bool
						}
					}
				}
			}
		}
		if err := srv.GQL(`query($id: ID!) { run(id: $id) { tasks(first: 1) { edges { node { status logBytes logTruncated } } } } }`, map[string]any{"id": runID}, &r); err != nil {
			fail(err)
		}
		if len(r.Run.Tasks.Edges) != 1 {
			fail(fmt.Errorf("run %s has no task", runID))
		}
		v := struct {
			Task struct {
				Status       string
				LogBytes     int64
				LogTruncated bool
			}
		}{r.Run.Tasks.Edges[0].Node}
		now := time.Now()
		if v.Task.LogBytes > 0 && storedFirst.IsZero() {
			storedFirst = now
		}
		if v.Task.LogBytes != stored {
			stored, storedFinal = v.Task.LogBytes, now
		}
		truncated = v.Task.LogTruncated
		fmt.Fprintf(os.Stderr, "logvolume: t=%5.1fs stored=%6.1fMB subscriber=%6.1fMB server_rss=%dMB plugin_rss=%dMB status=%s\n",
			now.Sub(t0).Seconds(), float64(stored)/1e6, float64(subBytes.Load())/1e6,
			jgbench.StatusKB(srv.PID, "VmRSS:")>>10, jgbench.StatusKB(plug, "VmRSS:")>>10, v.Task.Status)
		if v.Task.Status != "RUNNING" && v.Task.Status != "QUEUED" {
			status = v.Task.Status
			break
		}
		if now.Sub(t0) > *timeout {
			fail(fmt.Errorf("task %s still %s after %s", taskID, v.Task.Status, *timeout))
		}
	}
	sr := <-subDone
	t1 := time.Now()
	s1, d1 := jgbench.TreeTicks(srv.PID)
	h1, _ := treeAll(sshdPID)
	c1 := jgbench.SelfCPU()
	close(stopSampling)
	<-sampled
	srvHWM, plugHWM := jgbench.StatusKB(srv.PID, "VmHWM:"), jgbench.StatusKB(plug, "VmHWM:")

	var problems []string
	if sr.err != nil {
		problems = append(problems, "subscriber: "+sr.err.Error())
	}
	if sr.bytes != stored {
		problems = append(problems, fmt.Sprintf("subscriber got %d bytes, %d stored", sr.bytes, stored))
	}
	capUsed := *logCap
	if capUsed == 0 {
		capUsed = 10 << 20
	}
	if want <= capUsed {
		if stored != want || truncated {
			problems = append(problems, fmt.Sprintf("stored %d bytes (truncated %v), the task printed %d", stored, truncated, want))
		}
	} else if !truncated || !strings.Contains(sr.lastData, "log truncated") {
		problems = append(problems, fmt.Sprintf("over the cap but no marker (truncated %v, last chunk %s %.100q)", truncated, sr.lastStream, sr.lastData))
	}
	mbps := func(b int64, d time.Duration) float64 {
		if d <= 0 {
			return -1
		}
		return float64(b) / 1e6 / d.Seconds()
	}
	mb := func(kb int64) float64 { return float64(kb) / 1024 }
	win := storedFinal.Sub(t0)
	line := fmt.Sprintf("logvolume output_bytes=%d cap=%d status=%s stored_bytes=%d truncated=%v store_first_s=%.2f store_last_s=%.2f store_mbps=%.1f store_mbps_window=%.1f "+
		"sub_bytes=%d sub_system_chunks=%d sub_chunks=%d sub_updates=%d sub_frame_bytes=%d sub_resyncs=%d sub_first_s=%.2f sub_last_s=%.2f sub_mbps=%.1f sub_mbps_window=%.1f task_final_s=%.2f "+
		"server_rss_before_mb=%.0f server_rss_peak_mb=%.0f server_hwm_mb=%.0f plugin_rss_before_mb=%.0f plugin_rss_peak_mb=%.0f plugin_hwm_mb=%.0f "+
		"server_cpu_s=%.2f plugin_cpu_s=%.2f sshd_cpu_s=%.2f client_cpu_s=%.2f window_s=%.2f peer_ssh_s=%.2f peer_ssh_mbps=%.1f peer_ssh_client_cpu_s=%.2f store_vs_peer=%.3f load=%q problems=%d",
		want, *logCap, status, stored, truncated, storedFirst.Sub(t0).Seconds(), win.Seconds(), mbps(stored, storedFinal.Sub(storedFirst)), mbps(stored, win),
		sr.bytes, sr.system, sr.chunks, sr.updates, sr.frameBytes, sr.resyncs, sr.first.Sub(t0).Seconds(), sr.last.Sub(t0).Seconds(), mbps(sr.bytes, sr.last.Sub(sr.first)), mbps(sr.bytes, sr.last.Sub(t0)), sr.final.Sub(t0).Seconds(),
		mb(srvBefore), mb(srvPeak), mb(srvHWM), mb(plugBefore), mb(plugPeak), mb(plugHWM),
		jgbench.TicksToS(s1-s0), jgbench.TicksToS(d1-d0), jgbench.TicksToS(h1-h0), c1-c0, t1.Sub(t0).Seconds(), peerS, peerMBps, peerCPU, mbps(stored, win)/peerMBps, jgbench.LoadAvg(), len(problems))
	fmt.Println(line)
	if *out != "" {
		if f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, line)
			_ = f.Close()
		}
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "logvolume: PROBLEM:", p)
	}
	fmt.Fprintf(os.Stderr, "\n| output MB | cap | stored MB | into storage MB/s (first→last / window) | to subscriber MB/s (first→last / window) | server RSS MB before / peak | plugin RSS MB peak | server CPU s | window s |\n")
	fmt.Fprintf(os.Stderr, "|---:|---:|---:|---|---|---|---:|---:|---:|\n")
	fmt.Fprintf(os.Stderr, "| %.1f | %d | %.1f | %.1f / %.1f | %.1f / %.1f | %.0f / %.0f | %.0f | %.2f | %.2f |\n",
		float64(want)/1e6, capUsed, float64(stored)/1e6, mbps(stored, storedFinal.Sub(storedFirst)), mbps(stored, win),
		mbps(sr.bytes, sr.last.Sub(sr.first)), mbps(sr.bytes, sr.last.Sub(t0)), mb(srvBefore), mb(srvPeak), mb(plugPeak), jgbench.TicksToS(s1-s0), t1.Sub(t0).Seconds())
	if len(problems) > 0 {
		srv.Keep = true
		srv.Stop()
		os.Exit(1)
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// treeAll returns the ticks of pid and its live descendants together.
func treeAll(pid int) (int64, bool) {
	if pid == 0 {
		return 0, false
	}
	s, d := jgbench.TreeTicks(pid)
	return s + d, true
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "logvolume:", err)
		os.Exit(1)
	}
}
