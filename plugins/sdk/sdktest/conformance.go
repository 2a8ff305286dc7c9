package sdktest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Suite is what Conformance needs to know about an executor: two tasks
// that exercise it. Their IDs are ignored (each run gets a fresh one).
type Suite struct {
	// Quick is a task that succeeds fast, and can run many times at once:
	// "echo ok" for a command executor, a GET of a test server for HTTP.
	// Required.
	Quick sdk.Task
	// Slow is a task that writes something (a line, a progress report)
	// soon after it starts and then keeps running until it is cancelled:
	// "echo started; sleep 1000". Required.
	Slow sdk.Task
	// Invalid are more tasks whose parameters are wrong in ways only the
	// executor knows (a relative path where it wants an absolute one);
	// each must end with status Error. Optional.
	Invalid []sdk.Task
	// SlowTimeout is the timeout the timeout check gives Slow; Slow must
	// not end on its own before it. Default 1s.
	SlowTimeout time.Duration
}

// Concurrency is how many copies of Suite.Quick the concurrency check runs
// at once.
const Concurrency = 50

// Conformance runs the checks every executor must pass, each as a subtest
// of t:
//
//   - describe: Describe answers, and answers the same twice: a name of
//     1–63 [a-z0-9_-], a semantic version ("1.2.3", "v1.2.3-rc.1"), at
//     least one action, action names valid and unique, every ParamsSchema
//     compiles with sdk.CompileSchema and says "type": "object", every
//     secret parameter is a property of the schema; the suite's actions
//     exist.
//   - validate: Suite.Quick and Suite.Slow pass Validate.
//   - unknown_action: Execute of an action the executor does not have ends
//     with status Error, not retryable, saying why; the executor still
//     answers Describe.
//   - invalid_params: Execute with parameters the action's schema rejects
//     (not an object, not JSON, missing required ones, unknown ones, a
//     wrong type), and of each Suite.Invalid task, ends with status Error,
//     not retryable.
//   - stream: read below *sdk.Client, the Execute streams of Quick, of an
//     unknown action and of bad parameters number their events 1, 2, 3...,
//     keep log chunks within sdk.MaxChunk, and end with exactly one result,
//     last, then the end of the stream.
//   - concurrency: Concurrency copies of Quick at once all succeed.
//   - cancel: Harness.AssertCancel on Slow: cancelling the context ends it
//     within CancelGrace, Canceled, and the executor still answers.
//   - cancel_rpc: the protocol's Cancel RPC, for the task ID of a running
//     Slow, ends it with a Canceled result within CancelGrace.
//   - timeout: Slow with a timeout of SlowTimeout ends TimedOut, not
//     before.
//   - secrets: Quick run with a credential whose secret and passphrase are
//     random markers ends (any status), and neither marker appears in its
//     stdout, stderr, progress, outputs, error, or (for a plugin process)
//     the plugin's own output and logs.
//
// Together they are what jobgraph relies on: that a plugin describes
// itself in a way the console can render, fails cleanly on bad input,
// serves many tasks at once, stops when told, and never leaks a
// credential.
func Conformance(t *testing.T, h *Harness, s Suite) {
	t.Helper()
	require.NotEmpty(t, s.Quick.Action, "Suite.Quick is required")
	require.NotEmpty(t, s.Slow.Action, "Suite.Slow is required")
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, h, s) })
	}
}

// checks are the conformance checks, in the order Conformance runs them.
var checks = []struct {
	name string
	run  func(t testing.TB, h *Harness, s Suite)
}{
	{"describe", checkDescribe},
	{"validate", checkValidate},
	{"unknown_action", checkUnknownAction},
	{"invalid_params", checkInvalidParams},
	{"stream", checkStreams},
	{"concurrency", checkConcurrency},
	{"cancel", checkCancel},
	{"cancel_rpc", checkCancelRPC},
	{"timeout", checkTimeout},
	{"secrets", checkSecrets},
}

