package labels_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/inventory/labels"
)

// validSelectors maps inputs to their canonical String().
var validSelectors = []struct {
	in   string
	want string
}{
	// Each operator.
	{"env=prod", "env=prod"},
	{"env==prod", "env=prod"},
	{"env!=prod", "env!=prod"},
	{"tier in (web)", "tier in (web)"},
	{"tier notin (web)", "tier notin (web)"},
	{"canary", "canary"},
	{"!canary", "!canary"},

	// Empty values.
	{"env=", "env="},
	{"env==", "env="},
	{"env!=", "env!="},
	{"env=,tier", "env=,tier"},
	{"env= ,tier", "env=,tier"},

	// Whitespace around every token.
	{"  env = prod  ", "env=prod"},
	{"env == prod", "env=prod"},
	{"env != prod", "env!=prod"},
	{"! canary", "!canary"},
	{"\tenv=prod ,\n tier\r\n", "env=prod,tier"},
	{"tier in(web)", "tier in (web)"},
	{"tier in ( api , web )", "tier in (api,web)"},
	{"tier notin(api,web)", "tier notin (api,web)"},

	// Canonical order and de-duplication.
	{"env=prod, tier in (web,api), !canary", "!canary,env=prod,tier in (api,web)"},
	{"tier in (web,api,web,api)", "tier in (api,web)"},
	{"b,a,c", "a,b,c"},
	{"!env,env,env notin (x),env in (x),env!=x,env=x", "env=x,env!=x,env in (x),env notin (x),env,!env"},
	{"env!=b,env!=a", "env!=a,env!=b"},
	{"env in (b),env in (a,c),env in (a)", "env in (a),env in (a,c),env in (b)"},
	{"env=prod,env==prod", "env=prod"},
	{"a,a,!a,!a", "a,!a"},
	{"env=a,env=b", "env=a,env=b"}, // contradictory, but valid

	// Keys.
	{"a", "a"},
	{"A", "A"},
	{"9", "9"},
	{"a-b_c.d", "a-b_c.d"},
	{"Env=Prod", "Env=Prod"},
	{"jobgraph.io/role=db", "jobgraph.io/role=db"},
	{"a/b", "a/b"},
	{"a-1.b-2/X_y", "a-1.b-2/X_y"},
	{"!jobgraph.io/canary", "!jobgraph.io/canary"},
	{"in", "in"},
	{"in in (in)", "in in (in)"},
	{"notin notin (notin)", "notin notin (notin)"},
	{"exists", "exists"},
	{strings.Repeat("k", 63), strings.Repeat("k", 63)},
	{strings.Repeat("p", 253) + "/" + strings.Repeat("n", 63), strings.Repeat("p", 253) + "/" + strings.Repeat("n", 63)},

	// Values.
	{"v=1", "v=1"},
	{"v=1.2.3", "v=1.2.3"},
	{"v=a_b-c.D", "v=a_b-c.D"},
	{"v=" + strings.Repeat("x", 63), "v=" + strings.Repeat("x", 63)},
	{"v in (3,1,2,10)", "v in (1,10,2,3)"},
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	for _, tt := range validSelectors {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			sel, err := labels.Parse(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, sel.String())

			// The canonical form is stable and parses back to an equal selector.
			again, err := labels.Parse(sel.String())
			require.NoError(t, err)
			require.Equal(t, sel, again)
			require.Equal(t, sel.String(), again.String())
			require.Equal(t, sel.Requirements(), again.Requirements())
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 64)
	tests := []struct {
		in  string
		pos int
		msg string
	}{
		// Structure.
		{",", 0, `expected key, found ","`},
		{",env", 0, `expected key, found ","`},
		{"env,", 4, `expected key, found end of selector`},
		{"env, ", 5, `expected key, found end of selector`},
		{"env,,tier", 4, `expected key, found ","`},
		{"=prod", 0, `expected key, found "="`},
		{"(a)", 0, `expected key, found "("`},
		{"!", 1, `expected key after "!", found end of selector`},
		{"! ,env", 2, `expected key after "!", found ","`},
		{"!!env", 1, `expected key after "!", found "!"`},
		{"!env=prod", 4, `expected "," or end of selector after "!env", found "="`},
		{"env=prod tier", 9, `expected "," or end of selector after "env=prod", found "t"`},
		{"env=prod;tier", 4, `invalid value "prod;tier": must consist of letters, digits, '-', '_' or '.'`},
		{"env=(prod)", 4, `expected "," or end of selector after "env=", found "("`},
		{"tier in (a) b", 12, `expected "," or end of selector after "tier in (a)", found "b"`},

		// Operators.
		{"env prod", 4, `expected "=", "!=", "in" or "notin" after key "env", found "prod"`},
		{"env ! = prod", 4, `expected "=", "!=", "in" or "notin" after key "env", found "!"`},
		{"env!prod", 3, `expected "=", "!=", "in" or "notin" after key "env", found "!"`},
		{"env(a)", 3, `expected "=", "!=", "in" or "notin" after key "env", found "("`},
		{"env IN (a)", 4, `expected "=", "!=", "in" or "notin" after key "env", found "IN"`},
		{"env===prod", 5, `invalid value "=prod"`},
		{"env=a=b", 4, `invalid value "a=b"`},

		// Value lists.
		{"tier in", 7, `expected "(" after "in", found end of selector`},
		{"tier in web", 8, `expected "(" after "in", found "w"`},
		{"tier notin web", 11, `expected "(" after "notin", found "w"`},
		{"tier in ()", 9, `empty value list: "in" needs at least one value`},
		{"tier notin ( )", 13, `empty value list: "notin" needs at least one value`},
		{"tier in (", 8, `unterminated value list`},
		{"tier in (a", 8, `unterminated value list`},
		{"tier in (a,", 8, `unterminated value list`},
		{"tier in (a, b", 8, `unterminated value list`},
		{"tier in (a,)", 11, `expected value, found ")"`},
		{"tier in (,a)", 9, `expected value, found ","`},
		{"tier in (a,,b)", 11, `expected value, found ","`},
		{"tier in ((a))", 9, `expected value, found "("`},
		{"tier in (a b)", 11, `expected "," or ")" in value list, found "b"`},
		{"tier in (a(b))", 10, `expected "," or ")" in value list, found "("`},
		{"tier in (-a)", 9, `invalid value "-a": must start and end with a letter or digit`},

		// Keys.
		{"-x", 0, `invalid key "-x": must start and end with a letter or digit`},
		{"x-", 0, `invalid key "x-": must start and end with a letter or digit`},
		{".x=1", 0, `invalid key ".x": must start and end with a letter or digit`},
		{"!_x", 1, `invalid key "_x": must start and end with a letter or digit`},
		{"a~b", 0, `invalid key "a~b": must consist of letters, digits, '-', '_' or '.'`},
		{"héllo", 0, `invalid key "héllo": must consist of letters, digits, '-', '_' or '.'`},
		{long, 0, `invalid key "` + long + `": must be at most 63 characters`},
		{"env=prod, /x", 10, `invalid key "/x": prefix must not be empty`},
		{"x/", 0, `invalid key "x/": name must not be empty`},
		{"a/b/c", 0, `invalid key "a/b/c": must contain at most one '/'`},
		{"Example.com/x", 0, `invalid key "Example.com/x": prefix must consist of lowercase letters, digits, '-' or '.'`},
		{"a_b/x", 0, `invalid key "a_b/x": prefix must consist of lowercase letters, digits, '-' or '.'`},
		{"-a/x", 0, `invalid key "-a/x": prefix must start and end with a lowercase letter or digit`},
		{"a./x", 0, `invalid key "a./x": prefix must start and end with a lowercase letter or digit`},
		{"a/-x", 0, `invalid key "a/-x": name must start and end with a letter or digit`},
		{"a/x~", 0, `invalid key "a/x~": name must consist of letters, digits, '-', '_' or '.'`},
		{"a/" + long, 0, `invalid key "a/` + long + `": name must be at most 63 characters`},
		{strings.Repeat("p", 254) + "/x", 0, `prefix must be at most 253 characters`},
		{strings.Repeat("p", 253) + "/" + long, 0, `must be at most 317 characters`},

		// Values.
		{"env=-prod", 4, `invalid value "-prod": must start and end with a letter or digit`},
		{"env!=prod_", 5, `invalid value "prod_": must start and end with a letter or digit`},
		{"env = a/b", 6, `invalid value "a/b": must consist of letters, digits, '-', '_' or '.'`},
		{"env=" + long, 4, `invalid value "` + long + `": must be at most 63 characters`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			sel, err := labels.Parse(tt.in)
			require.Error(t, err)
			require.Zero(t, sel)
			require.ErrorIs(t, err, labels.ErrInvalidSelector)
			require.NotErrorIs(t, err, labels.ErrEmpty)

			var perr *labels.ParseError
			require.ErrorAs(t, err, &perr)
			require.Equal(t, tt.in, perr.Input)
			require.Equal(t, tt.pos, perr.Pos, "message: %s", perr.Msg)
			require.Contains(t, perr.Msg, tt.msg)
			require.Equal(t,
				fmt.Sprintf("invalid selector %q at position %d: %s", tt.in, tt.pos, perr.Msg),
				err.Error())
		})
	}
}

