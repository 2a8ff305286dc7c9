package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

func TestSecretsOf(t *testing.T) {
	t.Parallel()
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIB\n-----END OPENSSH PRIVATE KEY-----\n"
	for _, tc := range []struct {
		name         string
		cred         *sdk.Credential
		params       string
		secretParams []string
		want         []string
	}{
		{name: "nothing"},
		{name: "credential", cred: &sdk.Credential{Secret: []byte("hunter22"), Passphrase: []byte("passphrase!")},
			want: []string{"passphrase!", "hunter22"}},
		{name: "too short to redact", cred: &sdk.Credential{Secret: []byte("abc")}},
		{name: "multi-line key: whole and each long line", cred: &sdk.Credential{Secret: []byte(key)},
			want: []string{key, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "AAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIB"}},
		{name: "secret params: string, escaped form, number; others ignored",
			params:       `{"token":"a\"quoted\"secret","pin":123456,"user":"bob-the-user","none":null}`,
			secretParams: []string{"token", "pin", "none", "absent"},
			want:         []string{`a\"quoted\"secret`, `a"quoted"secret`, "123456"}},
		{name: "duplicates collapse", cred: &sdk.Credential{Secret: []byte("same-secret")},
			params: `{"p":"same-secret"}`, secretParams: []string{"p"}, want: []string{"same-secret"}},
		{name: "params that are not an object", params: `[1,2]`, secretParams: []string{"p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := secretsOf(tc.cred, []byte(tc.params), tc.secretParams)
			var s []string
			for _, p := range got {
				s = append(s, string(p))
			}
			require.Equal(t, tc.want, s)
		})
	}
}

// recorder is an io.Writer that keeps each write.
type recorder struct{ writes []string }

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func TestRedactingWriterAcrossChunks(t *testing.T) {
	t.Parallel()
	pats := patterns{[]byte("password123"), []byte("tok-9999")}
	for _, tc := range []struct {
		name   string
		chunks []string
		want   string
	}{
		{"one chunk", []string{"a password123 b"}, "a [REDACTED] b"},
		{"two chunks", []string{"a pass", "word123 b"}, "a [REDACTED] b"},
		{"three chunks", []string{"a pa", "ssword1", "23 b"}, "a [REDACTED] b"},
		{"a prefix that does not complete", []string{"a pass", "port b"}, "a passport b"},
		{"held prefix at the end is flushed", []string{"ends with pass"}, "ends with pass"},
		{"two secrets across chunks", []string{"tok-9", "999 and password", "123"}, "[REDACTED] and [REDACTED]"},
		{"repeated", []string{"password123password1", "23"}, "[REDACTED][REDACTED]"},
		{"byte by byte", strings.Split("x password123 y", ""), "x [REDACTED] y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			w := &redactingWriter{w: rec, pats: pats}
			for _, c := range tc.chunks {
				n, err := w.Write([]byte(c))
				require.NoError(t, err)
				require.Equal(t, len(c), n)
			}
			require.NoError(t, w.flush())
			require.Equal(t, tc.want, strings.Join(rec.writes, ""))
		})
	}

	t.Run("every split point", func(t *testing.T) {
		t.Parallel()
		text := "login: password123\nthen tok-9999, again password123."
		want := string(pats.redact([]byte(text)))
		for i := range len(text) {
			for j := i; j < len(text); j += 3 {
				rec := &recorder{}
				w := &redactingWriter{w: rec, pats: pats}
				for _, c := range []string{text[:i], text[i:j], text[j:]} {
					_, _ = w.Write([]byte(c))
				}
				require.NoError(t, w.flush())
				require.Equal(t, want, strings.Join(rec.writes, ""), "split at %d, %d", i, j)
				for _, wr := range rec.writes {
					require.NotContains(t, wr, "password123")
				}
			}
		}
	})
}

