package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

func TestLazyStartAndDescribeCached(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))

	st := b.status(t, "good")
	require.Equal(t, StateNotStarted, st.State, "registering starts nothing")
	require.Zero(t, st.PID)

	info, err := b.host.Describe(t.Context(), "good")
	require.NoError(t, err)
	require.Equal(t, "good", info.Name)
	require.Equal(t, "1.2.3", info.Version)
	echo, ok := info.Action("echo")
	require.True(t, ok)
	require.Equal(t, []string{"password"}, echo.SecretParams)

	st = b.status(t, "good")
	require.Equal(t, StateReady, st.State)
	require.NotZero(t, st.PID)
	require.Equal(t, "1.2.3", st.Version)
	require.Contains(t, st.Actions, "echo")

	info.Actions[0].Name = "mutated by the caller"
	again, err := b.host.Describe(t.Context(), "good")
	require.NoError(t, err)
	require.Equal(t, "noop", again.Actions[0].Name, "the cache is not shared with callers")

	// The plugin counts the Describe calls it serves (the SDK's server may
	// make one of its own): more host Describes add none.
	before := b.stats(t, "good")
	for range 3 {
		_, err := b.host.Describe(t.Context(), "good")
		require.NoError(t, err)
	}
	after := b.stats(t, "good")
	require.Equal(t, before["describes"], after["describes"], "described once per process start, then cached")
	require.Equal(t, strconv.Itoa(st.PID), after["pid"])
	require.Equal(t, st.PID, b.status(t, "good").PID)
	require.Equal(t, 1, strings.Count(b.logs.String(), `level=INFO msg="plugin started"`))
}

func TestConcurrentExecuteOneProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))

	const n = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	outs := make([]*capture, n)
	for i := range n {
		wg.Go(func() {
			<-start // all first uses at once: the process must start once
			outs[i] = &capture{}
			task := sdk.Task{ID: fmt.Sprint("echo-", i), Action: "echo", Params: fmt.Appendf(nil, `{"text":"hello %d"}`, i)}
			res, err := b.host.Execute(t.Context(), "good", task, outs[i])
			if err == nil && res.Status != sdk.StatusSucceeded {
				err = fmt.Errorf("status %v", res.Status)
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()

	pids := map[string]bool{}
	for i := range n {
		require.NoError(t, errs[i], "task %d", i)
		require.Equal(t, fmt.Sprintf("hello %d\n", i), outs[i].stdout.String())
		require.Equal(t, []string{"50 halfway"}, outs[i].progress)
		require.Equal(t, fmt.Sprint("hello ", i), outs[i].outputs["text"])
		pids[outs[i].outputs["pid"]] = true
	}
	st := b.status(t, "good")
	require.Len(t, pids, 1, "one process serves every task")
	require.True(t, pids[strconv.Itoa(st.PID)])
	require.Equal(t, StateReady, st.State)
	require.Zero(t, st.InFlight)
	require.Zero(t, st.Restarts)
	require.Equal(t, 1, strings.Count(b.logs.String(), `level=INFO msg="plugin started"`), "started once")
}

func TestRegister(t *testing.T) {
	t.Parallel()
	good := src("good", "good")
	for _, tc := range []struct {
		name string
		src  Source
		want string
	}{
		{"bad name", Source{Name: "Bad Name", Path: good.Path, Checksum: good.Checksum}, "invalid plugin name"},
		{"relative path", Source{Name: "x", Path: "good", Checksum: good.Checksum}, "not absolute"},
		{"no path", Source{Name: "x", Checksum: good.Checksum}, "no executable path"},
		{"external without checksum", Source{Name: "x", Path: good.Path}, "needs a SHA-256 checksum"},
		{"short checksum", Source{Name: "x", Path: good.Path, Checksum: []byte{1, 2}}, "2 bytes"},
		{"wrong checksum", Source{Name: "x", Path: good.Path, Checksum: binSum["exit"]}, "checksum mismatch"},
		{"missing file", Source{Name: "x", Path: "/nonexistent/plugin", Checksum: good.Checksum}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := New(testOptions())
			defer h.Stop()
			err := h.Register(tc.src)
			require.ErrorContains(t, err, tc.want)
			var pe *PluginError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.src.Name, pe.Plugin)
		})
	}

	t.Run("duplicate, then use before start, unknown and after stop", func(t *testing.T) {
		t.Parallel()
		h := New(testOptions())
		require.NoError(t, h.Register(good))
		require.ErrorContains(t, h.Register(good), "already registered")
		_, err := h.Describe(t.Context(), "good")
		require.ErrorIs(t, err, ErrNotStarted)
		require.NoError(t, h.Start(t.Context()))
		require.NoError(t, h.Start(t.Context()), "Start is idempotent")
		<-h.Started()
		_, err = h.Describe(t.Context(), "nope")
		require.ErrorIs(t, err, ErrUnknownPlugin)
		_, err = h.Executor("nope")
		require.ErrorIs(t, err, ErrUnknownPlugin)
		h.Stop()
		require.ErrorIs(t, h.Register(src("good", "other")), ErrClosed)
		require.ErrorIs(t, h.Start(t.Context()), ErrClosed)
		_, err = h.Describe(t.Context(), "good")
		require.ErrorIs(t, err, ErrClosed)
	})

	t.Run("built-in needs no checksum", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testOptions(), Source{Name: "good", Path: bin("good"), BuiltIn: true})
		res, _, err := b.run(t, "good", "noop", `{}`)
		require.NoError(t, err)
		require.Equal(t, sdk.StatusSucceeded, res.Status)
		require.True(t, b.status(t, "good").BuiltIn)
	})
}

