package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/graph"
	"github.com/jobgraph/jobgraph/rbac"
)

// These tests drive authentication over real HTTP (and WebSocket): the
// session cookie, bearer tokens, the throttle, and the audit trail of all
// of it.

// rawCall is one POST to /graphql carrying exactly the credentials given.
type rawCall struct {
	query  string
	vars   map[string]any
	auth   string       // the Authorization header, if any
	cookie *http.Cookie // the session cookie, if any
	origin string       // the Origin header, if any
	agent  string       // the User-Agent; "authtest" if empty
}

type rawResult struct {
	data    map[string]any
	errors  []gqlError
	body    string
	cookies []*http.Cookie
}

// sendRaw makes the call and checks what every response must be: no 5xx, and
// only documented error codes, never INTERNAL.
func (b *testBundle) sendRaw(t *testing.T, c rawCall) rawResult {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": c.query, "variables": c.vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authtest")
	if c.agent != "" {
		req.Header.Set("User-Agent", c.agent)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	if c.cookie != nil {
		req.AddCookie(&http.Cookie{Name: c.cookie.Name, Value: c.cookie.Value})
	}
	resp, err := b.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Less(t, resp.StatusCode, 500, "%s", raw)
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	for _, e := range out.Errors {
		require.Contains(t, graph.Codes(), e.Extensions["code"], "%s", raw)
		require.NotEqual(t, graph.CodeInternal, e.Extensions["code"], "%s", raw)
	}
	return rawResult{data: out.Data, errors: out.Errors, body: string(raw), cookies: resp.Cookies()}
}

// failsWith asserts that the call failed with one error of code.
func (r rawResult) failsWith(t *testing.T, code string) gqlError {
	t.Helper()
	require.Len(t, r.errors, 1, "%s", r.body)
	require.Equal(t, code, r.errors[0].Extensions["code"], "%s", r.body)
	return r.errors[0]
}

func (r rawResult) ok(t *testing.T) map[string]any {
	t.Helper()
	require.Empty(t, r.errors, "%s", r.body)
	return r.data
}

// sessionCookie returns the session cookie the response set, if any.
func (r rawResult) sessionCookie() *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == graph.SessionCookie {
			return c
		}
	}
	return nil
}

const (
	authLoginQuery    = `mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { user { id username } expiresAt } }`
	authViewerQuery   = `{ viewer { user { username } token { id } } }`
	authAuditQuery    = `{ auditEvents(first: 500) { totalCount edges { node { id action actorId actorName tokenId objectKind objectId projectId outcome reason clientAddr userAgent } } } }`
	authMsgBadLogin   = "invalid username or password"
	authMsgThrottled  = "too many failed login attempts"
	authClientAddr    = "127.0.0.1"
	authChangePwQuery = `mutation($cur: String!, $new: String!) { changePassword(input: {currentPassword: $cur, newPassword: $new}) { ok } }`
)

func authLoginVars(user, password string) map[string]any {
	return map[string]any{"u": user, "p": password}
}

// authAccount is a user with a password and an API token.
type authAccount struct {
	id, username, password, token string
}

func newAuthAccount(t *testing.T, b *testBundle, name string) authAccount {
	t.Helper()
	a := authAccount{username: name, password: name + "-password"}
	u, err := b.ids.CreateUser(context.Background(), identity.CreateUserInput{Username: name, Password: a.password})
	require.NoError(t, err)
	a.id = u.ID
	_, a.token, _ = createTestToken(t, b, u.ID, identity.CreateTokenInput{})
	return a
}

// auditRecord is one event of authAuditQuery.
type auditRecord map[string]any

// readAuditTrail reads the whole trail as the bundle's admin.
func readAuditTrail(t *testing.T, b *testBundle) []auditRecord {
	t.Helper()
	data := b.ok(t, authAuditQuery, nil)
	var out []auditRecord
	for _, e := range get(t, data, "auditEvents.edges").([]any) {
		out = append(out, get(t, e, "node").(map[string]any))
	}
	require.Len(t, out, num(t, data, "auditEvents.totalCount"), "the trail fits one page")
	return out
}

