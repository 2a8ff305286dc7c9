package wsmantest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/winrm/wsmantest"
)

// client returns a masterzen/winrm client (the one the executor uses) for
// s, with Basic or NTLM authentication.
func client(t *testing.T, s *wsmantest.Server, ntlm bool, password string) *winrm.Client {
	t.Helper()
	ep := winrm.NewEndpoint(s.Host(), s.Port(), strings.HasPrefix(s.URL, "https"), false, s.CACertPEM(), nil, nil, 10*time.Second)
	params := *winrm.DefaultParameters
	if ntlm {
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	}
	c, err := winrm.NewClientWithParameters(ep, s.Username(), password, &params)
	require.NoError(t, err)
	return c
}

func TestRunWithTheGoClient(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts wsmantest.Options
		ntlm bool
	}{
		{"http basic", wsmantest.Options{}, false},
		{"https basic", wsmantest.Options{TLS: true}, false},
		{"http ntlm", wsmantest.Options{NTLM: true, NoBasic: true}, true},
		{"https ntlm", wsmantest.Options{NTLM: true, TLS: true, Username: `WSMANTEST\admin`, Password: "Passw0rd!"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := wsmantest.New(t, tt.opts)
			c := client(t, s, tt.ntlm, s.Password())
			var stdout, stderr bytes.Buffer
			code, err := c.RunWithContext(t.Context(), "echo hello world", &stdout, &stderr)
			require.NoError(t, err)
			require.Equal(t, 0, code)
			require.Equal(t, "hello world\r\n", stdout.String())
			require.Empty(t, stderr.String())

			out, errOut, code, err := c.RunPSWithContext(t.Context(), "Write-Output 'from ps'; Write-Error \"bad thing\"; exit 7")
			require.NoError(t, err)
			require.Equal(t, 7, code)
			require.Equal(t, "from ps\r\n", out)
			require.Equal(t, "bad thing\r\n", errOut)

			actions := []string{}
			for _, call := range s.Calls() {
				if call.Action != "(unauthenticated)" {
					actions = append(actions, call.Action)
				}
			}
			require.Equal(t, []string{"Create", "Command", "Receive", "Signal", "Delete", "Create", "Command", "Receive", "Signal", "Delete"}, actions)
			require.Empty(t, s.OpenShells())
		})
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	for _, ntlm := range []bool{false, true} {
		t.Run(fmt.Sprint("ntlm=", ntlm), func(t *testing.T) {
			t.Parallel()
			s := wsmantest.New(t, wsmantest.Options{NTLM: ntlm, NoBasic: ntlm})
			c := client(t, s, ntlm, "not-the-password")
			_, err := c.RunWithContext(t.Context(), "echo hi", io.Discard, io.Discard)
			require.ErrorContains(t, err, "401")
			for _, call := range s.Calls() {
				require.Equal(t, 401, call.Status)
			}
		})
	}
}

func TestExitCodesAndUnknownCommands(t *testing.T) {
	t.Parallel()
	s := wsmantest.New(t, wsmantest.Options{})
	c := client(t, s, false, s.Password())
	out, errOut, code, err := c.RunCmdWithContext(t.Context(), "exit /b 42")
	require.NoError(t, err)
	require.Equal(t, 42, code)
	require.Empty(t, out+errOut)

	_, errOut, code, err = c.RunCmdWithContext(t.Context(), "no-such-tool.exe --flag")
	require.NoError(t, err)
	require.Equal(t, 1, code)
	require.Equal(t, "'no-such-tool.exe' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", errOut)
}

func TestStdin(t *testing.T) {
	t.Parallel()
	s := wsmantest.New(t, wsmantest.Options{})
	c := client(t, s, false, s.Password())
	out, _, code, err := c.RunWithContextWithString(t.Context(), "more", "line one\r\nline two\r\n")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "line one\r\nline two\r\n", out)
	var sends int
	for _, call := range s.Calls() {
		if call.Action == "Send" {
			sends++
		}
	}
	require.GreaterOrEqual(t, sends, 2, "the data, then the end of stdin")
}

// TestPartialReceives: output written while the command runs is returned
// by Receives that say Running, before the one that says Done.
func TestPartialReceives(t *testing.T) {
	t.Parallel()
	s := wsmantest.New(t, wsmantest.Options{})
	s.Handle("steps", func(ctx context.Context, p *wsmantest.Process) int {
		for i := range 3 {
			fmt.Fprintf(p.Stdout, "step %d\r\n", i)
			if err := p.WaitDelivered(ctx); err != nil {
				return 1
			}
		}
		fmt.Fprint(p.Stderr, "done\r\n")
		return 3
	})
	c := client(t, s, false, s.Password())
	out, errOut, code, err := c.RunCmdWithContext(t.Context(), "steps")
	require.NoError(t, err)
	require.Equal(t, 3, code)
	require.Equal(t, "step 0\r\nstep 1\r\nstep 2\r\n", out)
	require.Equal(t, "done\r\n", errOut)
	var states []bool
	for _, call := range s.Calls() {
		if call.Action == "Receive" {
			states = append(states, call.Done)
		}
	}
	require.GreaterOrEqual(t, len(states), 3)
	require.False(t, states[0], "the first Receive says Running")
	require.True(t, states[len(states)-1], "the last Receive says Done")
}

