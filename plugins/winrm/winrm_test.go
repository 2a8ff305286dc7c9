package winrm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
	"github.com/jobgraph/jobgraph/plugins/winrm/wsmantest"
)

type testBundle struct {
	exec *Executor
	h    *sdktest.Harness
	srv  *wsmantest.Server
	warn *syncBuffer
}

// setup starts a fake WinRM host with opts and serves a winrm executor in
// process, over gRPC.
func setup(t *testing.T, opts wsmantest.Options) testBundle {
	t.Helper()
	e := newExecutor()
	warn := &syncBuffer{}
	e.warn = warn
	srv := wsmantest.New(t, opts)
	srv.Handle("forever", forever)
	return testBundle{exec: e, h: sdktest.InProcess(t, e), srv: srv, warn: warn}
}

// forever writes a line, then a tick every 50ms, until stopped.
func forever(ctx context.Context, p *wsmantest.Process) int {
	fmt.Fprint(p.Stdout, "started\r\n")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 1
		case <-tick.C:
			fmt.Fprint(p.Stdout, "tick\r\n")
		}
	}
}

// task returns a task of action with params, aimed at the bundle's server
// with its credentials.
func (b testBundle) task(t *testing.T, action string, params map[string]any) sdk.Task {
	t.Helper()
	if strings.HasPrefix(b.srv.URL, "https") {
		params["https"] = true
		if _, ok := params["insecure_skip_verify"]; !ok {
			params["ca_pem"] = string(b.srv.CACertPEM())
		}
	}
	if _, ok := params["auth"]; !ok {
		params["auth"] = "basic"
	}
	raw, err := json.Marshal(params)
	require.NoError(t, err)
	return sdk.Task{
		Action:     action,
		Params:     raw,
		Target:     sdk.Target{Name: "win", Address: b.srv.Host(), Port: b.srv.Port(), OS: "windows"},
		Credential: &sdk.Credential{Kind: "password", Username: b.srv.Username(), Secret: []byte(b.srv.Password())},
	}
}

func (b testBundle) command(t *testing.T, command string, args ...string) sdk.Task {
	p := map[string]any{"command": command}
	if len(args) > 0 {
		p["args"] = args
	}
	return b.task(t, "command", p)
}

// callActions returns the short names of the authenticated calls, in order.
func callActions(calls []wsmantest.Call) []string {
	var out []string
	for _, c := range calls {
		if c.Status != 401 {
			out = append(out, c.Action)
		}
	}
	return out
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestConformance(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	sdktest.Conformance(t, b.h, sdktest.Suite{
		Quick: b.command(t, "echo hello"),
		Slow:  b.command(t, "forever"),
		Invalid: []sdk.Task{
			b.task(t, "command", map[string]any{"command": "echo", "ca_pem": "not a certificate"}),
			b.task(t, "command", map[string]any{"command": "echo", "insecure_skip_verify": true}),
			func() sdk.Task { x := b.command(t, "echo hi"); x.Credential = nil; return x }(),
			func() sdk.Task { x := b.command(t, "echo hi"); x.Target.Address = ""; return x }(),
		},
		SlowTimeout: 300 * time.Millisecond,
	})
}

func TestConformanceNTLMOverHTTPS(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{TLS: true, NTLM: true, NoBasic: true})
	quick := b.task(t, "powershell", map[string]any{"script": "Write-Output ok", "auth": "ntlm"})
	slow := b.task(t, "command", map[string]any{"command": "forever", "auth": "ntlm"})
	sdktest.Conformance(t, b.h, sdktest.Suite{Quick: quick, Slow: slow, SlowTimeout: 300 * time.Millisecond})
}

func TestCommandAndPowerShell(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	for _, tt := range []struct {
		name           string
		task           sdk.Task
		status         sdk.Status
		code           int
		stdout, stderr string
	}{
		{"echo", b.command(t, "echo", "hello", "world"), sdk.StatusSucceeded, 0, "hello world\r\n", ""},
		{"exit code", b.command(t, "exit", "/b", "3"), sdk.StatusFailed, 3, "", ""},
		{"unknown command", b.command(t, "nope.exe"), sdk.StatusFailed, 1, "", "'nope.exe' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"},
		{"powershell", b.task(t, "powershell", map[string]any{"script": "Write-Output 'one'\nWrite-Error 'two'\nWrite-Output \"three\"; exit 9"}), sdk.StatusFailed, 9, "one\r\nthree\r\n", "two\r\n"},
		{"powershell ok", b.task(t, "powershell", map[string]any{"script": "Write-Output 'fine'"}), sdk.StatusSucceeded, 0, "fine\r\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			run := b.h.Execute(t, tt.task)
			run.RequireStatus(t, tt.status)
			require.Equal(t, tt.code, run.Result.ExitCode)
			require.Equal(t, tt.stdout, run.StdoutText())
			require.Equal(t, tt.stderr, run.StderrText())
			require.Equal(t, map[string]string{"exit_code": fmt.Sprint(tt.code)}, run.Outputs())
		})
	}
	// Every shell was closed, and every command released.
	require.Empty(t, b.srv.OpenShells())
	var commands, signals int
	for _, c := range b.srv.Calls() {
		switch c.Action {
		case "Command":
			commands++
		case "Signal":
			signals++
			require.Equal(t, wsmantest.SignalTerminate, c.Signal)
		}
	}
	require.Equal(t, commands, signals)
}

