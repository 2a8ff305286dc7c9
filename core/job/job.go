package job

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Limits on job definitions.
const (
	MaxNameLen        = 63
	MaxDescriptionLen = 4096
	MaxParameters     = 64
	MaxSteps          = 200
	MaxChoices        = 256
	MaxOutputs        = 64
	MaxTargets        = 10000 // host IDs plus group IDs of one step
	MaxStepParamsLen  = 64 << 10
	MaxTimeout        = 24 * time.Hour
	// MaxRunTimeout bounds Spec.Timeout, the deadline of a whole run.
	MaxRunTimeout    = 7 * 24 * time.Hour
	MaxConcurrency   = 1000
	MaxRetries       = 10
	MaxRetryBackoff  = time.Hour
	MaxStrategyCount = 100000
)

// Job is a versioned definition in a project. Name and Description belong to
// the job and are not versioned; Spec is the content of version Version, the
// latest. Every change of the spec makes a new version; old versions are
// kept, immutable, because runs record the version they ran.
type Job struct {
	ID          string
	ProjectID   string
	Name        string
	Description string
	// Version is the latest version, 1 for a new job.
	Version   int
	Spec      Spec
	CreatedAt time.Time
	// UpdatedAt is when the name, the description or the spec last changed.
	UpdatedAt time.Time
	CreatedBy string
}

// Version is one immutable version of a job's spec.
type Version struct {
	JobID     string
	Version   int
	Spec      Spec
	CreatedAt time.Time
	CreatedBy string
}

// Spec is what a version of a job defines: its parameters and its steps,
// and the limits of its runs.
type Spec struct {
	// Concurrency caps how many runs of the job run at once (0: no cap);
	// the engine keeps the others queued. The job's current version sets
	// it for all its runs.
	Concurrency int
	// Timeout bounds a whole run from its start (0: none): a run still
	// going then is stopped and ends timed out.
	Timeout    time.Duration
	Parameters []Parameter
	Steps      []Step
}

// ParamType is the type of a job parameter.
type ParamType string

// The parameter types, and the Go type of their values (in Default and in
// template.Values).
const (
	ParamString  ParamType = "string"  // string
	ParamNumber  ParamType = "number"  // float64
	ParamBoolean ParamType = "boolean" // bool
	ParamChoice  ParamType = "choice"  // string, one of Choices
	ParamSecret  ParamType = "secret"  // string; never has a default, redacted wherever it is used
	ParamHosts   ParamType = "hosts"   // []string of host IDs; a step may target it
)

// ParamTypes lists every parameter type, for exhaustive mapping tests.
func ParamTypes() []ParamType {
	return []ParamType{ParamString, ParamNumber, ParamBoolean, ParamChoice, ParamSecret, ParamHosts}
}

func (t ParamType) valid() bool {
	for _, v := range ParamTypes() {
		if t == v {
			return true
		}
	}
	return false
}

// Parameter is one input of a job, given when a run starts.
type Parameter struct {
	Name     string
	Type     ParamType
	Required bool
	// Default is the value used when a run gives none; nil for none. Its Go
	// type is the one ParamType documents.
	Default any
	// Choices lists the allowed values of a choice parameter.
	Choices     []string
	Description string
}

// Condition decides whether a step runs, given how the steps it needs ended.
type Condition string

// The conditions.
const (
	// ConditionOnSuccess runs the step when every step it needs succeeded
	// (the default).
	ConditionOnSuccess Condition = "on_success"
	// ConditionOnFailure runs the step when at least one step it needs
	// failed: a cleanup or a notification.
	ConditionOnFailure Condition = "on_failure"
	// ConditionAlways runs the step once every step it needs has ended,
	// however it ended.
	ConditionAlways Condition = "always"
)

// Conditions lists every condition, for exhaustive mapping tests.
func Conditions() []Condition {
	return []Condition{ConditionOnSuccess, ConditionOnFailure, ConditionAlways}
}

func (c Condition) valid() bool {
	for _, v := range Conditions() {
		if c == v {
			return true
		}
	}
	return false
}