// TestSignalStopsTheCommand: cancelling the client's context sends a
// terminate Signal, which cancels the handler's context, then a Delete.
func TestSignalStopsTheCommand(t *testing.T) {
	t.Parallel()
	s := wsmantest.New(t, wsmantest.Options{MaxReceiveWait: 50 * time.Millisecond})
	stopped := make(chan struct{})
	s.Handle("forever", func(ctx context.Context, p *wsmantest.Process) int {
		fmt.Fprint(p.Stdout, "started\r\n")
		<-ctx.Done()
		close(stopped)
		return 130
	})
	c := client(t, s, false, s.Password())
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	go func() {
		_, _ = c.RunWithContext(ctx, "forever", pw, io.Discard)
		_ = pw.Close()
	}()
	buf := make([]byte, 9)
	_, err := io.ReadFull(pr, buf)
	require.NoError(t, err)
	require.Equal(t, "started\r\n", string(buf))
	cancel()
	_, _ = io.Copy(io.Discard, pr)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not stopped")
	}
	var signals, deletes int
	for _, call := range s.Calls() {
		switch call.Action {
		case "Signal":
			require.Equal(t, wsmantest.SignalTerminate, call.Signal)
			signals++
		case "Delete":
			deletes++
		}
	}
	require.GreaterOrEqual(t, signals, 1)
	require.Equal(t, 1, deletes)
	require.Empty(t, s.OpenShells())
}

func TestSplitCommandLine(t *testing.T) {
	t.Parallel()
	for line, want := range map[string][]string{
		`echo hello`:                    {"echo", "hello"},
		`  "C:\Program Files\x.exe"  a`: {`C:\Program Files\x.exe`, "a"},
		`a "b c"d e`:                    {"a", "b cd", "e"},
		``:                              nil,
	} {
		require.Equal(t, want, wsmantest.SplitCommandLine(line), line)
	}
	script, err := wsmantest.DecodePowerShell("VwByAGkAdABlAC0ATwB1AHQAcAB1AHQAIAAxAA==")
	require.NoError(t, err)
	require.Equal(t, "Write-Output 1", script)
}

// TestPyWinRM drives the server with an independent client, Debian's
// python3-winrm (pywinrm), to show that it speaks WS-Management as real
// clients expect, not only as masterzen/winrm reads it. Under CI=true a
// missing pywinrm is a failure.
func TestPyWinRM(t *testing.T) {
	t.Parallel()
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-I", "-c", "import winrm").CombinedOutput(); err != nil {
		t.Fatalf("pywinrm is not installed (apt-get install python3-winrm; make test does it through .ci/deps): %v: %s", err, out)
	}
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", tls), func(t *testing.T) {
			t.Parallel()
			s := wsmantest.New(t, wsmantest.Options{TLS: tls})
			s.Handle("steps", func(ctx context.Context, p *wsmantest.Process) int {
				fmt.Fprint(p.Stdout, "one\r\n")
				if p.WaitDelivered(ctx) != nil {
					return 1
				}
				fmt.Fprint(p.Stdout, "two\r\n")
				return 5
			})
			caFile := ""
			if tls {
				caFile = t.TempDir() + "/ca.pem"
				require.NoError(t, os.WriteFile(caFile, s.CACertPEM(), 0o600))
			}
			script := `
import json, sys, winrm
url, user, password, ca = sys.argv[1:5]
kw = {"transport": "basic"}
if ca:
    kw.update(transport="ssl", ca_trust_path=ca, server_cert_validation="validate")
s = winrm.Session(url, auth=(user, password), **kw)
out = {}
r = s.run_cmd("echo", ["hello"])
out["cmd"] = [r.std_out.decode(), r.std_err.decode(), r.status_code]
r = s.run_ps("Write-Output 'ps says hi'; exit 4")
out["ps"] = [r.std_out.decode(), r.std_err.decode(), r.status_code]
r = s.run_cmd("steps")
out["steps"] = [r.std_out.decode(), r.std_err.decode(), r.status_code]
r = s.run_cmd("nope")
out["nope"] = [r.std_out.decode(), r.std_err.decode(), r.status_code]
try:
    winrm.Session(url, auth=(user, "wrong"), **kw).run_cmd("echo", ["x"])
    out["wrong"] = "accepted"
except winrm.exceptions.InvalidCredentialsError as e:
    out["wrong"] = "rejected"
print(json.dumps(out))
`
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, "-I", "-c", script, s.URL, s.Username(), s.Password(), caFile)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "NO_PROXY=*", "LANG=C.UTF-8"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			raw, err := cmd.Output()
			require.NoError(t, err, "pywinrm: %s", stderr.String())
			var got map[string]any
			require.NoError(t, json.Unmarshal(raw, &got), "%s", raw)
			require.Equal(t, []any{"hello\r\n", "", 0.0}, got["cmd"])
			require.Equal(t, []any{"ps says hi\r\n", "", 4.0}, got["ps"])
			require.Equal(t, []any{"one\r\ntwo\r\n", "", 5.0}, got["steps"])
			require.Equal(t, 1.0, got["nope"].([]any)[2])
			require.Contains(t, got["nope"].([]any)[1], "'nope' is not recognized")
			require.Equal(t, "rejected", got["wrong"])

			var receives []bool
			for _, call := range s.Calls() {
				if call.Action == "Receive" {
					receives = append(receives, call.Done)
				}
			}
			require.Contains(t, receives, false, "pywinrm read a partial Receive (Running)")
			require.Empty(t, s.OpenShells(), "pywinrm deleted every shell")
		})
	}
}