// findEvents returns the events whose fields have the given values.
func findEvents(events []auditRecord, kv ...string) []auditRecord {
	var out []auditRecord
next:
	for _, e := range events {
		for i := 0; i < len(kv); i += 2 {
			if v, _ := e[kv[i]].(string); v != kv[i+1] {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// requireAuditEvent asserts that exactly one event has the given values, and that
// it says where the request came from; it returns the event.
func requireAuditEvent(t *testing.T, events []auditRecord, kv ...string) auditRecord {
	t.Helper()
	found := findEvents(events, kv...)
	require.Len(t, found, 1, "events with %v", kv)
	e := found[0]
	require.Equal(t, authClientAddr, e["clientAddr"], "%v", e)
	require.NotEmpty(t, e["userAgent"], "%v", e)
	return e
}

// requireAuditReason asserts that an event's reason is of the kind given:
// "unauthenticated" or "unauthenticated: <detail>".
func requireAuditReason(t *testing.T, e auditRecord, kind string) {
	t.Helper()
	reason, _ := e["reason"].(string)
	require.True(t, reason == kind || strings.HasPrefix(reason, kind+": "), "reason %q is not %q: %v", reason, kind, e)
}

// authClock is real time plus an offset that a test moves.
type authClock struct{ offset atomic.Int64 }

func (c *authClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *authClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// setupWithClock is setup with an identity service that reads clk, shared
// by the server and the bundle.
func setupWithClock(t *testing.T, s *store.Store, clk *authClock) *testBundle {
	t.Helper()
	var ids *identity.Service
	b := setup(t, s, func(o *graph.Options) {
		ids = identity.NewService(s, identity.Options{Hash: cheapHash, Now: clk.Now, RoleValidator: o.Authz.ValidateRole})
		o.Identity = ids
	})
	b.ids = ids
	return b
}

func TestAuthLoginAndSessionCookie(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		alice := newAuthAccount(t, b, "alice")
		login := func(user, password string, cookie *http.Cookie) rawResult {
			return b.sendRaw(t, rawCall{query: authLoginQuery, vars: authLoginVars(user, password), cookie: cookie, agent: "authtest/login-" + user})
		}

		res := login("alice", alice.password, nil)
		require.Equal(t, "alice", str(t, res.ok(t), "login.user.username"))
		ck := res.sessionCookie()
		require.NotNil(t, ck, "login sets the session cookie")
		require.True(t, ck.HttpOnly)
		require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
		require.Equal(t, "/", ck.Path)
		require.True(t, strings.HasPrefix(ck.Value, identity.SessionSecretPrefix))
		require.False(t, ck.Secure, "plain HTTP without SecureCookies")
		expires, err := time.Parse(time.RFC3339Nano, str(t, res.data, "login.expiresAt"))
		require.NoError(t, err)
		require.WithinDuration(t, expires, ck.Expires, time.Second)

		// The cookie alone authenticates, from no origin or the server's own.
		for _, origin := range []string{"", b.srv.URL} {
			data := b.sendRaw(t, rawCall{query: authViewerQuery, cookie: ck, origin: origin}).ok(t)
			require.Equal(t, "alice", str(t, data, "viewer.user.username"))
			require.Nil(t, get(t, data, "viewer.token"), "a session, not a token")
		}
		// From another site's page it is ignored.
		b.sendRaw(t, rawCall{query: authViewerQuery, cookie: ck, origin: "http://evil.example", agent: "authtest/evil-origin"}).
			failsWith(t, graph.CodeUnauthenticated)

		// A wrong password and an unknown user look the same.
		wrong := login("alice", "not-her-password", nil).failsWith(t, graph.CodeUnauthenticated)
		unknown := login("nobody", "whatever-password", nil).failsWith(t, graph.CodeUnauthenticated)
		require.Equal(t, authMsgBadLogin, wrong.Message)
		require.Equal(t, wrong.Message, unknown.Message)
		require.Equal(t, wrong.Extensions, unknown.Extensions)

		// Five failures for a user, then the throttle; even the right
		// password waits.
		bob := newAuthAccount(t, b, "bob")
		for i := range identity.MaxUserFailures {
			e := login("bob", "guess-number-"+string(rune('a'+i)), nil).failsWith(t, graph.CodeUnauthenticated)
			require.Equal(t, authMsgBadLogin, e.Message, "attempt %d", i+1)
		}
		for _, pw := range []string{"guess-number-six", bob.password} {
			e := login("bob", pw, nil).failsWith(t, graph.CodeUnauthenticated)
			require.Contains(t, e.Message, authMsgThrottled)
		}
		// Alice is not bob.
		res = login("alice", alice.password, nil)
		res.ok(t)
		second := res.sessionCookie()
		require.NotNil(t, second)

		// Logout clears the cookie and ends the session.
		res = b.sendRaw(t, rawCall{query: `mutation { logout { ok } }`, cookie: ck, agent: "authtest/logout"})
		require.Equal(t, true, get(t, res.ok(t), "logout.ok"))
		cleared := res.sessionCookie()
		require.NotNil(t, cleared, "logout clears the cookie")
		require.Empty(t, cleared.Value)
		require.Negative(t, cleared.MaxAge)
		require.True(t, cleared.HttpOnly)
		b.sendRaw(t, rawCall{query: authViewerQuery, cookie: ck, agent: "authtest/after-logout"}).failsWith(t, graph.CodeUnauthenticated)
		// Only that session ended.
		b.sendRaw(t, rawCall{query: authViewerQuery, cookie: second}).ok(t)
		// A stale cookie does not stand in the way of signing in again.
		res = login("alice", alice.password, ck)
		res.ok(t)
		fresh := res.sessionCookie()
		require.NotNil(t, fresh)
		require.NotEqual(t, ck.Value, fresh.Value)
		require.Equal(t, "alice", str(t, b.sendRaw(t, rawCall{query: authViewerQuery, cookie: fresh}).ok(t), "viewer.user.username"))

		// The trail: every refusal, with who it claimed to be and from where.
		events := readAuditTrail(t, b)
		e := requireAuditEvent(t, events, "action", "login", "outcome", "DENIED", "actorName", "nobody")
		require.Empty(t, e["actorId"])
		require.Equal(t, "authtest/login-nobody", e["userAgent"])
		requireAuditReason(t, e, "unauthenticated")
		require.Len(t, findEvents(events, "action", "login", "outcome", "DENIED", "actorName", "bob"), identity.MaxUserFailures+2)
		require.Len(t, findEvents(events, "action", "login", "outcome", "DENIED", "actorName", "alice"), 1)
		allowed := findEvents(events, "action", "login", "outcome", "ALLOWED", "actorId", "user:"+alice.id)
		require.Len(t, allowed, 3)
		for _, e := range allowed {
			require.Equal(t, "alice", e["actorName"])
			require.Equal(t, authClientAddr, e["clientAddr"])
			require.Equal(t, "authtest/login-alice", e["userAgent"])
		}
		requireAuditEvent(t, events, "action", "logout", "outcome", "ALLOWED", "actorId", "user:"+alice.id)
		for _, agent := range []string{"authtest/evil-origin", "authtest/after-logout"} {
			e := requireAuditEvent(t, events, "action", "viewer", "outcome", "DENIED", "userAgent", agent)
			require.Empty(t, e["actorId"])
			requireAuditReason(t, e, "unauthenticated")
		}
	})
}

func TestAuthRejectsBadCredentials(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		clk := &authClock{}
		b := setupWithClock(t, s, clk)
		carol := newAuthAccount(t, b, "carol")

		// Malformed credentials fail the request, even a login with the
		// right password: a client with a broken token learns so at once.
		junk := strings.Repeat("x", 10<<10)
		for name, header := range map[string]string{
			"basic":          "Basic abc",
			"empty-bearer":   "Bearer ",
			"short-token":    "Bearer jgp_short",
			"junk":           junk,
			"bearer-junk":    "Bearer " + junk,
			"unknown-token":  "Bearer jgp_" + strings.Repeat("A", 43),
			"unknown-cookie": "Bearer jgs_" + strings.Repeat("B", 43),
		} {
			for _, q := range []rawCall{
				{query: authViewerQuery},
				{query: authLoginQuery, vars: authLoginVars("carol", carol.password)},
			} {
				q.auth, q.agent = header, "authtest/bad-"+name
				e := b.sendRaw(t, q).failsWith(t, graph.CodeUnauthenticated)
				require.NotContains(t, e.Message, "xxxx", "the header is not echoed")
			}
		}

		// A token that worked stops working once revoked, expired, or its
		// user disabled.
		works := func(secret string) {
			t.Helper()
			b.sendRaw(t, rawCall{query: authViewerQuery, auth: "Bearer " + secret}).ok(t)
		}
		refused := func(secret, agent string) {
			t.Helper()
			b.sendRaw(t, rawCall{query: authViewerQuery, auth: "Bearer " + secret, agent: agent}).failsWith(t, graph.CodeUnauthenticated)
		}
		revoked, revokedSecret, _ := createTestToken(t, b, carol.id, identity.CreateTokenInput{})
		works(revokedSecret)
		require.NoError(t, b.ids.RevokeToken(context.Background(), revoked.ID))
		refused(revokedSecret, "authtest/revoked")

		inAnHour := clk.Now().Add(time.Hour)
		_, expiringSecret, _ := createTestToken(t, b, carol.id, identity.CreateTokenInput{ExpiresAt: &inAnHour})
		works(expiringSecret)
		clk.Advance(59 * time.Minute)
		works(expiringSecret)
		clk.Advance(2 * time.Minute)
		refused(expiringSecret, "authtest/expired")
		works(carol.token)

		dave := newAuthAccount(t, b, "dave")
		daveSession := b.sendRaw(t, rawCall{query: authLoginQuery, vars: authLoginVars("dave", dave.password)}).sessionCookie()
		require.NotNil(t, daveSession)
		works(dave.token)
		data := b.ok(t, `mutation($id: ID!) { updateUser(input: {id: $id, disabled: true}) { user { id disabled } } }`,
			map[string]any{"id": dave.id})
		require.Equal(t, true, get(t, data, "updateUser.user.disabled"))
		refused(dave.token, "authtest/disabled")
		b.sendRaw(t, rawCall{query: authViewerQuery, cookie: daveSession, agent: "authtest/disabled-session"}).failsWith(t, graph.CodeUnauthenticated)
		e := b.sendRaw(t, rawCall{query: authLoginQuery, vars: authLoginVars("dave", dave.password), agent: "authtest/login-disabled"}).
			failsWith(t, graph.CodeUnauthenticated)
		require.Equal(t, authMsgBadLogin, e.Message, "a disabled user is told nothing more")

		// A mutation that fails on its input is FAILED, and writes nothing.
		prj := b.createProject(t, "ops")
		e = b.fails(t, `mutation($p: ID!) { createHost(input: {projectId: $p, name: "h", address: "h", port: 0}) { host { id } } }`,
			map[string]any{"p": prj})
		require.Equal(t, "BAD_USER_INPUT", e.Extensions["code"])
		require.Equal(t, 0, num(t, b.ok(t, `query($p: ID!) { hosts(projectId: $p) { totalCount } }`, map[string]any{"p": prj}), "hosts.totalCount"))

		// A mutation is one transaction with its audit record: updateUser
		// disables erin, then fails on the password, and the whole of it
		// rolls back, its ALLOWED record included.
		erin := newAuthAccount(t, b, "erin")
		e = b.fails(t, `mutation($id: ID!) { updateUser(input: {id: $id, disabled: true, password: "short"}) { user { id } } }`,
			map[string]any{"id": erin.id})
		require.Equal(t, "BAD_USER_INPUT", e.Extensions["code"])
		require.Equal(t, "password", e.Extensions["field"])
		u, err := b.ids.GetUser(context.Background(), erin.id)
		require.NoError(t, err)
		require.False(t, u.Disabled, "the half-done change rolled back")
		works(erin.token)

		events := readAuditTrail(t, b)
		for _, name := range []string{"basic", "empty-bearer", "short-token", "junk", "bearer-junk", "unknown-token", "unknown-cookie"} {
			for _, action := range []string{"viewer", "login"} {
				e := requireAuditEvent(t, events, "action", action, "outcome", "DENIED", "userAgent", "authtest/bad-"+name)
				requireAuditReason(t, e, "unauthenticated")
				require.Empty(t, e["actorId"])
			}
		}
		for _, agent := range []string{"authtest/revoked", "authtest/expired", "authtest/disabled", "authtest/disabled-session"} {
			e := requireAuditEvent(t, events, "action", "viewer", "outcome", "DENIED", "userAgent", agent)
			requireAuditReason(t, e, "unauthenticated")
		}
		e2 := requireAuditEvent(t, events, "action", "login", "outcome", "DENIED", "userAgent", "authtest/login-disabled")
		require.Equal(t, "dave", e2["actorName"])

		ev := requireAuditEvent(t, events, "action", "updateUser", "objectId", dave.id)
		require.Equal(t, "ALLOWED", ev["outcome"])
		require.Equal(t, "user", ev["objectKind"])
		require.NotEmpty(t, ev["actorId"])
		require.Nil(t, ev["reason"])

		ev = requireAuditEvent(t, events, "action", "createHost", "projectId", prj)
		require.Equal(t, "FAILED", ev["outcome"])
		require.Equal(t, "invalid input: port", ev["reason"])

		ev = requireAuditEvent(t, events, "action", "updateUser", "objectId", erin.id)
		require.Equal(t, "FAILED", ev["outcome"], "no ALLOWED record of the change that rolled back")
		require.Equal(t, "invalid input: password", ev["reason"])

		ev = requireAuditEvent(t, events, "action", "createProject", "objectId", prj)
		require.Equal(t, "ALLOWED", ev["outcome"])
		require.Equal(t, prj, ev["projectId"])
	})
}

func TestAuthTenantIsolation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		p := b.createProject(t, "p")
		q := b.createProject(t, "q")
		hp := str(t, b.createHost(t, map[string]any{"projectId": p, "name": "hp", "address": "hp"}), "id")
		hq := str(t, b.createHost(t, map[string]any{"projectId": q, "name": "hq", "address": "hq"}), "id")
		b.ok(t, `mutation($id: ID!) { updateProject(input: {id: $id, description: "q's"}) { project { id } } }`, map[string]any{"id": q})
		b.fails(t, `mutation($p: ID!) { createHost(input: {projectId: $p, name: "hp", address: "hp"}) { host { id } } }`, map[string]any{"p": p})
		gone := str(t, b.createHost(t, map[string]any{"projectId": p, "name": "gone", "address": "gone"}), "id")
		b.ok(t, `mutation($id: ID!) { deleteHost(input: {id: $id}) { deletedId } }`, map[string]any{"id": gone})

		owner, viewer := newAuthAccount(t, b, "owner"), newAuthAccount(t, b, "viewer")
		require.NoError(t, b.authz.Assign(ctx, owner.id, p, rbac.RoleOwner))
		require.NoError(t, b.authz.Assign(ctx, viewer.id, p, rbac.RoleViewer))
		asOwner, asViewer := b.withToken(owner.token), b.withToken(viewer.token)

		for _, c := range []*testBundle{asOwner, asViewer} {
			data := c.ok(t, `{ projects { totalCount edges { node { id name } } } }`, nil)
			require.Equal(t, []string{"p"}, nodeNames(t, get(t, data, "projects")))
			require.Equal(t, 1, num(t, data, "projects.totalCount"))
			e := c.fails(t, `query($id: ID!) { project(id: $id) { name } }`, map[string]any{"id": q})
			require.Equal(t, graph.CodeNotFound, e.Extensions["code"])
			for _, query := range []string{`{ auditEvents { totalCount } }`, `query($p: ID) { auditEvents(projectId: $p) { totalCount } }`} {
				e = c.fails(t, query, map[string]any{"p": p})
				require.Equal(t, graph.CodeForbidden, e.Extensions["code"], "the whole trail is for admins")
			}
		}

		projectAudit := `query($p: ID!) { project(id: $p) { auditEvents(first: 500) { totalCount
			edges { node { action objectId projectId outcome } } } } }`
		e := asViewer.fails(t, projectAudit, map[string]any{"p": p})
		require.Equal(t, graph.CodeForbidden, e.Extensions["code"], "AUDIT_READ is the owner's")
		require.Equal(t, []any{"project", "auditEvents"}, e.Path)
		// The viewer's refused attempts on P's objects are P's business.
		e = asViewer.fails(t, `mutation($id: ID!) { deleteHost(input: {id: $id}) { deletedId } }`, map[string]any{"id": hp})
		require.Equal(t, graph.CodeForbidden, e.Extensions["code"])
		e = asViewer.fails(t, `mutation($id: ID!) { updateProject(input: {id: $id, name: "mine"}) { project { id } } }`, map[string]any{"id": p})
		require.Equal(t, graph.CodeForbidden, e.Extensions["code"])

		data := asOwner.ok(t, projectAudit, map[string]any{"p": p})
		edges := get(t, data, "project.auditEvents.edges").([]any)
		require.Len(t, edges, num(t, data, "project.auditEvents.totalCount"))
		var got []string
		for _, edge := range edges {
			require.Equal(t, p, get(t, edge, "node.projectId"), "only P's events: %v", edge)
			require.NotEqual(t, hq, get(t, edge, "node.objectId"))
			require.NotEqual(t, q, get(t, edge, "node.objectId"))
			got = append(got, str(t, edge, "node.action")+" "+str(t, edge, "node.outcome"))
		}
		require.ElementsMatch(t, []string{
			"createProject ALLOWED", "createHost ALLOWED", "createHost FAILED", // the duplicate
			"createHost ALLOWED", "deleteHost ALLOWED", // a delete names its project too
			"auditEvents DENIED", "auditEvents DENIED", // auditEvents(projectId: P), by the owner and the viewer
			"deleteHost DENIED", "updateProject DENIED", // the viewer's
		}, got)

		// An admin's whole trail has Q's events too.
		var all []string
		for _, ev := range readAuditTrail(t, b) {
			if id, ok := ev["objectId"].(string); ok {
				all = append(all, id)
			}
		}
		require.Contains(t, all, hq)
	})
}

func TestAuthAPITokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := context.Background()
		p := b.createProject(t, "p")
		q := b.createProject(t, "q")
		frank := newAuthAccount(t, b, "frank")
		for _, id := range []string{p, q} {
			require.NoError(t, b.authz.Assign(ctx, frank.id, id, rbac.RoleOwner))
		}
		create := `mutation($in: CreateApiTokenInput!) { createApiToken(input: $in) {
			token { id name role expiresAt revokedAt project { id } } secret } }`
		asFrank := b.withToken(frank.token)

		data := asFrank.ok(t, create, map[string]any{"in": map[string]any{"name": "ci"}})
		secret := str(t, data, "createApiToken.secret")
		require.True(t, strings.HasPrefix(secret, identity.TokenSecretPrefix))
		ciID := str(t, data, "createApiToken.token.id")
		require.Nil(t, get(t, data, "createApiToken.token.project"))
		require.Nil(t, get(t, data, "createApiToken.token.role"))

		// The secret works, and is never shown again.
		data = b.withToken(secret).ok(t, authViewerQuery, nil)
		require.Equal(t, "frank", str(t, data, "viewer.user.username"))
		require.Equal(t, ciID, str(t, data, "viewer.token.id"))
		res := b.sendRaw(t, rawCall{query: `{ apiTokens { totalCount edges { node { id name project { id } role createdAt lastUsedAt revokedAt } } } }`,
			auth: "Bearer " + frank.token})
		data = res.ok(t)
		names := nodeNames(t, get(t, data, "apiTokens"))
		require.Len(t, names, 2, "the one frank came with, and ci")
		require.Contains(t, names, "ci")
		require.Equal(t, 2, num(t, data, "apiTokens.totalCount"))
		require.NotContains(t, res.body, secret)
		require.NotContains(t, res.body, secret[len(identity.TokenSecretPrefix):])
		data = b.ok(t, `{ __type(name: "ApiToken") { fields { name } } }`, nil)
		var fields []string
		for _, f := range get(t, data, "__type.fields").([]any) {
			fields = append(fields, str(t, f, "name"))
		}
		require.ElementsMatch(t, []string{"id", "name", "project", "role", "expiresAt", "createdAt", "lastUsedAt", "revokedAt"}, fields,
			"a field on ApiToken is a security decision")

		// A token limited to P makes tokens limited to P, and no others.
		data = asFrank.ok(t, create, map[string]any{"in": map[string]any{"name": "p-only", "projectId": p}})
		require.Equal(t, p, str(t, data, "createApiToken.token.project.id"))
		asP := b.withToken(str(t, data, "createApiToken.secret"))
		e := asP.fails(t, create, map[string]any{"in": map[string]any{"name": "to-q", "projectId": q}})
		require.Equal(t, graph.CodeBadUserInput, e.Extensions["code"])
		require.Equal(t, "projectId", e.Extensions["field"])
		data = asP.ok(t, create, map[string]any{"in": map[string]any{"name": "child"}})
		require.Equal(t, p, str(t, data, "createApiToken.token.project.id"), "the limit is inherited")
		child := b.withToken(str(t, data, "createApiToken.secret"))
		require.Equal(t, graph.CodeNotFound, child.fails(t, `query($id: ID!) { project(id: $id) { id } }`, map[string]any{"id": q}).Extensions["code"])
		child.ok(t, `query($id: ID!) { project(id: $id) { id } }`, map[string]any{"id": p})

		// So is a role limit.
		data = asFrank.ok(t, create, map[string]any{"in": map[string]any{"name": "read-only", "role": rbac.RoleViewer}})
		data = b.withToken(str(t, data, "createApiToken.secret")).ok(t, create, map[string]any{"in": map[string]any{"name": "read-only-child"}})
		require.Equal(t, rbac.RoleViewer, str(t, data, "createApiToken.token.role"))

		// Another user's token is not frank's to revoke: it does not exist.
		grace := newAuthAccount(t, b, "grace")
		graceTok, graceSecret, _ := createTestToken(t, b, grace.id, identity.CreateTokenInput{})
		revoke := `mutation($id: ID!) { revokeApiToken(input: {id: $id}) { token { id revokedAt } } }`
		e = asFrank.fails(t, revoke, map[string]any{"id": graceTok.ID})
		require.Equal(t, graph.CodeNotFound, e.Extensions["code"])
		b.withToken(graceSecret).ok(t, authViewerQuery, nil)

		// His own is.
		data = asFrank.ok(t, revoke, map[string]any{"id": ciID})
		require.NotNil(t, get(t, data, "revokeApiToken.token.revokedAt"))
		require.Equal(t, graph.CodeUnauthenticated, b.withToken(secret).fails(t, authViewerQuery, nil).Extensions["code"])
	})
}

