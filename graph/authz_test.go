package graph_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/graph"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/rbac"
)

// authzLevel says who may call a root field. The levels make the
// permission matrix, which documents who may call each root field of the
// schema.
//
// Every root field declares one of @public, @authenticated, @hasPermission
// or @readable (schema/access.graphqls), and has one row in authzRows, which
// gives it a level. The level fixes what each kind of caller gets:
//
//	level          admin  owner      operator   viewer     outsider   anonymous
//	public         ok     ok         ok         ok         ok         ok
//	authenticated  ok     ok         ok         ok         ok         UNAUTHENTICATED
//	projectRead    ok     ok         ok         ok         NOT_FOUND  UNAUTHENTICATED
//	projectRun     ok     ok         ok         FORBIDDEN  NOT_FOUND  UNAUTHENTICATED
//	projectWrite   ok     ok         FORBIDDEN  FORBIDDEN  NOT_FOUND  UNAUTHENTICATED
//	system         ok     FORBIDDEN  FORBIDDEN  FORBIDDEN  FORBIDDEN  UNAUTHENTICATED
//
// The callers: admin holds the system admin role and no project role;
// owner, operator and viewer hold that built-in role in project P, where
// every row acts; outsider owns another project, Q, only; anonymous sends
// no credentials. A caller who may not see P gets NOT_FOUND, as if P did not
// exist; one who may see it but lacks the permission gets FORBIDDEN.
//
// "ok" means the response carries no UNAUTHENTICATED, FORBIDDEN or NOT_FOUND
// error. The rows prepare their objects so that an allowed call succeeds
// outright; a row may list codes its own failures are allowed to carry.
//
// The levels, field by field:
//
//	public         login
//	authenticated  viewer, users, roles, executors, apiTokens, projects, logout,
//	               changePassword, createApiToken, revokeApiToken (the last
//	               four act on the caller's own account)
//	projectRead    node, project, host, hosts, hostGroup, hostGroups,
//	               selectorPreview, credential, credentials, approvals,
//	               approval (the read permissions every built-in role holds)
//	projectRun     runJob, adHocRun, retryRun, cancelRun (JOB_RUN: owners and operators),
//	               approve, reject (APPROVAL_DECIDE, and the approval's role,
//	               which each row's approval asks of its caller)
//	projectWrite   updateProject, deleteProject, create/update/delete of
//	               hosts, host groups and credentials, grantRole, revokeRole
//	               (permissions only the owner role holds)
//	system         createProject, createUser, updateUser, grantAdmin,
//	               revokeAdmin, defineRole, deleteRole, auditEvents
//	               (system permissions: admins only)
//
// Fields of object types that carry @hasPermission (Project.hosts,
// Host.defaultCredential, ...) are checked in the project of their object,
// and are covered by TestAuthzNestedFields.
type authzLevel int

const (
	levelPublic authzLevel = iota
	levelAuthenticated
	levelProjectRead
	levelProjectRun
	levelProjectWrite
	levelSystem
)

func (l authzLevel) String() string {
	return [...]string{"public", "authenticated", "projectRead", "projectRun", "projectWrite", "system"}[l]
}

type callerKind int

const (
	callerAdmin callerKind = iota
	callerOwner
	callerOperator
	callerViewer
	callerOutsider
	callerAnonymous
)

func (k callerKind) String() string {
	return [...]string{"admin", "owner", "operator", "viewer", "outsider", "anonymous"}[k]
}

// expectedCode is the matrix above: the code a caller of kind k gets from a
// field of level l, "" when the call is allowed.
func expectedCode(l authzLevel, k callerKind) string {
	switch {
	case l == levelPublic:
		return ""
	case k == callerAnonymous:
		return graph.CodeUnauthenticated
	case l == levelAuthenticated:
		return ""
	case l == levelSystem:
		if k == callerAdmin {
			return ""
		}
		return graph.CodeForbidden
	case k == callerAdmin:
		return ""
	case k == callerOutsider:
		return graph.CodeNotFound
	case l == levelProjectRead, k == callerOwner:
		return ""
	case l == levelProjectRun && k == callerOperator:
		return ""
	}
	return graph.CodeForbidden
}

// authzRow is one root field of the matrix.
type authzRow struct {
	field string // "Query.project"
	level authzLevel
	query string
	// vars prepares what the call needs, fresh for each caller where the
	// call consumes or changes it.
	vars func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any
	// accept lists codes an allowed call may fail with for its own reasons.
	accept []string
}

func authzNoVars(*testing.T, *authzFixture, *authzCaller) map[string]any { return nil }