func TestRedactError(t *testing.T) {
	t.Parallel()
	pats := patterns{[]byte("hunter22")}

	plain := errors.New("connection refused")
	require.Same(t, plain, pats.redactError(plain), "an error without a secret is kept as is")
	require.NoError(t, pats.redactError(nil))

	st := status.Error(codes.PermissionDenied, "login hunter22 refused")
	got := pats.redactError(st)
	require.Equal(t, "rpc error: code = PermissionDenied desc = login [REDACTED] refused", got.Error())
	require.Equal(t, codes.PermissionDenied, status.Code(got))

	exited := fmt.Errorf("%w: dsn user:hunter22@db", sdk.ErrPluginExited)
	got = pats.redactError(exited)
	require.ErrorIs(t, got, sdk.ErrPluginExited)
	require.NotContains(t, got.Error(), "hunter22")

	got = pats.redactError(&sdk.ProtocolError{Msg: "bad event hunter22"})
	var pe *sdk.ProtocolError
	require.ErrorAs(t, got, &pe)
	require.Equal(t, "bad event [REDACTED]", pe.Msg)

	got = pats.redactError(fmt.Errorf("hunter22: %w", context.Canceled))
	require.ErrorIs(t, got, context.Canceled)
}

// fakeExecutor is an in-process sdk.Executor with function fields.
type fakeExecutor struct {
	execute func(context.Context, sdk.Task, sdk.Output) (sdk.Result, error)
}

func (f fakeExecutor) Describe(context.Context) (sdk.Info, error) { return sdk.Info{Name: "fake"}, nil }
func (f fakeExecutor) Execute(ctx context.Context, t sdk.Task, out sdk.Output) (sdk.Result, error) {
	return f.execute(ctx, t, out)
}

func TestRedactorInProcess(t *testing.T) {
	t.Parallel()
	info := sdk.Info{Name: "fake", Actions: []sdk.Action{{Name: "run", SecretParams: []string{"apikey"}}}}
	r := NewRedactor(fakeExecutor{execute: func(_ context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
		fmt.Fprintf(out.Stdout(), "key=%s cred=%s", "key-123456", task.Credential.Secret)
		out.SetOutput("k", "key-123456")
		return sdk.Result{}, fmt.Errorf("dial with %s: %w", task.Credential.Secret, sdk.Retryable(errors.New("refused")))
	}}, info)
	out := &capture{}
	_, err := r.Execute(t.Context(), sdk.Task{
		Action: "run", Params: []byte(`{"apikey":"key-123456"}`),
		Credential: &sdk.Credential{Secret: []byte("pw-abcdef")},
	}, out)
	require.EqualError(t, err, "dial with [REDACTED]: refused")
	require.Equal(t, "key=[REDACTED] cred=[REDACTED]", out.stdout.String())
	require.Equal(t, "[REDACTED]", out.outputs["k"])

	// Another action has no secret params: its values pass.
	_, err = r.Execute(t.Context(), sdk.Task{Action: "other", Params: []byte(`{"apikey":"key-123456"}`),
		Credential: &sdk.Credential{Secret: []byte("pw-abcdef")}}, &capture{})
	require.EqualError(t, err, "dial with [REDACTED]: refused")

	// next has no Validate: nothing to report.
	errs, err := r.Validate(t.Context(), sdk.ValidateRequest{Action: "run"})
	require.NoError(t, err)
	require.Empty(t, errs)
}

func TestSecretSet(t *testing.T) {
	t.Parallel()
	s := newSecretSet()
	require.Equal(t, "a hunter22 b", s.redactString("a hunter22 b"))
	release := s.add(patterns{[]byte("hunter22")})
	s.add(patterns{[]byte("tok-12345678")})
	require.Equal(t, "a [REDACTED] b [REDACTED]", s.redactString("a hunter22 b tok-12345678"))
	release() // effective after logRedactGrace
	require.Equal(t, "[REDACTED]", s.redactString("hunter22"))
}
