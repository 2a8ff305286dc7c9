// Package local is the built-in "local" executor: it runs commands and
// scripts on the jobgraph worker machine itself, as the worker's user.
//
// It is for maintenance jobs that belong to jobgraph's own host (rotate a
// log, clean a spool directory, call a CLI that reaches elsewhere) and for
// trying jobgraph out without any remote host. The task's target only
// labels the task: its address, port and OS are ignored, and so is its
// credential. Anyone who may run a job with this executor may run any
// command as the worker's user; grant it accordingly.
//
// Actions:
//
//   - command: runs `shell -c command` (shell defaults to /bin/sh).
//   - script: writes the script to a temporary file readable only by the
//     worker's user (mode 0700), runs `interpreter FILE args...`
//     (interpreter defaults to /bin/sh), and removes the file afterwards.
//
// Both take env (variables set on top of the worker's environment) and dir
// (the absolute working directory). The process reads /dev/null as stdin;
// its stdout and stderr stream to jobgraph as they are produced. The task
// succeeds when it exits 0, fails otherwise, and exports its exit code as
// the output "exit_code" (128+N when signal N killed it).
//
// Outputs of its own: a line `::set-output name=KEY::VALUE` that the
// command prints on stdout exports VALUE as the output KEY (see
// sdk.CommandOutput for the rules), e.g.
// `echo "::set-output name=path::/opt/app/releases/$VERSION"`; the line
// stays in the log. exit_code cannot be set that way.
//
// Environment: the process gets the worker's environment without
// go-plugin's variables (PLUGIN_*, the handshake cookie) and without
// JOBGRAPH_* (server settings, possibly secrets), plus JOBGRAPH_TASK_ID
// and JOBGRAPH_ATTEMPT, then the task's env. PATH defaults to the usual
// system directories when the worker has none (jobgraph starts plugins
// without its own environment).
//
// Stopping: each task runs in its own process group. When the task is
// cancelled or times out, the whole group gets SIGTERM, then SIGKILL if
// the command has not exited within 5 seconds; processes of the group that
// outlive the command by 5 seconds get SIGKILL too. Background processes
// that a finished command leaves behind are not killed, but their output
// is read for at most 2 seconds after the command exits.
package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Name and Version identify the executor.
const (
	Name    = "local"
	Version = "1.0.0"
)

// Default limits; see the package comment.
const (
	// KillGrace is how long a cancelled task's processes have between
	// SIGTERM and SIGKILL.
	KillGrace = 5 * time.Second
	// OutputGrace is how long output is still read after the command
	// exits, from background processes that hold its stdout or stderr.
	OutputGrace = 2 * time.Second
)

// Executor is the local executor. It is safe for concurrent use.
type Executor struct {
	killGrace   time.Duration
	outputGrace time.Duration
	actions     map[string]*action
	info        sdk.Info
}

var (
	_ sdk.Executor  = (*Executor)(nil)
	_ sdk.Validator = (*Executor)(nil)
)

// New returns the local executor.
func New() sdk.Executor { return newExecutor() }

func newExecutor() *Executor {
	e := &Executor{killGrace: KillGrace, outputGrace: OutputGrace, actions: map[string]*action{}}
	e.info = sdk.Info{
		Name:        Name,
		Version:     Version,
		Description: "Runs commands and scripts on the jobgraph worker machine itself, as the worker's user; the target's address is ignored.",
	}
	for _, a := range actions() {
		schema, err := sdk.CompileSchema(a.Action.ParamsSchema)
		if err != nil {
			panic(err) // the schemas are literals, checked by MustSchema and the tests
		}
		a.schema = schema
		e.actions[a.Name] = a
		e.info.Actions = append(e.info.Actions, a.Action)
	}
	return e
}

// Describe implements sdk.Executor.
func (e *Executor) Describe(context.Context) (sdk.Info, error) { return e.info, nil }