// authzRows is the matrix, one row per root field. A new root field needs a
// row here, and a directive in the schema: TestAuthzMatrixCoversSchema says
// so.
func authzRows() []authzRow {
	inP := func(kv ...any) func(*testing.T, *authzFixture, *authzCaller) map[string]any {
		return func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
			in := map[string]any{"projectId": fx.p}
			for i := 0; i < len(kv); i += 2 {
				in[kv[i].(string)] = kv[i+1]
			}
			return map[string]any{"in": in}
		}
	}
	id := func(pick func(fx *authzFixture) string) func(*testing.T, *authzFixture, *authzCaller) map[string]any {
		return func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
			return map[string]any{"id": pick(fx)}
		}
	}
	return []authzRow{
		// ---- Query ----
		{field: "Query.node", level: levelProjectRead, query: `query($id: ID!) { node(id: $id) { id } }`,
			vars: id(func(fx *authzFixture) string { return fx.host })},
		{field: "Query.project", level: levelProjectRead, query: `query($id: ID!) { project(id: $id) { id name } }`,
			vars: id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.projects", level: levelAuthenticated, query: `{ projects { totalCount } }`, vars: authzNoVars},
		{field: "Query.host", level: levelProjectRead, query: `query($id: ID!) { host(id: $id) { id } }`,
			vars: id(func(fx *authzFixture) string { return fx.host })},
		{field: "Query.hosts", level: levelProjectRead, query: `query($id: ID!) { hosts(projectId: $id) { totalCount } }`,
			vars: id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.hostGroup", level: levelProjectRead, query: `query($id: ID!) { hostGroup(id: $id) { id } }`,
			vars: id(func(fx *authzFixture) string { return fx.group })},
		{field: "Query.hostGroups", level: levelProjectRead, query: `query($id: ID!) { hostGroups(projectId: $id) { totalCount } }`,
			vars: id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.selectorPreview", level: levelProjectRead,
			query: `query($id: ID!) { selectorPreview(projectId: $id, selector: "env") { selector } }`,
			vars:  id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.credential", level: levelProjectRead, query: `query($id: ID!) { credential(id: $id) { id } }`,
			vars: id(func(fx *authzFixture) string { return fx.cred })},
		{field: "Query.credentials", level: levelProjectRead, query: `query($id: ID!) { credentials(projectId: $id) { totalCount } }`,
			vars: id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.jobs", level: levelProjectRead, query: `query($id: ID!) { jobs(projectId: $id) { totalCount } }`,
			vars: id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.job", level: levelProjectRead, query: `query($id: ID!) { job(id: $id) { id yaml steps { name needs } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newJob(t)}
			}},
		{field: "Query.run", level: levelProjectRead, query: `query($id: ID!) { run(id: $id) { id status steps { name status } tasks { edges { node { hostName status } } } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newRun(t)}
			}},
		{field: "Query.runs", level: levelProjectRead, query: `query($id: ID!) { runs(projectId: $id, first: 5) { edges { node { id status } } } }`,
			vars: id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.approvals", level: levelProjectRead,
			query: `query($id: ID!) { approvals(projectId: $id, status: [PENDING], first: 5) { edges { node { id status role canDecide votes { userId } } } } }`,
			vars:  id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.approval", level: levelProjectRead,
			query: `query($id: ID!) { approval(id: $id) { id status role required reason run { id } project { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newApproval(t, rbac.RoleOwner)}
			}},
		{field: "Query.taskLogs", level: levelProjectRead, query: `query($id: ID!) { taskLogs(taskId: $id) { lastSeq chunks { seq data } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newTask(t)}
			}},
		{field: "Query.viewer", level: levelAuthenticated, query: `{ viewer { user { id username } roles { role } } }`, vars: authzNoVars},
		{field: "Query.users", level: levelAuthenticated, query: `{ users { totalCount } }`, vars: authzNoVars},
		{field: "Query.roles", level: levelAuthenticated, query: `{ roles { name } }`, vars: authzNoVars},
		{field: "Query.executors", level: levelAuthenticated, query: `{ executors { name health actions { name paramsSchema } } }`, vars: authzNoVars},
		{field: "Query.apiTokens", level: levelAuthenticated, query: `{ apiTokens { totalCount edges { node { id name } } } }`, vars: authzNoVars},
		{field: "Query.auditEvents", level: levelSystem, query: `{ auditEvents(first: 1) { totalCount } }`, vars: authzNoVars},

		// ---- Mutation: projects ----
		{field: "Mutation.createProject", level: levelSystem,
			query: `mutation($in: CreateProjectInput!) { createProject(input: $in) { project { id } } }`,
			vars: func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"name": fx.uniq("prj")}}
			}},
		{field: "Mutation.updateProject", level: levelProjectWrite,
			query: `mutation($id: ID!) { updateProject(input: {id: $id, description: "touched"}) { project { id } } }`,
			vars:  id(func(fx *authzFixture) string { return fx.p })},
		{field: "Mutation.deleteProject", level: levelProjectWrite,
			query: `mutation($id: ID!) { deleteProject(input: {id: $id}) { deletedId } }`,
			// A fresh, empty project where every caller holds the role it holds in P.
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newProject(t)}
			}},

		// ---- Mutation: inventory ----
		{field: "Mutation.createHost", level: levelProjectWrite,
			query: `mutation($in: CreateHostInput!) { createHost(input: $in) { host { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				return inP("name", fx.uniq("host"), "address", "10.0.0.9")(t, fx, c)
			}},
		{field: "Mutation.updateHost", level: levelProjectWrite,
			query: `mutation($id: ID!) { updateHost(input: {id: $id, port: 2222}) { host { id } } }`,
			vars:  id(func(fx *authzFixture) string { return fx.host })},
		{field: "Mutation.deleteHost", level: levelProjectWrite,
			query: `mutation($id: ID!) { deleteHost(input: {id: $id}) { deletedId } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				h := fx.b.createHost(t, map[string]any{"projectId": fx.p, "name": fx.uniq("doomed"), "address": "10.0.0.10"})
				return map[string]any{"id": h["id"]}
			}},
		{field: "Mutation.createHostGroup", level: levelProjectWrite,
			query: `mutation($in: CreateHostGroupInput!) { createHostGroup(input: $in) { hostGroup { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				return inP("name", fx.uniq("group"), "selector", "env=prod")(t, fx, c)
			}},
		{field: "Mutation.updateHostGroup", level: levelProjectWrite,
			query: `mutation($id: ID!) { updateHostGroup(input: {id: $id, description: "touched"}) { hostGroup { id } } }`,
			vars:  id(func(fx *authzFixture) string { return fx.group })},
		{field: "Mutation.deleteHostGroup", level: levelProjectWrite,
			query: `mutation($id: ID!) { deleteHostGroup(input: {id: $id}) { deletedId } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				g := fx.b.createGroup(t, map[string]any{"projectId": fx.p, "name": fx.uniq("doomed"), "selector": "env"})
				return map[string]any{"id": g["id"]}
			}},
		{field: "Mutation.createCredential", level: levelProjectWrite,
			query: `mutation($in: CreateCredentialInput!) { createCredential(input: $in) { credential { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				return inP("name", fx.uniq("cred"), "kind", "TOKEN", "secret", "s3cret")(t, fx, c)
			}},
		{field: "Mutation.updateCredential", level: levelProjectWrite,
			query: `mutation($id: ID!) { updateCredential(input: {id: $id, description: "touched"}) { credential { id } } }`,
			vars:  id(func(fx *authzFixture) string { return fx.cred })},
		{field: "Mutation.importJob", level: levelProjectWrite,
			query: `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id version } } }`,
			vars: func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"projectId": fx.p, "yaml": authzJobYAML(fx.uniq("imported"))}}
			}},
		{field: "Mutation.updateJob", level: levelProjectWrite,
			query: `mutation($in: UpdateJobInput!) { updateJob(input: $in) { job { id version } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"id": fx.newJob(t), "yaml": authzJobYAML(fx.uniq("renamed"))}}
			}},
		{field: "Mutation.deleteJob", level: levelProjectWrite,
			query: `mutation($id: ID!) { deleteJob(input: {id: $id}) { deletedId } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newJob(t)}
			}},
		{field: "Query.guardRules", level: levelProjectRead, query: `query($id: ID!) { guardRules(projectId: $id) { id name enabled builtIn } }`,
			vars: id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.checkCommand", level: levelProjectRead, query: `query($id: ID!) { checkCommand(projectId: $id, text: "rm -rf /") { ruleName } }`,
			vars: id(func(fx *authzFixture) string { return fx.p })},
		{field: "Mutation.createGuardRule", level: levelProjectWrite,
			query: `mutation($in: CreateGuardRuleInput!) { createGuardRule(input: $in) { rule { id } } }`,
			vars: func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"projectId": fx.p, "name": fx.uniq("rule"), "pattern": "danger", "severity": "BLOCK"}}
			}},
		{field: "Mutation.updateGuardRule", level: levelProjectWrite,
			query: `mutation($in: UpdateGuardRuleInput!) { updateGuardRule(input: $in) { rule { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"id": fx.newGuardRule(t), "pattern": "danger2"}}
			}},
		{field: "Mutation.deleteGuardRule", level: levelProjectWrite,
			query: `mutation($id: ID!) { deleteGuardRule(input: {id: $id}) { deletedId } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newGuardRule(t)}
			}},
		{field: "Mutation.setGuardRuleEnabled", level: levelProjectWrite,
			query: `mutation($in: SetGuardRuleEnabledInput!) { setGuardRuleEnabled(input: $in) { rule { id enabled } } }`,
			vars:  inP("rule", "mkfs", "enabled", false)},
		{field: "Mutation.runJob", level: levelProjectRun,
			query: `mutation($in: RunJobInput!) { runJob(input: $in) { run { id status } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"jobId": fx.newJob(t)}}
			}},
		{field: "Mutation.adHocRun", level: levelProjectRun,
			query: `mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id status } } }`,
			vars: func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"projectId": fx.p, "executor": "local", "action": "command",
					"params": map[string]any{"command": "echo hi"}, "targets": map[string]any{"selector": "env=prod"}}}
			}},
		{field: "Mutation.retryRun", level: levelProjectRun,
			query: `mutation($id: ID!) { retryRun(input: {runId: $id}) { run { id retryOf } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newFinalRun(t)}
			}},
		{field: "Mutation.approve", level: levelProjectRun,
			query: `mutation($id: ID!) { approve(input: {id: $id, comment: "ok"}) { approval { id status } } }`,
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				return map[string]any{"id": fx.newApproval(t, c.kind.role())}
			}},
		{field: "Mutation.reject", level: levelProjectRun,
			query: `mutation($id: ID!) { reject(input: {id: $id, comment: "no"}) { approval { id status } } }`,
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				return map[string]any{"id": fx.newApproval(t, c.kind.role())}
			}},
		{field: "Mutation.cancelRun", level: levelProjectRun,
			query: `mutation($id: ID!) { cancelRun(input: {id: $id}) { run { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newRun(t)}
			}},
		// ---- webhook triggers ----
		{field: "Query.triggers", level: levelProjectRead, query: `query($id: ID!) { triggers(projectId: $id) { totalCount edges { node { id url } } } }`,
			vars: id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.trigger", level: levelProjectRead, query: `query($id: ID!) { trigger(id: $id) { id name job { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newTrigger(t)}
			}},
		{field: "Mutation.createTrigger", level: levelProjectWrite,
			query: `mutation($in: CreateTriggerInput!) { createTrigger(input: $in) { trigger { id } secret } }`,
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				return inP("name", fx.uniq("hook"), "jobId", fx.newJob(t))(t, fx, c)
			}},
		{field: "Mutation.updateTrigger", level: levelProjectWrite,
			query: `mutation($id: ID!) { updateTrigger(input: {id: $id, priority: 1}) { trigger { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newTrigger(t)}
			}},
		{field: "Mutation.rotateTriggerSecret", level: levelProjectWrite,
			query: `mutation($id: ID!) { rotateTriggerSecret(input: {id: $id}) { trigger { id } secret } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newTrigger(t)}
			}},
		{field: "Mutation.deleteTrigger", level: levelProjectWrite,
			query: `mutation($id: ID!) { deleteTrigger(input: {id: $id}) { deletedId } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newTrigger(t)}
			}},
		{field: "Mutation.deleteCredential", level: levelProjectWrite,
			query: `mutation($id: ID!) { deleteCredential(input: {id: $id}) { deletedId } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				c := fx.b.createCredential(t, map[string]any{"projectId": fx.p, "name": fx.uniq("doomed"), "kind": "TOKEN", "secret": "s"})
				return map[string]any{"id": c["id"]}
			}},

		// ---- schedules ----
		{field: "Query.schedules", level: levelProjectRead,
			query: `query($id: ID!) { schedules(projectId: $id) { id nextFireTimes(count: 2) } }`,
			vars:  id(func(fx *authzFixture) string { return fx.p })},
		{field: "Query.schedule", level: levelProjectRead,
			query: `query($id: ID!) { schedule(id: $id) { id expression job { id } lastRun { id } fires { at } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newSchedule(t)}
			}},
		{field: "Query.cronPreview", level: levelAuthenticated,
			query: `{ cronPreview(expression: "30 2 * * *", timeZone: "America/Los_Angeles", count: 2) }`, vars: authzNoVars},
		{field: "Mutation.createSchedule", level: levelProjectWrite,
			query: `mutation($in: CreateScheduleInput!) { createSchedule(input: $in) { schedule { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"projectId": fx.p, "jobId": fx.newJob(t), "name": fx.uniq("sch"),
					"expression": "0 0 1 1 *"}}
			}},
		{field: "Mutation.updateSchedule", level: levelProjectWrite,
			query: `mutation($id: ID!) { updateSchedule(input: {id: $id, expression: "0 0 2 1 *"}) { schedule { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newSchedule(t)}
			}},
		{field: "Mutation.setScheduleEnabled", level: levelProjectWrite,
			query: `mutation($id: ID!) { setScheduleEnabled(input: {id: $id, enabled: false}) { schedule { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newSchedule(t)}
			}},
		{field: "Mutation.deleteSchedule", level: levelProjectWrite,
			query: `mutation($id: ID!) { deleteSchedule(input: {id: $id}) { deletedId } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newSchedule(t)}
			}},
		{field: "Query.notificationChannels", level: levelProjectRead,
			query: `query($id: ID!) { notificationChannels(projectId: $id) { totalCount edges { node { id webhook { url } } } } }`,
			vars:  func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any { return map[string]any{"id": fx.p} }},
		{field: "Query.notificationDeliveries", level: levelProjectRead,
			query: `query($id: ID!) { notificationDeliveries(projectId: $id, status: FAILED) { totalCount } }`,
			vars:  func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any { return map[string]any{"id": fx.p} }},
		{field: "Mutation.createNotificationChannel", level: levelProjectWrite,
			query: `mutation($in: CreateNotificationChannelInput!) { createNotificationChannel(input: $in) { channel { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				return inP("name", fx.uniq("chn"), "events", []any{"RUN_FAILED"}, "webhook", map[string]any{"url": "http://127.0.0.1:1/x"})(t, fx, c)
			}},
		{field: "Mutation.updateNotificationChannel", level: levelProjectWrite,
			query: `mutation($id: ID!) { updateNotificationChannel(input: {id: $id, enabled: false}) { channel { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newChannel(t)}
			}},
		{field: "Mutation.deleteNotificationChannel", level: levelProjectWrite,
			query: `mutation($id: ID!) { deleteNotificationChannel(input: {id: $id}) { deletedId } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newChannel(t)}
			}},
		{field: "Mutation.testNotificationChannel", level: levelProjectWrite,
			query: `mutation($id: ID!) { testNotificationChannel(input: {id: $id}) { ok error } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newChannel(t)}
			}},

		// ---- Subscription ----
		{field: "Subscription.runUpdates", level: levelProjectRead,
			query: `subscription($id: ID!) { runUpdates(runId: $id) { kind run { id status } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newRun(t)}
			}},
		{field: "Subscription.taskLog", level: levelProjectRead,
			query: `subscription($id: ID!) { taskLog(taskId: $id) { chunks { seq data } resyncAfterSeq taskStatus } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newTask(t)}
			}},
		{field: "Subscription.projectRuns", level: levelProjectRead,
			query: `subscription($id: ID!) { projectRuns(projectId: $id) { kind run { id status } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.p}
			}},

		// ---- Mutation: access ----
		{field: "Mutation.login", level: levelPublic,
			query: `mutation($in: LoginInput!) { login(input: $in) { user { username } expiresAt } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				u := fx.newUser(t)
				return map[string]any{"in": map[string]any{"username": u.username, "password": u.password}}
			}},
		{field: "Mutation.logout", level: levelAuthenticated, query: `mutation { logout { ok } }`, vars: authzNoVars},
		{field: "Mutation.createUser", level: levelSystem,
			query: `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } } }`,
			vars: func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"username": fx.uniq("user"), "password": "correct-horse-1"}}
			}},
		{field: "Mutation.updateUser", level: levelSystem,
			query: `mutation($id: ID!) { updateUser(input: {id: $id, disabled: false}) { user { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newUser(t).userID}
			}},
		{field: "Mutation.changePassword", level: levelAuthenticated,
			query: `mutation($in: ChangePasswordInput!) { changePassword(input: $in) { ok } }`,
			// The caller's real password, set again: the caller's tokens
			// keep working (only sessions end), and so do later rows.
			vars: func(_ *testing.T, _ *authzFixture, c *authzCaller) map[string]any {
				pw := c.password
				if pw == "" {
					pw = "anonymous-has-none"
				}
				return map[string]any{"in": map[string]any{"currentPassword": pw, "newPassword": pw}}
			}},
		{field: "Mutation.grantRole", level: levelProjectWrite,
			query: `mutation($in: RoleGrantInput!) { grantRole(input: $in) { assignment { role } } }`,
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				return inP("userId", fx.newUser(t).userID, "role", rbac.RoleViewer)(t, fx, c)
			}},
		{field: "Mutation.revokeRole", level: levelProjectWrite,
			query: `mutation($in: RoleGrantInput!) { revokeRole(input: $in) { assignment { role } } }`,
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				u := fx.newUser(t)
				require.NoError(t, fx.b.authz.Assign(context.Background(), u.userID, fx.p, rbac.RoleViewer))
				return inP("userId", u.userID, "role", rbac.RoleViewer)(t, fx, c)
			}},
		{field: "Mutation.grantAdmin", level: levelSystem,
			query: `mutation($id: ID!) { grantAdmin(input: {userId: $id}) { user { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"id": fx.newUser(t).userID}
			}},
		{field: "Mutation.revokeAdmin", level: levelSystem,
			query: `mutation($id: ID!) { revokeAdmin(input: {userId: $id}) { user { id } } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				u := fx.newUser(t)
				require.NoError(t, fx.b.authz.GrantAdmin(context.Background(), u.userID))
				return map[string]any{"id": u.userID}
			}},
		{field: "Mutation.defineRole", level: levelSystem,
			query: `mutation($in: DefineRoleInput!) { defineRole(input: $in) { role { name } } }`,
			vars: func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"name": fx.uniq("role"), "permissions": []string{"HOST_READ"}}}
			}},
		{field: "Mutation.deleteRole", level: levelSystem,
			query: `mutation($name: String!) { deleteRole(input: {name: $name}) { name } }`,
			vars: func(t *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				name := fx.uniq("role")
				_, err := fx.b.authz.DefineRole(context.Background(), name, []rbac.Permission{rbac.HostRead})
				require.NoError(t, err)
				return map[string]any{"name": name}
			}},
		{field: "Mutation.createApiToken", level: levelAuthenticated,
			query: `mutation($in: CreateApiTokenInput!) { createApiToken(input: $in) { token { id } secret } }`,
			vars: func(_ *testing.T, fx *authzFixture, _ *authzCaller) map[string]any {
				return map[string]any{"in": map[string]any{"name": fx.uniq("token")}}
			}},
		{field: "Mutation.revokeApiToken", level: levelAuthenticated,
			query: `mutation($id: ID!) { revokeApiToken(input: {id: $id}) { token { id revokedAt } } }`,
			// One of the caller's own tokens (the admin's for anonymous).
			vars: func(t *testing.T, fx *authzFixture, c *authzCaller) map[string]any {
				owner := c.userID
				if owner == "" {
					owner = fx.callers[callerAdmin].userID
				}
				tok, _, err := fx.b.ids.CreateToken(context.Background(), identity.CreateTokenInput{UserID: owner, Name: fx.uniq("token")})
				require.NoError(t, err)
				return map[string]any{"id": tok.ID}
			}},
	}
}

