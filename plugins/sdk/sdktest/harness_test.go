package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest/internal/echo"
)

var echoSuite = Suite{
	Quick: sdk.Task{Action: "say", Params: json.RawMessage(`{"text": "hello"}`)},
	Slow:  sdk.Task{Action: "wait", Params: json.RawMessage(`{"line": "started"}`)},
	Invalid: []sdk.Task{
		{Action: "say", Params: json.RawMessage(`{"text": "hello", "exit_code": 300}`)},
	},
	SlowTimeout: 300 * time.Millisecond,
}

func TestConformanceInProcess(t *testing.T) {
	t.Parallel()
	Conformance(t, InProcess(t, echo.New()), echoSuite)
}

func TestConformanceProcess(t *testing.T) {
	t.Parallel()
	Conformance(t, Process(t, exec.Command(echoBinary)), echoSuite)
}

func TestExecuteRecordsEverything(t *testing.T) {
	t.Parallel()
	for name, h := range map[string]*Harness{
		"in-process": InProcess(t, echo.New()),
		"process":    Process(t, exec.Command(echoBinary)),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run := h.Execute(t, sdk.Task{Action: "say", Params: json.RawMessage(`{"text": "out", "stderr": "err", "exit_code": 3}`)})
			run.RequireStatus(t, sdk.StatusFailed)
			require.Equal(t, 3, run.Result.ExitCode)
			require.Equal(t, "out\n", run.StdoutText())
			require.Equal(t, "err\n", run.StderrText())
			require.Equal(t, []Progress{{100, "said it"}}, run.Progresses())
			require.Equal(t, map[string]string{"text": "out"}, run.Outputs())
			require.Equal(t, 4, run.Events())
			require.True(t, strings.HasPrefix(run.Task.ID, "sdktest-"), "a task without an ID gets one: %q", run.Task.ID)
		})
	}
}

func TestStartWaitAndCancel(t *testing.T) {
	t.Parallel()
	h := InProcess(t, echo.New())
	x := h.Start(t, sdk.Task{Action: "wait", Params: json.RawMessage(`{"line": "ready"}`)})
	x.WaitStdout(t, "ready\n")
	select {
	case <-x.Done():
		t.Fatal("the task ended before it was cancelled")
	default:
	}
	x.Cancel()
	run := x.Wait(t)
	require.ErrorIs(t, run.Err, context.Canceled)
	require.Equal(t, sdk.Status(0), run.Status())
}

func TestProcessCrash(t *testing.T) {
	t.Parallel()
	h := Process(t, exec.Command(echoBinary))
	run := h.Execute(t, sdk.Task{Action: "crash", Params: json.RawMessage(`{}`)})
	require.ErrorIs(t, run.Err, sdk.ErrPluginExited, "%s", run)
	_, err := h.Executor().Describe(t.Context())
	require.Error(t, err, "a crashed plugin answers nothing")
	// go-plugin notices the exit asynchronously.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.After(h.Timeout); !h.Exited(); {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the harness never saw the plugin exit")
		}
	}
}

func TestProcessLeakIsCaught(t *testing.T) {
	t.Parallel()
	h := Process(t, exec.Command(echoBinary))
	leaky := echoSuite
	leaky.Quick = sdk.Task{Action: "leak", Params: json.RawMessage(`{}`)}
	got := runCheck(t, checkSecrets, h, leaky)
	require.True(t, got.Failed(), "a secret on the plugin's stderr is caught")
	require.Contains(t, got.String(), "the plugin's own output and logs")
}

func TestInProcessCrashIsRefused(t *testing.T) {
	t.Parallel()
	run := InProcess(t, echo.New()).Execute(t, sdk.Task{Action: "crash", Params: json.RawMessage(`{}`)})
	run.RequireStatus(t, sdk.StatusError)
}

