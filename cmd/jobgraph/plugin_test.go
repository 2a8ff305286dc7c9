//go:build unix

package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
)

// TestE2EPluginServeLocal runs the built binary as the plugin host will,
// `jobgraph plugin serve local` under go-plugin, and holds the local
// executor to the conformance suite over that real process.
func TestE2EPluginServeLocal(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(e2eBinary, "plugin", "serve", "local")
	cmd.Env = e2eEnv()
	h := sdktest.Process(t, cmd)
	sdktest.Conformance(t, h, sdktest.Suite{
		Quick: sdk.Task{Action: "command", Params: json.RawMessage(`{"command": "echo ok"}`)},
		Slow:  sdk.Task{Action: "command", Params: json.RawMessage(`{"command": "echo started; sleep 1000"}`)},
		Invalid: []sdk.Task{
			{Action: "command", Params: json.RawMessage(`{"command": "pwd", "dir": "relative"}`)},
		},
		SlowTimeout: 300 * time.Millisecond,
	})

	// The server's settings never reach the commands a job runs.
	run := h.Execute(t, sdk.Task{Action: "command", Params: json.RawMessage(`{"command": "env"}`)})
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.NotContains(t, run.StdoutText(), e2eAdminPassword)
	require.NotContains(t, run.StdoutText(), sdk.Handshake.MagicCookieValue)
	require.NotContains(t, run.StdoutText(), "PLUGIN_CLIENT_CERT")
}

func TestE2EPluginServeUnknown(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := e2eRun(t, e2eEnv(), "plugin", "serve", "telnet")
	require.Equal(t, 2, code)
	require.Empty(t, stdout)
	require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	require.Contains(t, stderr, `"telnet"`)
	require.Contains(t, stderr, "local", "the error lists the built-ins")
}

func TestE2EPluginServeByHand(t *testing.T) {
	t.Parallel()
	_, stderr, code := e2eRun(t, e2eEnv(), "plugin", "serve", "local")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "This binary is a plugin", "go-plugin refuses without the handshake cookie")
}

func TestE2EPluginList(t *testing.T) {
	t.Parallel()
	stdout, _, code := e2eRun(t, e2eEnv(), "plugin", "list")
	require.Equal(t, 0, code)
	require.Regexp(t, `(?m)^local\s+\d+\.\d+\.\d+\s+command,script\s`, stdout)
}