func TestPowerShellIsEncoded(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	run := b.h.Execute(t, b.task(t, "powershell", map[string]any{"script": "Write-Output 'héllo ✓'"}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "héllo ✓\r\n", run.StdoutText())
	for _, c := range b.srv.Calls() {
		if c.Action == "Command" {
			words := strings.Fields(c.Command)
			require.Equal(t, []string{"powershell.exe", "-EncodedCommand"}, words[:2])
			script, err := wsmantest.DecodePowerShell(words[2])
			require.NoError(t, err)
			require.Equal(t, "$ProgressPreference = 'SilentlyContinue';Write-Output 'héllo ✓'", script)
		}
	}
}

// TestStreamsOutputAsItIsProduced: the first line arrives while the
// command is blocked, long before it ends.
func TestStreamsOutputAsItIsProduced(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	release := make(chan struct{})
	b.srv.Handle("gate", func(ctx context.Context, p *wsmantest.Process) int {
		fmt.Fprint(p.Stdout, "first\r\n")
		fmt.Fprint(p.Stderr, "warming up\r\n")
		select {
		case <-release:
		case <-ctx.Done():
			return 1
		}
		fmt.Fprint(p.Stdout, "second\r\n")
		return 0
	})
	x := b.h.Start(t, b.command(t, "gate"))
	x.WaitStdout(t, "first\r\n")
	select {
	case <-x.Done():
		t.Fatal("the command ended before it was let go")
	default:
	}
	require.Equal(t, "first\r\n", x.StdoutText())
	close(release)
	run := x.Wait(t)
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "first\r\nsecond\r\n", run.StdoutText())
	require.Equal(t, "warming up\r\n", run.StderrText())
}

func TestLargeOutput(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	b.srv.Handle("big", func(_ context.Context, p *wsmantest.Process) int {
		for range 10 {
			_, _ = p.Stdout.Write(bytes.Repeat([]byte("a"), 50_000))
		}
		return 0
	})
	run := b.h.Execute(t, b.command(t, "big"))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, strings.Repeat("a", 500_000), run.StdoutText())
}

func TestHTTPS(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{TLS: true})
	run := b.h.Execute(t, b.command(t, "echo over tls"))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "over tls\r\n", run.StdoutText())
	require.Empty(t, b.warn.String())

	// Without the CA: a clear, permanent error.
	task := b.command(t, "echo x")
	var p map[string]any
	require.NoError(t, json.Unmarshal(task.Params, &p))
	delete(p, "ca_pem")
	task.Params, _ = json.Marshal(p)
	run = b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "unknown authority")
	require.False(t, run.Result.Retryable)

	// insecure_skip_verify works, with a warning.
	run = b.h.Execute(t, b.task(t, "command", map[string]any{"command": "echo insecure", "insecure_skip_verify": true}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Contains(t, b.warn.String(), "insecure_skip_verify")

	// https: false against an HTTPS port.
	p["https"] = false
	delete(p, "ca_pem")
	task.Params, _ = json.Marshal(p)
	run = b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.NotEmpty(t, run.Result.Error)
}

func TestNTLM(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{NTLM: true, NoBasic: true, Username: `WSMANTEST\admin`, Password: "S3cret-pass"})
	run := b.h.Execute(t, b.task(t, "command", map[string]any{"command": "echo ntlm", "auth": "ntlm"}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "ntlm\r\n", run.StdoutText())

	// Basic is refused by this host.
	run = b.h.Execute(t, b.command(t, "echo basic"))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "refused the credentials")

	// NTLM never falls back to Basic, which would send the password in clear.
	basicOnly := setup(t, wsmantest.Options{})
	run = basicOnly.h.Execute(t, basicOnly.task(t, "command", map[string]any{"command": "echo x", "auth": "ntlm"}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "does not offer NTLM")
	for _, c := range basicOnly.srv.Calls() {
		require.Equal(t, "(unauthenticated)", c.Action)
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	for _, auth := range []string{"basic", "ntlm"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			b := setup(t, wsmantest.Options{NTLM: true})
			task := b.task(t, "command", map[string]any{"command": "echo hi", "auth": auth})
			const wrong = "wrong-password-1234"
			task.Credential.Secret = []byte(wrong)
			run := b.h.Execute(t, task)
			run.RequireStatus(t, sdk.StatusError)
			require.False(t, run.Result.Retryable)
			require.Contains(t, run.Result.Error, "refused the credentials")
			require.Contains(t, run.Result.Error, b.srv.Username())
			require.NotContains(t, run.Result.Error, wrong)
			require.NotContains(t, run.Result.Error, b.srv.Password())
		})
	}
}

