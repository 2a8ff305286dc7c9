package httpexec

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

func TestJSONPath(t *testing.T) {
	t.Parallel()
	var doc any
	require.NoError(t, json.Unmarshal([]byte(`{"a": {"b": [10, {"c": "x"}], "d-e": 1, "it's": 2, "": 3}, "n": null}`), &doc))
	for _, tt := range []struct {
		path  string
		want  any
		found bool
	}{
		{"$", doc, true},
		{"$.a.b[0]", 10.0, true},
		{"$.a.b[1].c", "x", true},
		{"$.a.b[-1].c", "x", true},
		{"$.a.b[-2]", 10.0, true},
		{"$.a.b[2]", nil, false},
		{"$.a.b[-3]", nil, false},
		{"$.a.d-e", 1.0, true},
		{`$['a']["d-e"]`, 1.0, true},
		{`$.a['it\'s']`, 2.0, true},
		{`$.a['']`, 3.0, true},
		{"$.n", nil, true},
		{"$.missing", nil, false},
		{"$.a.b.c", nil, false},
		{"$.n.x", nil, false},
		{"$[0]", nil, false},
	} {
		p, err := parseJSONPath(tt.path)
		require.NoError(t, err, tt.path)
		got, found := p.lookup(doc)
		require.Equal(t, tt.found, found, tt.path)
		require.Equal(t, tt.want, got, tt.path)
	}
	for _, bad := range []string{"", "a.b", "$.", "$..a", "$.*", "$[*]", "$[?(@.a)]", "$[0:2]", "$[0,1]", "$[", "$[0", "$['a", "$.a b", "$.0", "$[x]"} {
		_, err := parseJSONPath(bad)
		require.Error(t, err, "%q", bad)
	}
}

// chunkWriter records each write, to see what a reader would get when.
type chunkWriter struct{ chunks []string }

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.chunks = append(w.chunks, string(p))
	return len(p), nil
}

func TestRedactingWriter(t *testing.T) {
	t.Parallel()
	cred := &sdk.Credential{Kind: "password", Username: "u", Secret: []byte("s3cret-pass")}
	sec := taskSecrets(cred, [][]byte{[]byte("tok\"quoted"), []byte("ab")})
	var w chunkWriter
	r := newRedactingWriter(&w, sec)
	for _, p := range []string{"hello s3c", "ret-pass and s3cret-", "pass; ", "no secret here\n", "echo tok\\\"quo", "ted", " end s3"} {
		_, err := r.Write([]byte(p))
		require.NoError(t, err)
	}
	require.NoError(t, r.Flush())
	var all bytes.Buffer
	for _, c := range w.chunks {
		all.WriteString(c)
	}
	require.Equal(t, "hello [REDACTED] and [REDACTED]; no secret here\necho [REDACTED] end s3", all.String())
	require.Contains(t, w.chunks, "no secret here\n", "what cannot start a secret is written at once")
	require.Contains(t, sec.redactString("Basic dTpzM2NyZXQtcGFzcw=="), "Basic [REDACTED]", "the basic-auth header value")
	require.Equal(t, "ab", sec.redactString("ab"), "values shorter than 4 bytes are left alone")

	var direct chunkWriter
	_, _ = newRedactingWriter(&direct, nil).Write([]byte("as is"))
	require.Equal(t, []string{"as is"}, direct.chunks)
}

func TestDisplayURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://example.com/a?b=c":                   "https://example.com/a?b=c",
		"https://u:pw@example.com/":                   "https://u:xxxxx@example.com/",
		"https://example.com/?access_token=t&page=2":  "https://example.com/?access_token=%5BREDACTED%5D&page=2",
		"https://example.com/?X-Amz-Signature=abc&x=": "https://example.com/?X-Amz-Signature=%5BREDACTED%5D&x=",
	} {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		require.Equal(t, want, displayURL(u), raw)
	}
}