// authzCaller is one user of the fixture, with an API token of theirs.
type authzCaller struct {
	kind     callerKind
	userID   string
	username string
	password string
	token    string // "" for anonymous
}

// authzFixture is one server, and the projects and callers of the matrix.
type authzFixture struct {
	b *testBundle
	// p is where the rows act; q is the outsider's project.
	p, q string
	// host (whose default credential is cred), group (a static group
	// holding host) and cred are in P.
	host, group, cred string
	callers           []*authzCaller // indexed by callerKind
	seq               atomic.Int64
}

func newAuthzFixture(t *testing.T, s *store.Store) *authzFixture {
	t.Helper()
	fx := &authzFixture{b: setup(t, s, withTriggers(s))}
	ctx := context.Background()
	fx.p = fx.b.createProject(t, "p")
	fx.q = fx.b.createProject(t, "q")
	fx.cred = str(t, fx.b.createCredential(t, map[string]any{"projectId": fx.p, "name": "c", "kind": "TOKEN", "secret": "s"}), "id")
	fx.host = str(t, fx.b.createHost(t, map[string]any{"projectId": fx.p, "name": "h", "address": "10.0.0.1",
		"labels": lbl("env", "prod"), "defaultCredentialId": fx.cred}), "id")
	fx.group = str(t, fx.b.createGroup(t, map[string]any{"projectId": fx.p, "name": "g", "hostIds": []any{fx.host}}), "id")

	for k := callerAdmin; k <= callerAnonymous; k++ {
		c := &authzCaller{kind: k}
		if k != callerAnonymous {
			c = fx.newUser(t)
			c.kind = k
			_, c.token, _ = createTestToken(t, fx.b, c.userID, identity.CreateTokenInput{})
		}
		fx.callers = append(fx.callers, c)
	}
	require.NoError(t, fx.b.authz.GrantAdmin(ctx, fx.callers[callerAdmin].userID))
	fx.grantRoles(t, fx.p)
	require.NoError(t, fx.b.authz.Assign(ctx, fx.callers[callerOutsider].userID, fx.q, rbac.RoleOwner))
	return fx
}