func TestSecretsRedactedFromOutput(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	pass := b.srv.Password()
	b.srv.Handle("leak", func(_ context.Context, p *wsmantest.Process) int {
		fmt.Fprintf(p.Stdout, "pw=%s!\r\n", pass)
		// split across two Receives
		fmt.Fprint(p.Stderr, "half:"+pass[:5])
		_ = p.WaitDelivered(context.Background())
		fmt.Fprint(p.Stderr, pass[5:]+":end\r\n")
		return 0
	})
	run := b.h.Execute(t, b.command(t, "leak"))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "pw=[REDACTED]!\r\n", run.StdoutText())
	require.Equal(t, "half:[REDACTED]:end\r\n", run.StderrText())
}

func TestOutputCommands(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	pass := b.srv.Password()
	b.srv.Handle("setter", func(_ context.Context, p *wsmantest.Process) int {
		fmt.Fprint(p.Stdout, "working\r\n::set-output name=path::C:\\app\\")
		_ = p.WaitDelivered(context.Background()) // the line spans two Receives
		fmt.Fprintf(p.Stdout, "1.2\r\n::set-output name=token::%s\r\n", pass)
		fmt.Fprint(p.Stdout, "::set-output name=exit_code::0\r\n")
		fmt.Fprint(p.Stderr, "::set-output name=from_stderr::x\r\n")
		fmt.Fprint(p.Stdout, "::set-output name=last::no line end")
		return 4
	})
	run := b.h.Execute(t, b.command(t, "setter"))
	run.RequireStatus(t, sdk.StatusFailed)
	require.Equal(t, map[string]string{
		"path":      `C:\app\1.2`,
		"token":     Redacted,
		"last":      "no line end",
		"exit_code": "4",
	}, run.Outputs())
	require.Contains(t, run.StdoutText(), "::set-output name=path::C:\\app\\1.2\r\n", "the line stays in the log")

	// cmd.exe's echo and PowerShell's Write-Output.
	run = b.h.Execute(t, b.command(t, "echo", "::set-output", "name=greeting::hello world"))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, map[string]string{"greeting": "hello world", "exit_code": "0"}, run.Outputs())
	run = b.h.Execute(t, b.task(t, "powershell", map[string]any{"script": "Write-Output '::set-output name=ps::from powershell'; exit 0"}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, map[string]string{"ps": "from powershell", "exit_code": "0"}, run.Outputs())
}

func TestRefusedPortFailsFast(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	task := b.command(t, "echo hi")
	task.Target.Port = port
	start := time.Now()
	run := b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.Less(t, time.Since(start), 5*time.Second)
	require.True(t, run.Result.Retryable, "a refused connection is worth retrying")
	require.Contains(t, run.Result.Error, "cannot connect to 127.0.0.1:")
	require.Contains(t, run.Result.Error, "refused")
}

// TestSilentHost: a host that accepts connections and never answers ends
// the task with an Error after timeout_ms, not a hang.
func TestSilentHost(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted := make(chan net.Conn, 16)
	t.Cleanup(func() {
		_ = l.Close()
		for {
			select {
			case c := <-accepted:
				_ = c.Close()
			default:
				return
			}
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case accepted <- c: // held open, silent, until the test ends
			default:
				_ = c.Close()
			}
		}
	}()
	task := b.task(t, "command", map[string]any{"command": "echo hi", "timeout_ms": 200})
	task.Target.Port = l.Addr().(*net.TCPAddr).Port
	run := b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "did not answer in time")
}

func TestUnresolvableHost(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{})
	task := b.command(t, "echo hi")
	task.Target.Address = "no-such-host.invalid"
	run := b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "no-such-host.invalid")
}

