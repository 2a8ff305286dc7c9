package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/job"
)

// Fixed IDs, so that golden files are stable.
const (
	hostID  = "hst_01JD0000000000000000000001"
	groupID = "grp_01JD0000000000000000000002"
)

// validSpec is a three-step DAG that passes validation; each case of
// TestValidateSpec breaks one thing in it.
func validSpec() job.Spec {
	return job.Spec{
		Parameters: []job.Parameter{
			{Name: "version", Type: job.ParamString, Required: true},
			{Name: "count", Type: job.ParamNumber, Default: 2},
			{Name: "env", Type: job.ParamChoice, Choices: []string{"staging", "prod"}, Default: "staging"},
			{Name: "targets", Type: job.ParamHosts, Default: []any{hostID}},
			{Name: "token", Type: job.ParamSecret},
			{Name: "dry", Type: job.ParamBoolean, Default: false},
		},
		Steps: []job.Step{
			{
				Name: "fetch", Executor: "shell", Action: "exec",
				Params:  json.RawMessage(`{"command":"fetch ${{ params.version }}","env":{"TOKEN":"${{ params.token }}"}}`),
				Targets: job.Targets{Selector: "tier == web", Hosts: []string{hostID}},
				Outputs: []string{"path"}, Timeout: 5 * time.Minute,
			},
			{
				Name: "restart", Executor: "shell", Action: "exec", Needs: []string{"fetch"},
				Params:   json.RawMessage(`{"command":"restart ${{ steps.fetch.outputs.path }}","retries":"${{ params.count }}"}`),
				Targets:  job.Targets{Param: "targets", Groups: []string{groupID}},
				Strategy: job.Strategy{BatchPercent: 25, FailureThreshold: 1}, Retries: 2, RetryBackoff: 10 * time.Second,
				Outputs: []string{"status"},
			},
			{
				Name: "notify", Executor: "shell", Action: "noop", Needs: []string{"restart"}, Condition: job.ConditionAlways,
				Params:  json.RawMessage(`{"msg":"${{ steps.fetch.outputs.path }} ${{ steps.restart.outputs.status }}"}`),
				Targets: job.Targets{Hosts: []string{hostID}},
			},
		},
	}
}

func TestValidateSpecAcceptsAndCanonicalises(t *testing.T) {
	t.Parallel()
	in := validSpec()
	in.Steps[2].Params = json.RawMessage(` { "z": 1.0, "a": "<&>", "n": 12 } `)
	got, err := job.ValidateSpec(context.Background(), in, fakeSchemas{})
	require.NoError(t, err)
	require.Equal(t, 2.0, got.Parameters[1].Default, "numbers are float64")
	require.Equal(t, []string{hostID}, got.Parameters[3].Default, "host lists are []string")
	require.Equal(t, "tier=web", got.Steps[0].Targets.Selector, "selectors are canonical")
	require.Equal(t, job.ConditionOnSuccess, got.Steps[0].Condition, "the default condition is spelled out")
	require.JSONEq(t, `{"a":"<&>","n":12,"z":1}`, string(got.Steps[2].Params))
	require.Equal(t, `{"a":"<&>","n":12,"z":1}`, string(got.Steps[2].Params), "params are compact, sorted, unescaped")
	require.Equal(t, []any{hostID}, validSpec().Parameters[3].Default, "the input is not modified")

	again, err := job.ValidateSpec(context.Background(), got, fakeSchemas{})
	require.NoError(t, err)
	require.Equal(t, got, again, "canonical form is a fixed point")
}

