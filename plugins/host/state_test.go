package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

func TestStateTransitions(t *testing.T) {
	t.Parallel()
	for _, s := range States() {
		require.Contains(t, stateTransitions, s, "every state has its row")
		require.True(t, s.CanTransitionTo(StateStopped) || s == StateStarting, "%s can be stopped", s)
	}
	require.Len(t, stateTransitions, len(States()))
	require.True(t, StateStarting.CanTransitionTo(StateReady))
	require.False(t, StateReady.CanTransitionTo(StateStarting), "a live process is retired before another starts")
	require.False(t, StateNotStarted.CanTransitionTo(StateReady))
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	minB, maxB := 200*time.Millisecond, 30*time.Second
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0},
		{1, 200 * time.Millisecond},
		{2, 400 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{8, 25600 * time.Millisecond},
		{9, 30 * time.Second},
		{1000, 30 * time.Second},
	} {
		require.Equal(t, tc.want, backoff(tc.failures, minB, maxB), "failures=%d", tc.failures)
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o := Options{}.withDefaults()
	require.Equal(t, 10*time.Second, o.StartTimeout)
	require.Equal(t, 5*time.Second, o.DescribeTimeout)
	require.Equal(t, 10*time.Minute, o.IdleTimeout)
	require.Equal(t, 30*time.Second, o.HealthInterval)
	require.Equal(t, 200*time.Millisecond, o.MinBackoff)
	require.Equal(t, 30*time.Second, o.MaxBackoff)
	require.NotNil(t, o.Logger)

	o = Options{IdleTimeout: Never, HealthInterval: Never, MinBackoff: time.Second, MaxBackoff: time.Millisecond}.withDefaults()
	require.Equal(t, Never, o.IdleTimeout)
	require.Equal(t, Never, o.HealthInterval)
	require.Equal(t, time.Second, o.MaxBackoff, "MaxBackoff is at least MinBackoff")
}

func TestPluginError(t *testing.T) {
	t.Parallel()
	err := pluginErr("ssh", "start", ErrChecksumMismatch)
	require.EqualError(t, err, `executor plugin "ssh": start: plugin binary checksum mismatch`)
	require.ErrorIs(t, err, ErrChecksumMismatch)
	require.Same(t, err, pluginErr("ssh", "execute", err), "not wrapped twice")
	require.NoError(t, pluginErr("ssh", "start", nil))
}

func TestHCLogAdapter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	redact := func(s string) string {
		return string(bytes.ReplaceAll([]byte(s), []byte("hunter22"), []byte(Redacted)))
	}
	a := newHCLogAdapter(l, "myplugin", redact)

	require.Equal(t, hclog.Info, a.GetLevel())
	require.False(t, a.IsDebug())
	require.True(t, a.IsWarn())

	a.Debug("dropped: below the handler's level")
	a.Warn("plugin process exited", "plugin", "/path/to/bin", "err", errors.New("login hunter22"))
	a.Named("myplugin").Debug("[stderr line with hunter22]")
	a.With("k", "v").Named("stdio").Error("boom")
	out := buf.String()
	require.NotContains(t, out, "dropped")
	require.Contains(t, out, `level=WARN msg="plugin process exited" plugin_path=/path/to/bin err="login [REDACTED]"`)
	require.Contains(t, out, `level=INFO msg="[stderr line with [REDACTED]]" logger=myplugin stream=stderr`, "plain stderr lines are raised to Info")
	require.Contains(t, out, `level=ERROR msg=boom logger=stdio k=v`)

	buf.Reset()
	w := newStdioWriter(l, "stdout", redact)
	_, _ = w.Write([]byte("first line\nsecond hun"))
	_, _ = w.Write([]byte("ter22 line\n[WARN] careful\nno newline"))
	w.flush()
	out = buf.String()
	require.Contains(t, out, `level=INFO msg="first line" stream=stdout`)
	require.Contains(t, out, `level=INFO msg="second [REDACTED] line" stream=stdout`)
	require.Contains(t, out, `level=WARN msg="[WARN] careful" stream=stdout`)
	require.Contains(t, out, `level=INFO msg="no newline" stream=stdout`)
}

func TestCallContext(t *testing.T) {
	t.Parallel()
	p := &process{}
	p.ctx, p.cancel = context.WithCancelCause(context.Background())

	ctx, done := p.callContext(t.Context(), 0)
	_, hasDeadline := ctx.Deadline()
	require.False(t, hasDeadline)
	done()
	require.Error(t, ctx.Err(), "done releases the call's context")

	ctx, done = p.callContext(t.Context(), time.Minute)
	defer done()
	deadline, ok := ctx.Deadline()
	require.True(t, ok)
	require.WithinDuration(t, time.Now().Add(time.Minute+timeoutGrace), deadline, time.Second, "the plugin gets a grace period past the task's timeout")

	cause := fmt.Errorf("%w: test", sdk.ErrPluginExited)
	p.cancel(cause)
	<-ctx.Done()
	require.ErrorIs(t, context.Cause(ctx), sdk.ErrPluginExited, "a call ends with its process, with the process's cause")

	s := &slot{}
	require.ErrorIs(t, s.callError(t.Context(), ctx, p, context.Canceled), sdk.ErrPluginExited)
	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, s.callError(cctx, ctx, p, errors.New("rpc")), context.Canceled, "the caller's cancellation wins")
}
