package template_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/job/template"
)

func TestScan(t *testing.T) {
	t.Parallel()
	p := func(n string) template.Ref { return template.Ref{Kind: template.RefParam, Name: n} }
	o := func(s, n string) template.Ref { return template.Ref{Kind: template.RefOutput, Step: s, Name: n} }
	cases := []struct {
		name   string
		params string
		want   []template.Leaf
		err    string // substring of the error; "" for none
		path   string // path of a ParseError
	}{
		{"no templates", `{"cmd":"ls -l","n":3}`, nil, "", ""},
		{"empty", ``, nil, "", ""},
		{"whole param", `{"n":"${{ params.count }}"}`, []template.Leaf{{Path: "n", Whole: true, Refs: []template.Ref{p("count")}}}, "", ""},
		{"no spaces", `{"n":"${{params.count}}"}`, []template.Leaf{{Path: "n", Whole: true, Refs: []template.Ref{p("count")}}}, "", ""},
		{"embedded", `{"cmd":"deploy ${{ params.env }} ${{ steps.build.outputs.tag }}"}`,
			[]template.Leaf{{Path: "cmd", Refs: []template.Ref{p("env"), o("build", "tag")}}}, "", ""},
		{"nested paths", `{"env":{"A":"${{ params.a }}"},"args":["x","${{ params.b }}"]}`,
			[]template.Leaf{{Path: "args.1", Whole: true, Refs: []template.Ref{p("b")}}, {Path: "env.A", Whole: true, Refs: []template.Ref{p("a")}}}, "", ""},
		{"escaped", `{"m":"$${{ params.x }}"}`, nil, "", ""},
		{"unterminated", `{"a":{"b":"x ${{ params.x"}}`, nil, "unterminated", "a.b"},
		{"expression", `{"a":"${{ params.x + 1 }}"}`, nil, "may contain only", "a"},
		{"unknown root", `{"a":"${{ env.HOME }}"}`, nil, "not a reference", "a"},
		{"bad step form", `{"a":"${{ steps.b.result }}"}`, nil, "not a reference", "a"},
		{"empty name", `{"a":"${{ params. }}"}`, nil, "parameter name is empty", "a"},
		{"bad char", `{"a":"${{ steps.b!.outputs.x }}"}`, nil, "step name", "a"},
		{"not JSON", `{"a":`, nil, "not valid JSON", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := template.Scan(json.RawMessage(tc.params))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				if pe, ok := err.(*template.ParseError); ok {
					require.Equal(t, tc.path, pe.Path)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	values := template.Values{
		Params: map[string]any{
			"env": "prod", "count": 3, "ratio": 0.5, "dry": true, "hosts": []string{"hst_1", "hst_2"},
			"token": "s3cr3t", "nothing": nil,
		},
		Secrets: map[string]bool{"token": true},
		Outputs: map[string]map[string]any{"build": {"tag": "v1.2", "size": 42}},
	}
	cases := []struct {
		name    string
		params  string
		want    string
		secrets []string
		err     string
	}{
		{"plain", `{"cmd":"ls","n":1}`, `{"cmd":"ls","n":1}`, nil, ""},
		{"whole keeps number", `{"n":"${{ params.count }}"}`, `{"n":3}`, nil, ""},
		{"whole keeps float", `{"n":"${{ params.ratio }}"}`, `{"n":0.5}`, nil, ""},
		{"whole keeps bool", `{"b":"${{params.dry}}"}`, `{"b":true}`, nil, ""},
		{"whole keeps list", `{"h":"${{ params.hosts }}"}`, `{"h":["hst_1","hst_2"]}`, nil, ""},
		{"whole null", `{"x":"${{ params.nothing }}"}`, `{"x":null}`, nil, ""},
		{"embedded string", `{"cmd":"deploy --env=${{ params.env }}"}`, `{"cmd":"deploy --env=prod"}`, nil, ""},
		{"embedded number", `{"cmd":"n=${{ params.count }}"}`, `{"cmd":"n=3"}`, nil, ""},
		{"embedded list", `{"cmd":"h=${{ params.hosts }}"}`, `{"cmd":"h=[\"hst_1\",\"hst_2\"]"}`, nil, ""},
		{"embedded null", `{"cmd":"[${{ params.nothing }}]"}`, `{"cmd":"[]"}`, nil, ""},
		{"output", `{"img":"app:${{ steps.build.outputs.tag }}","s":"${{ steps.build.outputs.size }}"}`, `{"img":"app:v1.2","s":42}`, nil, ""},
		{"in arrays", `{"args":["a","${{ params.env }}",["${{ params.count }}"]]}`, `{"args":["a","prod",[3]]}`, nil, ""},
		{"secret", `{"cmd":"login ${{ params.token }}","again":"${{ params.token }}"}`, `{"again":"s3cr3t","cmd":"login s3cr3t"}`, []string{"s3cr3t"}, ""},
		{"escape", `{"m":"$${{ params.env }} ${{ params.env }}"}`, `{"m":"${{ params.env }} prod"}`, nil, ""},
		{"keys are literal", `{"${{ params.env }}":1}`, `{"${{ params.env }}":1}`, nil, ""},
		{"big numbers kept", `{"n":12345678901234567890}`, `{"n":12345678901234567890}`, nil, ""},
		{"html not escaped", `{"c":"a && b <c>"}`, `{"c":"a && b <c>"}`, nil, ""},
		{"missing param", `{"x":"${{ params.nope }}"}`, "", nil, "x: parameter nope has no value"},
		{"missing output", `{"x":"a ${{ steps.build.outputs.nope }}"}`, "", nil, "x: step build has no output nope"},
		{"malformed", `{"x":"${{ params }}"}`, "", nil, "not a reference"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, secrets, err := template.Render(json.RawMessage(tc.params), values)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
			require.Equal(t, tc.secrets, secrets)
		})
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`{"a":"${{ params.x }}"}`, `{"a":"x${{ steps.s.outputs.o }}y"}`, `["$${{", "${{", "}}"]`,
		`{"a":{"b":["${{params.x}}", 1, null, true]}}`, `"${{ params.x }}"`, `{"a":"${{ params.x`, `[[[[[[[[]]]]]]]]`,
	} {
		f.Add(s)
	}
	values := template.Values{
		Params:  map[string]any{"x": "v", "n": 1.5, "l": []string{"a"}},
		Secrets: map[string]bool{"x": true},
		Outputs: map[string]map[string]any{"s": {"o": "out"}},
	}
	f.Fuzz(func(t *testing.T, params string) {
		out, _, err := template.Render(json.RawMessage(params), values)
		if err == nil && len(out) > 0 && !json.Valid(out) {
			t.Fatalf("Render(%q) = %q: not JSON", params, out)
		}
		_, _ = template.Scan(json.RawMessage(params))
	})
}
