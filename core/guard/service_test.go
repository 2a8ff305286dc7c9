package guard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/guard"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// roles accepts the built-in role names, as rbac.Authorizer would.
type roles struct{}

func (roles) ValidateRole(r string) error {
	switch r {
	case "owner", "operator", "viewer":
		return nil
	}
	return core.Invalid("role", "no role %q", r)
}

type testBundle struct {
	ctx  context.Context
	s    *store.Store
	svc  *guard.Service
	p, q string // two projects
}

func setup(t *testing.T, s *store.Store) *testBundle {
	t.Helper()
	b := &testBundle{ctx: context.Background(), s: s, svc: guard.NewService(s, roles{})}
	for i, id := range []*string{&b.p, &b.q} {
		*id = core.NewID(core.KindProject)
		now := core.Now()
		require.NoError(t, s.CreateProject(b.ctx, project.Project{ID: *id, Name: fmt.Sprintf("p%d", i), CreatedAt: now, UpdatedAt: now}))
	}
	return b
}

func fieldOf(t *testing.T, err error) string {
	t.Helper()
	require.Error(t, err)
	return core.FieldOf(err)
}

func TestRulesCRUD(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		r, err := b.svc.Create(b.ctx, guard.CreateInput{
			ProjectID: b.p, Name: "no-prod-drop", Pattern: `(?i)drop\s+prod`, Severity: guard.SeverityApprove,
			Description: "dropping prod", CreatedBy: "user:u1",
		})
		require.NoError(t, err)
		require.Equal(t, "owner", r.ApproverRole, "the default approver")
		require.True(t, r.Enabled)

		got, err := b.svc.Get(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, r.CreatedAt, got.CreatedAt)
		require.Equal(t, "user:u1", got.CreatedBy)
		require.Equal(t, r.Pattern, got.Pattern)

		// The name is unique in the project, and no built-in's.
		_, err = b.svc.Create(b.ctx, guard.CreateInput{ProjectID: b.p, Name: "no-prod-drop", Pattern: "x", Severity: guard.SeverityBlock})
		require.ErrorIs(t, err, core.ErrConflict)
		_, err = b.svc.Create(b.ctx, guard.CreateInput{ProjectID: b.p, Name: "rm-rf-root", Pattern: "x", Severity: guard.SeverityBlock})
		require.ErrorIs(t, err, core.ErrConflict)
		// Another project may use it.
		_, err = b.svc.Create(b.ctx, guard.CreateInput{ProjectID: b.q, Name: "no-prod-drop", Pattern: "x", Severity: guard.SeverityBlock})
		require.NoError(t, err)

		sev, role, pat := guard.SeverityApprove, "operator", `drop\s+production`
		up, err := b.svc.Update(b.ctx, guard.UpdateInput{ID: r.ID, Severity: &sev, ApproverRole: &role, Pattern: &pat})
		require.NoError(t, err)
		require.Equal(t, "operator", up.ApproverRole)
		sev = guard.SeverityBlock
		up, err = b.svc.Update(b.ctx, guard.UpdateInput{ID: r.ID, Severity: &sev})
		require.NoError(t, err)
		require.Empty(t, up.ApproverRole, "a block rule has no approver")
		got, err = b.svc.Get(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, guard.SeverityBlock, got.Severity)
		require.Equal(t, pat, got.Pattern)

		rules, err := b.svc.Rules(b.ctx, b.p)
		require.NoError(t, err)
		require.Len(t, rules, len(guard.Builtins())+1)
		require.True(t, rules[0].BuiltIn)
		require.Equal(t, r.ID, rules[len(rules)-1].ID)

		require.NoError(t, b.svc.Delete(b.ctx, r.ID))
		_, err = b.svc.Get(b.ctx, r.ID)
		require.ErrorIs(t, err, core.ErrNotFound)
		require.ErrorIs(t, b.svc.Delete(b.ctx, r.ID), core.ErrNotFound)

		// Built-ins are neither edited nor deleted.
		bi := guard.Builtins()[0]
		require.Equal(t, "id", fieldOf(t, b.svc.Delete(b.ctx, bi.ID)))
		_, err = b.svc.Update(b.ctx, guard.UpdateInput{ID: bi.ID, Pattern: &pat})
		require.ErrorIs(t, err, core.ErrInvalidInput)
	})
}

