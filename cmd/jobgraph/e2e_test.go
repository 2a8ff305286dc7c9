//go:build unix

package main

// The end-to-end tests below build the real jobgraph binary once (TestMain)
// and run it as a user would: flags, environment, config file, signals,
// stderr and exit codes. Servers listen on 127.0.0.1:0 and announce their
// address in the "jobgraph is serving" log line, which the tests read from
// stderr through a pipe. Nothing sleeps: every wait is a channel wait or a
// poll bounded by e2eTimeout.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// e2eTimeout bounds every wait on a jobgraph process or a request to it.
const e2eTimeout = 20 * time.Second

// e2eBinary is the jobgraph binary built by TestMain.
var e2eBinary string

func TestMain(m *testing.M) {
	os.Exit(e2eMain(m))
}

func e2eMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "jobgraph-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: cannot build the jobgraph binary: %v\n", err)
		return 1
	}
	bin := filepath.Join(dir, "jobgraph")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build -o %s . failed: %v\n%s", bin, err, out)
		return 1
	}
	e2eBinary = bin
	return m.Run()
}

// e2eEnv returns the test's environment without any JOBGRAPH_ variable,
// plus extra ("KEY=value").
func e2eEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	env = append(env, "JOBGRAPH_ADMIN_PASSWORD="+e2eAdminPassword)
	return append(env, extra...)
}

// e2eRun runs the binary to completion and returns its output and exit
// code. It fails the test if the process does not exit within e2eTimeout.
func e2eRun(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), e2eTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2eBinary, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("jobgraph %q did not exit within %s; stderr:\n%s", args, e2eTimeout, errOut.String())
	}
	if _, ok := errors.AsType[*exec.ExitError](err); err != nil && !ok {
		t.Fatalf("jobgraph %q: %v", args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// e2eProc is a running jobgraph process whose stderr is being read.
type e2eProc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  *e2eLineLog
	url  string // set by waitServing

	exited chan struct{} // closed once stderr is drained and Wait returned
}

// e2eStart starts the binary with args and env. The process is killed when
// the test ends, if it is still running; a failed test logs its stderr.
func e2eStart(t *testing.T, name string, env []string, args ...string) *e2eProc {
	t.Helper()
	return e2eStartBinary(t, e2eBinary, name, env, args...)
}

// e2eStartBinary is e2eStart with another jobgraph binary.
func e2eStartBinary(t *testing.T, bin, name string, env []string, args ...string) *e2eProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start(), "start %s", name)
	p := &e2eProc{t: t, name: name, cmd: cmd, log: newE2ELineLog(), exited: make(chan struct{})}
	go func() {
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				p.log.add(strings.TrimRight(line, "\r\n"))
			}
			if err != nil {
				break
			}
		}
		p.log.close()
		_ = cmd.Wait() // the exit status is in cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			select {
			case <-p.exited:
			case <-time.After(e2eTimeout):
				t.Errorf("%s (pid %d) did not exit after SIGKILL", name, cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("stderr of %s:\n%s", name, p.log)
		}
	})
	return p
}

// e2eStartServer starts `jobgraph server` and waits until it serves.
func e2eStartServer(t *testing.T, name string, env []string, args ...string) *e2eProc {
	t.Helper()
	p := e2eStart(t, name, env, append([]string{"server"}, args...)...)
	p.waitServing()
	e2eLogin(t, p.url)
	return p
}

// waitServing waits for the "jobgraph is serving" line and records its URL.
func (p *e2eProc) waitServing() {
	p.t.Helper()
	line := p.waitFor(`the "jobgraph is serving" line`, e2eHasMsg("jobgraph is serving"))
	p.url = e2eLogAttrs(line)["url"]
	require.True(p.t, strings.HasPrefix(p.url, "http://127.0.0.1:"), "%s: serving line without url: %s", p.name, line)
}