// Validate implements sdk.Validator: beyond the schema, dir must be
// absolute and env keys valid variable names.
func (e *Executor) Validate(_ context.Context, req sdk.ValidateRequest) ([]sdk.FieldError, error) {
	_, problems := e.parse(req.Action, req.Params)
	return problems, nil
}

// Execute implements sdk.Executor.
func (e *Executor) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	p, problems := e.parse(task.Action, task.Params)
	if err := sdk.InvalidParams(task.Action, problems); err != nil {
		return sdk.Result{}, err
	}
	args := p.args
	if p.script != "" {
		path, err := writeScript(p.script)
		if err != nil {
			return sdk.Result{}, err
		}
		defer os.Remove(path)
		args = append([]string{path}, args...)
	}
	env := append(workerEnv(os.Environ()), "JOBGRAPH_TASK_ID="+task.ID, "JOBGRAPH_ATTEMPT="+strconv.Itoa(task.Attempt))
	for k, v := range p.env {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(p.program, args...)
	cmd.Env = env
	cmd.Dir = p.dir
	return e.run(ctx, cmd, out)
}

// writeScript writes script to a new file that only its owner may read,
// write and execute, and returns its path.
func writeScript(script string) (string, error) {
	f, err := os.CreateTemp("", "jobgraph-script-*")
	if err != nil {
		return "", fmt.Errorf("write the script: %w", err)
	}
	_, err = f.WriteString(script)
	if err == nil {
		err = f.Chmod(0o700)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write the script: %w", err)
	}
	return f.Name(), nil
}

// run runs cmd in its own process group, streaming its output to out,
// until it exits or ctx is done.
func (e *Executor) run(ctx context.Context, cmd *exec.Cmd, out sdk.Output) (sdk.Result, error) {
	cmdOut := sdk.ParseOutputCommands(out, "exit_code")
	cmd.Stdout, cmd.Stderr = cmdOut.Stdout(), cmdOut.Stderr() // copied as read, not at the end
	cmd.WaitDelay = e.outputGrace
	setProcessGroup(cmd)
	if cmd.Dir != "" {
		// A missing directory would read "fork/exec /bin/sh: no such file".
		if _, err := os.Stat(cmd.Dir); err != nil {
			return sdk.Result{}, fmt.Errorf("working directory: %w", err)
		}
	}
	if err := cmd.Start(); err != nil {
		return sdk.Result{}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if cmd.ProcessState == nil {
			return sdk.Result{}, fmt.Errorf("wait for %s: %w", cmd.Path, err)
		}
		// err may also report output that could not be copied (the host
		// went away) or was cut at OutputGrace; the exit code stands.
		// Wait has returned: nothing more is written to stdout.
		cmdOut.End()
		code := exitCode(cmd.ProcessState)
		out.SetOutput("exit_code", strconv.Itoa(code))
		return sdk.Exited(code), nil
	case <-ctx.Done():
		e.stop(cmd.Process.Pid, waited)
		return sdk.ContextResult(ctx), nil
	}
}

// stop ends the process group led by pid: SIGTERM, then SIGKILL if the
// leader has not exited within killGrace. Once the leader has exited, the
// rest of the group gets SIGKILL at the end of the grace, without holding
// up the task's result.
func (e *Executor) stop(pid int, waited <-chan error) {
	deadline := time.Now().Add(e.killGrace)
	terminateGroup(pid)
	timer := time.NewTimer(e.killGrace)
	defer timer.Stop()
	select {
	case <-waited:
		if groupAlive(pid) {
			time.AfterFunc(time.Until(deadline), func() { killGroup(pid) })
		}
	case <-timer.C:
		killGroup(pid)
		<-waited
	}
}

// workerEnv returns environ without go-plugin's variables and jobgraph's
// settings, with a default PATH.
func workerEnv(environ []string) []string {
	var env []string
	hasPath := false
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PLUGIN_"), k == sdk.Handshake.MagicCookieKey, strings.HasPrefix(k, "JOBGRAPH_"):
			continue
		case k == "PATH":
			hasPath = true
		}
		env = append(env, kv)
	}
	if !hasPath {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return env
}