func TestStopBeforeStartAndTwice(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	h.Stop()
	h.Stop()
	require.NoError(t, h.Close())
	select {
	case <-h.Started():
		t.Fatal("Started is closed though Start never ran")
	default:
	}
}

func TestStartContextStopsHost(t *testing.T) {
	t.Parallel()
	h := New(testOptions())
	require.NoError(t, h.Register(src("good", "good")))
	ctx, cancel := context.WithCancel(t.Context())
	require.NoError(t, h.Start(ctx))
	_, err := h.Describe(t.Context(), "good")
	require.NoError(t, err)
	pid := h.List()[0].PID
	cancel()
	waitFor(t, "the host to stop with its Start context", func() bool {
		return h.List()[0].State == StateStopped && processGone(pid)
	})
	h.Stop()
}

func TestPrivateCopy(t *testing.T) {
	t.Parallel()
	pluginDir := t.TempDir()
	path := filepath.Join(pluginDir, "jobgraph-executor-good")
	copyFile(t, bin("good"), path, 0o755)
	private := filepath.Join(t.TempDir(), "plugins")
	opts := testOptions()
	opts.PrivateDir = private
	b := setup(t, opts, Source{Name: "good", Path: path, Checksum: binSum["good"]})

	// Swap the binary in the plugin directory after registration: the
	// verified private copy is what runs.
	copyFile(t, bin("exit"), path, 0o755)
	res, _, err := b.run(t, "good", "noop", `{}`)
	require.NoError(t, err)
	require.Equal(t, sdk.StatusSucceeded, res.Status)

	fi, err := os.Stat(private)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	entries, err := os.ReadDir(private)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	fi, err = os.Stat(filepath.Join(private, entries[0].Name()))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o500), fi.Mode().Perm())

	// A binary that no longer matches is refused when copied.
	err = b.host.Register(Source{Name: "good2", Path: path, Checksum: binSum["good"]})
	require.ErrorIs(t, err, ErrChecksumMismatch)
	require.ErrorContains(t, err, `"good2"`)
}

func TestChecksumCheckedAtEveryStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "good")
	copyFile(t, bin("good"), path, 0o755)
	b := setup(t, testOptions(), Source{Name: "good", Path: path, Checksum: binSum["good"]})
	// No PrivateDir: the file runs in place, and go-plugin's SecureConfig
	// re-hashes it at start.
	copyFile(t, bin("exit"), path, 0o755)
	_, _, err := b.run(t, "good", "noop", `{}`)
	require.ErrorIs(t, err, ErrChecksumMismatch)
	require.ErrorIs(t, err, goplugin.ErrChecksumsDoNotMatch)
	require.ErrorContains(t, err, `executor plugin "good": start:`)
	st := b.status(t, "good")
	require.Equal(t, StateFailed, st.State)
	require.ErrorIs(t, st.LastError, ErrChecksumMismatch)
}

