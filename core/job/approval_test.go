package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/job"
)

// approvalSpec is build → approve → deploy.
func approvalSpec() job.Spec {
	return job.Spec{Steps: []job.Step{
		{Name: "build", Executor: "shell", Action: "exec", Params: json.RawMessage(`{"command":"make"}`), Targets: job.Targets{Hosts: []string{hostID}}},
		{Name: "approve", Needs: []string{"build"}, Approval: &job.Approval{Role: "operator", Count: 2, Timeout: time.Hour, Message: "ship it?"}},
		{Name: "deploy", Executor: "shell", Action: "exec", Needs: []string{"approve"}, Params: json.RawMessage(`{"command":"deploy"}`), Targets: job.Targets{Hosts: []string{hostID}}},
	}}
}

func TestApprovalStepValidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	got, err := job.ValidateSpec(ctx, approvalSpec(), fakeSchemas{})
	require.NoError(t, err)
	require.Equal(t, &job.Approval{Role: "operator", Count: 2, Timeout: time.Hour, Message: "ship it?"}, got.Steps[1].Approval)
	require.Equal(t, job.ConditionOnSuccess, got.Steps[1].Condition)

	// Defaults.
	spec := approvalSpec()
	spec.Steps[1].Approval = &job.Approval{}
	got, err = job.ValidateSpec(ctx, spec, fakeSchemas{})
	require.NoError(t, err)
	require.Equal(t, &job.Approval{Role: job.DefaultApprovalRole, Count: 1, Timeout: job.DefaultApprovalTimeout}, got.Steps[1].Approval)

	for _, c := range []struct {
		name  string
		edit  func(s *job.Step)
		field string
	}{
		{"executor too", func(s *job.Step) { s.Executor, s.Action = "shell", "exec" }, "steps[1].executor"},
		{"targets too", func(s *job.Step) { s.Targets = job.Targets{Hosts: []string{hostID}} }, "steps[1].targets"},
		{"params too", func(s *job.Step) { s.Params = json.RawMessage(`{"a":1}`) }, "steps[1].params"},
		{"retries too", func(s *job.Step) { s.Retries = 1 }, "steps[1].retries"},
		{"count too high", func(s *job.Step) { s.Approval.Count = 11 }, "steps[1].approval.count"},
		{"count negative", func(s *job.Step) { s.Approval.Count = -1 }, "steps[1].approval.count"},
		{"timeout too long", func(s *job.Step) { s.Approval.Timeout = 31 * 24 * time.Hour }, "steps[1].approval.timeout"},
		{"bad role", func(s *job.Step) { s.Approval.Role = "no spaces please" }, "steps[1].approval.role"},
		{"long message", func(s *job.Step) { s.Approval.Message = strings.Repeat("x", 2001) }, "steps[1].approval.message"},
		{"neither", func(s *job.Step) { s.Approval = nil }, "steps[1].executor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := approvalSpec()
			c.edit(&spec.Steps[1])
			_, err := job.ValidateSpec(ctx, spec, fakeSchemas{})
			var ve *core.ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			require.Equal(t, c.field, ve.Field, "%v", err)
		})
	}
}

func TestApprovalStepYAMLAndStoredForm(t *testing.T) {
	t.Parallel()
	spec, err := job.ValidateSpec(context.Background(), approvalSpec(), fakeSchemas{})
	require.NoError(t, err)
	out, err := job.Export(job.Job{Name: "ship", Spec: spec})
	require.NoError(t, err)
	require.Contains(t, string(out), "    approval:\n      role: operator\n      count: 2\n      timeout: 1h0m0s\n      message: ship it?\n")
	require.NotContains(t, string(out), "executor: \"\"")
	def, err := job.Import(out)
	require.NoError(t, err)
	require.Equal(t, spec, def.Spec)

	enc, err := job.EncodeSpec(spec)
	require.NoError(t, err)
	dec, err := job.DecodeSpec(enc)
	require.NoError(t, err)
	require.Equal(t, spec, dec)

	_, err = job.Import([]byte("apiVersion: jobgraph/v1\nkind: Job\nname: x\nsteps:\n  - name: a\n    approval: {role: owner, count: 2, timeout: 1h, message: hi}\n"))
	require.NoError(t, err)
}
