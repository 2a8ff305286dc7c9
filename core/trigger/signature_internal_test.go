package trigger

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	secret, body := "0123456789abcdef", []byte(`{"a":1}`)
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name    string
		req     Request
		reqTS   bool
		wantID  string
		wantErr error
	}{
		{"github ok", Request{GitHubSignature: GitHubSignature(secret, body), DeliveryID: "d"}, false, "d", nil},
		{"github no delivery", Request{GitHubSignature: GitHubSignature(secret, body)}, false, "", core.ErrInvalidInput},
		{"github wrong secret", Request{GitHubSignature: GitHubSignature("another-secret-xx", body), DeliveryID: "d"}, false, "", core.ErrUnauthenticated},
		{"github not hex", Request{GitHubSignature: "sha256=zz", DeliveryID: "d"}, false, "", core.ErrUnauthenticated},
		{"github refused when timestamp required", Request{GitHubSignature: GitHubSignature(secret, body), DeliveryID: "d"}, true, "", core.ErrUnauthenticated},
		{"missing", Request{DeliveryID: "d"}, false, "", core.ErrUnauthenticated},
		{"delivery too long", Request{GitHubSignature: GitHubSignature(secret, body), DeliveryID: string(make([]byte, 129))}, false, "", core.ErrInvalidInput},
		{"timestamped ok, named", Request{Signature: TimestampedSignature(secret, body, now), DeliveryID: "x"}, true, "x", nil},
		{"timestamped edge of window", Request{Signature: TimestampedSignature(secret, body, now.Add(-TimestampTolerance))}, true, "", nil},
		{"timestamped stale", Request{Signature: TimestampedSignature(secret, body, now.Add(-TimestampTolerance-time.Second))}, false, "", core.ErrUnauthenticated},
		{"timestamped future", Request{Signature: TimestampedSignature(secret, body, now.Add(TimestampTolerance+time.Second))}, false, "", core.ErrUnauthenticated},
		{"timestamped malformed", Request{Signature: "v1=abc"}, false, "", core.ErrUnauthenticated},
		{"timestamped bad t", Request{Signature: "t=soon,v1=abc"}, false, "", core.ErrUnauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Body = body
			id, err := verify(c.req, []byte(secret), c.reqTS, now)
			if c.wantErr != nil {
				require.ErrorIs(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			if c.wantID != "" {
				require.Equal(t, c.wantID, id)
			} else {
				require.Regexp(t, `^sig:[0-9a-f]{64}$`, id)
			}
		})
	}
	// A tampered body fails even with the right timestamp.
	_, err := verify(Request{Signature: TimestampedSignature(secret, body, now), Body: []byte(`{"a":2}`)}, []byte(secret), false, now)
	require.ErrorIs(t, err, core.ErrUnauthenticated)
}

func TestMapPayload(t *testing.T) {
	t.Parallel()
	body := []byte(`{"repository":{"name":"api"},"commits":[{"id":"c1"},{"id":"c2"}],"n":3,"ok":true,"hosts":["hst_a"],"a.b":{"c":"q"},"nil":null}`)
	ps := []ParamSource{
		{Name: "repo", Path: "$.repository.name"},
		{Name: "second", Path: "$.commits[1].id"},
		{Name: "n", Path: "$.n"},
		{Name: "ok", Path: "$.ok"},
		{Name: "hosts", Path: "$.hosts"},
		{Name: "quoted", Path: `$["a.b"].c`},
		{Name: "missing", Path: "$.commits[5].id"},
		{Name: "null", Path: "$.nil"},
		{Name: "const", Value: []byte(`"prod"`)},
	}
	require.NoError(t, checkParams(ps))
	raw, unmapped, err := MapPayload(ps, body)
	require.NoError(t, err)
	require.JSONEq(t, `{"repo":"api","second":"c2","n":3,"ok":true,"hosts":["hst_a"],"quoted":"q","const":"prod"}`, string(raw))
	require.Equal(t, map[string]string{"missing": "$.commits[5].id", "null": "$.nil"}, unmapped)

	_, _, err = MapPayload(ps, []byte(`not json`))
	require.ErrorIs(t, err, core.ErrInvalidInput)
	// Constants alone need no JSON body.
	_, _, err = MapPayload([]ParamSource{{Name: "c", Value: []byte(`1`)}}, []byte(`x=1`))
	require.NoError(t, err)

	for _, bad := range []string{"repo", "$.", "$[x]", "$[-1]", "$[01]", `$["unclosed`, "$.a b", "$..a"} {
		_, err := parsePath(bad)
		require.Error(t, err, bad)
	}
}