// waitFor returns the first stderr line that matches, waiting for it until
// e2eTimeout. It fails if stderr ends first.
func (p *e2eProc) waitFor(what string, match func(line string) bool) string {
	p.t.Helper()
	deadline := time.NewTimer(e2eTimeout)
	defer deadline.Stop()
	for {
		lines, changed, closed := p.log.snapshot()
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		if closed {
			p.t.Fatalf("%s exited before logging %s", p.name, what)
		}
		select {
		case <-changed:
		case <-deadline.C:
			p.t.Fatalf("%s did not log %s within %s", p.name, what, e2eTimeout)
		}
	}
}

// lines returns the stderr lines read so far that match.
func (p *e2eProc) lines(match func(line string) bool) []string {
	all, _, _ := p.log.snapshot()
	var out []string
	for _, l := range all {
		if match(l) {
			out = append(out, l)
		}
	}
	return out
}

// wait waits until the process exits and returns its exit code (-1 when a
// signal killed it).
func (p *e2eProc) wait() int {
	p.t.Helper()
	timer := time.NewTimer(e2eTimeout)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		p.t.Fatalf("%s did not exit within %s", p.name, e2eTimeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends sig and returns the exit code.
func (p *e2eProc) stop(sig os.Signal) int {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig))
	return p.wait()
}

// e2eLineLog collects the lines of a stream and tells waiters about new ones.
type e2eLineLog struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed, and replaced, on every new line and at the end
	closed  bool
}

func newE2ELineLog() *e2eLineLog { return &e2eLineLog{changed: make(chan struct{})} }

func (l *e2eLineLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *e2eLineLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	close(l.changed)
	l.changed = make(chan struct{})
}

// snapshot returns the lines so far, a channel closed when that changes, and
// whether the stream has ended.
func (l *e2eLineLog) snapshot() ([]string, <-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines[:len(l.lines):len(l.lines)], l.changed, l.closed
}

func (l *e2eLineLog) String() string {
	lines, _, _ := l.snapshot()
	return strings.Join(lines, "\n")
}

// e2eLogAttrs returns the attributes of one slog line, text or JSON
// (msg, level, url, ...). Nested values are not needed here.
func e2eLogAttrs(line string) map[string]string {
	attrs := map[string]string{}
	if strings.HasPrefix(line, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			for k, v := range m {
				attrs[k] = fmt.Sprint(v)
			}
		}
		return attrs
	}
	for s := strings.TrimSpace(line); s != ""; s = strings.TrimLeft(s, " ") {
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		value := rest
		if strings.HasPrefix(rest, `"`) {
			quoted, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			value, _ = strconv.Unquote(quoted)
			rest = rest[len(quoted):]
		} else {
			value, rest, _ = strings.Cut(rest, " ")
		}
		attrs[key] = value
		s = rest
	}
	return attrs
}

// e2eHasMsg matches log lines whose message is msg.
func e2eHasMsg(msg string) func(string) bool {
	return func(line string) bool { return e2eLogAttrs(line)["msg"] == msg }
}

// e2eIsKeyWarning matches the warning about a newly generated secret key.
func e2eIsKeyWarning(line string) bool {
	return strings.Contains(e2eLogAttrs(line)["msg"], "generated a new secret key")
}

// e2eClient is for requests that need no session.
var e2eClient = &http.Client{Timeout: e2eTimeout}

// e2eClients holds one client per server URL, each with its own cookie jar:
// a jar keys cookies by host, not port, so one jar would mix the sessions
// of the servers that parallel tests run on 127.0.0.1.
var e2eClients sync.Map

func e2eClientFor(baseURL string) *http.Client {
	if c, ok := e2eClients.Load(baseURL); ok {
		return c.(*http.Client)
	}
	jar, _ := cookiejar.New(nil)
	c, _ := e2eClients.LoadOrStore(baseURL, &http.Client{Timeout: e2eTimeout, Jar: jar})
	return c.(*http.Client)
}

// e2eAdminPassword is the first admin's password on every server the tests
// start (JOBGRAPH_ADMIN_PASSWORD).
const e2eAdminPassword = "e2e-admin-password"

// e2eLogin signs in as the first admin; the session cookie lands in the
// server's client's jar, so later requests to it are authenticated.
func e2eLogin(t *testing.T, baseURL string) {
	t.Helper()
	var data struct {
		Login struct{ User struct{ Username string } }
	}
	e2eGraphQL(t, baseURL, `mutation($in: LoginInput!) { login(input: $in) { user { username } } }`,
		map[string]any{"in": map[string]any{"username": "admin", "password": e2eAdminPassword}}, &data)
	require.Equal(t, "admin", data.Login.User.Username)
}