func TestParseEmpty(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", " ", "   ", "\t\r\n "} {
		sel, err := labels.Parse(in)
		require.ErrorIs(t, err, labels.ErrEmpty, "%q", in)
		require.ErrorIs(t, err, labels.ErrInvalidSelector, "%q", in)
		require.Zero(t, sel)
	}
	require.EqualError(t, labels.ErrEmpty, "empty selector")
	require.ErrorIs(t, labels.ErrEmpty, labels.ErrInvalidSelector)
}

func TestParseLimits(t *testing.T) {
	t.Parallel()

	keys := func(n int) string {
		ks := make([]string, n)
		for i := range ks {
			ks[i] = fmt.Sprintf("k%02d", i)
		}
		return strings.Join(ks, ",")
	}
	t.Run("64 requirements", func(t *testing.T) {
		t.Parallel()
		sel, err := labels.Parse(keys(64))
		require.NoError(t, err)
		require.Len(t, sel.Requirements(), 64)
	})
	t.Run("65 requirements", func(t *testing.T) {
		t.Parallel()
		in := keys(64) + ", k64"
		_, err := labels.Parse(in)
		var perr *labels.ParseError
		require.ErrorAs(t, err, &perr)
		require.Equal(t, strings.Index(in, "k64"), perr.Pos)
		require.Equal(t, "too many requirements (at most 64)", perr.Msg)
	})

	// A 4096-byte selector "kkk in(v0000,...)" whose canonical form,
	// "kkk in (v0000,...)", is one byte longer.
	values := make([]string, 675)
	for i := range values {
		values[i] = fmt.Sprintf("v%04d", i)
	}
	compact := strings.Repeat("k", 42) + " in(" + strings.Join(values, ",") + ")"
	require.Len(t, compact, 4096)
	spaced := strings.Replace(compact, "in(", "in (", 1)

	t.Run("4096 bytes", func(t *testing.T) {
		t.Parallel()
		in := strings.Replace(spaced, ",v0674)", ",w674)", 1)
		require.Len(t, in, 4096)
		sel, err := labels.Parse(in)
		require.NoError(t, err)
		require.Equal(t, in, sel.String())
	})
	t.Run("4097 bytes", func(t *testing.T) {
		t.Parallel()
		_, err := labels.Parse(spaced)
		var perr *labels.ParseError
		require.ErrorAs(t, err, &perr)
		require.Equal(t, 4096, perr.Pos)
		require.Equal(t, "selector is longer than 4096 bytes", perr.Msg)
		// The huge input is shortened in the message.
		require.Equal(t,
			fmt.Sprintf("invalid selector %q... at position 4096: selector is longer than 4096 bytes", spaced[:64]),
			err.Error())
	})
	t.Run("canonical form over 4096 bytes", func(t *testing.T) {
		t.Parallel()
		_, err := labels.Parse(compact)
		var perr *labels.ParseError
		require.ErrorAs(t, err, &perr)
		require.Equal(t, 0, perr.Pos)
		require.Equal(t, "selector is longer than 4096 bytes in canonical form", perr.Msg)
	})
}

