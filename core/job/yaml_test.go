package job_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/job"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./core/job -update to create it")
	require.Equal(t, string(want), string(got))
}

func canonicalJob(t *testing.T) job.Job {
	t.Helper()
	spec := validSpec()
	spec.Steps[0].Params = json.RawMessage(`{"command":"fetch ${{ params.version }} && echo 'ok: yes'","env":{"TOKEN":"${{ params.token }}","DATE":"2024-01-01","N":"12"}}`)
	spec.Steps[2].Params = json.RawMessage(`{"msg":"${{ steps.fetch.outputs.path }}","n":3,"f":1.5,"big":12345678901234567890123,"on":true,"nil":null,"list":[1,"a",{"k":"v"}]}`)
	spec.Steps[2].Timeout = 90 * time.Second
	spec.Parameters[0].Description = "Release to roll out\nas a tag"
	spec.Concurrency = 2
	spec.Timeout = time.Hour
	s, err := job.ValidateSpec(context.Background(), spec, fakeSchemas{})
	require.NoError(t, err)
	return job.Job{ID: core.NewID(core.KindJob), Name: "deploy", Description: "Roll out a release", Version: 3, Spec: s}
}

func TestExportGoldenAndRoundTrip(t *testing.T) {
	t.Parallel()
	j := canonicalJob(t)
	out, err := job.Export(j)
	require.NoError(t, err)
	golden(t, "deploy.golden.yaml", out)

	def, err := job.Import(out)
	require.NoError(t, err)
	require.Equal(t, "deploy", def.Name)
	require.Equal(t, j.Description, def.Description)
	require.Equal(t, j.Spec, def.Spec, "Import(Export(j)) is j's spec")

	again, err := job.Export(job.Job{Name: def.Name, Description: def.Description, Spec: def.Spec})
	require.NoError(t, err)
	require.Equal(t, string(out), string(again), "export is stable")

	// The storage form round-trips too.
	raw, err := job.EncodeSpec(j.Spec)
	require.NoError(t, err)
	back, err := job.DecodeSpec(raw)
	require.NoError(t, err)
	require.Equal(t, j.Spec, back)
}

func TestImportHandWritten(t *testing.T) {
	t.Parallel()
	def, err := job.Import([]byte(`apiVersion: jobgraph/v1
kind: Job
name: hello
parameters:
  - {name: when, type: string, default: 2024-01-01}
  - {name: n, type: number, default: 3}
steps:
  - name: say
    executor: shell
    action: exec
    targets: {selector: "env in (prod,staging)"}
    params:
      command: echo ${{ params.when }}
      retries: 0x10
    timeout: 1m30s
`))
	require.NoError(t, err)
	require.Equal(t, "2024-01-01", def.Spec.Parameters[0].Default, "a date stays a string")
	require.Equal(t, 3.0, def.Spec.Parameters[1].Default)
	require.Equal(t, 90*time.Second, def.Spec.Steps[0].Timeout)
	require.Equal(t, job.ConditionOnSuccess, def.Spec.Steps[0].Condition)
	require.Equal(t, `{"command":"echo ${{ params.when }}","retries":16}`, string(def.Spec.Steps[0].Params))
	_, err = job.ValidateSpec(context.Background(), def.Spec, fakeSchemas{})
	require.NoError(t, err)
}

func TestImportRunLimits(t *testing.T) {
	t.Parallel()
	step := "steps:\n  - name: a\n    executor: shell\n    action: noop\n    targets: {selector: a}\n"
	def, err := job.Import([]byte("apiVersion: jobgraph/v1\nkind: Job\nname: x\nconcurrency: 2\ntimeout: 1h\n" + step))
	require.NoError(t, err)
	require.Equal(t, 2, def.Spec.Concurrency)
	require.Equal(t, time.Hour, def.Spec.Timeout)
	_, err = job.ValidateSpec(context.Background(), def.Spec, fakeSchemas{})
	require.NoError(t, err)

	def, err = job.Import([]byte("apiVersion: jobgraph/v1\nkind: Job\nname: x\nconcurrency: -1\n" + step))
	require.NoError(t, err, "the range is ValidateSpec's to check")
	_, err = job.ValidateSpec(context.Background(), def.Spec, fakeSchemas{})
	require.Equal(t, "concurrency", core.FieldOf(err))

	_, err = job.Import([]byte("apiVersion: jobgraph/v1\nkind: Job\nname: x\ntimeout: soon\n" + step))
	require.ErrorContains(t, err, `line 4: "soon" is not a duration`)
}

func TestImportIsStrict(t *testing.T) {
	t.Parallel()
	head := "apiVersion: jobgraph/v1\nkind: Job\nname: x\n"
	step := "steps:\n  - name: a\n    executor: shell\n    action: noop\n    targets: {selector: a}\n"
	cases := []struct {
		name, doc, msg string
	}{
		{"unknown top field", head + "owner: me\n" + step, `line 4: unknown field "owner"`},
		{"unknown step field", head + step + "    retry: 3\n", `line 9: unknown field "retry"`},
		{"unknown strategy field", head + step + "    strategy:\n      parallel: 3\n", `line 10: unknown field "parallel"`},
		{"wrong type", head + step + "    retries: many\n", "line 9: cannot unmarshal !!str `many`"},
		{"bad duration", head + step + "    timeout: 5 minutes\n", `line 9: "5 minutes" is not a duration`},
		{"params not mapping", head + step + "    params: [1]\n", "line 9: params must be a mapping"},
		{"non-string key", head + step + "    params:\n      [1]: x\n", "line 10: mapping keys must be strings"},
		{"syntax", head + step + "  - name: [\n", "line 9"},
		{"wrong apiVersion", "apiVersion: v2\nkind: Job\nname: x\n" + step, `apiVersion must be "jobgraph/v1"`},
		{"wrong kind", "apiVersion: jobgraph/v1\nkind: Host\nname: x\n" + step, `kind must be "Job"`},
		{"two documents", head + step + "---\n" + head, "second document"},
		{"empty", "  \n", "empty document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := job.Import([]byte(tc.doc))
			require.ErrorIs(t, err, core.ErrInvalidInput)
			require.Equal(t, "yaml", core.FieldOf(err))
			require.ErrorContains(t, err, tc.msg)
			require.NotContains(t, err.Error(), "job.doc", "no Go type names")
		})
	}
}