func e2eHTTPStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := e2eClient.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// e2eGraphQL posts a query, requires a 200 answer without errors and decodes
// its data into data.
func e2eGraphQL(t *testing.T, baseURL, query string, vars map[string]any, data any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	resp, err := e2eClientFor(baseURL).Post(baseURL+"/graphql", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)
	e2eDecodeGraphQL(t, raw, data)
}

func e2eDecodeGraphQL(t *testing.T, raw []byte, data any) {
	t.Helper()
	var r struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(raw, &r), "%s", raw)
	require.Empty(t, r.Errors, "%s", raw)
	require.NoError(t, json.Unmarshal(r.Data, data), "%s", raw)
}

const e2eCreateProjectMutation = `mutation($in: CreateProjectInput!) { createProject(input: $in) { project { id name } } }`

type e2eCreateProjectData struct {
	CreateProject struct {
		Project struct{ ID, Name string }
	}
}

func e2eCreateProject(t *testing.T, baseURL, name string) string {
	t.Helper()
	var data e2eCreateProjectData
	e2eGraphQL(t, baseURL, e2eCreateProjectMutation, map[string]any{"in": map[string]any{"name": name}}, &data)
	require.Equal(t, name, data.CreateProject.Project.Name)
	require.NotEmpty(t, data.CreateProject.Project.ID)
	return data.CreateProject.Project.ID
}

// e2eProjectName returns the name of project id, or "" when there is none.
func e2eProjectName(t *testing.T, baseURL, id string) string {
	t.Helper()
	var data struct{ Project *struct{ Name string } }
	e2eGraphQL(t, baseURL, `query($id: ID!) { project(id: $id) { name } }`, map[string]any{"id": id}, &data)
	if data.Project == nil {
		return ""
	}
	return data.Project.Name
}

// e2eWriteYAML writes a config file and returns its path.
func e2eWriteYAML(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jobgraph.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestE2EFirstStartAndRestart(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data") // the server creates it
	keyPath := filepath.Join(dataDir, "secret.key")
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", dataDir}

	first := e2eStartServer(t, "first start", e2eEnv(), args...)
	require.Equal(t, http.StatusOK, e2eHTTPStatus(t, first.url+"/healthz"))
	require.Equal(t, http.StatusOK, e2eHTTPStatus(t, first.url+"/readyz"))
	id := e2eCreateProject(t, first.url, "first")

	fi, err := os.Stat(dataDir)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), fi.Mode().Perm(), "data dir mode")
	fi, err = os.Stat(filepath.Join(dataDir, store.DefaultSQLiteFile))
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular())
	fi, err = os.Stat(keyPath)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "secret.key mode")
	key, err := os.ReadFile(keyPath)
	require.NoError(t, err)
	require.NotEmpty(t, key)

	warnings := first.lines(e2eIsKeyWarning)
	require.Len(t, warnings, 1)
	warn := e2eLogAttrs(warnings[0])
	require.Equal(t, "WARN", warn["level"])
	require.Equal(t, keyPath, warn["path"])
	require.NotContains(t, first.log.String(), strings.TrimSpace(string(key)), "the key itself is logged")
	require.Equal(t, 0, first.stop(syscall.SIGTERM))

	second := e2eStartServer(t, "restart", e2eEnv(), args...)
	again, err := os.ReadFile(keyPath)
	require.NoError(t, err)
	require.Equal(t, key, again, "the restart replaced the secret key")
	require.Empty(t, second.lines(e2eIsKeyWarning), "the restart generated a new key")
	ready := second.waitFor(`"database ready"`, e2eHasMsg("database ready"))
	require.Equal(t, "0", e2eLogAttrs(ready)["migrations_applied"], "%s", ready)
	require.Equal(t, "first", e2eProjectName(t, second.url, id))
	require.Equal(t, 0, second.stop(syscall.SIGTERM))
}