// TestClientReleasesStreams guards a fix in sdk.Client.Execute: it used to
// return at the result without ending the gRPC stream, which leaked the
// stream (and a goroutine) until the caller's context ended; a worker's
// context lives as long as the worker. It counts the process's goroutines,
// so it does not run in parallel with other tests.
func TestClientReleasesStreams(t *testing.T) {
	h := InProcess(t, echo.New())
	ctx := t.Context() // lives as long as the test, like a worker's
	say := sdk.Task{Action: "say", Params: json.RawMessage(`{"text": "hi"}`)}
	for range 5 {
		h.run(ctx, fresh(h, say)).RequireStatus(t, sdk.StatusSucceeded)
	}
	before := runtime.NumGoroutine()
	const n = 200
	for range n {
		h.run(ctx, fresh(h, say)).RequireStatus(t, sdk.StatusSucceeded)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+n/4 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before+n/4, "goroutines before %d executions: %d", n, before)
}

// fakeExecutor is echo with function fields to make it misbehave.
type fakeExecutor struct {
	echo     *echo.Executor
	describe func(ctx context.Context) (sdk.Info, error)
	execute  func(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error)
}

func newFake() *fakeExecutor {
	e := echo.New()
	return &fakeExecutor{echo: e, describe: e.Describe, execute: e.Execute}
}

func (f *fakeExecutor) Describe(ctx context.Context) (sdk.Info, error) { return f.describe(ctx) }
func (f *fakeExecutor) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	return f.execute(ctx, task, out)
}

// fakeTB records failures instead of failing the test, so that the kit's
// checks can be shown to fail.
type fakeTB struct {
	testing.TB // the real test, for Log, Cleanup, Context and Helper
	mu         sync.Mutex
	failed     bool
	msgs       []string
}

func (f *fakeTB) Fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
}

func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Error(args ...any)                 { f.Errorf("%s", fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...); runtime.Goexit() }
func (f *fakeTB) Fatal(args ...any)                 { f.Error(args...); runtime.Goexit() }
func (f *fakeTB) FailNow()                          { f.Fail(); runtime.Goexit() }

func (f *fakeTB) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.msgs, "\n")
}

// runCheck runs check against h under a fakeTB and returns it.
func runCheck(t *testing.T, check func(testing.TB, *Harness, Suite), h *Harness, s Suite) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(f, h, s)
	}()
	<-done
	return f
}