func TestMustParse(t *testing.T) {
	t.Parallel()
	require.Equal(t, "env=prod", labels.MustParse("env==prod").String())
	require.PanicsWithError(t, labels.ErrEmpty.Error(), func() { labels.MustParse("") })
}

func TestRequirements(t *testing.T) {
	t.Parallel()
	sel := labels.MustParse("tier notin (web,api,web), env==prod, !canary, env!=, region, zone in (b,a)")
	want := []labels.Requirement{
		{Key: "canary", Operator: labels.NotExists},
		{Key: "env", Operator: labels.Equals, Values: []string{"prod"}},
		{Key: "env", Operator: labels.NotEquals, Values: []string{""}},
		{Key: "region", Operator: labels.Exists},
		{Key: "tier", Operator: labels.NotIn, Values: []string{"api", "web"}},
		{Key: "zone", Operator: labels.In, Values: []string{"a", "b"}},
	}
	require.Equal(t, want, sel.Requirements())
	parts := make([]string, len(want))
	for i, r := range want {
		parts[i] = r.String()
	}
	require.Equal(t, strings.Join(parts, ","), sel.String())

	// The result is a copy: changing it does not change the selector.
	got := sel.Requirements()
	got[0].Key = "mutated"
	got[4].Values[0] = "mutated"
	require.Equal(t, want, sel.Requirements())

	require.Empty(t, labels.Selector{}.Requirements())
}