func TestE2EGracefulShutdownFinishesRequestInFlight(t *testing.T) {
	t.Parallel()
	p := e2eStartServer(t, "server", e2eEnv(), "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--shutdown-timeout", "20s")

	// The body is streamed through a pipe. With "Expect: 100-continue" the
	// server answers "100 Continue" only once the GraphQL handler reads the
	// body, so after Got100Continue the request is known to be in flight:
	// accepted, its headers read, its handler running.
	body := `{"query":` + strconv.Quote(e2eCreateProjectMutation) + `,"variables":{"in":{"name":"in-flight"}}}`
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.Close() })
	got100 := make(chan struct{})
	var once sync.Once
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		Got100Continue: func() { once.Do(func() { close(got100) }) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/graphql", pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: e2eTimeout},
		Jar:       e2eClientFor(p.url).Jar, // the admin's session
	}
	t.Cleanup(client.CloseIdleConnections)

	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: b, err: err}
	}()

	timer := time.NewTimer(e2eTimeout)
	defer timer.Stop()
	select {
	case <-got100:
	case r := <-done:
		t.Fatalf("request ended before the server read its body: %v %d %s", r.err, r.status, r.body)
	case <-timer.C:
		t.Fatal("no 100 Continue: the server did not start reading the body")
	}
	e2ePipeWrite(t, pw, body[:len(body)/2])

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.waitFor(`"shutting down"`, e2eHasMsg("shutting down"))
	// Shutdown closes the listener at once; the request keeps going.
	addr := strings.TrimPrefix(p.url, "http://")
	for {
		conn, err := net.DialTimeout("tcp", addr, e2eTimeout)
		if err != nil {
			break
		}
		_ = conn.Close()
		select {
		case <-timer.C:
			t.Fatal("the server still accepts connections while shutting down")
		default:
		}
	}

	e2ePipeWrite(t, pw, body[len(body)/2:])
	require.NoError(t, pw.Close())
	var r result
	select {
	case r = <-done:
	case <-timer.C:
		t.Fatal("no response to the request in flight")
	}
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var data e2eCreateProjectData
	e2eDecodeGraphQL(t, r.body, &data)
	require.Equal(t, "in-flight", data.CreateProject.Project.Name)
	require.NotEmpty(t, data.CreateProject.Project.ID)

	require.Equal(t, 0, p.wait())
	require.Len(t, p.lines(e2eHasMsg("stopped")), 1)
}

// e2ePipeWrite writes s to pw, which blocks until the HTTP client has read it.
func e2ePipeWrite(t *testing.T, pw *io.PipeWriter, s string) {
	t.Helper()
	written := make(chan error, 1)
	go func() {
		_, err := io.WriteString(pw, s)
		written <- err
	}()
	timer := time.NewTimer(e2eTimeout)
	defer timer.Stop()
	select {
	case err := <-written:
		require.NoError(t, err)
	case <-timer.C:
		_ = pw.CloseWithError(errors.New("timed out"))
		t.Fatal("the HTTP client did not read the request body")
	}
}

