package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// legacyMsg is a message of the legacy subscriptions-transport-ws protocol
// (subprotocol "graphql-ws"), as Apollo's old client speaks it.
type legacyMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// legacyConn is a "graphql-ws" connection, after the upgrade and before
// connection_init.
type legacyConn struct {
	t   *testing.T
	c   *websocket.Conn
	ctx context.Context
}

func (b *testBundle) dialLegacy(t *testing.T) *legacyConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	url := "ws" + strings.TrimPrefix(b.srv.URL, "http") + "/graphql"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-ws"},
		HTTPClient: b.srv.Client(), HTTPHeader: http.Header{"User-Agent": {"wstest-legacy"}}})
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	require.Equal(t, "graphql-ws", c.Subprotocol(), "the server chose the legacy protocol")
	c.SetReadLimit(16 << 20)
	return &legacyConn{t: t, c: c, ctx: ctx}
}

func (l *legacyConn) send(m any) {
	l.t.Helper()
	require.NoError(l.t, wsjson.Write(l.ctx, l.c, m))
}

// read returns the next message, keep-alives ("ka") included, or the error
// that ended the connection.
func (l *legacyConn) read() (legacyMsg, error) {
	var m legacyMsg
	err := wsjson.Read(l.ctx, l.c, &m)
	return m, err
}

// next returns the next message that is not a keep-alive.
func (l *legacyConn) next() legacyMsg {
	l.t.Helper()
	for {
		m, err := l.read()
		require.NoError(l.t, err)
		if m.Type != "ka" {
			return m
		}
	}
}

// TestSubscriptionLegacyProtocol: the legacy "graphql-ws" protocol
// (connection_init → connection_ack and "ka", start → data … → complete)
// carries a taskLog subscription complete and in order; a connection_init
// without credentials gets connection_error and a close with 4401.
func TestSubscriptionLegacyProtocol(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))

	t.Run("taskLog", func(t *testing.T) {
		f := newLiveFixture(t, b, 1)
		t.Cleanup(func() { f.open(t) }) // never leave the command waiting
		_, task := f.adHoc(t, "for i in $(seq 1 100); do echo line $i; done; "+f.waitGate()+"; for i in $(seq 101 250); do echo line $i; done")
		f.waitLogged(t, task, "line 100\n")

		l := b.dialLegacy(t)
		l.send(map[string]any{"type": "connection_init", "payload": map[string]any{"authToken": b.token}})
		ack, err := l.read()
		require.NoError(t, err)
		require.Equal(t, "connection_ack", ack.Type, "%+v", ack)
		ka, err := l.read()
		require.NoError(t, err)
		require.Equal(t, "ka", ka.Type, "a keep-alive follows the ack at once: %+v", ka)

		l.send(map[string]any{"id": "7", "type": "start", "payload": map[string]any{
			"query": taskLogSub, "variables": map[string]any{"id": task, "after": 0}}})
		var text strings.Builder
		last, status, opened := 0, "", false
		for {
			m := l.next()
			require.Equal(t, "7", m.ID, "%s %s", m.Type, m.Payload)
			if m.Type == "complete" {
				break
			}
			require.Equal(t, "data", m.Type, "%s", m.Payload)
			var p struct {
				Data   map[string]any `json:"data"`
				Errors []gqlError     `json:"errors"`
			}
			require.NoError(t, json.Unmarshal(m.Payload, &p))
			require.Empty(t, p.Errors)
			require.Empty(t, status, "an update after the final status")
			u := get(t, p.Data, "taskLog").(map[string]any)
			require.Nil(t, u["resyncAfterSeq"])
			for _, c := range u["chunks"].([]any) {
				seq := num(t, c, "seq")
				require.Equal(t, last+1, seq, "no gap, no duplicate")
				last = seq
				require.Equal(t, "STDOUT", str(t, c, "stream"))
				text.WriteString(str(t, c, "data"))
			}
			if st, ok := u["taskStatus"].(string); ok {
				status = st
			}
			if !opened && strings.Contains(text.String(), "line 100\n") {
				// The stored part arrived; the rest comes live.
				opened = true
				f.open(t)
			}
		}
		require.True(t, opened, "the stored log was not sent before the task ended")
		require.Equal(t, "SUCCEEDED", status)
		require.Equal(t, lines(1, 250), text.String())

		// The connection stays usable: a second operation on it ends too
		// (the task is final: the whole log, then its status).
		l.send(map[string]any{"id": "8", "type": "start", "payload": map[string]any{
			"query": taskLogSub, "variables": map[string]any{"id": task, "after": last - 1}}})
		var got []string
		for {
			m := l.next()
			require.Equal(t, "8", m.ID, "%s %s", m.Type, m.Payload)
			got = append(got, m.Type)
			if m.Type == "complete" {
				break
			}
		}
		require.Equal(t, "data", got[0])
		l.send(map[string]any{"type": "connection_terminate"})
		_, err = l.read()
		require.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err), "%v", err)
	})

	// gqlgen answers a refused connection_init on "graphql-ws" with a
	// connection_error carrying the InitFunc's error, then closes with the
	// code websocketInit put in the context (4401).
	for name, payload := range map[string]any{
		"no payload":    nil,
		"empty payload": map[string]any{},
		"bad token":     map[string]any{"authToken": "jgp_not-a-token"},
	} {
		t.Run("refused/"+name, func(t *testing.T) {
			l := b.dialLegacy(t)
			init := map[string]any{"type": "connection_init"}
			if payload != nil {
				init["payload"] = payload
			}
			l.send(init)
			m, err := l.read()
			require.NoError(t, err)
			require.Equal(t, "connection_error", m.Type, "%+v", m)
			require.JSONEq(t, `{"message":"unauthenticated"}`, string(m.Payload))
			_, err = l.read()
			require.Equal(t, websocket.StatusCode(4401), websocket.CloseStatus(err), "%v", err)
		})
	}
}