func TestMatches(t *testing.T) {
	t.Parallel()
	host := map[string]string{
		"env":              "prod",
		"tier":             "web",
		"empty":            "",
		"jobgraph.io/role": "db",
	}
	tests := []struct {
		sel  string
		want bool
	}{
		// =
		{"env=prod", true},
		{"env==prod", true},
		{"env=dev", false},
		{"env=Prod", false},
		{"missing=prod", false},
		{"empty=", true},
		{"env=", false},
		{"missing=", false}, // "=" requires the key, even for the empty value
		{"jobgraph.io/role=db", true},
		{"role=db", false},

		// !=
		{"env!=dev", true},
		{"env!=prod", false},
		{"missing!=prod", true}, // hosts without the key match
		{"empty!=", false},
		{"empty!=x", true},
		{"missing!=", true},
		{"missing,missing!=prod", false},
		{"env,env!=dev", true},

		// in
		{"tier in (web)", true},
		{"tier in (api,web)", true},
		{"tier in (api,db)", false},
		{"missing in (web)", false},

		// notin
		{"tier notin (api,db)", true},
		{"tier notin (api,web)", false},
		{"missing notin (web)", true}, // hosts without the key match
		{"tier,tier notin (api)", true},

		// exists
		{"env", true},
		{"empty", true},
		{"missing", false},
		{"jobgraph.io/role", true},

		// !
		{"!missing", true},
		{"!env", false},
		{"!empty", false},

		// Requirements are ANDed.
		{"env=prod,tier in (api,web),!canary", true},
		{"env=prod,tier in (api,web),!env", false},
		{"env=prod,tier=api", false},
		{"env=prod,env=dev", false},
		{"env,!env", false},
	}
	for _, tt := range tests {
		t.Run(tt.sel, func(t *testing.T) {
			t.Parallel()
			sel := labels.MustParse(tt.sel)
			require.Equal(t, tt.want, sel.Matches(host))
		})
	}

	t.Run("no labels", func(t *testing.T) {
		t.Parallel()
		for _, m := range []map[string]string{nil, {}} {
			require.True(t, labels.MustParse("!env").Matches(m))
			require.True(t, labels.MustParse("env!=prod").Matches(m))
			require.True(t, labels.MustParse("env notin (prod)").Matches(m))
			require.False(t, labels.MustParse("env").Matches(m))
			require.False(t, labels.MustParse("env=").Matches(m))
			require.False(t, labels.MustParse("env in (prod)").Matches(m))
		}
	})

	t.Run("zero selector matches nothing", func(t *testing.T) {
		t.Parallel()
		var zero labels.Selector
		require.False(t, zero.Matches(host))
		require.False(t, zero.Matches(nil))
		require.Empty(t, zero.String())
	})
}