// TestCancelSignalsAndDeletes: a cancelled task stops its remote command
// (Signal terminate) and deletes its shell before Execute returns.
func TestCancelSignalsAndDeletes(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"cancel", "timeout"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			b := setup(t, wsmantest.Options{})
			stopped := make(chan struct{})
			b.srv.Handle("block", func(ctx context.Context, p *wsmantest.Process) int {
				fmt.Fprint(p.Stdout, "blocked\r\n")
				<-ctx.Done()
				close(stopped)
				return 1
			})
			task := b.command(t, "block")
			var run sdktest.Run
			if how == "cancel" {
				run = b.h.AssertCancel(t, task)
			} else {
				task.Timeout = 200 * time.Millisecond
				run = b.h.Execute(t, task)
				run.RequireStatus(t, sdk.StatusTimedOut)
			}
			require.Equal(t, "blocked\r\n", run.StdoutText())
			select {
			case <-stopped:
			default:
				t.Fatal("the command still runs on the host after the task ended")
			}
			// Receives are left out: the one the cancel abandoned may be
			// recorded late, when the server notices.
			var got []string
			for _, a := range callActions(b.srv.Calls()) {
				if a != "Receive" {
					got = append(got, a)
				}
			}
			require.Equal(t, []string{"Create", "Command"}, got[:2])
			require.Contains(t, got, "Signal")
			require.Equal(t, "Delete", got[len(got)-1])
			require.Empty(t, b.srv.OpenShells())
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	b := setup(t, wsmantest.Options{TLS: true})
	ca := string(b.srv.CACertPEM())
	for _, tt := range []struct {
		name   string
		action string
		params any
		fields []string
	}{
		{"valid command", "command", map[string]any{"command": "dir", "args": []string{"C:\\"}}, nil},
		{"valid powershell", "powershell", map[string]any{"script": "Get-Date", "https": true, "ca_pem": ca, "auth": "ntlm", "timeout_ms": 5000}, nil},
		{"missing command", "command", map[string]any{}, []string{""}},
		{"empty script", "powershell", map[string]any{"script": ""}, []string{"script"}},
		{"bad auth", "command", map[string]any{"command": "x", "auth": "kerberos"}, []string{"auth"}},
		{"bad timeout", "command", map[string]any{"command": "x", "timeout_ms": 0}, []string{"timeout_ms"}},
		{"ca without https", "command", map[string]any{"command": "x", "ca_pem": ca}, []string{"ca_pem"}},
		{"bad ca", "command", map[string]any{"command": "x", "https": true, "ca_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, []string{"ca_pem"}},
		{"skip verify without https", "command", map[string]any{"command": "x", "insecure_skip_verify": true}, []string{"insecure_skip_verify"}},
		{"skip verify and ca", "command", map[string]any{"command": "x", "https": true, "insecure_skip_verify": true, "ca_pem": ca}, []string{"insecure_skip_verify"}},
		{"unknown parameter", "command", map[string]any{"command": "x", "shell": "cmd"}, []string{""}},
		{"unknown action", "reboot", map[string]any{}, []string{""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := json.Marshal(tt.params)
			require.NoError(t, err)
			errs := b.h.Validate(t, sdk.ValidateRequest{Action: tt.action, Params: raw})
			var fields []string
			for _, e := range errs {
				require.NotEmpty(t, e.Message)
				fields = append(fields, e.Field)
			}
			require.Equal(t, tt.fields, fields, "%v", errs)
		})
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		writes []string
		want   string
	}{
		{[]string{"a secret b"}, "a [REDACTED] b"},
		{[]string{"a sec", "ret b"}, "a [REDACTED] b"},
		{[]string{"s", "e", "c", "r", "e", "t"}, "[REDACTED]"},
		{[]string{"secre"}, "secre"},
		{[]string{"secsecret"}, "sec[REDACTED]"},
		{[]string{"no match at all"}, "no match at all"},
	} {
		var buf bytes.Buffer
		r := newRedactor(&buf, "secret")
		for _, w := range tt.writes {
			n, err := r.Write([]byte(w))
			require.NoError(t, err)
			require.Equal(t, len(w), n)
		}
		require.NoError(t, r.flush())
		require.Equal(t, tt.want, buf.String(), "%q", tt.writes)
	}
}

func TestDependsOnlyOnTheSDK(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/jobgraph/jobgraph/") && p != "github.com/jobgraph/jobgraph/plugins/winrm" {
			require.Truef(t, p == "github.com/jobgraph/jobgraph/plugins/sdk" || strings.HasPrefix(p, "github.com/jobgraph/jobgraph/plugins/proto/"),
				"the winrm executor depends on %s: built-ins import only the SDK", p)
		}
	}
}