func TestRuleValidation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		in := func(mod func(*guard.CreateInput)) guard.CreateInput {
			c := guard.CreateInput{ProjectID: b.p, Name: "r", Pattern: "danger", Severity: guard.SeverityBlock}
			mod(&c)
			return c
		}
		for name, tc := range map[string]struct {
			in    guard.CreateInput
			field string
		}{
			"does not compile":  {in(func(c *guard.CreateInput) { c.Pattern = `rm -rf (/` }), "pattern"},
			"backreference":     {in(func(c *guard.CreateInput) { c.Pattern = `(a)\1` }), "pattern"},
			"matches empty":     {in(func(c *guard.CreateInput) { c.Pattern = `x*` }), "pattern"},
			"empty pattern":     {in(func(c *guard.CreateInput) { c.Pattern = " " }), "pattern"},
			"too long":          {in(func(c *guard.CreateInput) { c.Pattern = string(make([]byte, 4097)) }), "pattern"},
			"bad severity":      {in(func(c *guard.CreateInput) { c.Severity = "warn" }), "severity"},
			"unknown role":      {in(func(c *guard.CreateInput) { c.Severity, c.ApproverRole = guard.SeverityApprove, "nobody" }), "approverRole"},
			"role on block":     {in(func(c *guard.CreateInput) { c.ApproverRole = "owner" }), "approverRole"},
			"bad name":          {in(func(c *guard.CreateInput) { c.Name = "a b" }), "name"},
			"bad project":       {in(func(c *guard.CreateInput) { c.ProjectID = "hst_x" }), "projectId"},
			"description utf-8": {in(func(c *guard.CreateInput) { c.Description = "\xff" }), "description"},
		} {
			_, err := b.svc.Create(b.ctx, tc.in)
			require.ErrorIs(t, err, core.ErrInvalidInput, name)
			require.Equal(t, tc.field, core.FieldOf(err), name)
		}
		_, err := b.svc.Create(b.ctx, in(func(c *guard.CreateInput) { c.Pattern = `rm -rf (/` }))
		require.ErrorContains(t, err, "pattern: does not compile: missing closing ): `rm -rf (/`")

		_, err = b.svc.Create(b.ctx, in(func(c *guard.CreateInput) { c.ProjectID = core.NewID(core.KindProject) }))
		require.ErrorIs(t, err, core.ErrNotFound)
		rules, err := b.svc.Rules(b.ctx, b.p)
		require.NoError(t, err)
		require.Len(t, rules, len(guard.Builtins()), "nothing stored")
	})
}

func TestDisableBuiltinInOneProject(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ms, err := b.svc.CheckText(b.ctx, b.p, "sudo reboot")
		require.NoError(t, err)
		require.Len(t, ms, 1)
		require.Equal(t, "shutdown-reboot", ms[0].RuleName)
		require.Equal(t, "owner", ms[0].ApproverRole)

		r, err := b.svc.SetEnabled(b.ctx, b.p, "shutdown-reboot", false, "user:u1")
		require.NoError(t, err)
		require.False(t, r.Enabled)
		require.True(t, r.BuiltIn)
		_, err = b.svc.SetEnabled(b.ctx, b.p, r.ID, false, "user:u1") // by ID, again: idempotent
		require.NoError(t, err)

		ms, err = b.svc.CheckText(b.ctx, b.p, "sudo reboot")
		require.NoError(t, err)
		require.Empty(t, ms, "disabled in p")
		ms, err = b.svc.CheckText(b.ctx, b.q, "sudo reboot")
		require.NoError(t, err)
		require.Len(t, ms, 1, "still enabled in q")

		rules, err := b.svc.Rules(b.ctx, b.p)
		require.NoError(t, err)
		for _, r := range rules {
			require.Equal(t, r.Name != "shutdown-reboot", r.Enabled, r.Name)
		}

		_, err = b.svc.SetEnabled(b.ctx, b.p, "shutdown-reboot", true, "user:u1")
		require.NoError(t, err)
		ms, err = b.svc.CheckText(b.ctx, b.p, "sudo reboot")
		require.NoError(t, err)
		require.Len(t, ms, 1)

		// A project's own rule, by ID; not from another project.
		own, err := b.svc.Create(b.ctx, guard.CreateInput{ProjectID: b.p, Name: "danger", Pattern: "danger", Severity: guard.SeverityBlock})
		require.NoError(t, err)
		_, err = b.svc.SetEnabled(b.ctx, b.q, own.ID, false, "")
		require.ErrorIs(t, err, core.ErrNotFound)
		_, err = b.svc.SetEnabled(b.ctx, b.p, own.ID, false, "")
		require.NoError(t, err)
		ms, err = b.svc.CheckText(b.ctx, b.p, "danger")
		require.NoError(t, err)
		require.Empty(t, ms)
		_, err = b.svc.SetEnabled(b.ctx, b.p, "no-such-rule", false, "")
		require.Equal(t, "rule", fieldOf(t, err))
	})
}

