package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSchemaValidate(t *testing.T) {
	t.Parallel()
	s, err := CompileSchema(MustSchema(`{
		"type": "object",
		"properties": {
			"command": {"type": "string", "minLength": 1},
			"env": {"type": "object", "additionalProperties": {"type": "string"}}
		},
		"required": ["command"],
		"additionalProperties": false
	}`))
	require.NoError(t, err)
	require.Empty(t, s.Validate(json.RawMessage(`{"command": "uptime"}`)))
	errs := s.Validate(json.RawMessage(`{"env": {"A": 1}, "extra": true}`))
	fields := map[string]bool{}
	for _, e := range errs {
		fields[e.Field] = true
		require.NotEmpty(t, e.Message)
	}
	require.True(t, fields[""], "missing required and unknown properties are reported at the top: %v", errs)
	require.True(t, fields["env.A"], "nested problems name their path: %v", errs)
	require.NotEmpty(t, s.Validate(json.RawMessage(`not json`)))

	_, err = CompileSchema(json.RawMessage(`{"type": "string"}`))
	require.Error(t, err, "parameters are an object")
	_, err = CompileSchema(json.RawMessage(`{"type": "object", "properties": {"a": {"type": "nope"}}}`))
	require.Error(t, err)
	require.Panics(t, func() { MustSchema(`{`) })
}

func TestResultOf(t *testing.T) {
	t.Parallel()
	live := context.Background()
	canceled, cancel := context.WithCancel(live)
	cancel()

	require.Equal(t, Succeeded(), resultOf(live, Succeeded(), nil))
	require.Equal(t, StatusFailed, resultOf(live, Exited(3), nil).Status)
	require.Equal(t, 3, Exited(3).ExitCode)
	require.Equal(t, StatusError, resultOf(live, Result{}, nil).Status, "no status is an error, never success")
	r := resultOf(live, Result{}, Retryable(errors.New("connection refused")))
	require.Equal(t, Result{Status: StatusError, Error: "connection refused", Retryable: true}, r)
	require.False(t, resultOf(live, Result{}, errors.New("bad")).Retryable)
	require.Equal(t, StatusCanceled, resultOf(canceled, Result{}, context.Canceled).Status)
}

func TestCredentialNeverPrints(t *testing.T) {
	t.Parallel()
	c := Credential{Kind: "password", Username: "root", Secret: []byte("hunter2")}
	for _, s := range []string{c.String(), c.GoString()} {
		require.NotContains(t, s, "hunter2")
	}
}

func TestDecodeParamsRejectsUnknownFields(t *testing.T) {
	t.Parallel()
	var p struct{ Command string }
	task := Task{Action: "command", Params: json.RawMessage(`{"command":"ls","bogus":1}`)}
	var pe *ParamError
	require.ErrorAs(t, task.DecodeParams(&p), &pe)
	task.Params = json.RawMessage(`{"command":"ls"}`)
	require.NoError(t, task.DecodeParams(&p))
	require.Equal(t, "ls", p.Command)
}