// grantRoles gives owner, operator and viewer their roles in project id.
func (fx *authzFixture) grantRoles(t *testing.T, id string) {
	t.Helper()
	for k, role := range map[callerKind]string{callerOwner: rbac.RoleOwner, callerOperator: rbac.RoleOperator, callerViewer: rbac.RoleViewer} {
		require.NoError(t, fx.b.authz.Assign(context.Background(), fx.callers[k].userID, id, role))
	}
}

// uniq returns a new name, valid for anything that has one.
// authzJobYAML is a one-step job named name, running the local executor on
// the hosts labelled env=prod.
func authzJobYAML(name string) string {
	return "apiVersion: jobgraph/v1\nkind: Job\nname: " + name + `
steps:
  - name: hello
    executor: local
    action: command
    targets:
      selector: env=prod
    params:
      command: echo hello
`
}

// newJob imports a fresh job into P, as the admin, and returns its ID.
func (fx *authzFixture) newJob(t *testing.T) string {
	t.Helper()
	data := fx.b.ok(t, `mutation($in: ImportJobInput!) { importJob(input: $in) { job { id } } }`,
		map[string]any{"in": map[string]any{"projectId": fx.p, "yaml": authzJobYAML(fx.uniq("job"))}})
	return str(t, data, "importJob.job.id")
}