func params(t *testing.T, v any) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return raw
}

func TestCheckSpec(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		_, err := b.svc.Create(b.ctx, guard.CreateInput{ProjectID: b.p, Name: "prod-db", Pattern: `prod-db-\d+`, Severity: guard.SeverityApprove, ApproverRole: "operator"})
		require.NoError(t, err)
		spec := job.Spec{
			Parameters: []job.Parameter{
				{Name: "dir", Type: job.ParamString},
				{Name: "password", Type: job.ParamSecret},
				{Name: "note", Type: job.ParamString},
			},
			Steps: []job.Step{
				{Name: "safe", Executor: "ssh", Action: "exec", Params: params(t, map[string]any{"command": "uptime"})},
				{Name: "wipe", Executor: "ssh", Action: "exec", Params: params(t, map[string]any{
					"command": "rm -rf ${{ params.dir }}",
					"env":     map[string]any{"HOST": "prod-db-1"},
					"args":    []any{"x", "mkfs.ext4 /dev/sdb"},
				})},
				{Name: "gate", Executor: "approval", Action: "wait"},
				{Name: "sql", Executor: "acme-sql", Action: "query", Params: params(t, map[string]any{
					"sql": "DELETE FROM users", "dsn": "mysql://u:${{ params.password }}@h/db ; DROP TABLE x",
					"note": "echo ${{ params.password }}",
				})},
			},
		}
		values := map[string]any{"dir": "/", "password": "DROP DATABASE s3cret", "note": "then reboot"}
		v, err := b.svc.Check(b.ctx, b.p, spec, values)
		require.NoError(t, err)

		type got struct{ rule, step, field, excerpt string }
		var gotMatches []got
		for _, m := range v.Matches {
			gotMatches = append(gotMatches, got{m.RuleName, m.Step, m.Field, m.Excerpt})
		}
		require.Equal(t, []got{
			// Block first, then approve, each in the order found: steps in
			// order, a step's strings by key, each as written then rendered, then the
			// run's parameters by name.
			{"mkfs", "wipe", "params.args.1", "mkfs.ext4 /"},
			{"rm-rf-root", "wipe", "params.command", "rm -rf /"}, // rendered
			{"prod-db", "wipe", "params.env.HOST", "prod-db-1"},
			{"sql-drop", "sql", "params.dsn", "DROP TABLE"},
			{"sql-drop", "sql", "params.note", ""}, // rendered with the secret: no excerpt
			{"sql-delete-without-where", "sql", "params.sql", "DELETE FROM users"},
			{"shutdown-reboot", "", "parameters.note", "then reboot"},
			{"sql-drop", "", "parameters.password", ""}, // secret: no excerpt
		}, gotMatches)
		require.Equal(t, "operator", v.Matches[2].ApproverRole)
		require.NotEmpty(t, v.Matches[1].RuleID, "built-ins carry their fixed ID")

		var blocked *guard.BlockedError
		require.True(t, errors.As(v.Blocked(), &blocked))
		require.ErrorIs(t, v.Blocked(), core.ErrForbidden)
		require.Equal(t, "mkfs", blocked.Match.RuleName)
		_, ok := v.Approval()
		require.False(t, ok, "a blocked run asks for no approval")

		// Without the blocking steps, the run waits for an approval.
		spec.Steps = spec.Steps[2:]
		v, err = b.svc.Check(b.ctx, b.p, spec, map[string]any{"password": "x"})
		require.NoError(t, err)
		require.NoError(t, v.Blocked())
		m, ok := v.Approval()
		require.True(t, ok)
		require.Equal(t, guard.Match{
			RuleID: m.RuleID, RuleName: "sql-drop", Severity: guard.SeverityApprove, ApproverRole: "owner",
			Step: "sql", Field: "params.dsn", Excerpt: "DROP TABLE",
		}, m)

		// Nothing to say of a harmless run.
		v, err = b.svc.Check(b.ctx, b.p, job.Spec{Steps: spec.Steps[:1]}, nil)
		require.NoError(t, err)
		require.Empty(t, v.Matches)
	})
}
