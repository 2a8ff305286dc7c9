// Command e2e-fanout measures an ad-hoc `echo hello` on N hosts end to end,
// through a real `jobgraph server`: from just before the adHocRun mutation
// to the run final with every task succeeded (its output stored: a worker
// ships a task's log before it reports the task finished). It is the `ext`
// tool of ../shared/bench/fanout/run.sh:
//
//	e2e-fanout -jobgraph BIN [-mysql DSN | -db DSN] [-out FILE] N ADDR PORT KEY KNOWN_HOSTS CMD HOSTS_FILE
//
// Setup, not measured: start the server (temp data dir; SQLite and the
// embedded NATS unless -db/-mysql), sign in as the first admin, create a
// project, an SSH_KEY credential (user root, the harness's client key) and
// N hosts (the names of HOSTS_FILE, all ADDR:PORT, label bench=e2e, the
// credential as default). Measured, twice: "cold" (the first run after the
// start: the ssh plugin process starts and the connections open inside it)
// and "warm" (the same run again right after: plugin up, pooled connections
// still open). The ad-hoc params carry the harness's known_hosts (strict
// host key checking). Every target shares address, port, credential and
// known_hosts, so the executor pools their connections (64 sessions each):
// the like-for-like peer is the harness's go-mux.
//
// For each phase it prints (and appends to -out) one line:
//
//	e2e phase=cold n=N wall_s=.. server_cpu_s=.. sshd_cpu_s=.. client_cpu_s=.. tasks_ok=.. ...
//
// server_cpu_s: utime+stime+cutime+cstime summed over the server process and
// all its live descendants (the executor plugin processes), delta over the
// window; sshd_cpu_s: the same over the sshd whose pid is in
// $FANOUT_DIR/sshd.pid (the per-connection sshds and the remote shells);
// client_cpu_s: this program (the GraphQL client polling the run every
// -poll). The last line is hosts_ok=K (K = tasks ok in the worse phase),
// which the harness reads.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

const adminPassword = "e2e-fanout-admin-password"

var (
	client = &http.Client{Timeout: 60 * time.Second}
	base   string
)