// TestStartFailures: each broken plugin gives a clear error naming it, is
// killed, and leaves the host serving the good plugin.
func TestStartFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		src   func(pidfile string) Source
		check func(t *testing.T, err error)
	}{
		{"badhandshake", func(string) Source { return src("badhandshake", "badhandshake") }, func(t *testing.T, err error) {
			require.ErrorContains(t, err, `start: bad handshake: the program printed "hello, I am not a plugin handshake" instead of a go-plugin handshake line`)
		}},
		{"exit", func(string) Source { return src("exit", "exit") }, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "start: the process exited before its handshake (its stderr is in the log with plugin=exit)")
		}},
		{"badproto", func(string) Source { return src("badproto", "badproto") }, func(t *testing.T, err error) {
			var pe *sdk.ProtocolError
			require.ErrorAs(t, err, &pe)
			require.ErrorContains(t, err, "protocol versions [2], not 1")
		}},
		{"hang", func(pidfile string) Source { return src("hang", "hang", "JG_PIDFILE="+pidfile) }, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "describe: no answer within 300ms, the process was killed")
		}},
		{"wrongname", func(string) Source { return src("good", "wrongname", "JG_TEST_NAME=other") }, func(t *testing.T, err error) {
			require.ErrorContains(t, err, `the plugin calls itself "other", but it is registered as "wrongname"`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			opts.DescribeTimeout = 300 * time.Millisecond
			opts.MinBackoff = time.Hour // so that the second call backs off
			opts.MaxBackoff = time.Hour
			pidfile := filepath.Join(t.TempDir(), "pid")
			b := setup(t, opts, tc.src(pidfile), src("good", "good"))

			_, _, err := b.run(t, tc.name, "noop", `{}`)
			require.Error(t, err)
			var pe *PluginError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.name, pe.Plugin)
			require.ErrorContains(t, err, fmt.Sprintf("executor plugin %q", tc.name))
			tc.check(t, err)

			st := b.status(t, tc.name)
			require.Equal(t, StateFailed, st.State)
			require.Zero(t, st.PID)
			require.Error(t, st.LastError)
			require.False(t, st.RetryAt.IsZero())

			// The next call does not try again before the backoff.
			_, _, err = b.run(t, tc.name, "noop", `{}`)
			require.ErrorIs(t, err, ErrBackoff)
			require.ErrorContains(t, err, fmt.Sprintf("executor plugin %q", tc.name))

			if pid, err := os.ReadFile(pidfile); err == nil {
				n, _ := strconv.Atoi(string(pid))
				require.True(t, processGone(n), "the failed plugin's process %d was killed", n)
			}

			res, _, err := b.run(t, "good", "noop", `{}`)
			require.NoError(t, err, "the host still serves the good plugin")
			require.Equal(t, sdk.StatusSucceeded, res.Status)
		})
	}
}

func TestCrashMidStream(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))
	info, err := b.host.Describe(t.Context(), "good")
	require.NoError(t, err)
	require.Equal(t, "good", info.Name)
	pid0 := b.status(t, "good").PID

	// Tasks in flight on the process when it crashes.
	const inflight = 5
	started := make(chan struct{}, inflight)
	errs := make(chan error, inflight)
	for i := range inflight {
		go func() {
			var once sync.Once
			out := &capture{onStdout: func(string) { once.Do(func() { started <- struct{}{} }) }}
			task := sdk.Task{ID: fmt.Sprint("slow-", i), Action: "slow", Params: []byte(`{"interval_ms":60000}`)}
			_, err := b.host.Execute(t.Context(), "good", task, out)
			errs <- err
		}()
	}
	for range inflight {
		<-started
	}

	_, _, err = b.run(t, "good", "crash", `{}`)
	require.ErrorIs(t, err, sdk.ErrPluginExited)
	require.ErrorContains(t, err, `executor plugin "good"`)
	for range inflight {
		err := <-errs
		require.ErrorIs(t, err, sdk.ErrPluginExited)
		require.ErrorContains(t, err, `executor plugin "good"`)
	}
	st := b.status(t, "good")
	require.Equal(t, StateCrashed, st.State)
	require.ErrorIs(t, st.LastError, sdk.ErrPluginExited)
	require.Zero(t, st.PID)
	waitFor(t, "the crashed process to be reaped", func() bool { return processGone(pid0) })
	require.Contains(t, b.logs.String(), "crash requested by the test", "the panic went to the log")

	// The next call after the backoff starts a new process.
	var res sdk.Result
	waitFor(t, "a restart", func() bool {
		res, _, err = b.run(t, "good", "noop", `{}`)
		return !errors.Is(err, ErrBackoff)
	})
	require.NoError(t, err)
	require.Equal(t, sdk.StatusSucceeded, res.Status)
	st = b.status(t, "good")
	require.Equal(t, StateReady, st.State)
	require.NotEqual(t, pid0, st.PID)
	require.Equal(t, 1, st.Restarts)
}

func TestCrashBetweenCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))
	_, err := b.host.Describe(t.Context(), "good")
	require.NoError(t, err)
	pid := b.status(t, "good").PID
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	// No call is needed to notice: the connection's state changes.
	waitFor(t, "the crash to be noticed", func() bool { return b.status(t, "good").State == StateCrashed })
	require.ErrorContains(t, b.status(t, "good").LastError, "exited or closed its connection")
	waitFor(t, "a restart", func() bool {
		_, _, err = b.run(t, "good", "noop", `{}`)
		return !errors.Is(err, ErrBackoff)
	})
	require.NoError(t, err)
	require.NotEqual(t, pid, b.status(t, "good").PID)
}

func TestOutOfOrderEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("outoforder", "outoforder"))
	for range 2 {
		_, out, err := b.run(t, "outoforder", "run", `{}`)
		var pe *sdk.ProtocolError
		require.ErrorAs(t, err, &pe)
		require.ErrorContains(t, err, "event 3 arrived after event 1")
		require.ErrorContains(t, err, `executor plugin "outoforder"`)
		require.Equal(t, "one\n", out.stdout.String())
	}
	st := b.status(t, "outoforder")
	require.Equal(t, StateReady, st.State, "a protocol error is the task's, not a crash")
	require.Zero(t, st.Restarts)
}

func TestCancelStopsSlowTaskPromptly(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan struct{})
	var once sync.Once
	out := &capture{onStdout: func(string) { once.Do(func() { close(first) }) }}
	done := make(chan error, 1)
	go func() {
		_, err := b.host.Execute(ctx, "good", sdk.Task{ID: "slow-1", Action: "slow", Params: []byte(`{"interval_ms":5}`)}, out)
		done <- err
	}()
	<-first
	pid := b.status(t, "good").PID
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, `executor plugin "good"`)
	case <-time.After(5 * time.Second):
		t.Fatal("Execute did not return promptly after its context was cancelled")
	}
	// The plugin saw the cancellation and stopped the work; its process
	// lives on.
	waitFor(t, "the plugin to see the cancellation", func() bool { return b.stats(t, "good")["cancels"] == "1" })
	st := b.status(t, "good")
	require.Equal(t, StateReady, st.State)
	require.Equal(t, pid, st.PID)
}

