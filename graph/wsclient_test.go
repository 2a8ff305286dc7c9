package graph_test

import (
	"cmp"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/graph"
)

// wsSub is one subscription over a graphql-transport-ws connection of its
// own, as a browser or a third party would hold it.
type wsSub struct {
	t      *testing.T
	c      *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
}

// wsMsg is a server message: next (Data, Errors), error or complete.
type wsMsg struct {
	Type   string
	Data   map[string]any
	Errors []gqlError
}

// subscribe connects with the bundle's token, starts query and returns
// the subscription; the connection closes at cleanup.
func (b *testBundle) subscribe(t *testing.T, query string, vars map[string]any) *wsSub {
	t.Helper()
	s, status := b.trySubscribe(t, query, vars)
	require.Zero(t, status, "the server closed the connection")
	return s
}

// trySubscribe is subscribe, or the close status when the server refused
// the connection (4401 without valid credentials).
func (b *testBundle) trySubscribe(t *testing.T, query string, vars map[string]any) (*wsSub, websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	url := "ws" + strings.TrimPrefix(b.srv.URL, "http") + "/graphql"
	client := b.srv.Client()
	if b.smallWindow {
		d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			return cmp.Or(err, serr)
		}}
		client = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"},
		HTTPClient: client, HTTPHeader: http.Header{"User-Agent": {"wstest"}}})
	require.NoError(t, err)
	c.SetReadLimit(16 << 20)
	s := &wsSub{t: t, c: c, ctx: ctx, cancel: cancel}
	t.Cleanup(s.close)
	require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"authToken": b.token}}))
	var ack struct{ Type string }
	if err := wsjson.Read(ctx, c, &ack); err != nil {
		status := websocket.CloseStatus(err)
		require.NotEqual(t, websocket.StatusCode(-1), status, "not a close: %v", err)
		return nil, status
	}
	require.Equal(t, "connection_ack", ack.Type)
	require.NoError(t, wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": query, "variables": vars}}))
	return s, 0
}

func (s *wsSub) close() {
	s.c.CloseNow()
	s.cancel()
}

// next returns the next message, skipping pings and pongs.
func (s *wsSub) next() wsMsg {
	s.t.Helper()
	for {
		var raw struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		require.NoError(s.t, wsjson.Read(s.ctx, s.c, &raw))
		switch raw.Type {
		case "ping":
			require.NoError(s.t, wsjson.Write(s.ctx, s.c, map[string]any{"type": "pong"}))
			continue
		case "pong", "ka":
			continue
		}
		m := wsMsg{Type: raw.Type}
		switch raw.Type {
		case "next":
			var p struct {
				Data   map[string]any `json:"data"`
				Errors []gqlError     `json:"errors"`
			}
			require.NoError(s.t, json.Unmarshal(raw.Payload, &p))
			m.Data, m.Errors = p.Data, p.Errors
		case "error":
			require.NoError(s.t, json.Unmarshal(raw.Payload, &m.Errors))
		}
		for _, e := range m.Errors {
			require.Contains(s.t, graph.Codes(), e.Extensions["code"], "error %q carries no documented code", e.Message)
		}
		return m
	}
}

// subscribeFirst starts a subscription and returns its first message's
// data and errors, as do does for a query (the authorization matrix).
func (b *testBundle) subscribeFirst(t *testing.T, query string, vars map[string]any) (map[string]any, []gqlError) {
	t.Helper()
	s, status := b.trySubscribe(t, query, vars)
	if status == 4401 {
		// Refused at connection_init: what a query gets as UNAUTHENTICATED.
		field := strings.TrimSuffix(strings.Fields(query[strings.Index(query, "{")+1:])[0], "(")
		if i := strings.IndexByte(field, '('); i >= 0 {
			field = field[:i]
		}
		return nil, []gqlError{{Message: "unauthenticated", Path: []any{field}, Extensions: map[string]any{"code": graph.CodeUnauthenticated}}}
	}
	require.Zero(t, status)
	defer s.close()
	m := s.next()
	return m.Data, m.Errors
}