func main() {
	bin := flag.String("jobgraph", "", "path of the jobgraph binary")
	db := flag.String("db", "", "the server's --db (default: SQLite in the temp data dir)")
	mysqlDSN := flag.String("mysql", "", "MariaDB/MySQL server DSN without a database, e.g. root@tcp(127.0.0.1:3306)/: a fresh database is created there and dropped afterwards")
	out := flag.String("out", "", "also append the result lines to this file")
	poll := flag.Duration("poll", 20*time.Millisecond, "how often the run is polled")
	warm := flag.Int("warm", 1, "warm runs after the cold one")
	expect := flag.String("expect", "hello", "what a task's log must contain (spot check)")
	keep := flag.Bool("keep", false, "keep the data dir and the server log")
	workers := flag.Int("workers", 0, "the server's --workers (0: its default)")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up on a run after this")
	flag.Parse()
	a := flag.Args()
	if *bin == "" || len(a) != 7 {
		fmt.Fprintln(os.Stderr, "usage: e2e-fanout -jobgraph BIN [-mysql DSN | -db DSN] [-out FILE] N ADDR PORT KEY KNOWN_HOSTS CMD HOSTS_FILE")
		os.Exit(2)
	}
	n, err := strconv.Atoi(a[0])
	check(err)
	addr := a[1]
	port, err := strconv.Atoi(a[2])
	check(err)
	key, err := os.ReadFile(a[3])
	check(err)
	kh, err := os.ReadFile(a[4])
	check(err)
	cmdLine := a[5]
	hostsRaw, err := os.ReadFile(a[6])
	check(err)
	names := strings.Fields(string(hostsRaw))
	if len(names) < n {
		check(fmt.Errorf("hosts file has %d names, want %d", len(names), n))
	}
	sshdPID := 0
	fanoutDir := os.Getenv("FANOUT_DIR")
	if fanoutDir == "" {
		fanoutDir = filepath.Dir(a[3])
	}
	if b, err := os.ReadFile(filepath.Join(fanoutDir, "sshd.pid")); err == nil {
		sshdPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}

	// ---- the server ------------------------------------------------------
	dataDir, err := os.MkdirTemp("", "e2e-fanout-")
	check(err)
	dsn := *db
	dbName := ""
	if *mysqlDSN != "" {
		dbName, dsn = freshMySQL(*mysqlDSN)
	}
	cleanup := func() {}
	defer func() { cleanup() }()
	args := []string{"server", "--listen", "127.0.0.1:0", "--data-dir", dataDir}
	if *workers > 0 {
		args = append(args, "--workers", strconv.Itoa(*workers))
	}
	srv := exec.Command(*bin, args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JOBGRAPH_") {
			env = append(env, kv)
		}
	}
	env = append(env, "JOBGRAPH_ADMIN_PASSWORD="+adminPassword)
	if dsn != "" {
		env = append(env, "JOBGRAPH_DB="+dsn)
	}
	srv.Env = env
	logf, err := os.Create(filepath.Join(dataDir, "server.log"))
	check(err)
	stderr, err := srv.StderrPipe()
	check(err)
	check(srv.Start())
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
					u := strings.Trim(strings.Fields(line[i+4:])[0], `"`)
					urlCh <- u
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
		if dbName != "" {
			dropMySQL(*mysqlDSN, dbName)
		}
		if *keep || keepData {
			fmt.Fprintln(os.Stderr, "e2e-fanout: kept", dataDir)
		} else {
			_ = os.RemoveAll(dataDir)
		}
	}
	select {
	case u, ok := <-urlCh:
		if !ok {
			fail(cleanup, fmt.Errorf("the server exited before serving; log in %s", logf.Name()))
		}
		base = u
	case <-time.After(60 * time.Second):
		fail(cleanup, errors.New("the server did not serve within 60s"))
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
			fail(cleanup, errors.New("/readyz not 200 within 60s"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	jar, _ := cookiejar.New(nil)
	client.Jar = jar
	var login struct {
		Login struct{ User struct{ Username string } }
	}
	gqlOrDie(cleanup, `mutation($in: LoginInput!) { login(input: $in) { user { username } } }`,
		map[string]any{"in": map[string]any{"username": "admin", "password": adminPassword}}, &login)

	// ---- inventory (setup) -------------------------------------------------
	var proj struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	gqlOrDie(cleanup, `mutation($in: CreateProjectInput!) { createProject(input: $in) { project { id } } }`,
		map[string]any{"in": map[string]any{"name": "e2e-fanout"}}, &proj)
	project := proj.CreateProject.Project.ID
	var cred struct {
		CreateCredential struct{ Credential struct{ ID string } }
	}
	gqlOrDie(cleanup, `mutation($in: CreateCredentialInput!) { createCredential(input: $in) { credential { id } } }`,
		map[string]any{"in": map[string]any{"projectId": project, "name": "fanout", "kind": "SSH_KEY", "username": "root", "secret": string(key)}}, &cred)
	setupStart := time.Now()
	const perRequest = 50 // createHost mutations per request (aliases)
	for lo := 0; lo < n; lo += perRequest {
		hi := min(lo+perRequest, n)
		var q strings.Builder
		vars := map[string]any{}
		q.WriteString("mutation(")
		for i := lo; i < hi; i++ {
			if i > lo {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "$h%d: CreateHostInput!", i)
			vars[fmt.Sprintf("h%d", i)] = map[string]any{"projectId": project, "name": names[i], "address": addr, "port": port,
				"defaultCredentialId": cred.CreateCredential.Credential.ID, "labels": []map[string]any{{"key": "bench", "value": "e2e"}}}
		}
		q.WriteString(") {")
		for i := lo; i < hi; i++ {
			fmt.Fprintf(&q, " h%d: createHost(input: $h%d) { host { id } }", i, i)
		}
		q.WriteString(" }")
		var ignored map[string]any
		gqlOrDie(cleanup, q.String(), vars, &ignored)
	}
	fmt.Fprintf(os.Stderr, "e2e-fanout: %d hosts created in %s\n", n, time.Since(setupStart).Round(time.Millisecond))

	params := map[string]any{"command": cmdLine, "known_hosts": string(kh)}
	minOK := n
	for phase := 0; phase <= *warm; phase++ {
		name := "cold"
		if phase > 0 {
			name = "warm"
			if *warm > 1 {
				name = fmt.Sprintf("warm%d", phase)
			}
		}
		r, err := measure(project, n, params, srv.Process.Pid, sshdPID, *poll, *timeout, *expect)
		if err != nil {
			fail(cleanup, fmt.Errorf("%s run: %w", name, err))
		}
		line := fmt.Sprintf("e2e phase=%s n=%d wall_s=%.3f server_cpu_s=%.3f sshd_cpu_s=%.3f client_cpu_s=%.3f tasks_ok=%d run_status=%s "+
			"first_start_s=%.3f last_finish_s=%.3f task_p50_ms=%.1f task_p99_ms=%.1f run=%s",
			name, n, r.wall, r.serverCPU, r.sshdCPU, r.clientCPU, r.ok, r.status, r.firstStart, r.lastFinish, r.taskP50*1000, r.taskP99*1000, r.runID)
		fmt.Println(line)
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err == nil {
				fmt.Fprintln(f, line)
				_ = f.Close()
			}
		}
		minOK = min(minOK, r.ok)
	}
	fmt.Printf("hosts_ok=%d\n", minOK)
}

type result struct {
	runID, status                 string
	wall                          float64
	serverCPU, sshdCPU, clientCPU float64
	ok                            int
	firstStart, lastFinish        float64 // seconds after t0, from the tasks' startedAt/finishedAt
	taskP50, taskP99              float64 // task durations, seconds
}

var finalStatus = []string{"SUCCEEDED", "FAILED", "CANCELED", "TIMED_OUT"}

func measure(project string, n int, params map[string]any, serverPID, sshdPID int, poll, timeout time.Duration, expect string) (result, error) {
	var r result
	// Let the previous phase's stragglers (sshd children ending) settle.
	time.Sleep(500 * time.Millisecond)
	s0, d0, c0 := treeTicks(serverPID), treeTicks(sshdPID), selfCPU()
	t0 := time.Now()
	var started struct {
		AdHocRun struct{ Run struct{ ID string } }
	}
	if err := gql(`mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id } } }`,
		map[string]any{"in": map[string]any{"projectId": project, "executor": "ssh", "action": "command",
			"params": params, "targets": map[string]any{"selector": "bench=e2e"}}}, &started); err != nil {
		return r, err
	}
	r.runID = started.AdHocRun.Run.ID
	tick := time.NewTicker(poll)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		var v struct {
			Run struct {
				Status string
				Steps  []struct {
					Counts struct{ Total, Succeeded int }
				}
			}
		}
		if err := gql(`query($id: ID!) { run(id: $id) { status steps { counts { total succeeded } } } }`, map[string]any{"id": r.runID}, &v); err != nil {
			return r, err
		}
		if slices.Contains(finalStatus, v.Run.Status) {
			r.status = v.Run.Status
			for _, s := range v.Run.Steps {
				r.ok += s.Counts.Succeeded
			}
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			return r, fmt.Errorf("run %s not final within %s (status %s)", r.runID, timeout, v.Run.Status)
		}
	}
	t1 := time.Now()
	s1, d1, c1 := treeTicks(serverPID), treeTicks(sshdPID), selfCPU()
	r.wall = t1.Sub(t0).Seconds()
	r.serverCPU, r.sshdCPU, r.clientCPU = ticksToS(s1-s0), ticksToS(d1-d0), c1-c0
	if sshdPID == 0 {
		r.sshdCPU = -1
	}

	// Checks and timings, after the window: every task's log stored, one
	// task's log has what the command printed.
	var durs []float64
	var firstID string
	after := ""
	first, last := time.Time{}, time.Time{}
	for {
		var v struct {
			Run struct {
				Tasks struct {
					Edges []struct {
						Node struct {
							ID, Status            string
							LogBytes              int
							StartedAt, FinishedAt *time.Time
						}
					}
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
		}
		vars := map[string]any{"id": r.runID}
		if after != "" {
			vars["after"] = after
		}
		if err := gql(`query($id: ID!, $after: String) { run(id: $id) { tasks(first: 500, after: $after) { edges { node { id status logBytes startedAt finishedAt } } pageInfo { hasNextPage endCursor } } } }`, vars, &v); err != nil {
			return r, err
		}
		for _, e := range v.Run.Tasks.Edges {
			t := e.Node
			if t.LogBytes == 0 && t.Status == "SUCCEEDED" {
				return r, fmt.Errorf("task %s succeeded with no log stored", t.ID)
			}
			if firstID == "" {
				firstID = t.ID
			}
			if t.StartedAt != nil && t.FinishedAt != nil {
				durs = append(durs, t.FinishedAt.Sub(*t.StartedAt).Seconds())
				if first.IsZero() || t.StartedAt.Before(first) {
					first = *t.StartedAt
				}
				if t.FinishedAt.After(last) {
					last = *t.FinishedAt
				}
			}
		}
		if !v.Run.Tasks.PageInfo.HasNextPage {
			break
		}
		after = v.Run.Tasks.PageInfo.EndCursor
	}
	if !first.IsZero() {
		r.firstStart, r.lastFinish = first.Sub(t0).Seconds(), last.Sub(t0).Seconds()
	}
	if len(durs) > 0 {
		slices.Sort(durs)
		r.taskP50, r.taskP99 = durs[len(durs)/2], durs[min(len(durs)-1, len(durs)*99/100)]
	}
	if firstID != "" && expect != "" {
		var logs struct {
			TaskLogs struct{ Chunks []struct{ Data string } }
		}
		if err := gql(`query($id: ID!) { taskLogs(taskId: $id, first: 1000) { chunks { data } } }`, map[string]any{"id": firstID}, &logs); err != nil {
			return r, err
		}
		var b strings.Builder
		for _, c := range logs.TaskLogs.Chunks {
			b.WriteString(c.Data)
		}
		if !strings.Contains(b.String(), expect) {
			return r, fmt.Errorf("task %s's log has no %q: %q", firstID, expect, b.String())
		}
	}
	return r, nil
}

// treeTicks returns utime+stime+cutime+cstime summed over pid and its live
// descendants (a process's cutime holds its reaped children, so nothing is
// counted twice). 0 for pid 0.
func treeTicks(pid int) int64 {
	if pid == 0 {
		return 0
	}
	ents, _ := os.ReadDir("/proc")
	type st struct {
		ppid  int
		ticks int64
	}
	all := map[int]st{}
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
		for _, k := range []int{11, 12, 13, 14} { // fields 14-17
			v, _ := strconv.ParseInt(f[k], 10, 64)
			t += v
		}
		all[p] = st{ppid, t}
	}
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
	var sum int64
	for p := range in {
		sum += all[p].ticks
	}
	return sum
}

func ticksToS(t int64) float64 { return float64(t) / 100 } // USER_HZ is 100 on Linux

func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

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

func gqlOrDie(cleanup func(), query string, vars map[string]any, data any) {
	if err := gql(query, vars, data); err != nil {
		fail(cleanup, err)
	}
}

func freshMySQL(serverDSN string) (name, dsn string) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name = "jgbench_" + hex.EncodeToString(b[:])
	d, err := sql.Open("mysql", serverDSN)
	check(err)
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = d.ExecContext(ctx, "CREATE DATABASE "+name)
	check(err)
	base := serverDSN
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[:i]
	}
	return name, base + "/" + name
}

func dropMySQL(serverDSN, name string) {
	d, err := sql.Open("mysql", serverDSN)
	if err != nil {
		return
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.ExecContext(ctx, "DROP DATABASE "+name); err != nil {
		fmt.Fprintln(os.Stderr, "e2e-fanout: drop database:", err)
	}
}

var keepData bool // set on failure: keep the server log

func fail(cleanup func(), err error) {
	keepData = true
	fmt.Fprintln(os.Stderr, "e2e-fanout:", err)
	cleanup()
	os.Exit(1)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-fanout:", err)
		os.Exit(1)
	}
}
