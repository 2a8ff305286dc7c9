package graph_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/notify"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/graph"
)

const notificationChannelFields = `id name kind events enabled createdBy project { id }
	webhook { url headerNames hasSecret } slack { host } email { host port from to username tls hasPassword }`

func TestNotificationChannelsAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		p := b.createProject(t, "notify")

		var mu sync.Mutex
		var sig, body string
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, _ := io.ReadAll(r.Body)
			mu.Lock()
			sig, body = r.Header.Get(notify.SignatureHeader), string(raw)
			mu.Unlock()
		}))
		t.Cleanup(rcv.Close)

		create := `mutation($in: CreateNotificationChannelInput!) { createNotificationChannel(input: $in) { channel { ` + notificationChannelFields + ` } } }`
		data := b.ok(t, create, map[string]any{"in": map[string]any{"projectId": p, "name": "ops-hook", "events": []any{"RUN_FAILED", "APPROVAL_REQUESTED"},
			"webhook": map[string]any{"url": rcv.URL + "/hook", "secret": "top-s3cret", "headers": []any{map[string]any{"name": "authorization", "value": "Bearer hidden-token"}}}}})
		id := str(t, data, "createNotificationChannel.channel.id")
		require.Equal(t, "WEBHOOK", get(t, data, "createNotificationChannel.channel.kind"))
		require.Equal(t, []any{"APPROVAL_REQUESTED", "RUN_FAILED"}, get(t, data, "createNotificationChannel.channel.events"))
		require.Equal(t, true, get(t, data, "createNotificationChannel.channel.enabled"))
		require.Equal(t, true, get(t, data, "createNotificationChannel.channel.webhook.hasSecret"))
		require.Equal(t, []any{"Authorization"}, get(t, data, "createNotificationChannel.channel.webhook.headerNames"))
		require.Nil(t, get(t, data, "createNotificationChannel.channel.slack"))

		slack := b.ok(t, create, map[string]any{"in": map[string]any{"projectId": p, "name": "slack", "events": []any{"RUN_SUCCEEDED"},
			"slack": map[string]any{"url": "https://hooks.slack.com/services/T0/B0/slack-secret-part"}}})
		require.Equal(t, "hooks.slack.com", get(t, slack, "createNotificationChannel.channel.slack.host"))
		mail := b.ok(t, create, map[string]any{"in": map[string]any{"projectId": p, "name": "mail", "events": []any{"RUN_CANCELED"}, "enabled": false,
			"email": map[string]any{"host": "smtp.example.com", "port": 587, "from": "jobgraph@example.com", "to": []any{"ops@example.com"}, "username": "u", "password": "mail-pass"}}})
		require.Equal(t, "STARTTLS", get(t, mail, "createNotificationChannel.channel.email.tls"))
		require.Equal(t, true, get(t, mail, "createNotificationChannel.channel.email.hasPassword"))

		// Bad input names its field.
		for _, c := range []struct {
			in    map[string]any
			field string
		}{
			{map[string]any{"name": "x", "events": []any{"RUN_FAILED"}, "webhook": map[string]any{"url": "ftp://x"}}, "webhook.url"},
			{map[string]any{"name": "x", "events": []any{"RUN_FAILED"}, "webhook": map[string]any{"url": "/relative"}}, "webhook.url"},
			{map[string]any{"name": "x", "events": []any{}, "slack": map[string]any{"url": "https://hooks.slack.com/x"}}, "events"},
			{map[string]any{"name": "x", "events": []any{"RUN_FAILED"}}, "config"},
			{map[string]any{"name": "x", "events": []any{"RUN_FAILED"}, "slack": map[string]any{"url": "https://a/x"}, "webhook": map[string]any{"url": "https://a/x"}}, "webhook"},
			{map[string]any{"name": "x", "events": []any{"RUN_FAILED"}, "email": map[string]any{"host": "h", "port": 70000, "from": "a@b.c", "to": []any{"d@e.f"}}}, "email.port"},
			{map[string]any{"name": "x", "events": []any{"RUN_FAILED"}, "email": map[string]any{"host": "h", "port": 25, "from": "not an address", "to": []any{"d@e.f"}}}, "email.from"},
			{map[string]any{"name": "x", "events": []any{"RUN_FAILED"}, "email": map[string]any{"host": "h", "port": 25, "from": "a@b.c", "to": []any{}}}, "email.to"},
			{map[string]any{"name": "ops-hook", "events": []any{"RUN_FAILED"}, "webhook": map[string]any{"url": "https://a/x"}}, "name"},
		} {
			c.in["projectId"] = p
			e := b.fails(t, create, map[string]any{"in": c.in})
			require.Contains(t, []string{graph.CodeBadUserInput, graph.CodeConflict}, e.Extensions["code"], "%v", c.in)
			require.Equal(t, c.field, e.Extensions["field"], "%v: %s", c.in, e.Message)
		}

		// An update without the secret keeps it; the kind never changes.
		update := `mutation($in: UpdateNotificationChannelInput!) { updateNotificationChannel(input: $in) { channel { ` + notificationChannelFields + ` } } }`
		data = b.ok(t, update, map[string]any{"in": map[string]any{"id": id, "name": "renamed", "webhook": map[string]any{"url": rcv.URL + "/v2"}}})
		require.Equal(t, "renamed", get(t, data, "updateNotificationChannel.channel.name"))
		require.Equal(t, true, get(t, data, "updateNotificationChannel.channel.webhook.hasSecret"))
		e := b.fails(t, update, map[string]any{"in": map[string]any{"id": id, "slack": map[string]any{"url": "https://hooks.slack.com/x"}}})
		require.Equal(t, "config", e.Extensions["field"])

		// The test message is signed with the kept secret.
		data = b.ok(t, `mutation($id: ID!) { testNotificationChannel(input: {id: $id}) { ok error channel { id } } }`, map[string]any{"id": id})
		require.Equal(t, true, get(t, data, "testNotificationChannel.ok"), "%v", data)
		mu.Lock()
		require.Equal(t, notify.Sign("top-s3cret", []byte(body)), sig)
		require.Contains(t, body, `"event":"test"`)
		mu.Unlock()
		rcv.Close()
		data = b.ok(t, `mutation($id: ID!) { testNotificationChannel(input: {id: $id}) { ok error } }`, map[string]any{"id": id})
		require.Equal(t, false, get(t, data, "testNotificationChannel.ok"))
		require.NotEmpty(t, get(t, data, "testNotificationChannel.error"))

		data = b.ok(t, `query($p: ID!) { notificationChannels(projectId: $p) { totalCount edges { node { name } } } }`, map[string]any{"p": p})
		require.EqualValues(t, 3, get(t, data, "notificationChannels.totalCount"))
		require.Equal(t, "mail", get(t, data, "notificationChannels.edges.0.node.name"))
		data = b.ok(t, `query($p: ID!, $c: ID!) { notificationDeliveries(projectId: $p, channelId: $c) { totalCount } }`, map[string]any{"p": p, "c": id})
		require.EqualValues(t, 0, get(t, data, "notificationDeliveries.totalCount"), "a test message is no delivery")

		// Audited, with the channel as the object.
		data = b.ok(t, `{ auditEvents(filter: {action: "updateNotificationChannel"}) { edges { node { projectId objectId outcome } } } }`, nil)
		require.Equal(t, p, get(t, data, "auditEvents.edges.0.node.projectId"))
		require.Equal(t, id, get(t, data, "auditEvents.edges.0.node.objectId"))

		data = b.ok(t, `mutation($id: ID!) { deleteNotificationChannel(input: {id: $id}) { deletedId } }`, map[string]any{"id": id})
		require.Equal(t, id, get(t, data, "deleteNotificationChannel.deletedId"))
		e = b.fails(t, `mutation($id: ID!) { deleteNotificationChannel(input: {id: $id}) { deletedId } }`, map[string]any{"id": id})
		require.Equal(t, graph.CodeNotFound, e.Extensions["code"])

		// No secret ever left the server.
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, body := range b.bodies {
			for _, secret := range []string{"top-s3cret", "hidden-token", "slack-secret-part", "mail-pass"} {
				require.False(t, strings.Contains(body, secret), "a response carries %q", secret)
			}
		}
	})
}
