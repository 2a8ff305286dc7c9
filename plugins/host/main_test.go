package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// The test plugins, built once by TestMain from testdata/plugins.
var testPlugins = []string{"good", "hang", "badproto", "outoforder", "badhandshake", "exit"}

var (
	binDir string
	binSum = map[string][]byte{}
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "jobgraph-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	if err := buildTestPlugins(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build test plugins:", err)
		return 1
	}
	for _, n := range testPlugins {
		sum, err := FileSHA256(filepath.Join(dir, n))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		binSum[n] = sum
	}
	code := m.Run()
	if code == 0 {
		if leaks := leakedGoroutines(); leaks != "" {
			fmt.Fprintln(os.Stderr, "goroutines left behind by stopped hosts:\n"+leaks)
			return 1
		}
	}
	return code
}

// leakedGoroutines waits a little for the goroutines of this package and
// of go-plugin to end (every test stops its host) and returns the stacks
// of those that did not.
func leakedGoroutines() string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaks []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "leakedGoroutines") {
				continue
			}
			if strings.Contains(g, "hashicorp/go-plugin") || strings.Contains(g, "jobgraph/plugins/host.") {
				leaks = append(leaks, g)
			}
		}
		if len(leaks) == 0 || time.Now().After(deadline) {
			return strings.Join(leaks, "\n\n")
		}
		time.Sleep(10 * time.Millisecond) // polling for goroutines to exit; there is no signal to wait on
	}
}

// buildTestPlugins builds every test plugin into dir with one go build
// (the build cache makes it cheap after the first run). Plugins are built
// without -race: they are separate processes, and this keeps them fast.
func buildTestPlugins(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, n := range testPlugins {
		args = append(args, "./testdata/plugins/"+n)
	}
	cmd := exec.Command(goBin, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

func bin(name string) string { return filepath.Join(binDir, name) }

// src is the Source of a test plugin binary registered under name (the
// good plugin takes its name from $JG_TEST_NAME).
func src(binary, name string, env ...string) Source {
	if binary == "good" && name != "good" && !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "JG_TEST_NAME=") }) {
		env = append(env, "JG_TEST_NAME="+name)
	}
	return Source{Name: name, Path: bin(binary), Checksum: binSum[binary], Env: env}
}

// testBundle is one test's host and what it logged.
type testBundle struct {
	host *Host
	logs *logSink
}

// testOptions are fast defaults for tests: no health checks and no idle
// stops unless a test asks, and tiny backoffs.
func testOptions() Options {
	return Options{
		DescribeTimeout: 5 * time.Second,
		IdleTimeout:     Never,
		HealthInterval:  Never,
		MinBackoff:      time.Millisecond,
		MaxBackoff:      10 * time.Millisecond,
	}
}

// setup starts a host with opts and the sources, stopped at the end of
// the test. Its logs go to t and to b.logs.
func setup(t testing.TB, opts Options, srcs ...Source) *testBundle {
	t.Helper()
	logs := &logSink{t: t}
	level := slog.LevelDebug - 4
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelWarn
	}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	h := New(opts)
	for _, s := range srcs {
		require.NoError(t, h.Register(s))
	}
	require.NoError(t, h.Start(context.Background()))
	t.Cleanup(func() {
		h.Stop()
		logs.close()
	})
	return &testBundle{host: h, logs: logs}
}

// logSink sends log lines to t, and keeps them for assertions.
type logSink struct {
	t      testing.TB
	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.closed {
		l.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (l *logSink) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// capture is an sdk.Output that records everything. onStdout, when set,
// is called with each stdout chunk (to signal a test).
type capture struct {
	mu       sync.Mutex
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	progress []string
	outputs  map[string]string
	onStdout func(string)
}

var _ sdk.Output = (*capture)(nil)

func (c *capture) Stdout() io.Writer { return writerFunc(c.writeStdout) }
func (c *capture) Stderr() io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.stderr.Write(p)
	})
}

func (c *capture) writeStdout(p []byte) (int, error) {
	c.mu.Lock()
	c.stdout.Write(p)
	f := c.onStdout
	c.mu.Unlock()
	if f != nil {
		f(string(p))
	}
	return len(p), nil
}

func (c *capture) Progress(percent int, message string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.progress = append(c.progress, fmt.Sprintf("%d %s", percent, message))
}

func (c *capture) SetOutput(name, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outputs == nil {
		c.outputs = map[string]string{}
	}
	c.outputs[name] = value
}

func (c *capture) all() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("stdout=%q stderr=%q progress=%q outputs=%q", c.stdout.String(), c.stderr.String(), c.progress, c.outputs)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// run executes action on the named plugin with params.
func (b *testBundle) run(t testing.TB, name, action, params string) (sdk.Result, *capture, error) {
	t.Helper()
	out := &capture{}
	res, err := b.host.Execute(t.Context(), name, sdk.Task{ID: "t-" + action, Action: action, Params: []byte(params), Attempt: 1}, out)
	return res, out, err
}

// stats runs the good plugin's stats action.
func (b *testBundle) stats(t testing.TB, name string) map[string]string {
	t.Helper()
	res, out, err := b.run(t, name, "stats", `{}`)
	require.NoError(t, err)
	require.Equal(t, sdk.StatusSucceeded, res.Status)
	return out.outputs
}

// status returns the named plugin's Status.
func (b *testBundle) status(t testing.TB, name string) Status {
	t.Helper()
	for _, s := range b.host.List() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("plugin %q not listed", name)
	return Status{}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 15*time.Second, 5*time.Millisecond, "waiting for %s", what)
}

// processGone reports whether no process has that PID (the host reaps
// what it kills, so a killed plugin leaves no zombie either).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// readPIDFile waits for a test plugin to write its PID to path.
func readPIDFile(t testing.TB, path string) int {
	t.Helper()
	var pid int
	waitFor(t, "pid file "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			return false
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err == nil
	})
	return pid
}