func TestRequirementString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r    labels.Requirement
		want string
	}{
		{labels.Requirement{Key: "env", Operator: labels.Equals, Values: []string{"prod"}}, "env=prod"},
		{labels.Requirement{Key: "env", Operator: labels.Equals}, "env="},
		{labels.Requirement{Key: "env", Operator: labels.NotEquals, Values: []string{"prod"}}, "env!=prod"},
		{labels.Requirement{Key: "env", Operator: labels.In, Values: []string{"a", "b"}}, "env in (a,b)"},
		{labels.Requirement{Key: "env", Operator: labels.NotIn, Values: []string{"a"}}, "env notin (a)"},
		{labels.Requirement{Key: "env", Operator: labels.Exists}, "env"},
		{labels.Requirement{Key: "env", Operator: labels.NotExists}, "!env"},
		{labels.Requirement{Key: "env", Operator: "~"}, `env <invalid operator "~"> []`},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.r.String())
	}
}

func TestValidateKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"a", "Z", "0", "env", "a.b-c_d", "jobgraph.io/role", "a/b", "x-1.y/Z_9",
		strings.Repeat("p", 253) + "/" + strings.Repeat("n", 63)} {
		require.NoError(t, labels.ValidateKey(k), "%q", k)
	}
	tests := []struct{ key, err string }{
		{"", `invalid key "": must not be empty`},
		{"-x", `invalid key "-x": must start and end with a letter or digit`},
		{"a b", `invalid key "a b": must consist of letters, digits, '-', '_' or '.'`},
		{"a=b", `invalid key "a=b": must consist of letters, digits, '-', '_' or '.'`},
		{"/", `invalid key "/": prefix must not be empty`},
		{"a/", `invalid key "a/": name must not be empty`},
		{"a//b", `invalid key "a//b": must contain at most one '/'`},
		{"A/b", `invalid key "A/b": prefix must consist of lowercase letters, digits, '-' or '.'`},
		{strings.Repeat("n", 64), `invalid key "` + strings.Repeat("n", 64) + `": must be at most 63 characters`},
	}
	for _, tt := range tests {
		err := labels.ValidateKey(tt.key)
		require.EqualError(t, err, tt.err)
		require.ErrorIs(t, err, labels.ErrInvalidKey)
		require.NotErrorIs(t, err, labels.ErrInvalidValue)
	}
}

