// Package sdktest is the conformance kit for jobgraph executor plugins.
//
// Every executor, built-in or third-party, must pass Conformance: it checks
// what jobgraph relies on (a valid Describe, clean failures on bad input,
// many tasks at once, prompt cancellation, timeouts, no leaked secrets)
// through the real plugin protocol. A Harness drives the executor the way
// jobgraph does, through an *sdk.Client over gRPC, either in memory
// (InProcess, fast, for unit tests) or as a real plugin process started
// with go-plugin (Process, for the binary you ship):
//
//	func TestConformance(t *testing.T) {
//		h := sdktest.InProcess(t, myexec.New())
//		sdktest.Conformance(t, h, sdktest.Suite{
//			Quick: sdk.Task{Action: "command", Params: json.RawMessage(`{"command": "echo ok"}`)},
//			Slow:  sdk.Task{Action: "command", Params: json.RawMessage(`{"command": "echo started; sleep 1000"}`)},
//		})
//	}
//
// The harness's own methods are the building blocks for an executor's
// specific tests: Execute runs a task to its end and returns a Run (its
// stdout, stderr, progress, outputs and result); Start runs one in the
// background, so that a test can wait for a line (WaitStdout) and then
// act, without sleeping; AssertCancel checks cancellation. Every call is
// bounded by Harness.Timeout, so a hung executor fails the test instead of
// hanging it.
//
// The package depends only on plugins/sdk, the protocol, go-plugin and
// testify, never on jobgraph's server.
package sdktest