func TestE2ESIGINT(t *testing.T) {
	t.Parallel()
	p := e2eStartServer(t, "server", e2eEnv(), "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	require.Equal(t, http.StatusOK, e2eHTTPStatus(t, p.url+"/healthz"))
	require.Equal(t, 0, p.stop(syscall.SIGINT))
	require.Len(t, p.lines(e2eHasMsg("shutting down")), 1)
	require.Len(t, p.lines(e2eHasMsg("stopped")), 1)
}

func TestE2EBadStartup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		config string   // a config file's content, passed with --config
		code   int      // the exit code; 0 means any non-zero code
		want   []string // in the error line
		never  []string // anywhere in the output
		dbErr  bool     // a database error: no secret key may be generated
	}{
		{
			name:  "unreachable mysql",
			args:  []string{"--db", "user:pw@tcp(127.0.0.1:1)/x"},
			want:  []string{"mysql", "tcp(127.0.0.1:1)/x"},
			never: []string{"pw"},
			dbErr: true,
		},
		{
			name:  "mysql url without host",
			args:  []string{"--db", "mysql://u:secretpw@/nohost"},
			want:  []string{"invalid database DSN", "no host"},
			never: []string{"pw", "secret"},
			dbErr: true,
		},
		{
			name:  "malformed dsn",
			args:  []string{"--db", "garbage"},
			want:  []string{"invalid database DSN", `"garbage"`},
			dbErr: true,
		},
		{
			name: "bad log level",
			args: []string{"--log-level", "loud"},
			code: 2,
			want: []string{"log_level", `"loud"`},
		},
		{
			name: "two bad settings",
			args: []string{"--log-level", "loud", "--log-format", "xml"},
			code: 2,
			want: []string{"log_level", `"loud"`, "log_format", `"xml"`},
		},
		{
			name: "unknown flag",
			args: []string{"--no-such-flag"},
			code: 2,
			want: []string{"unknown flag", "--no-such-flag"},
		},
		{
			name:   "unknown config key",
			config: "listen: 127.0.0.1:0\nlisten_adress: 127.0.0.1:0\n",
			code:   2,
			want:   []string{"config file", `unknown key "listen_adress"`},
		},
		{
			name: "port out of range",
			args: []string{"--listen", "127.0.0.1:99999"},
			code: 2,
			want: []string{"listen", "127.0.0.1:99999"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dataDir := t.TempDir()
			args := []string{"server", "--listen", "127.0.0.1:0", "--data-dir", dataDir}
			if tt.config != "" {
				args = append(args, "--config", e2eWriteYAML(t, tt.config))
			}
			args = append(args, tt.args...)

			stdout, stderr, code := e2eRun(t, e2eEnv(), args...)
			if tt.code == 0 {
				require.NotZero(t, code, "stderr: %s", stderr)
			} else {
				require.Equal(t, tt.code, code, "stderr: %s", stderr)
			}
			require.Empty(t, stdout)
			require.True(t, strings.HasSuffix(stderr, "\n"), "stderr: %q", stderr)
			line := strings.TrimSuffix(stderr, "\n")
			require.NotContains(t, line, "\n", "stderr is not one line")
			require.True(t, strings.HasPrefix(line, "jobgraph: "), "stderr: %q", stderr)
			for _, w := range tt.want {
				require.Contains(t, line, w)
			}
			for _, n := range tt.never {
				require.NotContains(t, stderr, n)
			}
			if tt.dbErr {
				_, err := os.Stat(filepath.Join(dataDir, "secret.key"))
				require.ErrorIs(t, err, fs.ErrNotExist, "a secret key was generated for a server that did not start")
			}
		})
	}
}

func TestE2EListenAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })

	_, stderr, code := e2eRun(t, e2eEnv(), "server", "--listen", ln.Addr().String(), "--data-dir", t.TempDir())
	require.Equal(t, 1, code, "stderr: %s", stderr)
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	require.True(t, strings.HasPrefix(last, "jobgraph: listen on "+ln.Addr().String()), "stderr: %s", stderr)
	for _, l := range lines[:len(lines)-1] {
		require.NotEmpty(t, e2eLogAttrs(l)["level"], "not a log line: %q", l)
	}
}