func TestAuthChangePassword(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		hank := newAuthAccount(t, b, "hank")
		session := func(password string) *http.Cookie {
			t.Helper()
			res := b.sendRaw(t, rawCall{query: authLoginQuery, vars: authLoginVars("hank", password)})
			res.ok(t)
			require.NotNil(t, res.sessionCookie())
			return res.sessionCookie()
		}
		first, second := session(hank.password), session(hank.password)

		res := b.sendRaw(t, rawCall{query: authChangePwQuery, vars: map[string]any{"cur": "not-the-password", "new": "hank-new-password"}, cookie: first})
		e := res.failsWith(t, graph.CodeBadUserInput)
		require.Equal(t, "currentPassword", e.Extensions["field"])
		b.sendRaw(t, rawCall{query: authViewerQuery, cookie: first}).ok(t)

		res = b.sendRaw(t, rawCall{query: authChangePwQuery, vars: map[string]any{"cur": hank.password, "new": "hank-new-password"}, cookie: first})
		require.Equal(t, true, get(t, res.ok(t), "changePassword.ok"))
		if ck := res.sessionCookie(); ck != nil {
			require.Empty(t, ck.Value, "the response clears the cookie")
		}
		for _, ck := range []*http.Cookie{first, second} {
			b.sendRaw(t, rawCall{query: authViewerQuery, cookie: ck}).failsWith(t, graph.CodeUnauthenticated)
		}
		// API tokens are credentials of their own: they stay.
		b.withToken(hank.token).ok(t, authViewerQuery, nil)

		e = b.sendRaw(t, rawCall{query: authLoginQuery, vars: authLoginVars("hank", hank.password)}).failsWith(t, graph.CodeUnauthenticated)
		require.Equal(t, authMsgBadLogin, e.Message)
		b.sendRaw(t, rawCall{query: authViewerQuery, cookie: session("hank-new-password")}).ok(t)

		events := readAuditTrail(t, b)
		ev := requireAuditEvent(t, events, "action", "changePassword", "outcome", "FAILED")
		require.Equal(t, "invalid input: currentPassword", ev["reason"])
		requireAuditEvent(t, events, "action", "changePassword", "outcome", "ALLOWED", "actorId", "user:"+hank.id)
	})
}