func TestValidateSpec(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		edit  func(s *job.Spec)
		field string
		msg   string
	}{
		// parameters
		{"param name empty", func(s *job.Spec) { s.Parameters[0].Name = "" }, "parameters[0].name", "must not be empty"},
		{"param name with dot", func(s *job.Spec) { s.Parameters[1].Name = "a.b" }, "parameters[1].name", "may not contain '.'"},
		{"param name with space", func(s *job.Spec) { s.Parameters[1].Name = "a b" }, "parameters[1].name", "may contain only"},
		{"duplicate param", func(s *job.Spec) { s.Parameters[2].Name = "version" }, "parameters[2].name", "already defined by parameters[0]"},
		{"unknown type", func(s *job.Spec) { s.Parameters[0].Type = "int" }, "parameters[0].type", `unknown type "int"`},
		{"choice without choices", func(s *job.Spec) { s.Parameters[2].Choices = nil }, "parameters[2].choices", "at least one choice"},
		{"duplicate choice", func(s *job.Spec) { s.Parameters[2].Choices = []string{"a", "a"} }, "parameters[2].choices", "listed twice"},
		{"choices on string", func(s *job.Spec) { s.Parameters[0].Choices = []string{"a"} }, "parameters[0].choices", "only a choice parameter"},
		{"default not in choices", func(s *job.Spec) { s.Parameters[2].Default = "dev" }, "parameters[2].default", "not one of the choices"},
		{"number default is string", func(s *job.Spec) { s.Parameters[1].Default = "2" }, "parameters[1].default", "must be a number"},
		{"bool default is string", func(s *job.Spec) { s.Parameters[5].Default = "true" }, "parameters[5].default", "must be a boolean"},
		{"string default is number", func(s *job.Spec) { s.Parameters[0].Default = 1 }, "parameters[0].default", "must be a string"},
		{"hosts default not IDs", func(s *job.Spec) { s.Parameters[3].Default = []any{"web-1"} }, "parameters[3].default", "malformed host ID"},
		{"hosts default of groups", func(s *job.Spec) { s.Parameters[3].Default = []string{groupID} }, "parameters[3].default", "is not a host ID"},
		{"hosts default not a list", func(s *job.Spec) { s.Parameters[3].Default = hostID }, "parameters[3].default", "list of host IDs"},
		{"secret default", func(s *job.Spec) { s.Parameters[4].Default = "x" }, "parameters[4].default", "stored in clear"},
		// run limits
		{"negative concurrency", func(s *job.Spec) { s.Concurrency = -1 }, "concurrency", "between 0 (no limit) and 1000, got -1"},
		{"concurrency over 1000", func(s *job.Spec) { s.Concurrency = 1001 }, "concurrency", "between 0 (no limit) and 1000"},
		{"negative run timeout", func(s *job.Spec) { s.Timeout = -time.Second }, "timeout", "between 0 (none)"},
		{"run timeout over 7 days", func(s *job.Spec) { s.Timeout = 7*24*time.Hour + time.Second }, "timeout", "168h0m0s"},
		// steps
		{"no steps", func(s *job.Spec) { s.Steps = nil }, "steps", "at least one step"},
		{"step name empty", func(s *job.Spec) { s.Steps[1].Name = "" }, "steps[1].name", "must not be empty"},
		{"duplicate step", func(s *job.Spec) { s.Steps[2].Name = "fetch" }, "steps[2].name", "already defined by steps[0]"},
		{"bad executor name", func(s *job.Spec) { s.Steps[0].Executor = "" }, "steps[0].executor", "must not be empty"},
		{"unknown executor", func(s *job.Spec) { s.Steps[1].Executor = "winrm" }, "steps[1].executor", `no executor named "winrm"`},
		{"unknown action", func(s *job.Spec) { s.Steps[1].Action = "push" }, "steps[1].action", `no action "push"`},
		{"params not object", func(s *job.Spec) { s.Steps[0].Params = json.RawMessage(`[1]`) }, "steps[0].params", "JSON object"},
		{"params not JSON", func(s *job.Spec) { s.Steps[0].Params = json.RawMessage(`{`) }, "steps[0].params", "JSON object"},
		{"schema: missing", func(s *job.Spec) { s.Steps[0].Params = json.RawMessage(`{"env":{}}`) }, "steps[0].params", "missing property 'command'"},
		{"schema: nested type", func(s *job.Spec) {
			s.Steps[0].Params = json.RawMessage(`{"command":"x","env":{"A":1}}`)
		}, "steps[0].params.env.A", "want string"},
		{"schema: extra", func(s *job.Spec) {
			s.Steps[0].Params = json.RawMessage(`{"command":"x","cmd":"${{ params.version }}"}`)
		}, "steps[0].params", "additional property 'cmd'"},
		// targets
		{"no targets", func(s *job.Spec) { s.Steps[2].Targets = job.Targets{} }, "steps[2].targets", "at least one of"},
		{"bad host ID", func(s *job.Spec) { s.Steps[2].Targets.Hosts = []string{"web-1"} }, "steps[2].targets.hosts", "malformed host ID"},
		{"duplicate host", func(s *job.Spec) { s.Steps[2].Targets.Hosts = []string{hostID, hostID} }, "steps[2].targets.hosts", "listed twice"},
		{"host as group", func(s *job.Spec) { s.Steps[1].Targets.Groups = []string{hostID} }, "steps[1].targets.groups", "is not a host group ID"},
		{"bad selector", func(s *job.Spec) { s.Steps[0].Targets.Selector = "tier in (web" }, "steps[0].targets.selector", "unterminated"},
		{"param unknown", func(s *job.Spec) { s.Steps[1].Targets.Param = "nodes" }, "steps[1].targets.param", `no parameter named "nodes"`},
		{"param not hosts", func(s *job.Spec) { s.Steps[1].Targets.Param = "version" }, "steps[1].targets.param", "not a list of hosts"},
		// needs and the graph
		{"needs unknown", func(s *job.Spec) { s.Steps[1].Needs = []string{"build"} }, "steps[1].needs", `no step named "build"`},
		{"needs itself", func(s *job.Spec) { s.Steps[1].Needs = []string{"restart"} }, "steps[1].needs", "cannot need itself"},
		{"needs twice", func(s *job.Spec) { s.Steps[2].Needs = []string{"restart", "restart"} }, "steps[2].needs", "listed twice"},
		{"two-step cycle", func(s *job.Spec) { s.Steps[0].Needs = []string{"restart"} }, "steps[1].needs", "cycle: fetch → restart → fetch"},
		{"three-step cycle", func(s *job.Spec) { s.Steps[0].Needs = []string{"notify"} }, "steps[1].needs", "cycle: fetch → notify → restart → fetch"},
		// condition, timing, strategy, outputs
		{"unknown condition", func(s *job.Spec) { s.Steps[0].Condition = "sometimes" }, "steps[0].condition", "unknown condition"},
		{"negative timeout", func(s *job.Spec) { s.Steps[0].Timeout = -time.Second }, "steps[0].timeout", "between 0"},
		{"timeout over 24h", func(s *job.Spec) { s.Steps[0].Timeout = 25 * time.Hour }, "steps[0].timeout", "24h"},
		{"retries over 10", func(s *job.Spec) { s.Steps[1].Retries = 11 }, "steps[1].retries", "between 0 and 10"},
		{"negative retries", func(s *job.Spec) { s.Steps[1].Retries = -1 }, "steps[1].retries", "between 0 and 10"},
		{"negative backoff", func(s *job.Spec) { s.Steps[1].RetryBackoff = -1 }, "steps[1].retryBackoff", "between 0"},
		{"negative parallel", func(s *job.Spec) { s.Steps[1].Strategy.MaxParallel = -1 }, "steps[1].strategy.maxParallel", "between 0"},
		{"negative batch", func(s *job.Spec) { s.Steps[1].Strategy.BatchSize = -2 }, "steps[1].strategy.batchSize", "between 0"},
		{"percent over 100", func(s *job.Spec) { s.Steps[1].Strategy.BatchPercent = 101 }, "steps[1].strategy.batchPercent", "between 1 and 100"},
		{"failure percent", func(s *job.Spec) { s.Steps[1].Strategy.FailurePercent = -5 }, "steps[1].strategy.failurePercent", "between 1 and 100"},
		{"negative threshold", func(s *job.Spec) { s.Steps[1].Strategy.FailureThreshold = -1 }, "steps[1].strategy.failureThreshold", "between 0"},
		{"batch size and percent", func(s *job.Spec) { s.Steps[1].Strategy.BatchSize = 3 }, "steps[1].strategy.batchPercent", "not both"},
		{"output twice", func(s *job.Spec) { s.Steps[0].Outputs = []string{"path", "path"} }, "steps[0].outputs", `output "path" is exported twice`},
		{"pool with dot", func(s *job.Spec) { s.Steps[0].Pool = "zone.a" }, "steps[0].pool", "worker pool label"},
		{"pool any", func(s *job.Spec) { s.Steps[0].Pool = "any" }, "steps[0].pool", `not "any"`},
		{"unknown lost policy", func(s *job.Spec) { s.Steps[0].OnLost = "ignore" }, "steps[0].onLost", `unknown policy "ignore"`},
		{"bad output name", func(s *job.Spec) { s.Steps[0].Outputs = []string{"a.b"} }, "steps[0].outputs", "may not contain '.'"},
		// templates
		{"template syntax", func(s *job.Spec) { s.Steps[0].Params = json.RawMessage(`{"command":"x ${{ params.version"}`) }, "steps[0].params.command", "unterminated"},
		{"template expression", func(s *job.Spec) { s.Steps[0].Params = json.RawMessage(`{"command":"${{ env.HOME }}"}`) }, "steps[0].params.command", "not a reference"},
		{"unknown param ref", func(s *job.Spec) { s.Steps[0].Params = json.RawMessage(`{"command":"${{ params.nope }}"}`) }, "steps[0].params.command", "refers to parameter nope, which the job does not define"},
		{"output of unknown step", func(s *job.Spec) {
			s.Steps[1].Params = json.RawMessage(`{"command":"${{ steps.build.outputs.path }}"}`)
		}, "steps[1].params.command", "refers to output path of step build, which does not exist"},
		{"output of a non-ancestor", func(s *job.Spec) {
			s.Steps[0].Params = json.RawMessage(`{"command":"${{ steps.restart.outputs.status }}"}`)
		}, "steps[0].params.command", "refers to output status of step restart, which this step does not need"},
		{"output not exported", func(s *job.Spec) {
			s.Steps[2].Params = json.RawMessage(`{"m":"${{ steps.fetch.outputs.size }}"}`)
		}, "steps[2].params.m", "refers to output size of step fetch, which that step does not export"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := validSpec()
			tc.edit(&spec)
			_, err := job.ValidateSpec(context.Background(), spec, fakeSchemas{})
			require.ErrorIs(t, err, core.ErrInvalidInput)
			var ve *core.ValidationError
			require.True(t, errors.As(err, &ve))
			require.Equal(t, tc.field, ve.Field, err.Error())
			require.Contains(t, ve.Message, tc.msg)
		})
	}
}

func TestValidateSpecTemplatesSkipSchemaOnlyWhereTemplated(t *testing.T) {
	t.Parallel()
	spec := validSpec()
	// retries must be an integer: a template there is accepted now and
	// checked once rendered; a literal string is not.
	_, err := job.ValidateSpec(context.Background(), spec, fakeSchemas{})
	require.NoError(t, err)
	spec.Steps[1].Params = json.RawMessage(`{"command":"x","retries":"two"}`)
	_, err = job.ValidateSpec(context.Background(), spec, fakeSchemas{})
	require.Equal(t, "steps[1].params.retries", core.FieldOf(err))
}

func TestValidateSpecSchemaLookupFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("plugin host down")
	_, err := job.ValidateSpec(context.Background(), validSpec(), fakeSchemas{schema: func(context.Context, string, string) (func(json.RawMessage) []job.FieldError, error) {
		return nil, boom
	}})
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, core.ErrInvalidInput, "an unavailable plugin is not the user's fault")
}

func TestEnumsAreComplete(t *testing.T) {
	t.Parallel()
	require.Len(t, job.ParamTypes(), 6)
	require.Len(t, job.Conditions(), 3)
}
