package guard_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jobgraph/jobgraph/core/guard"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// BenchmarkCheck checks a 200-step job (each step a script of a few lines,
// an environment and a templated argument) against the built-ins and five
// project rules on SQLite: the cost the engine pays at every run start.
func BenchmarkCheck(b *testing.B) {
	nRules := 5
	s := storetest.New(b, store.SQLite)
	t := &testing.T{}
	bundle := setup(t, s)
	for i := range nRules {
		_, err := bundle.svc.Create(context.Background(), guard.CreateInput{
			ProjectID: bundle.p, Name: fmt.Sprintf("rule-%d", i), Pattern: fmt.Sprintf(`(?i)\bdanger-%d\b`, i), Severity: guard.SeverityApprove,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	spec := job.Spec{Parameters: []job.Parameter{{Name: "version", Type: job.ParamString}}}
	for i := range job.MaxSteps {
		spec.Steps = append(spec.Steps, job.Step{
			Name: fmt.Sprintf("step-%d", i), Executor: "ssh", Action: "exec",
			Params: []byte(fmt.Sprintf(`{"command":"set -e\ncd /srv/app-%d\ncurl -fsSL https://example.com/release/${{ params.version }}.tgz | tar xz\nsystemctl restart app-%d\n","env":{"APP":"app-%d","LOG":"/var/log/app"},"args":["--release","${{ params.version }}"]}`, i, i, i)),
		})
	}
	values := map[string]any{"version": "1.2.3"}
	b.ResetTimer()
	for b.Loop() {
		v, err := bundle.svc.Check(context.Background(), bundle.p, spec, values)
		if err != nil || len(v.Matches) != 0 {
			b.Fatal(err, v.Matches)
		}
	}
}
