package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/graph"
)

const guardRuleFields = `id name pattern severity approverRole description enabled builtIn createdAt updatedAt`

func TestGuardRulesAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		p := b.createProject(t, "guarded")
		q := b.createProject(t, "other")

		data := b.ok(t, `mutation($in: CreateGuardRuleInput!) { createGuardRule(input: $in) { rule { `+guardRuleFields+` } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "name": "prod-db", "pattern": `prod-db-\d+`, "severity": "APPROVE", "description": "prod databases"}})
		rule := get(t, data, "createGuardRule.rule").(map[string]any)
		id := str(t, rule, "id")
		require.Equal(t, "owner", rule["approverRole"])
		require.Equal(t, false, rule["builtIn"])
		require.NotNil(t, rule["createdAt"])

		// A pattern that does not compile is refused, naming the field, and
		// the refusal is in the audit trail with its reason.
		e := b.fails(t, `mutation($in: CreateGuardRuleInput!) { createGuardRule(input: $in) { rule { id } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "name": "broken", "pattern": `rm -rf (/`, "severity": "BLOCK"}})
		require.Equal(t, graph.CodeBadUserInput, e.Extensions["code"])
		require.Equal(t, "pattern", e.Extensions["field"])
		require.Contains(t, e.Message, "does not compile: missing closing )")
		refused := findEvents(readAuditTrail(t, b), "action", "createGuardRule", "outcome", "FAILED")
		require.Len(t, refused, 1)
		require.Equal(t, p, refused[0]["projectId"])
		require.Contains(t, refused[0]["reason"], "pattern")
		created := findEvents(readAuditTrail(t, b), "action", "createGuardRule", "outcome", "ALLOWED")
		require.Len(t, created, 1)
		require.Equal(t, id, created[0]["objectId"])
		require.Equal(t, "guard rule", created[0]["objectKind"])

		data = b.ok(t, `mutation($in: UpdateGuardRuleInput!) { updateGuardRule(input: $in) { rule { `+guardRuleFields+` } } }`,
			map[string]any{"in": map[string]any{"id": id, "severity": "BLOCK"}})
		require.Equal(t, "BLOCK", str(t, data, "updateGuardRule.rule.severity"))
		require.Nil(t, get(t, data, "updateGuardRule.rule.approverRole"))

		// Disable a built-in in p only.
		data = b.ok(t, `mutation($in: SetGuardRuleEnabledInput!) { setGuardRuleEnabled(input: $in) { rule { id name enabled builtIn } } }`,
			map[string]any{"in": map[string]any{"projectId": p, "rule": "shutdown-reboot", "enabled": false}})
		require.Equal(t, false, get(t, data, "setGuardRuleEnabled.rule.enabled"))
		require.Equal(t, true, get(t, data, "setGuardRuleEnabled.rule.builtIn"))
		builtinID := str(t, data, "setGuardRuleEnabled.rule.id")
		e = b.fails(t, `mutation($id: ID!) { deleteGuardRule(input: {id: $id}) { deletedId } }`, map[string]any{"id": builtinID})
		require.Contains(t, []any{graph.CodeBadUserInput, graph.CodeNotFound}, e.Extensions["code"], "a built-in is not deleted")

		data = b.ok(t, `query($p: ID!) { guardRules(projectId: $p) { `+guardRuleFields+` } }`, map[string]any{"p": p})
		rules := get(t, data, "guardRules").([]any)
		last := rules[len(rules)-1].(map[string]any)
		require.Equal(t, "prod-db", last["name"])
		for _, r := range rules[:len(rules)-1] {
			r := r.(map[string]any)
			require.Equal(t, true, r["builtIn"])
			require.Equal(t, r["name"] != "shutdown-reboot", r["enabled"], r["name"])
		}

		check := `query($p: ID!, $t: String!) { checkCommand(projectId: $p, text: $t) { ruleId ruleName severity approverRole step field excerpt } }`
		data = b.ok(t, check, map[string]any{"p": p, "t": "reboot; mkfs.ext4 /dev/sdb; psql prod-db-7"})
		require.Equal(t, []any{
			map[string]any{"ruleId": "gdr_00000000000000000000000002", "ruleName": "mkfs", "severity": "BLOCK", "approverRole": nil, "step": nil, "field": "text", "excerpt": "; mkfs.ext4 /"},
			map[string]any{"ruleId": id, "ruleName": "prod-db", "severity": "BLOCK", "approverRole": nil, "step": nil, "field": "text", "excerpt": "prod-db-7"},
		}, get(t, data, "checkCommand"))
		data = b.ok(t, check, map[string]any{"p": q, "t": "reboot"})
		require.Len(t, get(t, data, "checkCommand"), 1, "the built-in is enabled in the other project")

		b.ok(t, `mutation($id: ID!) { deleteGuardRule(input: {id: $id}) { deletedId } }`, map[string]any{"id": id})
		data = b.ok(t, `query($p: ID!) { guardRules(projectId: $p) { id } }`, map[string]any{"p": p})
		require.Len(t, get(t, data, "guardRules"), len(rules)-1)
	})
}
