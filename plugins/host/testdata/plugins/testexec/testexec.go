// Package testexec holds the executors of the host's test plugins, so that
// the plugin binaries (package main next to it) and the host's benchmark
// (in-process) run the same code.
package testexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/jobgraph/jobgraph/plugins/proto/executor/v1"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Good is a well-behaved executor with actions that misbehave on request:
//
//	noop   returns at once
//	echo   {"text", "password"}: prints text, reports progress and outputs
//	slow   prints a line every interval_ms until cancelled
//	crash  panics, which kills the process
//	wedge  makes every later Describe block forever
//	leak   echoes the credential and the "token" secret param everywhere
//	stats  reports counters as outputs: describes, validates, cancels
type Good struct {
	Name      string
	describes atomic.Int64
	validates atomic.Int64
	cancels   atomic.Int64
	wedged    atomic.Bool
}

var (
	_ sdk.Executor  = (*Good)(nil)
	_ sdk.Validator = (*Good)(nil)
)

// NewGood returns a Good named by $JG_TEST_NAME, or "good".
func NewGood() *Good {
	name := os.Getenv("JG_TEST_NAME")
	if name == "" {
		name = "good"
	}
	return &Good{Name: name}
}

// Describe implements sdk.Executor.
func (g *Good) Describe(context.Context) (sdk.Info, error) {
	g.describes.Add(1)
	if g.wedged.Load() {
		select {} // never answers
	}
	obj := sdk.MustSchema(`{"type":"object"}`)
	return sdk.Info{
		Name: g.Name, Version: "1.2.3", Description: "test executor",
		Actions: []sdk.Action{
			{Name: "noop", ParamsSchema: obj},
			{Name: "echo", ParamsSchema: sdk.MustSchema(`{"type":"object","properties":{"text":{"type":"string","maxLength":100},"password":{"type":"string"}},"required":["text"],"additionalProperties":false}`), SecretParams: []string{"password"}},
			{Name: "slow", ParamsSchema: sdk.MustSchema(`{"type":"object","properties":{"interval_ms":{"type":"integer","minimum":1}}}`)},
			{Name: "crash", ParamsSchema: obj},
			{Name: "wedge", ParamsSchema: obj},
			{Name: "leak", ParamsSchema: sdk.MustSchema(`{"type":"object","properties":{"token":{"type":"string"}}}`), SecretParams: []string{"token"}},
			{Name: "stats", ParamsSchema: obj},
		},
	}, nil
}

// Validate implements sdk.Validator.
func (g *Good) Validate(_ context.Context, req sdk.ValidateRequest) ([]sdk.FieldError, error) {
	if req.Action != "stats" { // the SDK also validates stats before running it
		g.validates.Add(1)
	}
	if req.Action != "echo" {
		return nil, nil
	}
	var p struct{ Text, Password string }
	if err := (sdk.Task{Action: req.Action, Params: req.Params}).DecodeParams(&p); err != nil {
		return nil, err
	}
	switch p.Text {
	case "forbidden":
		return []sdk.FieldError{{Field: "text", Message: "the plugin forbids this text"}}, nil
	case "check-password":
		return []sdk.FieldError{{Field: "password", Message: "wrong password " + p.Password}}, nil
	}
	return nil, nil
}

// Execute implements sdk.Executor.
func (g *Good) Execute(ctx context.Context, t sdk.Task, out sdk.Output) (sdk.Result, error) {
	switch t.Action {
	case "noop":
		return sdk.Succeeded(), nil
	case "echo":
		var p struct{ Text, Password string }
		if err := t.DecodeParams(&p); err != nil {
			return sdk.Result{}, err
		}
		fmt.Fprintln(out.Stdout(), p.Text)
		out.Progress(50, "halfway")
		out.SetOutput("text", p.Text)
		out.SetOutput("pid", strconv.Itoa(os.Getpid()))
		return sdk.Succeeded(), nil
	case "slow":
		var p struct {
			IntervalMS int `json:"interval_ms"`
		}
		if err := t.DecodeParams(&p); err != nil {
			return sdk.Result{}, err
		}
		iv := time.Duration(max(p.IntervalMS, 1)) * time.Millisecond
		tick := time.NewTicker(iv)
		defer tick.Stop()
		for i := 1; ; i++ {
			fmt.Fprintf(out.Stdout(), "line %d\n", i)
			select {
			case <-ctx.Done():
				g.cancels.Add(1)
				return sdk.ContextResult(ctx), nil
			case <-tick.C:
			}
		}
	case "crash":
		fmt.Fprintln(out.Stdout(), "about to crash")
		panic("crash requested by the test")
	case "wedge":
		g.wedged.Store(true)
		return sdk.Succeeded(), nil
	case "leak":
		return g.leak(t, out)
	case "stats":
		out.SetOutput("describes", strconv.FormatInt(g.describes.Load(), 10))
		out.SetOutput("validates", strconv.FormatInt(g.validates.Load(), 10))
		out.SetOutput("cancels", strconv.FormatInt(g.cancels.Load(), 10))
		out.SetOutput("pid", strconv.Itoa(os.Getpid()))
		return sdk.Succeeded(), nil
	}
	return sdk.Result{}, fmt.Errorf("unknown action %q", t.Action)
}

// leak does what a careless driver might: it echoes every secret it got.
func (g *Good) leak(t sdk.Task, out sdk.Output) (sdk.Result, error) {
	var p struct{ Token string }
	if err := t.DecodeParams(&p); err != nil {
		return sdk.Result{}, err
	}
	if t.Credential == nil {
		return sdk.Result{}, errors.New("leak needs a credential")
	}
	secret, pass := string(t.Credential.Secret), string(t.Credential.Passphrase)
	fmt.Fprintf(out.Stdout(), "connecting with password %s and passphrase %s\n", secret, pass)
	// The secret split across two chunks.
	half := len(secret) / 2
	fmt.Fprintf(out.Stdout(), "split: %s", secret[:half])
	fmt.Fprintf(out.Stdout(), "%s end\n", secret[half:])
	fmt.Fprintf(out.Stderr(), "token=%s\n", p.Token)
	out.Progress(10, "using "+secret)
	out.SetOutput("leaked", "token "+p.Token)
	// And into the process's stderr, which the host logs.
	fmt.Fprintf(os.Stderr, "[WARN] leak: logging in with %s\n", secret)
	return sdk.Result{Status: sdk.StatusFailed, ExitCode: 1, Error: "authentication failed for password " + secret}, nil
}

// WritePIDFile writes the process's PID to $JG_PIDFILE, if set, so that a
// test can check the host killed a process it never reported.
func WritePIDFile() {
	if f := os.Getenv("JG_PIDFILE"); f != "" {
		_ = os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o600)
	}
}

// ServeRaw serves a hand-written protocol implementation, for plugins that
// must break the protocol in ways the SDK does not let them.
func ServeRaw(srv pb.ExecutorServer) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{sdk.ProtocolVersion: {sdk.PluginName: &rawPlugin{srv: srv}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

type rawPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv pb.ExecutorServer
}

func (p *rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterExecutorServer(s, p.srv)
	return nil
}

func (p *rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("plugin side only")
}
