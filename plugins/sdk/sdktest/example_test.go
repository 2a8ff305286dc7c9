package sdktest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
)

// hello is a small executor that passes Conformance: it checks the action
// and the parameters itself, and stops when ctx is done.
type hello struct{}

var helloSchema = sdk.MustSchema(`{
	"type": "object",
	"properties": {"name": {"type": "string", "minLength": 1, "description": "Whom to greet."}},
	"required": ["name"],
	"additionalProperties": false
}`)

func (hello) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "hello", Version: "1.0.0", Actions: []sdk.Action{
		{Name: "greet", ParamsSchema: helloSchema},
		{Name: "greet-forever", ParamsSchema: helloSchema},
	}}, nil
}

func (hello) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	if task.Action != "greet" && task.Action != "greet-forever" {
		return sdk.Result{}, fmt.Errorf("unknown action %q", task.Action)
	}
	schema, err := sdk.CompileSchema(helloSchema)
	if err != nil {
		return sdk.Result{}, err
	}
	if errs := schema.Validate(task.Params); len(errs) > 0 {
		return sdk.Result{}, fmt.Errorf("invalid parameters: %v", errs[0])
	}
	var p struct{ Name string }
	if err := task.DecodeParams(&p); err != nil {
		return sdk.Result{}, err
	}
	fmt.Fprintf(out.Stdout(), "hello, %s\n", p.Name)
	if task.Action == "greet-forever" {
		<-ctx.Done() // a real executor stops its work here
		return sdk.ContextResult(ctx), nil
	}
	return sdk.Succeeded(), nil
}

var helloSuite = sdktest.Suite{
	Quick: sdk.Task{Action: "greet", Params: json.RawMessage(`{"name": "world"}`)},
	Slow:  sdk.Task{Action: "greet-forever", Params: json.RawMessage(`{"name": "world"}`)},
}

// An executor's conformance test, in its package's _test.go file: the
// executor served in process, over gRPC.
func ExampleConformance() {
	testConformance := func(t *testing.T) {
		h := sdktest.InProcess(t, hello{})
		sdktest.Conformance(t, h, sdktest.Suite{
			// Succeeds fast; the suite runs 50 at once.
			Quick: sdk.Task{Action: "greet", Params: json.RawMessage(`{"name": "world"}`)},
			// Writes something, then runs until cancelled.
			Slow: sdk.Task{Action: "greet-forever", Params: json.RawMessage(`{"name": "world"}`)},
		})
	}
	_ = testConformance
}

// The same suite against the plugin binary you ship, started as jobgraph
// starts it.
func ExampleProcess() {
	testPluginBinary := func(t *testing.T) {
		h := sdktest.Process(t, exec.Command("./bin/jobgraph-executor-hello"))
		sdktest.Conformance(t, h, helloSuite)
	}
	_ = testPluginBinary
}

// An executor's own tests use the harness too: Execute runs a task to its
// end, Start runs one in the background so that the test can wait for its
// output instead of sleeping.
func ExampleHarness_Start() {
	testStreaming := func(t *testing.T) {
		h := sdktest.InProcess(t, hello{})

		run := h.Execute(t, sdk.Task{Action: "greet", Params: json.RawMessage(`{"name": "ops"}`)})
		run.RequireStatus(t, sdk.StatusSucceeded)
		require.Equal(t, "hello, ops\n", run.StdoutText())

		x := h.Start(t, sdk.Task{Action: "greet-forever", Params: json.RawMessage(`{"name": "ops"}`)})
		x.WaitStdout(t, "hello, ops") // arrives while the task still runs
		x.Cancel()
		require.ErrorIs(t, x.Wait(t).Err, context.Canceled)
	}
	_ = testStreaming
}

// A Recorder is an sdk.Output that keeps what a task produces, for calling
// an executor directly.
func ExampleRecorder() {
	rec := sdktest.NewRecorder()
	res, err := hello{}.Execute(context.Background(), sdk.Task{Action: "greet", Params: json.RawMessage(`{"name": "world"}`)}, rec)
	fmt.Print(rec.StdoutText())
	fmt.Println(res.Status, err)
	// Output:
	// hello, world
	// succeeded <nil>
}

// TestHelloConformance keeps the examples honest: hello passes.
func TestHelloConformance(t *testing.T) {
	t.Parallel()
	sdktest.Conformance(t, sdktest.InProcess(t, hello{}), helloSuite)
}
