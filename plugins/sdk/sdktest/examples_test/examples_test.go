// Package examples_test holds the third-party executor examples in
// examples/ to the conformance kit, as the plugin processes jobgraph would
// start: the Go example (its own module, built with the go on PATH) and the
// Python example (packed by its build.sh, run by Debian's /usr/bin/python3).
//
// It lives under plugins/sdk/sdktest so that `go test ./plugins/sdk/...`
// (and `make test`) runs it: the examples are separate modules or not Go at
// all, so nothing else in the main module's ./... reaches them.
package examples_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	executorv1 "github.com/jobgraph/jobgraph/plugins/proto/executor/v1"
	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
)

// examplesDir is the repository's examples/ directory (go test runs in
// the package's directory).
func examplesDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "examples"))
	require.NoError(t, err)
	return dir
}

// run runs cmd and fails the test with its output if it fails.
func run(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s\n%s", strings.Join(cmd.Args, " "), out)
}

// goEnv is the environment for the go command in the example's own module:
// no workspace, which would pull it into another module's build.
func goEnv() []string { return append(os.Environ(), "GOWORK=off") }

func TestGoExample(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command builds the example")
	dir := filepath.Join(examplesDir(t), "go-executor")

	// The example's own tests (in process, with the kit) are part of it:
	// nothing else runs them, since it is a module of its own.
	test := exec.Command(goBin, append(append([]string{"test"}, raceFlags...), "-count=1", "./...")...)
	test.Dir, test.Env = dir, goEnv()
	run(t, test)

	bin := filepath.Join(t.TempDir(), "jobgraph-executor-http-check")
	build := exec.Command(goBin, append(append([]string{"build"}, raceFlags...), "-o", bin, ".")...)
	build.Dir, build.Env = dir, goEnv()
	run(t, build)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)

	h := sdktest.Process(t, exec.Command(bin))
	sdktest.Conformance(t, h, sdktest.Suite{
		Quick: sdk.Task{Action: "check", Params: json.RawMessage(fmt.Sprintf(`{"url": %q, "expect_status": 200}`, srv.URL))},
		Slow:  sdk.Task{Action: "sleep", Params: json.RawMessage(`{"seconds": 3600}`)},
		Invalid: []sdk.Task{
			{Action: "check", Params: json.RawMessage(`{"url": "http://"}`)},
		},
		SlowTimeout: 300 * time.Millisecond,
	})

	r := h.Execute(t, sdk.Task{Action: "check", Params: json.RawMessage(fmt.Sprintf(`{"url": %q}`, srv.URL+"/down"))})
	r.RequireStatus(t, sdk.StatusFailed)
	require.Contains(t, r.StdoutText(), "HTTP/1.1 503 Service Unavailable\n")
	require.Equal(t, map[string]string{"status_code": "503"}, r.Outputs())
}

// python is Debian's Python: the Python example uses only Debian packages
// (PyPI is out of reach here), which the pyenv python3 first on PATH does
// not see.
const python = "/usr/bin/python3"

// aptHint says how to get what the Python example needs.
const aptHint = "apt-get install python3 python3-grpcio python3-protobuf python3-cryptography (.ci/run does)"

// requirePython fails the test, never skips it, when Debian's Python or
// the packages the example needs are missing: under CI that is a broken
// machine, and elsewhere apt can install them.
func requirePython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("the Python example needs %s: %v; %s", python, err, aptHint)
	}
	out, err := exec.Command(python, "-I", "-c", "import grpc, google.protobuf, cryptography").CombinedOutput()
	if err != nil {
		t.Fatalf("the Python example needs the Debian packages for grpc, protobuf and cryptography: %v\n%s\n%s", err, out, aptHint)
	}
}

// buildPython packs the Python example with its build.sh, as its README
// says, and returns the single file that goes into the plugin directory.
func buildPython(t *testing.T) string {
	t.Helper()
	requirePython(t)
	pyz := filepath.Join(t.TempDir(), "py-echo")
	run(t, exec.Command("/bin/sh", filepath.Join(examplesDir(t), "python-executor", "build.sh"), pyz))
	return pyz
}

var pySuite = sdktest.Suite{
	Quick: sdk.Task{Action: "say", Params: json.RawMessage(`{"text": "hello"}`)},
	Slow:  sdk.Task{Action: "sleep", Params: json.RawMessage(`{"seconds": 3600}`)},
	Invalid: []sdk.Task{
		{Action: "sleep", Params: json.RawMessage(`{"seconds": -1}`)},
		{Action: "sleep", Params: json.RawMessage(`{"seconds": true}`)},
		{Action: "say", Params: json.RawMessage(`{"text": "NaN", "x": NaN}`)},
	},
	SlowTimeout: 300 * time.Millisecond,
}