func TestTaskTimeoutReportedByPlugin(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))
	task := sdk.Task{ID: "slow-t", Action: "slow", Params: []byte(`{"interval_ms":5}`), Timeout: 50 * time.Millisecond}
	res, err := b.host.Execute(t.Context(), "good", task, &capture{})
	require.NoError(t, err)
	require.Equal(t, sdk.StatusTimedOut, res.Status)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))
	validate := func(action, params string) ([]sdk.FieldError, error) {
		return b.host.Validate(t.Context(), "good", action, []byte(params), sdk.Target{Name: "web-1"})
	}

	_, err := validate("reboot", `{}`)
	require.ErrorIs(t, err, ErrUnknownAction)
	require.ErrorContains(t, err, `unknown action "reboot": the plugin offers crash, echo, leak, noop, slow, stats, wedge`)

	for _, tc := range []struct{ params, field string }{
		{`{}`, ""},
		{`{"text": 5}`, "text"},
		{`{"text": "x", "extra": 1}`, ""},
		{`{"text": "` + strings.Repeat("a", 101) + `"}`, "text"},
		{`not json`, ""},
	} {
		errs, err := validate("echo", tc.params)
		require.NoError(t, err, tc.params)
		require.NotEmpty(t, errs, tc.params)
		require.Equal(t, tc.field, errs[0].Field, tc.params)
	}
	require.Equal(t, "0", b.stats(t, "good")["validates"], "the plugin is not asked when the schema check fails")

	errs, err := validate("echo", `{"text": "forbidden"}`)
	require.NoError(t, err)
	require.Equal(t, []sdk.FieldError{{Field: "text", Message: "the plugin forbids this text"}}, errs)
	errs, err = validate("echo", `{"text": "fine"}`)
	require.NoError(t, err)
	require.Empty(t, errs)
	errs, err = validate("echo", `{"text": "check-password", "password": "hunter2-secret"}`)
	require.NoError(t, err)
	require.Equal(t, []sdk.FieldError{{Field: "password", Message: "wrong password " + Redacted}}, errs)
	require.Equal(t, "3", b.stats(t, "good")["validates"])

	_, _, err = b.run(t, "good", "reboot", `{}`)
	require.ErrorIs(t, err, ErrUnknownAction, "Execute checks the action too")
}

func TestExecutorHandle(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))
	ex, err := b.host.Executor("good")
	require.NoError(t, err)
	info, err := ex.Describe(t.Context())
	require.NoError(t, err)
	require.Equal(t, "good", info.Name)
	out := &capture{}
	res, err := ex.Execute(t.Context(), sdk.Task{ID: "1", Action: "echo", Params: []byte(`{"text":"hi"}`)}, out)
	require.NoError(t, err)
	require.Equal(t, sdk.StatusSucceeded, res.Status)
	require.Equal(t, "hi\n", out.stdout.String())
	errs, err := ex.(sdk.Validator).Validate(t.Context(), sdk.ValidateRequest{Action: "echo", Params: []byte(`{}`)})
	require.NoError(t, err)
	require.NotEmpty(t, errs)
}

func TestRedactionOfLeakingPlugin(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))
	const (
		secret = "s3cr3t-Pa55word"
		pass   = "open-sesame-phrase"
		token  = "tok-abcdef-123456"
	)
	out := &capture{}
	task := sdk.Task{
		ID: "leak-1", Action: "leak", Params: []byte(`{"token":"` + token + `"}`),
		Credential: &sdk.Credential{Kind: "password", Username: "root", Secret: []byte(secret), Passphrase: []byte(pass)},
	}
	res, err := b.host.Execute(t.Context(), "good", task, out)
	require.NoError(t, err)
	require.Equal(t, sdk.StatusFailed, res.Status)
	require.Equal(t, "authentication failed for password "+Redacted, res.Error)

	all := out.all()
	for _, s := range []string{secret, pass, token} {
		require.NotContains(t, all, s)
	}
	require.Contains(t, out.stdout.String(), "connecting with password [REDACTED] and passphrase [REDACTED]\n")
	require.Contains(t, out.stdout.String(), "split: [REDACTED] end\n", "a secret split across two chunks")
	require.Equal(t, "token=[REDACTED]\n", out.stderr.String())
	require.Equal(t, []string{"10 using [REDACTED]"}, out.progress)
	require.Equal(t, "token [REDACTED]", out.outputs["leaked"])

	// The plugin's own stderr goes to the host's log, redacted too.
	waitFor(t, "the plugin's stderr line in the log", func() bool {
		return strings.Contains(b.logs.String(), "leak: logging in with [REDACTED]")
	})
	require.NotContains(t, b.logs.String(), secret)
}

