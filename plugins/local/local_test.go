//go:build unix

package local

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
)

type testBundle struct {
	exec *Executor
	h    *sdktest.Harness
}

// setup serves a local executor in process, over gRPC, with the given
// grace periods (0: the defaults).
func setup(t *testing.T, killGrace, outputGrace time.Duration) testBundle {
	t.Helper()
	e := newExecutor()
	if killGrace > 0 {
		e.killGrace = killGrace
	}
	if outputGrace > 0 {
		e.outputGrace = outputGrace
	}
	return testBundle{exec: e, h: sdktest.InProcess(t, e)}
}

// params encodes v as a task's parameters.
func params(t *testing.T, v any) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return raw
}

func command(t *testing.T, cmd string) sdk.Task {
	return sdk.Task{Action: "command", Params: params(t, map[string]any{"command": cmd})}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	sdktest.Conformance(t, b.h, sdktest.Suite{
		Quick: command(t, "echo ok"),
		Slow:  command(t, "echo started; sleep 1000"),
		Invalid: []sdk.Task{
			{Action: "command", Params: params(t, map[string]any{"command": "pwd", "dir": "relative/dir"})},
			{Action: "script", Params: params(t, map[string]any{"script": "pwd", "dir": "."})},
			{Action: "command", Params: params(t, map[string]any{"command": "true", "shell": "/nonexistent/sh"})},
			{Action: "command", Params: params(t, map[string]any{"command": "true", "dir": "/nonexistent/dir"})},
		},
		SlowTimeout: 300 * time.Millisecond,
	})
}

func TestStreamsOutputAsItIsProduced(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	fifo := filepath.Join(t.TempDir(), "gate")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))

	// The command cannot end before the test writes to the fifo, so the
	// first line arriving first proves it was streamed, not buffered.
	x := b.h.Start(t, command(t, fmt.Sprintf("echo first; read line < %s; echo \"second $line\"", fifo)))
	x.WaitStdout(t, "first\n")
	select {
	case <-x.Done():
		t.Fatal("the command ended before it was let go")
	default:
	}
	require.Equal(t, "first\n", x.StdoutText())

	opened := make(chan error, 1)
	go func() { // opening a fifo for writing waits for its reader
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString("go\n")
			err = errorsJoin(err, f.Close())
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		require.NoError(t, err)
	case <-time.After(b.h.Timeout):
		t.Fatal("the command never opened the fifo")
	}
	run := x.Wait(t)
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "first\nsecond go\n", run.StdoutText())
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	for _, tt := range []struct {
		command string
		status  sdk.Status
		code    int
	}{
		{"true", sdk.StatusSucceeded, 0},
		{"exit 3", sdk.StatusFailed, 3},
		{"exit 255", sdk.StatusFailed, 255},
		{"kill -9 $$", sdk.StatusFailed, 128 + 9},
		{"no-such-command-anywhere", sdk.StatusFailed, 127},
	} {
		t.Run(tt.command, func(t *testing.T) {
			t.Parallel()
			run := b.h.Execute(t, command(t, tt.command))
			run.RequireStatus(t, tt.status)
			require.Equal(t, tt.code, run.Result.ExitCode)
			require.Equal(t, map[string]string{"exit_code": strconv.Itoa(tt.code)}, run.Outputs())
		})
	}
}

func TestOutputCommands(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)

	// command: the marker line exports, and stays in the log.
	run := b.h.Execute(t, sdk.Task{Action: "command", Params: params(t, map[string]any{
		"command": `echo fetching; echo "::set-output name=path::/opt/app/releases/$VERSION"; echo "::set-output name=exit_code::0" >&2; printf '::set-output name=last::%s' "no newline"; exit 2`,
		"env":     map[string]string{"VERSION": "1.2.3"},
	})})
	run.RequireStatus(t, sdk.StatusFailed)
	require.Equal(t, map[string]string{
		"path":      "/opt/app/releases/1.2.3",
		"last":      "no newline",
		"exit_code": "2", // the executor's, never the command's
	}, run.Outputs())
	require.Equal(t, "fetching\n::set-output name=path::/opt/app/releases/1.2.3\n::set-output name=last::no newline", run.StdoutText())

	// script: stdout only, reserved and invalid names ignored.
	run = b.h.Execute(t, sdk.Task{Action: "script", Params: params(t, map[string]any{
		"script": "printf '::set-output name=greeting::hello %s\\r\\n' \"$1\"\n" +
			"echo '::set-output name=exit_code::7'\n" +
			"echo '::set-output name=bad.name::x'\n" +
			"echo '::set-output name=from_stderr::x' >&2\n",
		"args": []string{"world"},
	})})
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, map[string]string{"greeting": "hello world", "exit_code": "0"}, run.Outputs())
}