// newGuardRule creates a fresh guard rule in P, as the admin, and returns
// its ID.
func (fx *authzFixture) newGuardRule(t *testing.T) string {
	t.Helper()
	data := fx.b.ok(t, `mutation($in: CreateGuardRuleInput!) { createGuardRule(input: $in) { rule { id } } }`,
		map[string]any{"in": map[string]any{"projectId": fx.p, "name": fx.uniq("rule"), "pattern": "danger", "severity": "BLOCK"}})
	return str(t, data, "createGuardRule.rule.id")
}

// newTrigger makes a webhook trigger of a fresh job in P, as the admin.
func (fx *authzFixture) newTrigger(t *testing.T) string {
	t.Helper()
	data := fx.b.ok(t, `mutation($in: CreateTriggerInput!) { createTrigger(input: $in) { trigger { id } } }`,
		map[string]any{"in": map[string]any{"projectId": fx.p, "jobId": fx.newJob(t), "name": fx.uniq("hook")}})
	return str(t, data, "createTrigger.trigger.id")
}

// newRun runs a fresh job in P, as the engine's caller, and returns the
// run's ID.
func (fx *authzFixture) newRun(t *testing.T) string {
	t.Helper()
	r, err := fx.b.runs.RunJob(context.Background(), engine.RunJobRequest{JobID: fx.newJob(t), Actor: "test"})
	require.NoError(t, err)
	return r.ID
}

// newApproval stores a pending approval asking for role on a fresh run in
// P, requested by someone else than the matrix's callers.
func (fx *authzFixture) newApproval(t *testing.T, role string) string {
	t.Helper()
	runID := fx.newRun(t)
	now := core.Now()
	a := approval.Approval{ID: core.NewID(core.KindApproval), ProjectID: fx.p, RunID: runID, Role: role, Required: 1,
		Status: approval.StatusPending, Reason: "test", RequestedBy: "user:someone-else", Deadline: now.Add(time.Hour), CreatedAt: now}
	require.NoError(t, fx.b.store.CreateApproval(context.Background(), a))
	return a.ID
}

// role is the project role of a caller of kind k ("" for none).
func (k callerKind) role() string {
	switch k {
	case callerOwner:
		return rbac.RoleOwner
	case callerOperator:
		return rbac.RoleOperator
	case callerViewer:
		return rbac.RoleViewer
	}
	return rbac.RoleOwner // the admin holds every role; others are refused first
}

// newFinalRun is newRun, once the run has ended.
func (fx *authzFixture) newFinalRun(t *testing.T) string {
	t.Helper()
	id := fx.newRun(t)
	require.Eventually(t, func() bool {
		r, err := fx.b.runs.GetRun(context.Background(), id)
		return err == nil && r.Status.Final()
	}, 30*time.Second, 10*time.Millisecond)
	return id
}

// newTask returns the ID of the task of a fresh run in P.
func (fx *authzFixture) newTask(t *testing.T) string {
	t.Helper()
	p, err := fx.b.runs.ListTasks(context.Background(), run.TaskFilter{RunID: fx.newRun(t)}, core.PageArgs{First: 1})
	require.NoError(t, err)
	require.Len(t, p.Items, 1)
	return p.Items[0].ID
}

func (fx *authzFixture) uniq(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, fx.seq.Add(1))
}

// newUser creates a user with no role, and no token.
func (fx *authzFixture) newUser(t *testing.T) *authzCaller {
	t.Helper()
	name := fx.uniq("user")
	u, err := fx.b.ids.CreateUser(context.Background(), identity.CreateUserInput{Username: name, Password: name + "-password"})
	require.NoError(t, err)
	return &authzCaller{userID: u.ID, username: u.Username, password: name + "-password"}
}

// newProject creates an empty project where owner, operator and viewer
// hold the roles they hold in P.
func (fx *authzFixture) newProject(t *testing.T) string {
	t.Helper()
	id := fx.b.createProject(t, fx.uniq("prj"))
	fx.grantRoles(t, id)
	return id
}

// createTestToken creates an API token for userID (in gives the limits) and
// returns it, its secret and a bundle that sends it.
func createTestToken(t *testing.T, b *testBundle, userID string, in identity.CreateTokenInput) (identity.Token, string, *testBundle) {
	t.Helper()
	in.UserID = userID
	if in.Name == "" {
		in.Name = "t-" + strings.ToLower(userID[len(userID)-8:]) + fmt.Sprint(authzTokenSeq.Add(1))
	}
	tok, secret, err := b.ids.CreateToken(context.Background(), in)
	require.NoError(t, err)
	return tok, secret, b.withToken(secret)
}

var authzTokenSeq atomic.Int64

// authzFieldName returns "project" for "Query.project".
func authzFieldName(row string) string { return row[strings.IndexByte(row, '.')+1:] }

// authzDirectives are the directives that say who may call a field.
var authzDirectives = []string{"public", "authenticated", "hasPermission", "readable"}