func TestE2EMySQLReplicas(t *testing.T) {
	t.Parallel()
	dsn := storetest.NewDSN(t, store.MySQL)
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	// Replicas share the secret key; each has its own data dir.
	env := e2eEnv("JOBGRAPH_DB="+dsn, "JOBGRAPH_SECRET_KEY="+key.Encode())

	// Both replicas start at once against the empty database; the migration
	// lock lets one migrate while the other waits.
	a := e2eStart(t, "replica a", env, "server", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	b := e2eStart(t, "replica b", env, "server", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	a.waitServing()
	b.waitServing()
	for _, p := range []*e2eProc{a, b} {
		require.Equal(t, http.StatusOK, e2eHTTPStatus(t, p.url+"/readyz"), p.name)
		e2eLogin(t, p.url)
	}
	id := e2eCreateProject(t, a.url, "shared")
	require.Equal(t, "shared", e2eProjectName(t, b.url, id))

	var applied []string
	for _, p := range []*e2eProc{a, b} {
		ready := e2eLogAttrs(p.waitFor(`"database ready"`, e2eHasMsg("database ready")))
		require.Equal(t, string(store.MySQL), ready["dialect"])
		applied = append(applied, ready["migrations_applied"])
	}
	require.Contains(t, applied, "0", "both replicas applied migrations")
	require.NotEqual(t, applied[0], applied[1], "neither replica applied the migrations")

	stdout, stderr, code := e2eRun(t, e2eEnv(), "migrate", "--db", dsn, "--data-dir", t.TempDir())
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "schema is up to date")

	// A third server with a key of its own (a generated one) is refused:
	// it could not read the credentials the others seal, nor they its own.
	_, stderr, code = e2eRun(t, e2eEnv("JOBGRAPH_DB="+dsn), "server", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "not the one this database's credentials are sealed with")

	require.Equal(t, 0, a.stop(syscall.SIGTERM))
	require.Equal(t, 0, b.stop(syscall.SIGTERM))
}

func TestE2EMigrateSQLite(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()

	stdout, stderr, code := e2eRun(t, e2eEnv(), "migrate", "--data-dir", dataDir)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	m := regexp.MustCompile(`^migrated schema from version 0 to (\d+):\n`).FindStringSubmatch(stdout)
	require.NotNil(t, m, "stdout: %s", stdout)
	require.Contains(t, stdout, "  00001_inventory.sql\n")
	_, err := os.Stat(filepath.Join(dataDir, store.DefaultSQLiteFile))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dataDir, "secret.key"))
	require.ErrorIs(t, err, fs.ErrNotExist, "migrate generated a secret key")

	stdout, stderr, code = e2eRun(t, e2eEnv(), "migrate", "--data-dir", dataDir)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Equal(t, "schema is up to date at version "+m[1]+"\n", stdout)
}

func TestE2EConfigPrecedence(t *testing.T) {
	t.Parallel()

	t.Run("file listen and env log format", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String() // a free port, for the file to name
		require.NoError(t, l.Close())
		dataDir := t.TempDir()
		config := e2eWriteYAML(t, fmt.Sprintf("listen: %q\ndata_dir: %q\nlog_format: text\n", addr, dataDir))

		p := e2eStartServer(t, "server", e2eEnv("JOBGRAPH_LOG_FORMAT=json"), "--config", config)
		require.Equal(t, "http://"+addr, p.url)
		require.Equal(t, http.StatusOK, e2eHTTPStatus(t, p.url+"/healthz"))
		lines := p.lines(func(string) bool { return true })
		for _, l := range lines {
			var entry map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &entry), "not a JSON log line: %q", l)
			require.Contains(t, entry, "level")
			require.Contains(t, entry, "msg")
		}
		var serving struct{ Level, Msg, URL string }
		require.NoError(t, json.Unmarshal([]byte(p.waitFor("serving", e2eHasMsg("jobgraph is serving"))), &serving))
		require.Equal(t, "INFO", serving.Level)
		require.Equal(t, "http://"+addr, serving.URL)
		_, err = os.Stat(filepath.Join(dataDir, "secret.key"))
		require.NoError(t, err, "the file's data_dir is not used")
		require.Equal(t, 0, p.stop(syscall.SIGTERM))
	})

	t.Run("flag overrides file listen", func(t *testing.T) {
		t.Parallel()
		// The file names an address that is taken: the server can only start
		// if --listen wins.
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = taken.Close() })
		config := e2eWriteYAML(t, fmt.Sprintf("listen: %q\n", taken.Addr().String()))

		p := e2eStartServer(t, "server", e2eEnv("JOBGRAPH_CONFIG="+config), "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
		require.NotEqual(t, "http://"+taken.Addr().String(), p.url)
		require.Equal(t, http.StatusOK, e2eHTTPStatus(t, p.url+"/healthz"))
		serving := p.waitFor("serving", e2eHasMsg("jobgraph is serving"))
		require.False(t, json.Valid([]byte(serving)), "text is the default log format: %s", serving)
		require.Equal(t, 0, p.stop(syscall.SIGTERM))
	})
}

