package local

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// action is one of the executor's actions with its compiled schema and
// what turns its parameters into a process to run.
type action struct {
	sdk.Action
	schema *sdk.Schema
	decode func(task sdk.Task) (process, error)
}

// process is what a task runs.
type process struct {
	program string   // the shell or the interpreter
	args    []string // after the program (and after the script's path)
	script  string   // the script to write to a file, for "script"
	env     map[string]string
	dir     string
}

// envName is what Validate accepts as a variable name: POSIX's portable
// names, which every shell can expand.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// The parameters' schemas. Their descriptions are what the console shows
// next to each field. Variable names are checked by parse rather than with
// "propertyNames", whose errors the schema library reports without the
// path of the object at fault.
const (
	envSchema = `{
		"type": "object",
		"description": "Environment variables to set, on top of the worker's environment (JOBGRAPH_* and go-plugin's variables removed). Names are letters, digits and _, not starting with a digit.",
		"additionalProperties": {"type": "string"}
	}`
	dirSchema = `{
		"type": "string",
		"minLength": 1,
		"description": "The absolute path of the working directory; the worker's own when unset."
	}`
	// outputsHelp ends the descriptions of the actions that run a process.
	outputsHelp = " It exports exit_code, and any output the process sets by printing a line ::set-output name=KEY::VALUE on stdout (KEY: letters, digits, _ and -)."
)

func actions() []*action {
	return []*action{
		{
			Action: sdk.Action{
				Name:        "command",
				Description: "Run a command line with a shell (shell -c command) on the worker machine." + outputsHelp,
				ParamsSchema: sdk.MustSchema(`{
					"type": "object",
					"properties": {
						"command": {"type": "string", "minLength": 1, "description": "The command line to run, e.g. \"df -h /var\"."},
						"shell": {"type": "string", "minLength": 1, "default": "/bin/sh", "description": "The shell that runs the command as shell -c command: a path, or a name looked up in PATH."},
						"env": ` + envSchema + `,
						"dir": ` + dirSchema + `
					},
					"required": ["command"],
					"additionalProperties": false
				}`),
			},
			decode: func(task sdk.Task) (process, error) {
				var p struct {
					Command string            `json:"command"`
					Shell   string            `json:"shell"`
					Env     map[string]string `json:"env"`
					Dir     string            `json:"dir"`
				}
				if err := task.DecodeParams(&p); err != nil {
					return process{}, err
				}
				return process{program: cmp.Or(p.Shell, "/bin/sh"), args: []string{"-c", p.Command}, env: p.Env, dir: p.Dir}, nil
			},
		},
		{
			Action: sdk.Action{
				Name:        "script",
				Description: "Write a script to a temporary file (mode 0700), run it with an interpreter on the worker machine, and remove it." + outputsHelp,
				ParamsSchema: sdk.MustSchema(`{
					"type": "object",
					"properties": {
						"script": {"type": "string", "minLength": 1, "description": "The script's text."},
						"interpreter": {"type": "string", "minLength": 1, "default": "/bin/sh", "description": "The program that runs the script, given the script file's path as its first argument: a path, or a name looked up in PATH, e.g. \"python3\"."},
						"args": {"type": "array", "items": {"type": "string"}, "description": "Arguments passed to the script, after its path."},
						"env": ` + envSchema + `,
						"dir": ` + dirSchema + `
					},
					"required": ["script"],
					"additionalProperties": false
				}`),
			},
			decode: func(task sdk.Task) (process, error) {
				var p struct {
					Script      string            `json:"script"`
					Interpreter string            `json:"interpreter"`
					Args        []string          `json:"args"`
					Env         map[string]string `json:"env"`
					Dir         string            `json:"dir"`
				}
				if err := task.DecodeParams(&p); err != nil {
					return process{}, err
				}
				return process{program: cmp.Or(p.Interpreter, "/bin/sh"), args: p.Args, script: p.Script, env: p.Env, dir: p.Dir}, nil
			},
		},
	}
}

// parse checks params for the action named name, against its schema and
// then the rules a schema cannot say, and returns the process to run or
// the problems found.
func (e *Executor) parse(name string, params json.RawMessage) (process, []sdk.FieldError) {
	a, ok := e.actions[name]
	if !ok {
		return process{}, []sdk.FieldError{{Message: fmt.Sprintf("the local executor has no action %q (it has: command, script)", name)}}
	}
	if problems := a.schema.Validate(params); len(problems) > 0 {
		return process{}, problems
	}
	p, err := a.decode(sdk.Task{Action: name, Params: params})
	if err != nil {
		return process{}, []sdk.FieldError{{Message: err.Error()}}
	}
	var problems []sdk.FieldError
	if p.dir != "" && !filepath.IsAbs(p.dir) {
		problems = append(problems, sdk.FieldError{Field: "dir", Message: fmt.Sprintf("%q is not an absolute path", p.dir)})
	}
	for _, k := range slices.Sorted(maps.Keys(p.env)) {
		if !envName.MatchString(k) {
			problems = append(problems, sdk.FieldError{Field: "env." + k, Message: fmt.Sprintf("%q is not a valid variable name (letters, digits and _, not starting with a digit)", k)})
		}
	}
	return p, problems
}