// authzLevelOf is the level a root field's directive implies.
func authzLevelOf(f *ast.FieldDefinition) (authzLevel, error) {
	var found []*ast.Directive
	for _, name := range authzDirectives {
		if d := f.Directives.ForName(name); d != nil {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("carries %d of the directives @%s; it must carry exactly one", len(found), strings.Join(authzDirectives, ", @"))
	}
	switch d := found[0]; d.Name {
	case "public":
		return levelPublic, nil
	case "authenticated":
		return levelAuthenticated, nil
	case "readable":
		return levelProjectRead, nil
	default:
		perm := d.Arguments.ForName("permission").Value.Raw
		switch perm {
		case "PROJECT_CREATE", "USER_MANAGE", "ROLE_MANAGE", "SYSTEM_AUDIT_READ":
			return levelSystem, nil
		}
		if d.Arguments.ForName("project") == nil && d.Arguments.ForName("object") == nil {
			return 0, fmt.Errorf("@hasPermission(%s) names neither project nor object, so it is checked system-wide, but %s is no system permission", perm, perm)
		}
		switch perm {
		case "PROJECT_READ", "HOST_READ", "HOSTGROUP_READ", "CREDENTIAL_READ", "MEMBER_READ", "JOB_READ",
			"GUARD_READ", "SCHEDULE_READ", "APPROVAL_READ",
			"NOTIFICATION_READ":
			return levelProjectRead, nil // every built-in role holds these
		case "JOB_RUN", "APPROVAL_DECIDE":
			return levelProjectRun, nil // owners and operators
		}
		return levelProjectWrite, nil // only owners hold the others
	}
}

func authzRootTypes(s *ast.Schema) []*ast.Definition {
	var out []*ast.Definition
	for _, d := range []*ast.Definition{s.Query, s.Mutation, s.Subscription} {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// TestAuthzMatrixCoversSchema fails for a root field without exactly one
// authorization directive, or without a row in the matrix, and for a field
// of an object type with @hasPermission that TestAuthzNestedFields does not
// cover.
func TestAuthzMatrixCoversSchema(t *testing.T) {
	t.Parallel()
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	rows := map[string]authzRow{}
	for _, r := range authzRows() {
		require.NotContains(t, rows, r.field, "two rows for %s", r.field)
		rows[r.field] = r
	}

	seen := map[string]bool{}
	var problems []string
	for _, def := range authzRootTypes(schema) {
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue // introspection
			}
			name := def.Name + "." + f.Name
			seen[name] = true
			level, err := authzLevelOf(f)
			row, ok := rows[name]
			switch {
			case err != nil:
				msg := fmt.Sprintf("%s %v: declare who may call it in the schema (see schema/access.graphqls)", name, err)
				if !ok {
					msg += ", then add a row for it to authzRows in graph/authz_test.go"
				}
				problems = append(problems, msg)
			case !ok:
				problems = append(problems, fmt.Sprintf("%s (%s) has no row in the permission matrix: add one to authzRows in graph/authz_test.go", name, level))
			case row.level != level:
				problems = append(problems, fmt.Sprintf("%s: its directive makes it %s but its row says %s: fix the schema or the row", name, level, row.level))
			}
		}
	}
	for name := range rows {
		if !seen[name] {
			problems = append(problems, fmt.Sprintf("the matrix has a row for %s, which the schema does not have", name))
		}
	}

	nested := map[string]bool{}
	for _, c := range nestedCases() {
		nested[c.field] = true
	}
	for field := range checkedElsewhere {
		nested[field] = true
	}
	roots := map[string]bool{}
	for _, d := range authzRootTypes(schema) {
		roots[d.Name] = true
	}
	names := make([]string, 0, len(schema.Types))
	for name := range schema.Types {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, typeName := range names {
		def := schema.Types[typeName]
		if roots[typeName] || strings.HasPrefix(typeName, "__") || (def.Kind != ast.Object && def.Kind != ast.Interface) {
			continue
		}
		for _, f := range def.Fields {
			name := typeName + "." + f.Name
			for _, d := range authzDirectives {
				if f.Directives.ForName(d) == nil {
					continue
				}
				switch {
				case d != "hasPermission":
					problems = append(problems, fmt.Sprintf("%s carries @%s, which only root fields may", name, d))
				case !nested[name]:
					problems = append(problems, fmt.Sprintf("%s carries @hasPermission but has no case in nestedCases in graph/authz_test.go", name))
				}
				delete(nested, name)
			}
		}
	}
	for name := range nested {
		problems = append(problems, fmt.Sprintf("nestedCases or checkedElsewhere covers %s, which carries no @hasPermission in the schema", name))
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Fatalf("the permission matrix does not match the schema:\n%s", strings.Join(problems, "\n"))
	}

	// A root field with no directive, or two, is caught.
	_, err := authzLevelOf(&ast.FieldDefinition{Name: "undeclared"})
	require.ErrorContains(t, err, "carries 0 of the directives")
	_, err = authzLevelOf(&ast.FieldDefinition{Name: "twice", Directives: ast.DirectiveList{{Name: "public"}, {Name: "authenticated"}}})
	require.ErrorContains(t, err, "carries 2 of the directives")
}

// TestAuthzMatrix calls every root field as every kind of caller, on every
// dialect, and checks the outcome the matrix documents.
func TestAuthzMatrix(t *testing.T) {
	t.Parallel()
	rows := authzRows()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		fx := newAuthzFixture(t, s)
		for _, row := range rows {
			t.Run(row.field, func(t *testing.T) {
				field := authzFieldName(row.field)
				// Callers run one after another: each prepares its own objects.
				for _, c := range fx.callers {
					t.Run(c.kind.String(), func(t *testing.T) {
						call := fx.b.withToken(c.token).do
						if strings.HasPrefix(row.field, "Subscription.") {
							call = fx.b.withToken(c.token).subscribeFirst
						}
						data, errs := call(t, row.query, row.vars(t, fx, c))
						want := expectedCode(row.level, c.kind)
						if want == "" {
							for _, e := range errs {
								code, _ := e.Extensions["code"].(string)
								require.NotContains(t, []string{graph.CodeUnauthenticated, graph.CodeForbidden, graph.CodeNotFound}, code,
									"%s is %s: %s may call it: %v", row.field, row.level, c.kind, e)
								require.Contains(t, row.accept, code, "%s as %s failed for its own reasons: %v", row.field, c.kind, e)
							}
							if len(errs) == 0 {
								require.NotNil(t, data[field], "%s as %s returned nothing", row.field, c.kind)
							}
							return
						}
						require.Len(t, errs, 1, "%s as %s: %v", row.field, c.kind, errs)
						require.Equal(t, want, errs[0].Extensions["code"], "%s is %s: %s must get %s: %v", row.field, row.level, c.kind, want, errs[0])
						require.Equal(t, []any{field}, errs[0].Path)
						require.Nil(t, data[field])
					})
				}
			})
		}
	})
}

