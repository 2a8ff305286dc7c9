// Command subscribers measures live log delivery to many subscribers of one
// task (issue 7's benchmark): S WebSocket clients (graphql-transport-ws,
// one connection each) subscribe taskLog(taskId, afterSeq: 0) on one run
// whose command prints a line every 10 ms for D seconds, each line carrying
// its emission time; every subscriber records, for each line it receives,
// receive time minus emission time.
//
//	subscribers -jobgraph BIN [-s 1000] [-d 20s] [-interval 10ms] [-out FILE] [-keep]
//
// Setup, not measured: start the real `jobgraph server` (temp data dir,
// SQLite and the embedded NATS, its own worker), sign in as the first
// admin, create an API token, a project and one host (127.0.0.1, default
// executor local), and start an ad-hoc run (executor local, action
// command) of
//
//	echo ready; while [ ! -e GATE ]; do sleep 0.01; done
//	end=$(( $(date +%s%N) + D )); i=0
//	while t=$(date +%s%N); [ "$t" -lt "$end" ]; do echo "ts $t $i"; i=$((i+1)); sleep 0.01; done
//	echo done
//
// The local executor runs the command on this machine, so the emission
// time and the subscribers' clock are the same clock. Then S connections
// open (64 at a time): connection_init {"authToken": TOKEN}, ack,
// subscribe. Each subscription's first chunk is the stored "ready" line,
// which proves it is live (the server subscribes to the bus before it
// reads the stored log). Once all S have it, the gate file is created and
// the measurement runs until every subscription has ended with the task's
// final status.
//
// Checked: every subscriber receives every chunk, seq contiguous from 1
// (a resyncAfterSeq is counted and followed by a new subscription from
// there, on the same connection), and as many "ts" lines as the stored log
// has, their counters 0, 1, 2... in order.
//
// Reported (one machine-readable line starting "subscribers", and a short
// table on stderr): lines per subscriber, latency p50/p90/p99/max over all
// (subscriber, line) pairs, split into emit->worker (per line: the chunk's
// `at`, set when the worker reads the line from the executor plugin),
// worker->first subscriber (per line: to whichever subscriber got it
// first) and the fan-out spread (per pair: how much later than the first
// this subscriber got it); the server's RSS (VmRSS sampled every 100 ms,
// and VmHWM) idle, with the subscribers connected, and at peak, plus its
// plugin processes' RSS; CPU (utime+stime+cutime+cstime) of the server
// process, and separately of its live descendants (the plugin process and
// the command's shells: the emitter), while connecting and over the
// emission window; this program's own CPU, since it shares the machine's
// cores with the server; and the rest of the machine's busy time
// (/proc/stat), since other load skews everything.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

const adminPassword = "subscribers-bench-admin-password"

var (
	client = &http.Client{Timeout: 60 * time.Second}
	base   string
)

