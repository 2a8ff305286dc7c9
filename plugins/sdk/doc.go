// Package sdk is the Go SDK for jobgraph executor plugins.
//
// An executor runs tasks (a command, a script, a file push, an HTTP call,
// a SQL statement...) on targets and reports what happens. It lives in its
// own process, which jobgraph starts, verifies and talks to over gRPC
// (hashicorp/go-plugin): a crashing executor never takes the server down,
// and anyone can write one, in Go with this package or in any language
// that speaks the protocol in plugins/proto/executor/v1.
//
// A plugin implements Executor and calls Serve from main:
//
//	type echo struct{}
//
//	func (echo) Describe(context.Context) (sdk.Info, error) {
//		return sdk.Info{Name: "echo", Version: "1.0.0", Actions: []sdk.Action{{
//			Name:         "say",
//			ParamsSchema: sdk.MustSchema(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`),
//		}}}, nil
//	}
//
//	func (echo) Execute(ctx context.Context, t sdk.Task, out sdk.Output) (sdk.Result, error) {
//		var p struct{ Text string }
//		if err := t.DecodeParams(&p); err != nil {
//			return sdk.Result{}, err
//		}
//		fmt.Fprintln(out.Stdout(), p.Text)
//		return sdk.Succeeded(), nil
//	}
//
//	func main() { sdk.Serve(echo{}) }
//
// One plugin process serves many tasks at once: Execute is called
// concurrently, once per task, each with its own context (cancelled on
// timeout or when the run is cancelled) and its own Output.
//
// The package has no dependency on jobgraph's server: it is the contract,
// shaped for plugin authors. Package sdktest runs the conformance tests that
// every built-in executor passes against a plugin, in-process and as a real
// plugin process.
package sdk