var (
	namePattern    = regexp.MustCompile(`^[a-z0-9_-]{1,63}$`)
	versionPattern = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// fresh returns a copy of task with a new ID.
func fresh(h *Harness, task sdk.Task) sdk.Task {
	task.ID = h.NewTaskID()
	return task
}

func checkDescribe(t testing.TB, h *Harness, s Suite) {
	info := h.Describe(t)
	require.Regexp(t, namePattern, info.Name, "the executor's name is 1–63 of [a-z0-9_-]")
	require.Regexp(t, versionPattern, info.Version, "the executor's version is a semantic version")
	require.NotEmpty(t, info.Actions, "the executor offers at least one action")
	seen := map[string]bool{}
	for _, a := range info.Actions {
		require.Regexp(t, namePattern, a.Name, "action names are 1–63 of [a-z0-9_-]")
		require.False(t, seen[a.Name], "action %q is listed twice", a.Name)
		seen[a.Name] = true
		_, err := sdk.CompileSchema(a.ParamsSchema)
		require.NoError(t, err, "the parameters schema of action %q", a.Name)
		var doc struct {
			Type       any                        `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		require.NoError(t, json.Unmarshal(a.ParamsSchema, &doc), "the parameters schema of action %q", a.Name)
		require.Equal(t, "object", doc.Type, `the parameters schema of action %q says "type": "object"`, a.Name)
		for _, p := range a.SecretParams {
			require.Contains(t, doc.Properties, p, "secret parameter %q of action %q is a property of its schema", p, a.Name)
		}
	}
	require.Equal(t, info, h.Describe(t), "Describe answers the same every time")
	for _, task := range append([]sdk.Task{s.Quick, s.Slow}, s.Invalid...) {
		_, ok := info.Action(task.Action)
		require.True(t, ok, "the suite's action %q is one of the executor's: %v", task.Action, slices.Sorted(maps.Keys(seen)))
	}
}

func checkValidate(t testing.TB, h *Harness, s Suite) {
	for name, task := range map[string]sdk.Task{"Quick": s.Quick, "Slow": s.Slow} {
		errs := h.Validate(t, sdk.ValidateRequest{Action: task.Action, Params: task.Params, Target: task.Target})
		require.Empty(t, errs, "Suite.%s passes Validate", name)
	}
}

// unknownAction is the name of an action no executor has.
const unknownAction = "sdktest-no-such-action"

func checkUnknownAction(t testing.TB, h *Harness, s Suite) {
	task := fresh(h, s.Quick)
	task.Action = unknownAction
	run := h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.False(t, run.Result.Retryable, "an unknown action is not worth retrying")
	require.NotEmpty(t, run.Result.Error, "an Error result says what went wrong")
	h.Describe(t)
}

// invalidParams returns parameters for task's action that its schema
// rejects, by what is wrong with them.
func invalidParams(t testing.TB, h *Harness, task sdk.Task) map[string]json.RawMessage {
	a, ok := h.Describe(t).Action(task.Action)
	require.True(t, ok, "action %q", task.Action)
	schema, err := sdk.CompileSchema(a.ParamsSchema)
	require.NoError(t, err)
	out := map[string]json.RawMessage{
		"an array":  json.RawMessage(`[]`),
		"a string":  json.RawMessage(`"sdktest"`),
		"not JSON":  json.RawMessage(`{"sdktest`),
		"JSON null": json.RawMessage(`null`),
	}
	if len(schema.Validate(json.RawMessage(`{}`))) > 0 {
		out["empty"] = json.RawMessage(`{}`)
	}
	var params map[string]any
	if json.Unmarshal(task.Params, &params) != nil {
		return out
	}
	unknown := maps.Clone(params)
	unknown["sdktest_unknown_parameter"] = true
	if raw, _ := json.Marshal(unknown); len(schema.Validate(raw)) > 0 {
		out["with an unknown parameter"] = raw
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		wrong := maps.Clone(params)
		switch params[k].(type) {
		case string:
			wrong[k] = 12345
		default:
			wrong[k] = "sdktest"
		}
		if raw, _ := json.Marshal(wrong); len(schema.Validate(raw)) > 0 {
			out[fmt.Sprintf("with %q of the wrong type", k)] = raw
		}
	}
	return out
}

func checkInvalidParams(t testing.TB, h *Harness, s Suite) {
	cases := invalidParams(t, h, s.Quick)
	for _, what := range slices.Sorted(maps.Keys(cases)) {
		task := fresh(h, s.Quick)
		task.Params = cases[what]
		run := h.Execute(t, task)
		if run.Err != nil || run.Result.Status != sdk.StatusError {
			t.Fatalf("parameters %s (%s) must end with status Error, got %s", what, task.Params, run)
		}
		require.False(t, run.Result.Retryable, "bad parameters (%s) are not worth retrying", what)
	}
	for i, task := range s.Invalid {
		run := h.Execute(t, fresh(h, task))
		if run.Err != nil || run.Result.Status != sdk.StatusError {
			t.Fatalf("Suite.Invalid[%d] (%s %s) must end with status Error, got %s", i, task.Action, task.Params, run)
		}
	}
	h.Describe(t)
}

func checkStreams(t testing.TB, h *Harness, s Suite) {
	unknown := fresh(h, s.Quick)
	unknown.Action = unknownAction
	bad := fresh(h, s.Quick)
	bad.Params = json.RawMessage(`[]`)
	for _, c := range []struct {
		what string
		task sdk.Task
	}{{"Suite.Quick", fresh(h, s.Quick)}, {"an unknown action", unknown}, {"bad parameters", bad}} {
		ctx, cancel := context.WithTimeout(t.Context(), h.Timeout)
		events, end := h.rawExecute(ctx, c.task)
		cancel()
		require.NoError(t, checkStream(events, end), "the Execute stream of %s", c.what)
	}
}

func checkConcurrency(t testing.TB, h *Harness, s Suite) {
	ctx, cancel := context.WithTimeout(t.Context(), h.Timeout)
	defer cancel()
	runs := make([]Run, Concurrency)
	var wg sync.WaitGroup
	for i := range runs {
		task := fresh(h, s.Quick)
		wg.Go(func() { runs[i] = h.run(ctx, task) })
	}
	wg.Wait()
	for i, run := range runs {
		if run.Err != nil || run.Result.Status != sdk.StatusSucceeded {
			t.Fatalf("copy %d of %d concurrent Suite.Quick tasks did not succeed: %s", i+1, Concurrency, run)
		}
	}
}

// run runs task without a test, for concurrent calls.
func (h *Harness) run(ctx context.Context, task sdk.Task) Run {
	rec := NewRecorder()
	start := time.Now()
	res, err := h.client.Execute(ctx, task, rec)
	return Run{Recorder: rec, Task: task, Result: res, Err: err, Duration: time.Since(start)}
}

func checkCancel(t testing.TB, h *Harness, s Suite) {
	h.AssertCancel(t, fresh(h, s.Slow))
}

func checkCancelRPC(t testing.TB, h *Harness, s Suite) {
	x := h.Start(t, fresh(h, s.Slow))
	x.WaitOutput(t)
	ctx, cancel := context.WithTimeout(t.Context(), h.Timeout)
	defer cancel()
	require.NoError(t, h.client.Cancel(ctx, x.task.ID), "Cancel RPC")
	run := x.waitCancelled(t, "the Cancel RPC")
	run.RequireStatus(t, sdk.StatusCanceled)
	h.requireExecutorReturned(t, x.task, "the Cancel RPC")
}

func checkTimeout(t testing.TB, h *Harness, s Suite) {
	task := fresh(h, s.Slow)
	task.Timeout = s.SlowTimeout
	if task.Timeout <= 0 {
		task.Timeout = time.Second
	}
	x := h.Start(t, task)
	var run Run
	select {
	case <-x.done:
		run = x.run
	case <-time.After(task.Timeout + h.CancelGrace):
		t.Fatalf("Suite.Slow with a timeout of %s did not end within %s after it", task.Timeout, h.CancelGrace)
	}
	run.RequireStatus(t, sdk.StatusTimedOut)
	require.GreaterOrEqual(t, run.Duration, task.Timeout, "Suite.Slow ended before its timeout")
	h.requireExecutorReturned(t, task, "its timeout")
}

func checkSecrets(t testing.TB, h *Harness, s Suite) {
	secret := "sdktest-secret-" + rand.Text()
	passphrase := "sdktest-passphrase-" + rand.Text()
	task := fresh(h, s.Quick)
	cred := sdk.Credential{Kind: "password", Username: "sdktest"}
	if s.Quick.Credential != nil {
		cred = *s.Quick.Credential
	}
	cred.Secret, cred.Passphrase = []byte(secret), []byte(passphrase)
	task.Credential = &cred
	run := h.Execute(t, task)
	requireNoSecret(t, h, run, secret, passphrase)

	if c := s.Quick.Credential; c != nil {
		var secrets []string
		for _, b := range [][]byte{c.Secret, c.Passphrase} {
			if len(b) >= 6 { // shorter ones would match by chance
				secrets = append(secrets, string(b))
			}
		}
		requireNoSecret(t, h, h.Execute(t, fresh(h, s.Quick)), secrets...)
	}
}

func requireNoSecret(t testing.TB, h *Harness, run Run, secrets ...string) {
	t.Helper()
	places := map[string]string{
		"its output (stdout, stderr, progress, output values)": run.allText(),
		"its result's error":               run.Result.Error,
		"the plugin's own output and logs": h.PluginLog(),
	}
	if run.Err != nil {
		places["Execute's error"] = run.Err.Error()
	}
	for _, secret := range secrets {
		for where, text := range places {
			if strings.Contains(text, secret) {
				t.Fatalf("a credential's secret appears in %s of task %s (%s)", where, run.Task.ID, run.Task.Action)
			}
		}
	}
}