func main() {
	bin := flag.String("jobgraph", "", "path of the jobgraph binary")
	subs := flag.Int("s", 1000, "subscribers (one WebSocket connection each)")
	dur := flag.Duration("d", 20*time.Second, "how long the command prints lines")
	interval := flag.Duration("interval", 10*time.Millisecond, "sleep between two lines")
	dialers := flag.Int("dialers", 64, "connections opened at once")
	out := flag.String("out", "", "also append the result line to this file")
	keep := flag.Bool("keep", false, "keep the data dir and the server log")
	flag.Parse()
	if *bin == "" || *subs < 1 {
		fmt.Fprintln(os.Stderr, "usage: subscribers -jobgraph BIN [-s 1000] [-d 20s] [-interval 10ms] [-out FILE] [-keep]")
		os.Exit(2)
	}
	raiseNoFile(uint64(2**subs + 1024))

	// ---- the server ------------------------------------------------------
	dataDir, err := os.MkdirTemp("", "subscribers-")
	check(err)
	srv := exec.Command(*bin, "server", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JOBGRAPH_") {
			env = append(env, kv)
		}
	}
	srv.Env = append(env, "JOBGRAPH_ADMIN_PASSWORD="+adminPassword)
	logf, err := os.Create(filepath.Join(dataDir, "server.log"))
	check(err)
	stderr, err := srv.StderrPipe()
	check(err)
	check(srv.Start())
	pid := srv.Process.Pid
	urlCh := make(chan string, 1)
	go func() { // copy the log; find the "jobgraph is serving" line's url
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !sent && strings.Contains(line, "jobgraph is serving") {
				if i := strings.Index(line, "url="); i >= 0 {
					urlCh <- strings.Trim(strings.Fields(line[i+4:])[0], `"`)
					sent = true
				}
			}
		}
		close(urlCh)
	}()
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	cleanup = func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
		_ = logf.Close()
		if *keep || keepData {
			fmt.Fprintln(os.Stderr, "subscribers: kept", dataDir)
		} else {
			_ = os.RemoveAll(dataDir)
		}
	}
	defer func() { cleanup() }()
	select {
	case u, ok := <-urlCh:
		if !ok {
			fail(fmt.Errorf("the server exited before serving; log in %s", logf.Name()))
		}
		base = u
	case <-time.After(60 * time.Second):
		fail(errors.New("the server did not serve within 60s"))
	}
	for i := 0; ; i++ {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if i > 600 {
			fail(errors.New("/readyz not 200 within 60s"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	jar, _ := cookiejar.New(nil)
	client.Jar = jar
	var ignored map[string]any
	gqlOrDie(`mutation($in: LoginInput!) { login(input: $in) { user { username } } }`,
		map[string]any{"in": map[string]any{"username": "admin", "password": adminPassword}}, &ignored)
	var tok struct{ CreateApiToken struct{ Secret string } }
	gqlOrDie(`mutation { createApiToken(input: {name: "subscribers-bench"}) { secret } }`, nil, &tok)
	token := tok.CreateApiToken.Secret

	// ---- inventory and the run (setup) ----------------------------------
	var proj struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	gqlOrDie(`mutation($in: CreateProjectInput!) { createProject(input: $in) { project { id } } }`,
		map[string]any{"in": map[string]any{"name": "subscribers"}}, &proj)
	project := proj.CreateProject.Project.ID
	var host struct {
		CreateHost struct{ Host struct{ ID string } }
	}
	gqlOrDie(`mutation($in: CreateHostInput!) { createHost(input: $in) { host { id } } }`,
		map[string]any{"in": map[string]any{"projectId": project, "name": "local1", "address": "127.0.0.1", "defaultExecutor": "local"}}, &host)
	gate := filepath.Join(dataDir, "gate")
	cmdLine := fmt.Sprintf(`echo ready; while [ ! -e '%s' ]; do sleep 0.01; done; `+
		`end=$(( $(date +%%s%%N) + %d )); i=0; `+
		`while t=$(date +%%s%%N); [ "$t" -lt "$end" ]; do echo "ts $t $i"; i=$((i+1)); sleep %s; done; echo done`,
		gate, dur.Nanoseconds(), strconv.FormatFloat(interval.Seconds(), 'f', -1, 64))
	var started struct {
		AdHocRun struct{ Run struct{ ID string } }
	}
	gqlOrDie(`mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id } } }`,
		map[string]any{"in": map[string]any{"projectId": project, "executor": "local", "action": "command",
			"params": map[string]any{"command": cmdLine}, "targets": map[string]any{"hosts": []string{host.CreateHost.Host.ID}}}}, &started)
	runID := started.AdHocRun.Run.ID
	taskID := ""
	for deadline := time.Now().Add(60 * time.Second); taskID == ""; {
		var v struct {
			Run struct {
				Status string
				Tasks  struct {
					Edges []struct{ Node struct{ ID, Status string } }
				}
			}
		}
		gqlOrDie(`query($id: ID!) { run(id: $id) { status tasks(first: 1) { edges { node { id status } } } } }`, map[string]any{"id": runID}, &v)
		if len(v.Run.Tasks.Edges) > 0 && v.Run.Tasks.Edges[0].Node.Status == "RUNNING" {
			taskID = v.Run.Tasks.Edges[0].Node.ID
			break
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("run %s: no running task within 60s (status %s)", runID, v.Run.Status))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// ---- memory sampler ---------------------------------------------------
	mem := &memSampler{pid: pid}
	stopMem := make(chan struct{})
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			mem.sample()
			select {
			case <-stopMem:
				return
			case <-t.C:
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	rssIdle := mem.peak.Load()

	// ---- connect the subscribers -------------------------------------------
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/graphql"
	ctx, cancel := context.WithTimeout(context.Background(), *dur+5*time.Minute)
	defer cancel()
	subsList := make([]*subscriber, *subs)
	ready := make(chan int, *subs)
	c0, s0, _ := cpuNow(pid)
	tConn := time.Now()
	errCh := make(chan error, *subs)
	var wg sync.WaitGroup
	sem := make(chan struct{}, *dialers)
	for i := range subsList {
		s := &subscriber{i: i, taskID: taskID, ready: ready}
		subsList[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			err := s.connect(ctx, wsURL, token)
			<-sem
			if err == nil {
				err = s.run(ctx)
			}
			if err != nil {
				errCh <- fmt.Errorf("subscriber %d: %w", s.i, err)
			}
		}()
	}
	for n := 0; n < *subs; n++ {
		select {
		case <-ready:
		case err := <-errCh:
			fail(err)
		case <-time.After(2 * time.Minute):
			fail(fmt.Errorf("%d of %d subscribers got the ready line within 2 min", n, *subs))
		}
	}
	connWall := time.Since(tConn).Seconds()
	c1, s1, _ := cpuNow(pid)
	time.Sleep(500 * time.Millisecond) // a settled reading of the server with S connections
	rssSubscribed := mem.last.Load()
	mem.peak.Store(0)
	mem.plugPeak.Store(0)

	// ---- measure ----------------------------------------------------------
	c2, s2, p2 := cpuNow(pid)
	m2 := machineBusy()
	t0 := time.Now()
	check(os.WriteFile(gate, nil, 0o644))
	doneCh := make(chan struct{})
	go func() { wg.Wait(); close(doneCh) }()
	select {
	case <-doneCh:
	case <-ctx.Done():
		fail(errors.New("the subscriptions did not end in time"))
	}
	wall := time.Since(t0).Seconds()
	c3, s3, p3 := cpuNow(pid)
	m3 := machineBusy()
	close(stopMem)
	<-memDone
	rssPeak, plugPeak := mem.peak.Load(), mem.plugPeak.Load()
	hwm := readStatusKB(pid, "VmHWM:")
	select {
	case err := <-errCh:
		fail(err)
	default:
	}
	for _, s := range subsList {
		s.c.CloseNow()
	}

	// ---- check ------------------------------------------------------------
	stored, storedChunks := storedLines(taskID)
	var failures []string
	minL, maxL, resyncs, updates := -1, 0, 0, 0
	for _, s := range subsList {
		n := len(s.recv)
		if minL < 0 || n < minL {
			minL = n
		}
		maxL = max(maxL, n)
		resyncs += s.resyncs
		updates += s.updates
		if n != stored {
			failures = append(failures, fmt.Sprintf("subscriber %d: %d ts lines, stored %d", s.i, n, stored))
		}
		if s.lastSeq != storedChunks {
			failures = append(failures, fmt.Sprintf("subscriber %d: last seq %d, stored %d chunks", s.i, s.lastSeq, storedChunks))
		}
		if s.status != "SUCCEEDED" {
			failures = append(failures, fmt.Sprintf("subscriber %d: task status %q", s.i, s.status))
		}
		failures = append(failures, s.errs...)
	}
	// Per line: the first subscriber's receive time. Per (subscriber, line)
	// pair: the latency, and how much later than the first it got the line.
	first := slices.Clone(subsList[0].recv)
	for _, s := range subsList {
		for k := range min(len(first), len(s.recv)) {
			first[k] = min(first[k], s.recv[k])
		}
	}
	us := func(ns int64) int32 { return int32(ns / 1000) }
	var lat, spread, emit, toFirst []int32 // µs
	for _, s := range subsList {
		for k := range s.recv {
			lat = append(lat, us(s.recv[k]-s.ts[k]))
			if k < len(first) {
				spread = append(spread, us(s.recv[k]-first[k]))
			}
		}
	}
	sub0 := subsList[0]
	for k := range sub0.recv {
		emit = append(emit, us(sub0.at[k]-sub0.ts[k]))
		toFirst = append(toFirst, us(first[k]-sub0.at[k]))
	}
	pct := func(xs []int32, p float64) float64 {
		if len(xs) == 0 {
			return -1
		}
		return float64(xs[min(len(xs)-1, int(float64(len(xs))*p))]) / 1000
	}
	for _, xs := range [][]int32{lat, spread, emit, toFirst} {
		slices.Sort(xs)
	}
	cpuConn, cpuRun, cpuPlug := ticksToS(s1-s0), ticksToS(s3-s2), ticksToS(p3-p2)
	cpuOther := max(0, ticksToS(m3-m2)-cpuRun-cpuPlug-(c3-c2)) // other processes on the machine
	line := fmt.Sprintf("subscribers s=%d d_s=%.0f interval_ms=%.0f lines=%d lines_min=%d lines_max=%d chunks=%d pairs=%d updates=%d resyncs=%d failures=%d "+
		"p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f p999_ms=%.1f max_ms=%.1f "+
		"emit_worker_p50_ms=%.1f emit_worker_p99_ms=%.1f emit_worker_max_ms=%.1f worker_first_p50_ms=%.1f worker_first_p99_ms=%.1f worker_first_max_ms=%.1f "+
		"spread_p50_ms=%.1f spread_p99_ms=%.1f spread_max_ms=%.1f "+
		"rss_idle_mb=%.1f rss_subscribed_mb=%.1f rss_peak_mb=%.1f hwm_mb=%.1f plugins_rss_peak_mb=%.1f "+
		"connect_s=%.2f server_cpu_connect_s=%.2f client_cpu_connect_s=%.2f "+
		"wall_s=%.2f server_cpu_s=%.2f server_cores=%.2f plugins_cpu_s=%.2f client_cpu_s=%.2f client_cores=%.2f other_cores=%.2f run=%s",
		*subs, dur.Seconds(), interval.Seconds()*1000, stored, minL, maxL, storedChunks, len(lat), updates, resyncs, len(failures),
		pct(lat, .5), pct(lat, .9), pct(lat, .99), pct(lat, .999), pct(lat, 1),
		pct(emit, .5), pct(emit, .99), pct(emit, 1), pct(toFirst, .5), pct(toFirst, .99), pct(toFirst, 1),
		pct(spread, .5), pct(spread, .99), pct(spread, 1),
		kbToMB(rssIdle), kbToMB(rssSubscribed), kbToMB(rssPeak), kbToMB(hwm), kbToMB(plugPeak),
		connWall, cpuConn, c1-c0,
		wall, cpuRun, cpuRun/wall, cpuPlug, c3-c2, (c3-c2)/wall, cpuOther/wall, runID)
	fmt.Println(line)
	if *out != "" {
		if f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, line)
			_ = f.Close()
		}
	}
	fmt.Fprintf(os.Stderr, "\nS=%d subscribers, one task printing a line every %s for %s (%d lines, %d chunks), GOMAXPROCS=%d\n",
		*subs, *interval, *dur, stored, storedChunks, runtime.GOMAXPROCS(0))
	fmt.Fprintf(os.Stderr, "  lines/subscriber   min %d  max %d  (stored %d)   updates/subscriber %.1f   resyncs %d   failures %d\n",
		minL, maxL, stored, float64(updates)/float64(*subs), resyncs, len(failures))
	fmt.Fprintf(os.Stderr, "  latency ms         p50 %6.1f  p90 %6.1f  p99 %6.1f  p99.9 %6.1f  max %6.1f   (%d pairs)\n",
		pct(lat, .5), pct(lat, .9), pct(lat, .99), pct(lat, .999), pct(lat, 1), len(lat))
	fmt.Fprintf(os.Stderr, "    emit -> worker   p50 %6.1f  p99 %6.1f  max %6.1f   (chunk.at; one per line)\n", pct(emit, .5), pct(emit, .99), pct(emit, 1))
	fmt.Fprintf(os.Stderr, "    worker -> 1st    p50 %6.1f  p99 %6.1f  max %6.1f   (first subscriber to get the line; one per line)\n", pct(toFirst, .5), pct(toFirst, .99), pct(toFirst, 1))
	fmt.Fprintf(os.Stderr, "    1st -> this sub  p50 %6.1f  p99 %6.1f  max %6.1f   (fan-out spread)\n", pct(spread, .5), pct(spread, .99), pct(spread, 1))
	fmt.Fprintf(os.Stderr, "  server RSS MB      idle %.1f  subscribed %.1f  peak %.1f  VmHWM %.1f   plugins %.1f\n",
		kbToMB(rssIdle), kbToMB(rssSubscribed), kbToMB(rssPeak), kbToMB(hwm), kbToMB(plugPeak))
	fmt.Fprintf(os.Stderr, "  connect            %.2f s  server CPU %.2f s  client CPU %.2f s\n", connWall, cpuConn, c1-c0)
	fmt.Fprintf(os.Stderr, "  emission window    %.2f s  server CPU %.2f s (%.2f cores)  plugins+command CPU %.2f s  client CPU %.2f s (%.2f cores)\n",
		wall, cpuRun, cpuRun/wall, cpuPlug, c3-c2, (c3-c2)/wall)
	fmt.Fprintf(os.Stderr, "  other processes    %.2f cores over the window (the machine's busy time minus the above)\n", cpuOther/wall)
	if len(failures) > 0 {
		for _, f := range failures[:min(len(failures), 20)] {
			fmt.Fprintln(os.Stderr, "  FAIL:", f)
		}
		keepData = true
		cleanup()
		os.Exit(1)
	}
}

// ---- a subscriber ----------------------------------------------------------

const logSub = `subscription($id: ID!, $after: Int) { taskLog(taskId: $id, afterSeq: $after) { chunks { seq stream data at } resyncAfterSeq taskStatus } }`

type subscriber struct {
	i      int
	taskID string
	c      *websocket.Conn
	ready  chan<- int

	subID    int
	lastSeq  int64
	nextI    int64 // the next "ts" line's counter
	carry    []byte
	resyncs  int
	updates  int // taskLog updates received
	status   string
	gotReady bool
	ts, recv []int64 // per ts line, in order: its emission time, when this subscriber read it (Unix ns)
	at       []int64 // per ts line: its chunk's at (Unix ns)
	errs     []string
}

func (s *subscriber) connect(ctx context.Context, url, token string) error {
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader: http.Header{"User-Agent": {"subscribers-bench"}}})
	if err != nil {
		return err
	}
	c.SetReadLimit(16 << 20)
	s.c = c
	if err := s.write(dctx, map[string]any{"type": "connection_init", "payload": map[string]any{"authToken": token}}); err != nil {
		return err
	}
	_, b, err := c.Read(dctx)
	if err != nil {
		return err
	}
	var ack struct{ Type string }
	if err := json.Unmarshal(b, &ack); err != nil || ack.Type != "connection_ack" {
		return fmt.Errorf("no connection_ack: %s", b)
	}
	return s.subscribe(dctx, 0)
}

func (s *subscriber) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.c.Write(ctx, websocket.MessageText, b)
}