func TestValidateValue(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "a", "Z", "9", "prod", "1.2.3", "a_b-c.D", strings.Repeat("x", 63)} {
		require.NoError(t, labels.ValidateValue(v), "%q", v)
	}
	tests := []struct{ value, err string }{
		{" ", `invalid value " ": must consist of letters, digits, '-', '_' or '.'`},
		{"a/b", `invalid value "a/b": must consist of letters, digits, '-', '_' or '.'`},
		{"-a", `invalid value "-a": must start and end with a letter or digit`},
		{"a.", `invalid value "a.": must start and end with a letter or digit`},
		{"_", `invalid value "_": must start and end with a letter or digit`},
		{strings.Repeat("x", 64), `invalid value "` + strings.Repeat("x", 64) + `": must be at most 63 characters`},
	}
	for _, tt := range tests {
		err := labels.ValidateValue(tt.value)
		require.EqualError(t, err, tt.err)
		require.ErrorIs(t, err, labels.ErrInvalidValue)
		require.NotErrorIs(t, err, labels.ErrInvalidKey)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		labels map[string]string
		err    string // "" for valid
		is     error
	}{
		{name: "nil", labels: nil},
		{name: "empty", labels: map[string]string{}},
		{name: "valid", labels: map[string]string{"env": "prod", "tier": "", "jobgraph.io/role": "db", "Zone": "eu-1"}},
		{
			name:   "bad key",
			labels: map[string]string{"env": "prod", "-x": "1"},
			err:    `invalid key "-x": must start and end with a letter or digit`,
			is:     labels.ErrInvalidKey,
		},
		{
			name:   "empty key",
			labels: map[string]string{"": "x"},
			err:    `invalid key "": must not be empty`,
			is:     labels.ErrInvalidKey,
		},
		{
			name:   "bad value names its key",
			labels: map[string]string{"env": "prod!", "tier": "web"},
			err:    `invalid value "prod!" for key "env": must consist of letters, digits, '-', '_' or '.'`,
			is:     labels.ErrInvalidValue,
		},
		{
			name:   "first offending key in sorted order",
			labels: map[string]string{"d": "-", "b": "-", "c/": "x", "a": "ok", "e~": ""},
			err:    `invalid value "-" for key "b": must start and end with a letter or digit`,
			is:     labels.ErrInvalidValue,
		},
		{
			name:   "key before its value",
			labels: map[string]string{"b~": "-"},
			err:    `invalid key "b~": must consist of letters, digits, '-', '_' or '.'`,
			is:     labels.ErrInvalidKey,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Map iteration order is random; repeat to catch order dependence.
			for range 20 {
				err := labels.Validate(tt.labels)
				if tt.err == "" {
					require.NoError(t, err)
					continue
				}
				require.EqualError(t, err, tt.err)
				require.ErrorIs(t, err, tt.is)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	err := error(&labels.ParseError{Input: "a b", Pos: 2, Msg: "boom"})
	require.EqualError(t, err, `invalid selector "a b" at position 2: boom`)
	require.ErrorIs(t, err, labels.ErrInvalidSelector)
	require.NotErrorIs(t, err, labels.ErrEmpty)
	require.ErrorIs(t, fmt.Errorf("group %q: %w", "web", err), labels.ErrInvalidSelector)
	require.False(t, errors.Is(labels.ErrInvalidSelector, labels.ErrEmpty))
}

func FuzzParse(f *testing.F) {
	for _, tt := range validSelectors {
		f.Add(tt.in)
	}
	for _, s := range []string{
		"", " ", ",", "!", "env,", "tier in (", "tier in ()", "tier in (a,)", "env ! = x",
		"a/b/c", "é=ü", "env=prod\x00", "in in in", "notin(", "x in (a)(b)", "k\tnotin\n(\rv\t)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sel, err := labels.Parse(in)
		if err != nil {
			require.ErrorIs(t, err, labels.ErrInvalidSelector)
			var perr *labels.ParseError
			if errors.As(err, &perr) {
				require.GreaterOrEqual(t, perr.Pos, 0)
				require.LessOrEqual(t, perr.Pos, len(in))
			} else {
				require.ErrorIs(t, err, labels.ErrEmpty)
			}
			require.Zero(t, sel)
			return
		}
		s := sel.String()
		require.NotEmpty(t, s)
		again, err := labels.Parse(s)
		require.NoError(t, err, "canonical form %q of %q", s, in)
		require.Equal(t, s, again.String())
		require.Equal(t, sel, again)

		reqs := sel.Requirements()
		require.NotEmpty(t, reqs)
		require.LessOrEqual(t, len(reqs), 64)
		// A host carrying exactly the labels a requirement names is a
		// well-formed label set, and matching never panics.
		host := map[string]string{}
		for _, r := range reqs {
			require.NoError(t, labels.ValidateKey(r.Key))
			for _, v := range r.Values {
				require.NoError(t, labels.ValidateValue(v))
				host[r.Key] = v
			}
		}
		require.NoError(t, labels.Validate(host))
		_ = sel.Matches(host)
		_ = sel.Matches(nil)
	})
}