// Step is one node of a job's DAG: an executor action run on targets, or
// (Approval set) a wait for people to approve.
type Step struct {
	// Name is unique in the job; other steps name it in Needs and templates.
	Name     string
	Executor string
	Action   string
	// Approval, when set, makes this an approval step: it has no executor,
	// action, parameters or targets (nor timeout, retries, strategy,
	// outputs or pool); it waits until enough people approve. Needs and
	// Condition apply as to any step.
	Approval *Approval
	// Params is the action's parameters, a JSON object validated against the
	// executor's schema. String values may hold templates (package template).
	Params  json.RawMessage
	Targets Targets
	// Needs names the steps that must end before this one starts.
	Needs     []string
	Condition Condition
	// Timeout bounds each task of the step; 0 for the engine's default.
	Timeout time.Duration
	// Retries is how many times a failed task is tried again (0–10).
	Retries      int
	RetryBackoff time.Duration
	Strategy     Strategy
	// Outputs names the outputs the step exports to the steps after it.
	Outputs []string
	// Pool is the worker pool label the step's tasks require ("" for any
	// worker): a worker started with --pool zone-a takes them.
	Pool string
	// OnLost says what becomes of a task whose worker stopped while it ran.
	OnLost LostPolicy
}

// Limits and defaults of approval steps.
const (
	DefaultApprovalRole    = "owner"
	DefaultApprovalCount   = 1
	MaxApprovalCount       = 10
	DefaultApprovalTimeout = 24 * time.Hour
	MaxApprovalTimeout     = 30 * 24 * time.Hour
	MaxApprovalMessageLen  = 2000
)

// Approval is what an approval step asks for: Count distinct people holding
// Role in the project approve within Timeout of the step starting to wait.
// One rejection fails the step; expiry times it out.
type Approval struct {
	// Role is the project role approvers must hold (default "owner"); the
	// system admin counts for any role.
	Role string
	// Count is how many approvals are needed (default 1, at most 10).
	Count int
	// Timeout is how long the step waits (default 24h, at most 30 days).
	Timeout time.Duration
	// Message is shown to the approvers.
	Message string
}

// LostPolicy is what the engine does with a task whose worker died.
type LostPolicy string

const (
	// LostRetry (the default) tries the task again, as a retry, while the
	// step's Retries allow; after that it stays lost.
	LostRetry LostPolicy = "retry"
	// LostFail leaves the task lost at once: for actions that must not run
	// twice.
	LostFail LostPolicy = "fail"
)

// LostPolicies returns every lost policy.
func LostPolicies() []LostPolicy { return []LostPolicy{LostRetry, LostFail} }

// Targets are where a step runs: the union of all its sources, resolved
// when the run starts. At least one source is set.
type Targets struct {
	Hosts  []string // host IDs
	Groups []string // host group IDs
	// Selector is a label selector (package inventory/labels), in canonical form.
	Selector string
	// Param names a job parameter of type hosts.
	Param string
}

// Strategy is how a step fans out over its targets. The zero Strategy runs
// on every target at once and stops at nothing.
type Strategy struct {
	// MaxParallel caps the tasks running at once; 0 for no cap.
	MaxParallel int
	// BatchSize or BatchPercent (not both) make a rolling step: one batch of
	// hosts after the other, each batch finished before the next starts.
	BatchSize    int
	BatchPercent int // 1–100
	// FailureThreshold and FailurePercent stop the step (no new task starts)
	// once more tasks than that have failed; either may be set, or both.
	FailureThreshold int
	FailurePercent   int // 1–100
	// ContinueOnError makes a step whose tasks failed count as succeeded for
	// the steps that need it.
	ContinueOnError bool
}

// FieldError is one problem an executor's schema found in a step's
// parameters. Field is the dotted path of the parameter ("env.HOME"), ""
// for the parameters as a whole.
type FieldError struct {
	Field   string
	Message string
}

// ActionSchemas gives the validator of an executor action's parameters.
// The server implements it over the plugin host; the job package never
// talks to plugins itself.
type ActionSchemas interface {
	// Schema returns the validator of the parameters of executor's action,
	// ErrUnknownExecutor or ErrUnknownAction (possibly wrapped) if there is
	// no such thing, or another error when it cannot tell.
	Schema(ctx context.Context, executor, action string) (validate func(params json.RawMessage) []FieldError, err error)
}

// Errors an ActionSchemas returns.
var (
	ErrUnknownExecutor = errors.New("unknown executor")
	ErrUnknownAction   = errors.New("unknown action")
)