func (s *subscriber) subscribe(ctx context.Context, after int64) error {
	s.subID++
	return s.write(ctx, map[string]any{"id": strconv.Itoa(s.subID), "type": "subscribe",
		"payload": map[string]any{"query": logSub, "variables": map[string]any{"id": s.taskID, "after": after}}})
}

type wsMsg struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

type logPayload struct {
	Data struct {
		TaskLog *struct {
			Chunks []struct {
				Seq  int64
				Data string
				At   time.Time
			}
			ResyncAfterSeq *int64
			TaskStatus     *string
		} `json:"taskLog"`
	} `json:"data"`
	Errors []json.RawMessage `json:"errors"`
}

// run reads until the task's final status (following resyncs).
func (s *subscriber) run(ctx context.Context) error {
	for {
		_, b, err := s.c.Read(ctx)
		now := time.Now()
		if err != nil {
			return err
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("bad message %.200s: %w", b, err)
		}
		switch m.Type {
		case "ping":
			if err := s.write(ctx, map[string]any{"type": "pong"}); err != nil {
				return err
			}
			continue
		case "pong", "ka":
			continue
		case "error":
			return fmt.Errorf("error: %s", m.Payload)
		case "complete":
			if m.ID == strconv.Itoa(s.subID) && s.status == "" {
				return errors.New("the subscription completed without a final status")
			}
			continue
		case "next":
		default:
			return fmt.Errorf("unexpected message %.200s", b)
		}
		if m.ID != strconv.Itoa(s.subID) {
			continue // the end of a subscription given up after a resync
		}
		var p logPayload
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			return err
		}
		if len(p.Errors) > 0 || p.Data.TaskLog == nil {
			return fmt.Errorf("errors: %s", m.Payload)
		}
		u := p.Data.TaskLog
		s.updates++
		for _, c := range u.Chunks {
			if c.Seq != s.lastSeq+1 {
				s.errs = append(s.errs, fmt.Sprintf("subscriber %d: seq %d after %d", s.i, c.Seq, s.lastSeq))
			}
			s.lastSeq = c.Seq
			s.lines(now, c.At, c.Data)
		}
		if u.ResyncAfterSeq != nil {
			s.resyncs++
			s.lastSeq = *u.ResyncAfterSeq
			s.carry = nil
			if err := s.subscribe(ctx, s.lastSeq); err != nil {
				return err
			}
		}
		if u.TaskStatus != nil {
			s.status = *u.TaskStatus
			return nil
		}
	}
}