func TestPythonExample(t *testing.T) {
	t.Parallel()
	pyz := buildPython(t)
	h := sdktest.Process(t, exec.Command(pyz))
	sdktest.Conformance(t, h, pySuite)

	t.Run("say", func(t *testing.T) {
		r := h.Execute(t, sdk.Task{Action: "say", Params: json.RawMessage(`{"text": "grüezi"}`)})
		r.RequireStatus(t, sdk.StatusSucceeded)
		require.Equal(t, "grüezi\n", r.StdoutText())
		require.Equal(t, map[string]string{"text": "grüezi"}, r.Outputs())
	})
	t.Run("sleep", func(t *testing.T) {
		r := h.Execute(t, sdk.Task{Action: "sleep", Params: json.RawMessage(`{"seconds": 0.35}`)})
		r.RequireStatus(t, sdk.StatusSucceeded)
		require.Regexp(t, `^sleeping 0\.35s\n\.{2,4}\ndone\n$`, r.StdoutText())
	})
	t.Run("validate_errors", func(t *testing.T) {
		require.Empty(t, h.Validate(t, sdk.ValidateRequest{Action: "sleep", Params: json.RawMessage(`{"seconds": 2}`)}))
		require.Equal(t, []sdk.FieldError{
			{Field: "seconds", Message: "must be <= 86400"},
			{Field: "extra", Message: "unknown parameter"},
		}, h.Validate(t, sdk.ValidateRequest{Action: "sleep", Params: json.RawMessage(`{"seconds": 1e9, "extra": 1}`)}))
		require.Equal(t, []sdk.FieldError{{Field: "text", Message: "missing"}},
			h.Validate(t, sdk.ValidateRequest{Action: "say", Params: json.RawMessage(`{}`)}))
		require.Equal(t, []sdk.FieldError{{Message: `py-echo has no action 'shout'`}},
			h.Validate(t, sdk.ValidateRequest{Action: "shout", Params: json.RawMessage(`{}`)}))
	})
	t.Run("an abandoned stream still ends", func(t *testing.T) {
		// A host that cancels the call (its usual way to stop a task)
		// frees the plugin's thread: many cancelled sleeps in a row do
		// not exhaust the plugin's worker threads.
		for range 80 {
			h.AssertCancel(t, sdk.Task{Action: "sleep", Params: json.RawMessage(`{"seconds": 3600}`)})
		}
	})
}

// TestPythonExampleShutdown checks the example's plugin.GRPCController:
// go-plugin's Kill asks the plugin to shut down and waits 2 seconds before
// it kills the process; a plugin that shuts down by itself ends well
// before.
func TestPythonExampleShutdown(t *testing.T) {
	t.Parallel()
	pyz := buildPython(t)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(nil),
		Cmd:              exec.Command(pyz),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SyncStdout:       &bytes.Buffer{},
		SyncStderr:       &bytes.Buffer{},
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	require.NoError(t, err)
	require.NoError(t, rpc.Ping(), "the health service answers for \"plugin\"")
	start := time.Now()
	client.Kill()
	require.Less(t, time.Since(start), 1500*time.Millisecond, "the plugin shut down when asked instead of waiting for SIGKILL")
	require.True(t, client.Exited())
}

// TestPythonExampleByHand: run without the handshake cookie, the plugin
// says what it is and exits.
func TestPythonExampleByHand(t *testing.T) {
	t.Parallel()
	pyz := buildPython(t)
	cmd := exec.Command(pyz)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 1, exit.ExitCode())
	require.Contains(t, string(out), "not meant to be run by hand")
}

// TestPythonExampleUnitTests runs the example's own Python tests (of the
// protocol glue, for what py-echo's well-behaved actions never provoke).
func TestPythonExampleUnitTests(t *testing.T) {
	t.Parallel()
	requirePython(t)
	cmd := exec.Command(python, "-I", "-B", "-m", "unittest", "discover", "-s", "tests")
	cmd.Dir = filepath.Join(examplesDir(t), "python-executor")
	run(t, cmd)
}

// TestPythonProtoUpToDate checks that the committed executor_pb2.py
// describes the same protocol as plugins/proto/executor/v1/executor.proto
// (as compiled into the Go code): regenerate it with generate.sh when the
// proto changes.
func TestPythonProtoUpToDate(t *testing.T) {
	t.Parallel()
	requirePython(t)
	dir := filepath.Join(examplesDir(t), "python-executor", "py_echo")
	cmd := exec.Command(python, "-I", "-B", "-c",
		"import sys; sys.path.insert(0, sys.argv[1]); import executor_pb2; sys.stdout.buffer.write(executor_pb2.DESCRIPTOR.serialized_pb)", dir) // -B: leave no __pycache__ in the tree
	out, err := cmd.Output()
	require.NoError(t, err)
	var got descriptorpb.FileDescriptorProto
	require.NoError(t, proto.Unmarshal(out, &got))

	want := protodesc.ToFileDescriptorProto(executorv1.File_plugins_proto_executor_v1_executor_proto)
	want.Name = got.Name // protoc ran from the proto's own directory for Python
	// protoc gives Go's generator JSON names, and Python's none.
	for _, d := range []*descriptorpb.FileDescriptorProto{want, &got} {
		clearJSONNames(d.MessageType)
	}
	if !proto.Equal(want, &got) {
		t.Fatalf("examples/python-executor/py_echo/executor_pb2.py is stale: run examples/python-executor/generate.sh\nwant %v\ngot  %v", want, &got)
	}
}

func clearJSONNames(msgs []*descriptorpb.DescriptorProto) {
	for _, m := range msgs {
		for _, f := range m.Field {
			f.JsonName = nil
		}
		clearJSONNames(m.NestedType)
	}
}
