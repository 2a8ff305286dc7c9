package graph

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/guard"
)

func TestGuardBlockedErrorExtensions(t *testing.T) {
	t.Parallel()
	present := errorPresenter(slog.New(slog.DiscardHandler))
	blocked := &guard.BlockedError{Match: guard.Match{
		RuleID: "gdr_00000000000000000000000001", RuleName: "rm-rf-root", Severity: guard.SeverityBlock,
		Step: "wipe", Field: "params.command", Excerpt: "rm -rf /",
	}}
	e := present(context.Background(), fmt.Errorf("run job: %w", blocked))
	require.Equal(t, map[string]any{
		"code": CodeForbidden, "rule": "rm-rf-root", "ruleId": "gdr_00000000000000000000000001",
		"step": "wipe", "field": "params.command",
	}, e.Extensions)
	require.Contains(t, e.Message, `command guard rule "rm-rf-root" blocks the run`)

	// A run parameter has no step.
	blocked.Match.Step, blocked.Match.Field = "", "parameters.dir"
	e = present(context.Background(), blocked)
	require.NotContains(t, e.Extensions, "step")
	require.Equal(t, "parameters.dir", e.Extensions["field"])
}