func (s *subscriber) lines(now, at time.Time, data string) {
	b := append(s.carry, data...)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		line := string(b[:i])
		b = b[i+1:]
		switch {
		case line == "ready":
			if !s.gotReady {
				s.gotReady = true
				s.ready <- s.i
			}
		case strings.HasPrefix(line, "ts "):
			f := strings.Fields(line)
			if len(f) != 3 {
				s.errs = append(s.errs, fmt.Sprintf("subscriber %d: bad line %q", s.i, line))
				continue
			}
			ns, err1 := strconv.ParseInt(f[1], 10, 64)
			k, err2 := strconv.ParseInt(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				s.errs = append(s.errs, fmt.Sprintf("subscriber %d: bad line %q", s.i, line))
				continue
			}
			if k != s.nextI {
				s.errs = append(s.errs, fmt.Sprintf("subscriber %d: line %d after %d", s.i, k, s.nextI-1))
			}
			s.nextI = k + 1
			s.ts = append(s.ts, ns)
			s.recv = append(s.recv, now.UnixNano())
			s.at = append(s.at, at.UnixNano())
		}
	}
	s.carry = append(s.carry[:0], b...)
}

// storedLines counts the "ts" lines and the chunks of the task's stored log.
func storedLines(taskID string) (lines int, chunks int64) {
	after := int64(0)
	var text strings.Builder
	for {
		var v struct {
			TaskLogs struct {
				Chunks  []struct{ Data string }
				LastSeq int64
			}
		}
		gqlOrDie(`query($id: ID!, $after: Int) { taskLogs(taskId: $id, afterSeq: $after, first: 1000) { lastSeq chunks { data } } }`,
			map[string]any{"id": taskID, "after": after}, &v)
		for _, c := range v.TaskLogs.Chunks {
			text.WriteString(c.Data)
		}
		if v.TaskLogs.LastSeq == after {
			break
		}
		after = v.TaskLogs.LastSeq
	}
	for l := range strings.SplitSeq(text.String(), "\n") {
		if strings.HasPrefix(l, "ts ") {
			lines++
		}
	}
	return lines, after
}