func TestChecksCatchBadExecutors(t *testing.T) {
	t.Parallel()
	okInfo := func(f *fakeExecutor) sdk.Info { info, _ := f.echo.Describe(context.Background()); return info }
	describing := func(mutate func(*sdk.Info)) func(*fakeExecutor) {
		return func(f *fakeExecutor) {
			info := okInfo(f)
			info.Actions = append([]sdk.Action(nil), info.Actions...)
			mutate(&info)
			f.describe = func(context.Context) (sdk.Info, error) { return info, nil }
		}
	}
	ignoringCtx := func(t *testing.T) func(*fakeExecutor) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		return func(f *fakeExecutor) {
			f.execute = func(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
				if task.Action != "wait" {
					return f.echo.Execute(ctx, task, out)
				}
				fmt.Fprintln(out.Stdout(), "started")
				<-release
				return sdk.ContextResult(ctx), nil
			}
		}
	}
	tests := []struct {
		name  string
		check func(testing.TB, *Harness, Suite)
		bad   func(t *testing.T) func(*fakeExecutor)
		want  string
	}{
		{"bad name", checkDescribe, func(*testing.T) func(*fakeExecutor) {
			return describing(func(i *sdk.Info) { i.Name = "Echo!" })
		}, "name is 1–63"},
		{"bad version", checkDescribe, func(*testing.T) func(*fakeExecutor) {
			return describing(func(i *sdk.Info) { i.Version = "one" })
		}, "semantic version"},
		{"no actions", checkDescribe, func(*testing.T) func(*fakeExecutor) {
			return describing(func(i *sdk.Info) { i.Actions = nil })
		}, "at least one action"},
		{"duplicate action", checkDescribe, func(*testing.T) func(*fakeExecutor) {
			return describing(func(i *sdk.Info) { i.Actions = append(i.Actions, i.Actions[0]) })
		}, "listed twice"},
		{"schema of a string", checkDescribe, func(*testing.T) func(*fakeExecutor) {
			return describing(func(i *sdk.Info) { i.Actions[0].ParamsSchema = json.RawMessage(`{"type": "string"}`) })
		}, "parameters schema"},
		{"schema without a type", checkDescribe, func(*testing.T) func(*fakeExecutor) {
			return describing(func(i *sdk.Info) { i.Actions[0].ParamsSchema = json.RawMessage(`{}`) })
		}, `"type": "object"`},
		{"secret parameter not in the schema", checkDescribe, func(*testing.T) func(*fakeExecutor) {
			return describing(func(i *sdk.Info) { i.Actions[0].SecretParams = []string{"password"} })
		}, "secret parameter"},
		{"unstable describe", checkDescribe, func(*testing.T) func(*fakeExecutor) {
			return func(f *fakeExecutor) {
				var n int
				var mu sync.Mutex
				f.describe = func(context.Context) (sdk.Info, error) {
					mu.Lock()
					defer mu.Unlock()
					n++
					info := okInfo(f)
					info.Description = fmt.Sprint(n)
					return info, nil
				}
			}
		}, "the same every time"},
		{"suite action missing", checkDescribe, func(*testing.T) func(*fakeExecutor) {
			return describing(func(i *sdk.Info) { i.Actions = i.Actions[:1] })
		}, "the suite's action"},
		// An executor that accepts unknown actions or bad parameters cannot
		// be written with this SDK: its server refuses them before Execute
		// (sdk's server.check). The checks still guard plugins written in
		// other languages, such as examples/python-executor.
		{"fails under load", checkConcurrency, func(*testing.T) func(*fakeExecutor) {
			return func(f *fakeExecutor) {
				var n int
				var mu sync.Mutex
				f.execute = func(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
					mu.Lock()
					n++
					tired := n > 10
					mu.Unlock()
					if tired {
						return sdk.Exited(1), nil
					}
					return f.echo.Execute(ctx, task, out)
				}
			}
		}, "did not succeed"},
		{"ignores cancel", checkCancel, ignoringCtx, "ignores ctx"},
		{"ignores the Cancel RPC", checkCancelRPC, ignoringCtx, "did not end within"},
		{"ignores its timeout", checkTimeout, ignoringCtx, "did not end within"},
		{"reports a timeout as a cancel", checkTimeout, func(*testing.T) func(*fakeExecutor) {
			return func(f *fakeExecutor) {
				f.execute = func(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
					fmt.Fprintln(out.Stdout(), "started")
					<-ctx.Done()
					return sdk.Result{Status: sdk.StatusCanceled}, nil
				}
			}
		}, "want status timed_out"},
		{"prints the secret", checkSecrets, func(*testing.T) func(*fakeExecutor) {
			return func(f *fakeExecutor) {
				f.execute = func(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
					fmt.Fprintf(out.Stderr(), "logging in with %s\n", task.Credential.Secret)
					return sdk.Succeeded(), nil
				}
			}
		}, "appears in its output"},
		{"puts the passphrase in an error", checkSecrets, func(*testing.T) func(*fakeExecutor) {
			return func(f *fakeExecutor) {
				f.execute = func(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
					return sdk.Result{}, errors.New("bad passphrase " + string(task.Credential.Passphrase))
				}
			}
		}, "appears in its result's error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			tt.bad(t)(f)
			h := InProcess(t, f)
			h.CancelGrace = 300 * time.Millisecond
			got := runCheck(t, tt.check, h, echoSuite)
			require.True(t, got.Failed(), "the check passed a bad executor")
			require.Contains(t, got.String(), tt.want)
		})
	}
}

func TestChecksPassAGoodExecutor(t *testing.T) {
	t.Parallel()
	h := InProcess(t, newFake())
	for _, c := range checks {
		got := runCheck(t, c.run, h, echoSuite)
		require.False(t, got.Failed(), "%s: %s", c.name, got)
	}
}

func TestDependsOnlyOnTheSDK(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/jobgraph/jobgraph/") {
			require.Truef(t, strings.HasPrefix(p, "github.com/jobgraph/jobgraph/plugins/sdk") ||
				strings.HasPrefix(p, "github.com/jobgraph/jobgraph/plugins/proto/"),
				"sdktest depends on %s: plugin authors must need nothing but the SDK", p)
		}
	}
}