// checkedElsewhere lists guarded fields of object types that the generic
// nested cases cannot reach (they hang off the caller's own token or roles),
// with the test that checks them.
var checkedElsewhere = map[string]string{
	"ApiToken.project":       "TestAuthzProjectsOfTokensAndRoles",
	"RoleAssignment.project": "TestAuthzProjectsOfTokensAndRoles",
}

// TestAuthzProjectsOfTokensAndRoles: a token limited to a project the caller
// can no longer see, and a role in a project that the caller's token does
// not reach, show no project (NOT_FOUND at that path) but the rest.
func TestAuthzProjectsOfTokensAndRoles(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		fx := newAuthzFixture(t, s)
		ctx := context.Background()
		u := fx.newUser(t)
		require.NoError(t, fx.b.authz.Assign(ctx, u.userID, fx.p, rbac.RoleViewer))
		require.NoError(t, fx.b.authz.Assign(ctx, u.userID, fx.q, rbac.RoleViewer))

		// A token limited to P: its own project shows; the role in Q does not.
		_, _, inP := createTestToken(t, fx.b, u.userID, identity.CreateTokenInput{ProjectID: fx.p})
		data, errs := inP.do(t, `{ viewer { user { username } token { name project { id } } roles { role project { id } } } }`, nil)
		require.Equal(t, fx.p, get(t, data, "viewer.token.project.id"))
		require.Len(t, errs, 1, "%v", errs)
		require.Equal(t, graph.CodeNotFound, errs[0].Extensions["code"])
		var projects []any
		for _, r := range get(t, data, "viewer.roles").([]any) {
			projects = append(projects, r.(map[string]any)["project"])
		}
		require.Contains(t, projects, nil, "the role in Q shows no project")
		require.Contains(t, projects, map[string]any{"id": fx.p})

		// Losing P hides it from the token that was limited to it.
		require.NoError(t, fx.b.authz.Unassign(ctx, u.userID, fx.p, rbac.RoleViewer))
		data, errs = inP.do(t, `{ viewer { user { username } token { name project { id } } } }`, nil)
		require.Equal(t, u.username, get(t, data, "viewer.user.username"))
		require.Nil(t, get(t, data, "viewer.token.project"))
		require.Len(t, errs, 1, "%v", errs)
		require.Equal(t, graph.CodeNotFound, errs[0].Extensions["code"])
	})
}

// nestedCase is a field of an object type that carries @hasPermission: it
// is checked in the project of the object it belongs to.
type nestedCase struct {
	field string // "Project.hosts"
	// query reaches the field from a root field that needs reach;
	// $p, $h and $g are the project, a host and a group.
	query string
	reach string // the permission the root field needs
	perm  string // the permission the field needs
	// path is where the field sits in the response.
	path []any
}

func nestedCases() []nestedCase {
	project := func(sel string) string {
		return `query($p: ID!) { me: viewer { user { username } } project(id: $p) { id name ` + sel + ` } }`
	}
	return []nestedCase{
		{"Project.hosts", project(`hosts { totalCount }`), "PROJECT_READ", "HOST_READ", []any{"project", "hosts"}},
		{"Project.hostGroups", project(`hostGroups { totalCount }`), "PROJECT_READ", "HOSTGROUP_READ", []any{"project", "hostGroups"}},
		{"Project.credentials", project(`credentials { totalCount }`), "PROJECT_READ", "CREDENTIAL_READ", []any{"project", "credentials"}},
		{"Project.members", project(`members { role user { username } }`), "PROJECT_READ", "MEMBER_READ", []any{"project", "members"}},
		{"Project.auditEvents", project(`auditEvents(first: 5) { totalCount }`), "PROJECT_READ", "AUDIT_READ", []any{"project", "auditEvents"}},
		{"Host.defaultCredential", `query($h: ID!) { me: viewer { user { username } } host(id: $h) { id name defaultCredential { id name } } }`,
			"HOST_READ", "CREDENTIAL_READ", []any{"host", "defaultCredential"}},
		{"HostGroup.members", `query($g: ID!) { me: viewer { user { username } } hostGroup(id: $g) { id name members { totalCount } } }`,
			"HOSTGROUP_READ", "HOST_READ", []any{"hostGroup", "members"}},
		{"Run.approvals", `query($r: ID!) { me: viewer { user { username } } run(id: $r) { id name approvals { id } } }`,
			"JOB_READ", "APPROVAL_READ", []any{"run", "approvals"}},
	}
}