func TestAuthWebSocket(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ivy := newAuthAccount(t, b, "ivy")
		res := b.sendRaw(t, rawCall{query: authLoginQuery, vars: authLoginVars("ivy", ivy.password)})
		res.ok(t)
		ivySession := res.sessionCookie()
		url := "ws" + strings.TrimPrefix(b.srv.URL, "http") + "/graphql"

		// connect sends connection_init with payload and returns the first
		// message, or the close status if the server closed instead.
		connect := func(t *testing.T, payload map[string]any, header http.Header) (string, websocket.StatusCode) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
				Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header, HTTPClient: b.srv.Client(),
			})
			require.NoError(t, err)
			defer c.CloseNow()
			require.Equal(t, "graphql-transport-ws", c.Subprotocol())
			require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": payload}))
			var msg struct{ Type string }
			err = wsjson.Read(ctx, c, &msg)
			if err != nil {
				require.False(t, errors.Is(err, context.DeadlineExceeded), "no answer")
				status := websocket.CloseStatus(err)
				require.NotEqual(t, websocket.StatusCode(-1), status, "not a close: %v", err)
				return "", status
			}
			return msg.Type, 0
		}
		header := func(kv ...string) http.Header {
			h := http.Header{"User-Agent": {"authtest/ws"}}
			for i := 0; i < len(kv); i += 2 {
				h.Set(kv[i], kv[i+1])
			}
			return h
		}

		t.Run("refused", func(t *testing.T) {
			for name, payload := range map[string]map[string]any{
				"no credentials": {},
				"bad token":      {"authToken": "jgp_" + strings.Repeat("C", 43)},
				"junk token":     {"authToken": "junk"},
			} {
				typ, status := connect(t, payload, header())
				require.Empty(t, typ, name)
				require.Equal(t, websocket.StatusCode(4401), status, name)
			}
			// A cookie from another origin is refused before the upgrade.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"},
				HTTPHeader: header("Origin", "http://evil.example", "Cookie", ivySession.Name+"="+ivySession.Value)})
			require.Error(t, err)
			require.NotNil(t, resp)
			require.Equal(t, http.StatusForbidden, resp.StatusCode)
		})
		t.Run("accepted", func(t *testing.T) {
			for name, c := range map[string]struct {
				payload map[string]any
				header  http.Header
			}{
				"authToken":     {map[string]any{"authToken": ivy.token}, header()},
				"Authorization": {map[string]any{"Authorization": "Bearer " + ivy.token}, header()},
				"cookie":        {map[string]any{}, header("Cookie", ivySession.Name+"="+ivySession.Value)},
			} {
				typ, status := connect(t, c.payload, c.header)
				require.Zero(t, status, name)
				require.Equal(t, "connection_ack", typ, name)
			}
		})

		denied := findEvents(readAuditTrail(t, b), "action", "websocket", "outcome", "DENIED")
		require.Len(t, denied, 3)
		for _, e := range denied {
			require.Equal(t, "authtest/ws", e["userAgent"])
			require.Equal(t, authClientAddr, e["clientAddr"])
			requireAuditReason(t, e, "unauthenticated")
		}
	})
}

// TestAuthAllowedOriginsAndSecureCookies: a console on another origin may use
// the session cookie when it is listed, and the cookie is Secure behind a
// TLS-terminating proxy when asked.
func TestAuthAllowedOriginsAndSecureCookies(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite), func(o *graph.Options) {
		o.SecureCookies = true
		o.AllowedOrigins = []string{"https://console.example"}
	})
	carol := newAuthAccount(t, b, "carol")
	res := b.sendRaw(t, rawCall{query: authLoginQuery, vars: authLoginVars("carol", carol.password)})
	res.ok(t)
	ck := res.sessionCookie()
	require.NotNil(t, ck)
	require.True(t, ck.Secure, "SecureCookies marks it Secure on plain HTTP")
	data := b.sendRaw(t, rawCall{query: authViewerQuery, cookie: ck, origin: "https://console.example"}).ok(t)
	require.Equal(t, "carol", str(t, data, "viewer.user.username"))
	b.sendRaw(t, rawCall{query: authViewerQuery, cookie: ck, origin: "https://other.example"}).failsWith(t, graph.CodeUnauthenticated)
}