func TestE2EVersion(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := e2eRun(t, e2eEnv(), "version")
	require.Equal(t, 0, code)
	require.Equal(t, "jobgraph dev\n", stdout)
	require.Empty(t, stderr)
}

// TestE2EExecutorsThroughTheAPI: the built-in executor is this binary run
// as a plugin; the API lists it, and describing it starts its process.
func TestE2EExecutorsThroughTheAPI(t *testing.T) {
	t.Parallel()
	p := e2eStartServer(t, "server", e2eEnv(), "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	type executor struct {
		Name, Health string
		BuiltIn      bool
		Actions      []struct{ Name string }
	}
	local := func(list []executor) executor {
		t.Helper()
		for _, e := range list {
			if e.Name == "local" {
				return e
			}
		}
		t.Fatalf("no local executor in %v", list)
		return executor{}
	}
	var before struct{ Executors []executor }
	e2eGraphQL(t, p.url, `{ executors { name health builtIn } }`, nil, &before)
	for _, e := range before.Executors {
		require.True(t, e.BuiltIn, e.Name)
		require.Equal(t, "NOT_STARTED", e.Health, "%s: plugins start on first use", e.Name)
	}

	var after struct{ Executors []executor }
	e2eGraphQL(t, p.url, `query { executors { name health builtIn actions { name } } }`, nil, &after)
	require.NotEmpty(t, local(after.Executors).Actions)
	var again struct{ Executors []executor }
	e2eGraphQL(t, p.url, `{ executors { name health } }`, nil, &again)
	require.Equal(t, "READY", local(again.Executors).Health)
	p.waitFor(`"plugin started"`, e2eHasMsg("plugin started"))
	require.Equal(t, 0, p.stop(syscall.SIGTERM))
}

// TestE2EThirdPartyPlugins: the examples, installed in the plugin directory
// with their checksums in plugins.json, are listed and described next to the
// built-in executor; an unlisted binary is refused with a warning.
func TestE2EThirdPartyPlugins(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	dir := t.TempDir()
	goPlugin := filepath.Join(dir, "http-check")
	build := exec.Command("go", "build", "-o", goPlugin, ".")
	build.Dir = filepath.Join(root, "examples", "go-executor")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	pyPlugin := filepath.Join(dir, "py-echo")
	out, err = exec.Command("/bin/sh", filepath.Join(root, "examples", "python-executor", "build.sh"), pyPlugin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stray"), []byte("#!/bin/sh\nexit 0\n"), 0o755))

	sum := func(path string) string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}
	manifest, err := json.Marshal(map[string]any{"version": 1, "plugins": []map[string]string{
		{"name": "http-check", "file": "http-check", "sha256": sum(goPlugin)},
		{"name": "py-echo", "file": "py-echo", "sha256": sum(pyPlugin)},
	}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plugins.json"), manifest, 0o644))

	p := e2eStartServer(t, "server", e2eEnv(), "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--plugin-dir", dir)
	var data struct {
		Executors []struct {
			Name, Health string
			BuiltIn      bool
			Actions      []struct {
				Name         string
				ParamsSchema map[string]any
			}
		}
	}
	e2eGraphQL(t, p.url, `{ executors { name health builtIn actions { name paramsSchema } } }`, nil, &data)
	got := map[string]bool{}
	for _, e := range data.Executors {
		got[e.Name] = e.BuiltIn
		require.NotEmpty(t, e.Actions, e.Name)
		for _, a := range e.Actions {
			require.Equal(t, "object", a.ParamsSchema["type"], "%s.%s", e.Name, a.Name)
		}
	}
	require.Equal(t, true, got["local"], "built-in")
	for _, name := range []string{"http-check", "py-echo"} {
		builtIn, ok := got[name]
		require.True(t, ok, "%s is listed: %v", name, got)
		require.False(t, builtIn, "%s is third-party", name)
	}
	require.NotContains(t, got, "stray")
	require.NotEmpty(t, p.lines(func(l string) bool {
		return strings.Contains(l, "refused an executor plugin") && strings.Contains(l, "stray")
	}), "the unlisted binary is refused with a warning")
	require.Equal(t, 0, p.stop(syscall.SIGTERM))
}