// TestAuthzNestedFields checks the fields of object types that need a
// permission of their own, in the project of their object: a caller who may
// read the object but lacks the field's permission gets FORBIDDEN at the
// field's path, and keeps the rest of the response.
func TestAuthzNestedFields(t *testing.T) {
	t.Parallel()
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	readPerms := []string{"PROJECT_READ", "HOST_READ", "HOSTGROUP_READ", "CREDENTIAL_READ", "MEMBER_READ", "JOB_READ", "APPROVAL_READ"}
	allPerms := append(slices.Clone(readPerms), "PROJECT_UPDATE", "PROJECT_DELETE", "HOST_WRITE", "HOSTGROUP_WRITE",
		"CREDENTIAL_WRITE", "MEMBER_MANAGE", "AUDIT_READ", "JOB_WRITE")

	storetest.Each(t, func(t *testing.T, s *store.Store) {
		fx := newAuthzFixture(t, s)
		ctx := context.Background()
		// Two custom roles that can reach an object but not all of its fields.
		_, err := fx.b.authz.DefineRole(ctx, "host-reader", []rbac.Permission{rbac.ProjectRead, rbac.HostRead})
		require.NoError(t, err)
		_, err = fx.b.authz.DefineRole(ctx, "group-reader", []rbac.Permission{rbac.ProjectRead, rbac.HostGroupRead})
		require.NoError(t, err)
		custom := func(role string) *authzCaller {
			c := fx.newUser(t)
			require.NoError(t, fx.b.authz.Assign(ctx, c.userID, fx.p, role))
			_, c.token, _ = createTestToken(t, fx.b, c.userID, identity.CreateTokenInput{})
			return c
		}
		subjects := []struct {
			name   string
			caller *authzCaller
			perms  []string
		}{
			{"admin", fx.callers[callerAdmin], allPerms},
			{"owner", fx.callers[callerOwner], allPerms},
			{"operator", fx.callers[callerOperator], readPerms},
			{"viewer", fx.callers[callerViewer], readPerms},
			{"host-reader", custom("host-reader"), []string{"PROJECT_READ", "HOST_READ"}},
			{"group-reader", custom("group-reader"), []string{"PROJECT_READ", "HOSTGROUP_READ"}},
		}
		vars := map[string]any{"p": fx.p, "h": fx.host, "g": fx.group, "r": fx.newRun(t)}

		for _, nc := range nestedCases() {
			t.Run(nc.field, func(t *testing.T) {
				typeName, fieldName, _ := strings.Cut(nc.field, ".")
				def := schema.Types[typeName].Fields.ForName(fieldName)
				require.NotNil(t, def)
				var tested int
				for _, sub := range subjects {
					if !slices.Contains(sub.perms, nc.reach) {
						continue // cannot read the object the field belongs to
					}
					tested++
					t.Run(sub.name, func(t *testing.T) {
						root := nc.path[0].(string)
						query := nc.query
						qvars := map[string]any{}
						for k, v := range vars {
							if strings.Contains(query, "$"+k) {
								qvars[k] = v
							}
						}
						data, errs := fx.b.withToken(sub.caller.token).do(t, query, qvars)
						require.Equal(t, sub.caller.username, get(t, data, "me.user.username"), "the rest of the response is there")
						if slices.Contains(sub.perms, nc.perm) {
							require.Empty(t, errs, "%s holds %s", sub.name, nc.perm)
							require.NotNil(t, get(t, data, root+"."+fieldName))
							return
						}
						require.Len(t, errs, 1, "%s lacks %s: %v", sub.name, nc.perm, errs)
						require.Equal(t, graph.CodeForbidden, errs[0].Extensions["code"], "%v", errs[0])
						require.Equal(t, nc.path, errs[0].Path)
						if def.Type.NonNull {
							// GraphQL nulls the nearest nullable parent of a
							// non-null field that failed: the object itself.
							require.Nil(t, data[root])
						} else {
							require.NotNil(t, data[root], "the object is still returned")
							require.NotEmpty(t, get(t, data, root+".name"))
							require.Nil(t, get(t, data, root+"."+fieldName))
						}
					})
				}
				require.NotZero(t, tested)
			})
		}

		// The host-reader of the brief, spelled out: hosts yes, credentials
		// no, and a host's default credential no.
		hr := fx.b.withToken(subjects[4].caller.token)
		data := hr.ok(t, `query($p: ID!) { project(id: $p) { name hosts { edges { node { name } } } } }`, map[string]any{"p": fx.p})
		require.Equal(t, []string{"h"}, nodeNames(t, get(t, data, "project.hosts")))
		data, errs := hr.do(t, `query($p: ID!, $h: ID!) { p: project(id: $p) { name } project(id: $p) { credentials { totalCount } }
			host(id: $h) { name defaultCredential { id } } }`, map[string]any{"p": fx.p, "h": fx.host})
		require.Len(t, errs, 2, "%v", errs)
		paths := [][]any{errs[0].Path, errs[1].Path}
		require.ElementsMatch(t, [][]any{{"project", "credentials"}, {"host", "defaultCredential"}}, paths)
		for _, e := range errs {
			require.Equal(t, graph.CodeForbidden, e.Extensions["code"])
		}
		require.Equal(t, "p", str(t, data, "p.name"))
		require.Equal(t, "h", str(t, data, "host.name"))
		require.Nil(t, get(t, data, "host.defaultCredential"))
	})
}

// TestAuthzTokenNarrowing checks that a token limited to a project or a
// role acts with no more than that, whatever its user may do.
func TestAuthzTokenNarrowing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		fx := newAuthzFixture(t, s)
		ctx := context.Background()
		both := fx.newUser(t)
		for _, p := range []string{fx.p, fx.q} {
			require.NoError(t, fx.b.authz.Assign(ctx, both.userID, p, rbac.RoleOwner))
		}
		_, _, full := createTestToken(t, fx.b, both.userID, identity.CreateTokenInput{})
		_, _, onlyP := createTestToken(t, fx.b, both.userID, identity.CreateTokenInput{ProjectID: fx.p})
		_, _, asViewer := createTestToken(t, fx.b, both.userID, identity.CreateTokenInput{Role: rbac.RoleViewer})

		projectQ := `query($id: ID!) { project(id: $id) { name } }`
		hostIn := func(p string) map[string]any {
			return map[string]any{"in": map[string]any{"projectId": p, "name": fx.uniq("h"), "address": "10.1.1.1"}}
		}
		createHost := `mutation($in: CreateHostInput!) { createHost(input: $in) { host { id } } }`

		// The user's own token may do everything in both.
		require.Equal(t, "q", str(t, full.ok(t, projectQ, map[string]any{"id": fx.q}), "project.name"))
		full.ok(t, createHost, hostIn(fx.q))

		// Limited to P: Q does not exist.
		require.Equal(t, "p", str(t, onlyP.ok(t, projectQ, map[string]any{"id": fx.p}), "project.name"))
		onlyP.ok(t, createHost, hostIn(fx.p))
		for _, q := range []struct {
			query string
			vars  map[string]any
		}{
			{projectQ, map[string]any{"id": fx.q}},
			{`query($id: ID!) { hosts(projectId: $id) { totalCount } }`, map[string]any{"id": fx.q}},
			{createHost, hostIn(fx.q)},
			{`mutation($id: ID!) { updateProject(input: {id: $id, description: "x"}) { project { id } } }`, map[string]any{"id": fx.q}},
		} {
			e := onlyP.fails(t, q.query, q.vars)
			require.Equal(t, graph.CodeNotFound, e.Extensions["code"], "%s: %v", q.query, e)
		}
		data := onlyP.ok(t, `{ projects { edges { node { name } } } }`, nil)
		require.Equal(t, []string{"p"}, nodeNames(t, get(t, data, "projects")))

		// Limited to the viewer role: reads, but no writes.
		asViewer.ok(t, `query($id: ID!) { project(id: $id) { name hosts { totalCount } } }`, map[string]any{"id": fx.p})
		for _, p := range []string{fx.p, fx.q} {
			e := asViewer.fails(t, createHost, hostIn(p))
			require.Equal(t, graph.CodeForbidden, e.Extensions["code"], "%v", e)
		}
	})
}

// newChannel creates a webhook notification channel in P, as the admin,
// and returns its ID. Its receiver refuses connections at once.
func (fx *authzFixture) newChannel(t *testing.T) string {
	t.Helper()
	data := fx.b.ok(t, `mutation($in: CreateNotificationChannelInput!) { createNotificationChannel(input: $in) { channel { id } } }`,
		map[string]any{"in": map[string]any{"projectId": fx.p, "name": fx.uniq("chn"), "events": []any{"RUN_FAILED"},
			"webhook": map[string]any{"url": "http://127.0.0.1:1/x"}}})
	return str(t, data, "createNotificationChannel.channel.id")
}
