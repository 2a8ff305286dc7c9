package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ProtocolVersion is the executor protocol version this SDK speaks.
const ProtocolVersion = 1

// Executor runs tasks for jobgraph. Implementations must be safe for
// concurrent use: one process serves many tasks at once.
type Executor interface {
	// Describe reports the executor's name, version and actions. It is
	// called once when the plugin starts (and after each restart) and must
	// be fast and free of side effects.
	Describe(ctx context.Context) (Info, error)

	// Execute runs one task: it writes the task's output to out as it is
	// produced and returns how the task ended. It must return promptly once
	// ctx is done, after stopping the work (the remote process too), with a
	// Result of status Canceled or TimedOut, or with ctx's error.
	//
	// A returned error means the task could not run at all (a bad
	// parameter, an unreachable target): it is reported as status Error,
	// retryable if the error is marked with Retryable. A task that ran and
	// failed (exit code 1) is a Result with status Failed and a nil error.
	Execute(ctx context.Context, task Task, out Output) (Result, error)
}

// Validator is implemented by executors that check parameters beyond what
// their JSON Schema says. jobgraph calls it before a run starts, after the
// schema check.
type Validator interface {
	Validate(ctx context.Context, req ValidateRequest) ([]FieldError, error)
}

// Info describes an executor.
type Info struct {
	// Name is how jobs and hosts name the executor: 1–63 of [a-z0-9_-].
	Name string
	// Version is the plugin's semantic version, e.g. "1.2.0".
	Version     string
	Description string
	Actions     []Action
}

// Action is one thing an executor does.
type Action struct {
	// Name is 1–63 of [a-z0-9_-], unique within the executor.
	Name        string
	Description string
	// ParamsSchema is a JSON Schema (draft 2020-12) of the parameters, a
	// JSON object. jobgraph validates parameters against it before a task
	// is queued, and consoles render forms from it.
	ParamsSchema json.RawMessage
	// SecretParams names top-level parameters whose values are secret:
	// jobgraph redacts them from logs, events and errors.
	SecretParams []string
}

// Action returns the action with that name.
func (i Info) Action(name string) (Action, bool) {
	for _, a := range i.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

// Target is the host a task runs on.
type Target struct {
	ID      string // jobgraph's host ID
	Name    string
	Address string // DNS name or IP address, without a port
	Port    int    // 0: the executor's default
	OS      string // "linux", "windows", "darwin" or "other"
	Labels  map[string]string
}

// Credential is what a task authenticates with. Never log it.
type Credential struct {
	Kind       string // "ssh_key", "password", "token" or "database_dsn"
	Username   string
	Secret     []byte
	Passphrase []byte
}

// String hides the secret material.
func (c Credential) String() string {
	return fmt.Sprintf("sdk.Credential{Kind: %q, Username: %q, Secret: (redacted)}", c.Kind, c.Username)
}

// GoString hides the secret material.
func (c Credential) GoString() string { return c.String() }

// Task is one execution of an action on a target.
type Task struct {
	// ID is unique per attempt.
	ID     string
	Action string
	// Params is a JSON object, valid against the action's schema.
	Params json.RawMessage
	Target Target
	// Credential is nil when the task has none.
	Credential *Credential
	// Attempt is 1 for the first try, 2 for the first retry...
	Attempt int
	// Timeout is how long the task may run (0: no limit); ctx carries it as
	// a deadline too.
	Timeout time.Duration
}

// DecodeParams decodes the task's parameters into v (a pointer to a
// struct), rejecting unknown fields.
func (t Task) DecodeParams(v any) error {
	dec := json.NewDecoder(bytesReader(t.Params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &ParamError{Action: t.Action, Err: err}
	}
	return nil
}

// ParamError reports parameters that do not decode.
type ParamError struct {
	Action string
	Err    error
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameters of %s: %v", e.Action, e.Err) }
func (e *ParamError) Unwrap() error { return e.Err }

// ValidateRequest asks whether parameters suit a target.
type ValidateRequest struct {
	Action string
	Params json.RawMessage
	Target Target
}

// FieldError is one problem with one parameter.
type FieldError struct {
	Field   string // e.g. "command" or "headers.Authorization"
	Message string
}

func (e FieldError) Error() string {
	if e.Field == "" { // a problem with the parameters as a whole
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Output receives what a task produces. Its methods are safe for
// concurrent use (stdout and stderr are often copied by two goroutines).
type Output interface {
	// Stdout and Stderr stream the task's output as it is produced.
	Stdout() io.Writer
	Stderr() io.Writer
	// Progress reports how far the task is, 0–100.
	Progress(percent int, message string)
	// SetOutput exports a named value for later steps.
	SetOutput(name, value string)
}

// Status is how a task ended.
type Status int

// The statuses a task can end with.
const (
	StatusSucceeded Status = iota + 1 // did what it was asked (exit code 0)
	StatusFailed                      // ran and failed (non-zero exit code, HTTP 500...)
	StatusTimedOut                    // passed its timeout and was stopped
	StatusCanceled                    // was cancelled and stopped
	StatusError                       // could not run (unreachable, bad credentials...)
)

// Statuses lists every status.
func Statuses() []Status {
	return []Status{StatusSucceeded, StatusFailed, StatusTimedOut, StatusCanceled, StatusError}
}

func (s Status) String() string {
	switch s {
	case StatusSucceeded:
		return "succeeded"
	case StatusFailed:
		return "failed"
	case StatusTimedOut:
		return "timed_out"
	case StatusCanceled:
		return "canceled"
	case StatusError:
		return "error"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is how a task ended.
type Result struct {
	Status   Status
	ExitCode int
	// Error says what went wrong, for people. Never put a secret in it.
	Error string
	// Retryable says whether trying again may succeed.
	Retryable bool
}

// Succeeded is the result of a task that did what it was asked.
func Succeeded() Result { return Result{Status: StatusSucceeded} }

// Exited is the result of a command that exited with code: succeeded for
// 0, failed otherwise.
func Exited(code int) Result {
	if code == 0 {
		return Result{Status: StatusSucceeded}
	}
	return Result{Status: StatusFailed, ExitCode: code, Error: fmt.Sprintf("exit code %d", code)}
}

// ContextResult is the result for a task stopped because ctx is done:
// TimedOut for a deadline, Canceled otherwise.
func ContextResult(ctx context.Context) Result {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Result{Status: StatusTimedOut, Error: "timed out"}
	}
	return Result{Status: StatusCanceled, Error: "canceled"}
}

// Retryable marks err as worth retrying (a connection refused, a timeout
// while connecting). Execute returns it; the step's retry policy decides.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &retryableError{err}
}

// IsRetryable reports whether err was marked with Retryable.
func IsRetryable(err error) bool {
	var r *retryableError
	return errors.As(err, &r)
}

type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// resultOf turns what Execute returned into the Result to report.
func resultOf(ctx context.Context, res Result, err error) Result {
	switch {
	case err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return ContextResult(ctx)
	case err != nil:
		return Result{Status: StatusError, Error: err.Error(), Retryable: IsRetryable(err)}
	case res.Status == 0:
		return Result{Status: StatusError, Error: "executor returned no status"}
	}
	return res
}

// InvalidParams is the error Execute returns for parameters its own checks
// reject ("invalid parameters for command: dir: must be absolute; ..."), or
// nil when problems is empty. Executors share their Validator's checks with
// Execute through it, since in-process callers skip the SDK server's checks.
func InvalidParams(action string, problems []FieldError) error {
	if len(problems) == 0 {
		return nil
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Error()
	}
	return fmt.Errorf("invalid parameters for %s: %s", action, strings.Join(msgs, "; "))
}