func TestStdoutAndStderr(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	run := b.h.Execute(t, command(t, "echo out; echo err >&2; echo out2"))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "out\nout2\n", run.StdoutText())
	require.Equal(t, "err\n", run.StderrText())

	// More than one protocol chunk arrives whole.
	run = b.h.Execute(t, command(t, "head -c 200000 /dev/zero | tr '\\0' a"))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, strings.Repeat("a", 200000), run.StdoutText())
}

func TestEnvAndDir(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	dir := t.TempDir()
	run := b.h.Execute(t, sdk.Task{ID: "task-1", Attempt: 2, Action: "command", Params: params(t, map[string]any{
		"command": `printf '%s|%s|%s|%s|%s' "$GREETING" "$PWD" "$JOBGRAPH_TASK_ID" "$JOBGRAPH_ATTEMPT" "$(cat stdin-probe 2>&1; cat)"`,
		"env":     map[string]string{"GREETING": "hello world"},
		"dir":     dir,
	})})
	run.RequireStatus(t, sdk.StatusSucceeded)
	parts := strings.Split(run.StdoutText(), "|")
	require.Len(t, parts, 5)
	require.Equal(t, "hello world", parts[0])
	realDir, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	require.Contains(t, []string{dir, realDir}, parts[1])
	require.Equal(t, []string{"task-1", "2"}, parts[2:4])
	require.Contains(t, parts[4], "stdin-probe", "stdin is empty (/dev/null)")

	run = b.h.Execute(t, sdk.Task{Action: "command", Params: params(t, map[string]any{
		"command": "echo $0", "shell": "bash",
	})})
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "bash\n", run.StdoutText(), "the shell is looked up in PATH")
}

func TestWorkerEnv(t *testing.T) {
	t.Parallel()
	env := workerEnv([]string{
		"HOME=/root", "PLUGIN_CLIENT_CERT=pem", "PLUGIN_PROTOCOL_VERSIONS=1",
		sdk.Handshake.MagicCookieKey + "=" + sdk.Handshake.MagicCookieValue,
		"JOBGRAPH_DB=mysql://root:secret@db/jobgraph", "LANG=C.UTF-8",
	})
	require.Equal(t, []string{"HOME=/root", "LANG=C.UTF-8", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env)
	require.Equal(t, []string{"PATH=/opt/bin"}, workerEnv([]string{"PATH=/opt/bin"}))
}

func TestScript(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	run := b.h.Execute(t, sdk.Task{Action: "script", Params: params(t, map[string]any{
		"script": "echo \"$0\"\nstat -c %a \"$0\"\nfor a in \"$@\"; do echo \"[$a]\"; done\nexit 4\n",
		"args":   []string{"a", "b c"},
	})})
	run.RequireStatus(t, sdk.StatusFailed)
	require.Equal(t, 4, run.Result.ExitCode)
	lines := strings.Split(strings.TrimSpace(run.StdoutText()), "\n")
	require.Len(t, lines, 4, run.StdoutText())
	path := lines[0]
	require.True(t, filepath.IsAbs(path), "the script runs from a temporary file: %q", path)
	require.Equal(t, "700", lines[1], "only the worker's user can read the script")
	require.Equal(t, []string{"[a]", "[b c]"}, lines[2:])
	require.NoFileExists(t, path, "the script file is removed afterwards")

	run = b.h.Execute(t, sdk.Task{Action: "script", Params: params(t, map[string]any{
		"script": "import sys\nprint(sys.argv[1:])\n", "interpreter": "python3", "args": []string{"x"},
	})})
	if _, err := exec.LookPath("python3"); err == nil {
		run.RequireStatus(t, sdk.StatusSucceeded)
		require.Equal(t, "['x']\n", run.StdoutText())
	}
}

func TestScriptRemovedAfterCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	x := b.h.Start(t, sdk.Task{Action: "script", Params: params(t, map[string]any{"script": "echo \"$0\"\nsleep 1000\n"})})
	x.WaitStdout(t, "\n")
	path := strings.TrimSpace(x.StdoutText())
	require.FileExists(t, path)
	x.Cancel()
	x.Wait(t)
	requireEventually(t, func() bool { _, err := os.Stat(path); return os.IsNotExist(err) }, "the script file is removed after a cancel")
}

// requireEventually polls cond until it holds, for at most 5 seconds: for
// what no channel can tell (a process that is not our child ending).
func requireEventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal(msg)
		}
	}
}

// processGone reports whether pid has ended: no longer in /proc, or a
// zombie (ended, waiting for a parent that may never reap it).
func processGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may contain spaces and parentheses.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// pids parses the whitespace-separated process IDs in s.
func pids(t *testing.T, s string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err, "pid %q", f)
		out = append(out, pid)
	}
	return out
}

// cancelRPC starts task, waits for the first line of its stdout (process
// IDs), cancels it with the protocol's Cancel RPC and returns the run and
// the IDs. The result arrives only once the executor's Execute returned.
func cancelRPC(t *testing.T, b testBundle, task sdk.Task) (sdktest.Run, []int) {
	t.Helper()
	x := b.h.Start(t, task)
	x.WaitStdout(t, "\n")
	ps := pids(t, x.StdoutText())
	for _, pid := range ps {
		require.False(t, processGone(pid), "pid %d runs", pid)
	}
	require.NoError(t, b.h.Client().Cancel(t.Context(), x.Task().ID))
	run := x.Wait(t)
	run.RequireStatus(t, sdk.StatusCanceled)
	return run, ps
}

func TestCancelKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	_, ps := cancelRPC(t, b, command(t, "sleep 1000 & echo $$ $!; wait"))
	require.Len(t, ps, 2)
	for _, pid := range ps {
		requireEventually(t, func() bool { return processGone(pid) }, fmt.Sprintf("pid %d outlived the cancel", pid))
	}
}

func TestCancelKillsWhatIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	const grace = 200 * time.Millisecond
	b := setup(t, grace, 0)
	// The shell and its child (which inherits it) ignore SIGTERM.
	run, ps := cancelRPC(t, b, command(t, "trap '' TERM; sleep 1000 & echo $$ $!; wait"))
	require.GreaterOrEqual(t, run.Duration, grace, "SIGKILL comes after the grace")
	for _, pid := range ps {
		requireEventually(t, func() bool { return processGone(pid) }, fmt.Sprintf("pid %d outlived SIGKILL", pid))
	}
}

func TestCancelKillsStragglers(t *testing.T) {
	t.Parallel()
	const grace = time.Second
	b := setup(t, grace, 50*time.Millisecond)
	// The shell dies of SIGTERM at once; its background child ignores it
	// and keeps the shell's stdout open. The child prints its own PID once
	// its trap is set (sh -c prints its parent's), so the cancel cannot come
	// before the trap.
	run, ps := cancelRPC(t, b, command(t, "(trap '' TERM; sh -c 'echo $PPID'; exec sleep 1000) & wait"))
	require.Less(t, run.Duration, grace, "the result does not wait for stragglers")
	require.Len(t, ps, 1)
	require.False(t, processGone(ps[0]), "the straggler survives SIGTERM")
	requireEventually(t, func() bool { return processGone(ps[0]) }, "the straggler outlived the grace")
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	task := command(t, "sleep 1000")
	task.Timeout = 200 * time.Millisecond
	run := b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusTimedOut)
	require.GreaterOrEqual(t, run.Duration, task.Timeout)
	require.Empty(t, run.Outputs(), "a killed command exports no exit code")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	for _, tt := range []struct {
		name   string
		action string
		params any
		fields []string // the fields at fault; empty for valid
	}{
		{"valid command", "command", map[string]any{"command": "ls", "dir": "/tmp", "env": map[string]string{"A_1": "x"}}, nil},
		{"valid script", "script", map[string]any{"script": "ls", "args": []string{"-l"}}, nil},
		{"relative dir", "command", map[string]any{"command": "ls", "dir": "tmp"}, []string{"dir"}},
		{"bad env name", "script", map[string]any{"script": "ls", "env": map[string]string{"1A": "x"}}, []string{"env.1A"}},
		{"missing command", "command", map[string]any{}, []string{""}},
		{"unknown parameter", "command", map[string]any{"command": "ls", "timeout": 3}, []string{""}},
		{"unknown action", "reboot", map[string]any{}, []string{""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := b.h.Validate(t, sdk.ValidateRequest{Action: tt.action, Params: params(t, tt.params)})
			var fields []string
			for _, e := range errs {
				require.NotEmpty(t, e.Message)
				fields = append(fields, e.Field)
			}
			require.Equal(t, tt.fields, fields, "%v", errs)
		})
	}
	// The rules a schema cannot say hold in Execute too.
	errs, _ := b.exec.Validate(t.Context(), sdk.ValidateRequest{Action: "command", Params: params(t, map[string]any{"command": "ls", "env": map[string]string{"A-B": "x"}})})
	require.NotEmpty(t, errs)
	_, problems := b.exec.parse("command", params(t, map[string]any{"command": "ls", "dir": "x/y"}))
	require.Equal(t, []sdk.FieldError{{Field: "dir", Message: `"x/y" is not an absolute path`}}, problems)
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, 0)
	run := b.h.Execute(t, sdk.Task{Action: "command", Params: params(t, map[string]any{"command": "true", "shell": "/nonexistent/sh"})})
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "/nonexistent/sh")
	run = b.h.Execute(t, sdk.Task{Action: "command", Params: params(t, map[string]any{"command": "true", "dir": "/nonexistent/dir"})})
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "/nonexistent/dir")
}

func TestDependsOnlyOnTheSDK(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/jobgraph/jobgraph/") && p != "github.com/jobgraph/jobgraph/plugins/local" {
			require.Truef(t, p == "github.com/jobgraph/jobgraph/plugins/sdk" || strings.HasPrefix(p, "github.com/jobgraph/jobgraph/plugins/proto/"),
				"the local executor depends on %s: built-ins import only the SDK", p)
		}
	}
}