// ---- process figures -------------------------------------------------------

type memSampler struct {
	pid        int
	last, peak atomic.Int64 // the server's VmRSS, kB
	plugPeak   atomic.Int64 // its descendants' VmRSS summed, kB
}

func (m *memSampler) sample() {
	rss := readStatusKB(m.pid, "VmRSS:")
	m.last.Store(rss)
	if rss > m.peak.Load() {
		m.peak.Store(rss)
	}
	var sum int64
	for p := range descendants(m.pid) {
		if p != m.pid {
			sum += readStatusKB(p, "VmRSS:")
		}
	}
	if sum > m.plugPeak.Load() {
		m.plugPeak.Store(sum)
	}
}

func readStatusKB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

func kbToMB(kb int64) float64 { return float64(kb) / 1024 }

type procStat struct {
	ppid  int
	ticks int64
}

func allProcs() map[int]procStat {
	ents, _ := os.ReadDir("/proc")
	all := map[int]procStat{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 15 { // f[0] is field 3 (state)
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		var t int64
		for _, k := range []int{11, 12, 13, 14} { // fields 14-17: utime stime cutime cstime
			v, _ := strconv.ParseInt(f[k], 10, 64)
			t += v
		}
		all[p] = procStat{ppid, t}
	}
	return all
}

func descendantsOf(all map[int]procStat, pid int) map[int]bool {
	in := map[int]bool{pid: true}
	for changed := true; changed; {
		changed = false
		for p, s := range all {
			if !in[p] && in[s.ppid] {
				in[p] = true
				changed = true
			}
		}
	}
	return in
}

func descendants(pid int) map[int]bool { return descendantsOf(allProcs(), pid) }

// treeTicks returns utime+stime+cutime+cstime of pid, and the same summed
// over its live descendants (a process's cutime holds its reaped children,
// so nothing is counted twice).
func treeTicks(pid int) (self, desc int64) {
	all := allProcs()
	for p := range descendantsOf(all, pid) {
		if p == pid {
			self = all[p].ticks
		} else {
			desc += all[p].ticks
		}
	}
	return self, desc
}

// cpuNow returns this program's CPU seconds, and the server's own and its
// descendants' (the plugin processes and the commands they run) ticks.
func cpuNow(pid int) (client float64, server, plugins int64) {
	server, plugins = treeTicks(pid)
	return selfCPU(), server, plugins
}

// machineBusy returns the machine's non-idle ticks (all CPUs, /proc/stat).
func machineBusy() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	l, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(l) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i := 1; i < len(f) && i <= 8; i++ {
		if i == 4 || i == 5 { // idle, iowait
			continue
		}
		v, _ := strconv.ParseInt(f[i], 10, 64)
		busy += v
	}
	return busy
}

func ticksToS(t int64) float64 { return float64(t) / 100 } // USER_HZ is 100 on Linux

func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// raiseNoFile raises the open-file limit to at least want (the server,
// started from here, inherits it).
func raiseNoFile(want uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur >= want {
		return
	}
	if l.Max < want {
		l.Max = want // works as root
	}
	l.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		fmt.Fprintf(os.Stderr, "subscribers: open-file limit %d (wanted %d): %v\n", l.Cur, want, err)
	}
}

// ---- GraphQL over HTTP -------------------------------------------------------

func gql(query string, vars map[string]any, data any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	resp, err := client.Post(base+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		return fmt.Errorf("graphql: HTTP %d: %.500s", resp.StatusCode, raw)
	}
	return json.Unmarshal(r.Data, data)
}

func gqlOrDie(query string, vars map[string]any, data any) {
	if err := gql(query, vars, data); err != nil {
		fail(err)
	}
}

var (
	keepData bool // set on failure: keep the server log
	cleanup  = func() {}
)

func fail(err error) {
	keepData = true
	fmt.Fprintln(os.Stderr, "subscribers:", err)
	cleanup()
	os.Exit(1)
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}
