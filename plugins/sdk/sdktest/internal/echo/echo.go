// Package echo is a small, well-behaved executor that the sdktest kit
// tests itself with, in process and as a plugin process
// (testdata/echo). It is also a model of what Conformance expects.
package echo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Executor is the echo executor.
type Executor struct {
	// Misbehave enables the "crash" action, which exits the process, and
	// makes "leak" write the task's credential to the process's stderr;
	// only the plugin binary sets it, for the kit's tests to catch.
	Misbehave bool

	schemas map[string]*sdk.Schema
	info    sdk.Info
}

// New returns an echo executor.
func New() *Executor {
	info := sdk.Info{
		Name:        "echo",
		Version:     "1.0.0",
		Description: "Says what it is told; for testing the SDK.",
		Actions: []sdk.Action{
			{
				Name:        "say",
				Description: "Write text to stdout (and optionally stderr), report progress and export the text.",
				ParamsSchema: sdk.MustSchema(`{
					"type": "object",
					"properties": {
						"text": {"type": "string", "description": "What to write to stdout."},
						"stderr": {"type": "string", "description": "What to write to stderr."},
						"exit_code": {"type": "integer", "minimum": 0, "maximum": 255, "description": "The exit code to end with."}
					},
					"required": ["text"],
					"additionalProperties": false
				}`),
			},
			{
				Name:        "wait",
				Description: "Write a line, then wait until cancelled.",
				ParamsSchema: sdk.MustSchema(`{
					"type": "object",
					"properties": {"line": {"type": "string", "description": "The line to write first."}},
					"additionalProperties": false
				}`),
			},
			{
				Name:         "leak",
				Description:  "Write the task's credential secret to the process's stderr (when allowed); a bad executor.",
				ParamsSchema: sdk.MustSchema(`{"type": "object", "additionalProperties": false}`),
			},
			{
				Name:         "crash",
				Description:  "Exit the plugin process at once (when allowed).",
				ParamsSchema: sdk.MustSchema(`{"type": "object", "additionalProperties": false}`),
			},
		},
	}
	e := &Executor{info: info, schemas: map[string]*sdk.Schema{}}
	for _, a := range info.Actions {
		s, err := sdk.CompileSchema(a.ParamsSchema)
		if err != nil {
			panic(err)
		}
		e.schemas[a.Name] = s
	}
	return e
}

// Describe implements sdk.Executor.
func (e *Executor) Describe(context.Context) (sdk.Info, error) { return e.info, nil }

// Execute implements sdk.Executor.
func (e *Executor) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	schema, ok := e.schemas[task.Action]
	if !ok {
		return sdk.Result{}, fmt.Errorf("echo has no action %q", task.Action)
	}
	if errs := schema.Validate(task.Params); len(errs) > 0 {
		return sdk.Result{}, fmt.Errorf("invalid parameters: %w", errors.Join(fieldErrs(errs)...))
	}
	switch task.Action {
	case "say":
		var p struct {
			Text     string `json:"text"`
			Stderr   string `json:"stderr"`
			ExitCode int    `json:"exit_code"`
		}
		if err := task.DecodeParams(&p); err != nil {
			return sdk.Result{}, err
		}
		_, _ = io.WriteString(out.Stdout(), p.Text+"\n")
		if p.Stderr != "" {
			_, _ = io.WriteString(out.Stderr(), p.Stderr+"\n")
		}
		out.Progress(100, "said it")
		out.SetOutput("text", p.Text)
		return sdk.Exited(p.ExitCode), nil
	case "wait":
		var p struct {
			Line string `json:"line"`
		}
		if err := task.DecodeParams(&p); err != nil {
			return sdk.Result{}, err
		}
		_, _ = io.WriteString(out.Stdout(), strings.TrimSuffix(p.Line, "\n")+"\n")
		<-ctx.Done()
		return sdk.ContextResult(ctx), nil
	case "leak":
		if e.Misbehave && task.Credential != nil {
			fmt.Fprintf(os.Stderr, "logging in with %s\n", task.Credential.Secret)
		}
		return sdk.Succeeded(), nil
	case "crash":
		if !e.Misbehave {
			return sdk.Result{}, errors.New("crash is not allowed here")
		}
		os.Exit(3)
	}
	return sdk.Result{}, fmt.Errorf("echo has no action %q", task.Action)
}

func fieldErrs(errs []sdk.FieldError) []error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return out
}