func TestIdleStopAndRestart(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.IdleTimeout = 100 * time.Millisecond
	b := setup(t, opts, src("good", "good"))

	// A task running longer than IdleTimeout keeps its process.
	lines := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		out := &capture{onStdout: func(string) { lines <- struct{}{} }}
		_, err := b.host.Execute(ctx, "good", sdk.Task{ID: "slow", Action: "slow", Params: []byte(`{"interval_ms":20}`)}, out)
		done <- err
	}()
	<-lines
	pid1 := b.status(t, "good").PID
	for range 20 { // 20 lines × 20ms ≥ 4 × IdleTimeout
		<-lines
	}
	st := b.status(t, "good")
	require.Equal(t, StateReady, st.State, "a process with a task in flight is not idle")
	require.Equal(t, pid1, st.PID)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	waitFor(t, "the idle stop", func() bool { return b.status(t, "good").State == StateStopped })
	waitFor(t, "the idle process to exit", func() bool { return processGone(pid1) })

	res, _, err := b.run(t, "good", "noop", `{}`)
	require.NoError(t, err)
	require.Equal(t, sdk.StatusSucceeded, res.Status)
	st = b.status(t, "good")
	require.Equal(t, StateReady, st.State)
	require.NotEqual(t, pid1, st.PID)
	require.Zero(t, st.Restarts, "an idle stop is not a crash")
}

func TestHealthCheckRestartsWedgedPlugin(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.HealthInterval = 50 * time.Millisecond
	opts.DescribeTimeout = 300 * time.Millisecond
	b := setup(t, opts, src("good", "good"))
	_, _, err := b.run(t, "good", "wedge", `{}`)
	require.NoError(t, err)
	pid := b.status(t, "good").PID

	waitFor(t, "the failed health check", func() bool { return b.status(t, "good").State == StateCrashed })
	st := b.status(t, "good")
	require.ErrorContains(t, st.LastError, "health check")
	require.ErrorIs(t, st.LastError, sdk.ErrPluginExited)
	waitFor(t, "the wedged process to be killed", func() bool { return processGone(pid) })

	waitFor(t, "a restart", func() bool {
		_, _, err = b.run(t, "good", "noop", `{}`)
		return !errors.Is(err, ErrBackoff)
	})
	require.NoError(t, err)
	st = b.status(t, "good")
	require.Equal(t, StateReady, st.State)
	require.NotEqual(t, pid, st.PID)
	require.Equal(t, 1, st.Restarts)
}

func TestStopKillsEveryProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "a"), src("good", "b"), src("hang", "c"))
	for _, n := range []string{"a", "b"} {
		_, _, err := b.run(t, n, "noop", `{}`)
		require.NoError(t, err)
	}
	// A task in flight, and a start in progress (c hangs in Describe).
	first := make(chan struct{})
	var once sync.Once
	done := make(chan error, 2)
	go func() {
		out := &capture{onStdout: func(string) { once.Do(func() { close(first) }) }}
		_, err := b.host.Execute(t.Context(), "b", sdk.Task{ID: "s", Action: "slow", Params: []byte(`{"interval_ms":60000}`)}, out)
		done <- err
	}()
	<-first
	go func() {
		_, err := b.host.Describe(t.Context(), "c")
		done <- err
	}()
	waitFor(t, "c to be starting", func() bool { return b.status(t, "c").State == StateStarting })

	pids := []int{b.status(t, "a").PID, b.status(t, "b").PID}
	b.host.Stop()
	for _, pid := range pids {
		require.True(t, processGone(pid), "process %d is gone once Stop returns", pid)
	}
	for range 2 {
		err := <-done
		require.ErrorIs(t, err, ErrClosed)
	}
	for _, st := range b.host.List() {
		require.Equal(t, StateStopped, st.State, st.Name)
		require.Zero(t, st.PID)
	}
	_, _, err := b.run(t, "a", "noop", `{}`)
	require.ErrorIs(t, err, ErrClosed)
	b.host.Stop()
}

func TestInFlightTasksEndWithClosedOnStop(t *testing.T) {
	t.Parallel()
	b := setup(t, testOptions(), src("good", "good"))
	first := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		out := &capture{onStdout: func(string) { once.Do(func() { close(first) }) }}
		_, err := b.host.Execute(t.Context(), "good", sdk.Task{ID: "s", Action: "slow", Params: []byte(`{"interval_ms":60000}`)}, out)
		done <- err
	}()
	<-first
	b.host.Stop()
	err := <-done
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, sdk.ErrPluginExited, "so that the engine retries it")
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	tmp := to + ".tmp"
	require.NoError(t, os.WriteFile(tmp, data, mode))
	require.NoError(t, os.Rename(tmp, to))
}
