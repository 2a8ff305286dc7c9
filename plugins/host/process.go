package host

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// killTimeout bounds a graceful stop: go-plugin's Kill asks the process to
// shut down and SIGKILLs it after 2s, but its Shutdown RPC itself can hang
// on a stopped (SIGSTOP) process; past this, the host SIGKILLs it.
const killTimeout = 5 * time.Second

// process is one running plugin process.
type process struct {
	cmd     *exec.Cmd
	client  *goplugin.Client
	conn    *grpc.ClientConn
	rpc     *sdk.Client // direct, for health checks
	exec    *Redactor   // what calls go through
	info    sdk.Info
	actions map[string]*action
	pid     int
	logger  *hclogAdapter
	stdio   []*stdioWriter // flushed when the process is gone

	startedAt time.Time
	// ctx is done when the process is retired (crashed, idle, host
	// stopped), with the reason as its cause; calls in flight end with it.
	ctx    context.Context
	cancel context.CancelCauseFunc

	// Guarded by the slot's mu.
	inflight int
	lastUsed time.Time
}

// action is what the host keeps of one action: its compiled schema, and
// its secret parameters.
type action struct {
	schema       *sdk.Schema
	secretParams []string
}

// launch starts a process for the slot's plugin, handshakes (go-plugin:
// checksum, cookie, protocol version, AutoMTLS), describes it and checks
// the answer. On any failure the process is killed and the error is a
// *PluginError naming the plugin.
func (s *slot) launch() (*process, error) {
	h, name := s.h, s.src.Name
	cmd := exec.Command(s.path, s.src.Args...)
	cmd.Env = append(sdk.PluginEnv(), s.src.Env...) // never the server's own environment
	setProcAttr(cmd)
	secrets := newSecretSet()
	logger := newHCLogAdapter(s.log, filepath.Base(s.path), secrets.redactString)
	stdout := newStdioWriter(s.log, "stdout", secrets.redactString)
	stderr := newStdioWriter(s.log, "stderr", secrets.redactString)
	cfg := &goplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(nil),
		Cmd:              cmd,
		AutoMTLS:         true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		// Not Managed: the host owns every process's lifecycle and kills
		// each one itself (plugin.CleanupClients is process-global, and
		// would kill other hosts' plugins, e.g. in parallel tests).
		Managed:      false,
		SkipHostEnv:  true,
		StartTimeout: h.opts.StartTimeout,
		Logger:       logger,
		SyncStdout:   stdout,
		SyncStderr:   stderr,
		// Without this, gRPC puts a channel that has no call in flight for
		// 30 minutes into IDLE, which watchConn would take for a crash.
		GRPCDialOptions: []grpc.DialOption{grpc.WithIdleTimeout(0)},
	}
	if len(s.src.Checksum) > 0 {
		cfg.SecureConfig = &goplugin.SecureConfig{Checksum: s.src.Checksum, Hash: sha256.New()}
	}
	client := goplugin.NewClient(cfg)
	startedAt := time.Now()
	fail := func(op string, err error) (*process, error) {
		(&process{cmd: cmd, client: client, logger: logger, stdio: []*stdioWriter{stdout, stderr}}).kill(true)
		return nil, &PluginError{Plugin: name, Op: op, Err: err}
	}

	rpcClient, err := client.Client()
	if err != nil {
		return fail("start", s.startError(err))
	}
	raw, err := rpcClient.Dispense(sdk.PluginName)
	if err != nil {
		return fail("start", fmt.Errorf("dispense: %w", err))
	}
	sc, ok := raw.(*sdk.Client)
	if !ok {
		return fail("start", fmt.Errorf("dispense returned %T, want *sdk.Client", raw))
	}
	var conn *grpc.ClientConn
	if gc, ok := rpcClient.(*goplugin.GRPCClient); ok {
		conn = gc.Conn
	}

	dctx, cancel := context.WithTimeout(h.ctx, h.opts.DescribeTimeout)
	info, err := sc.Describe(dctx)
	slow := timedOut(dctx, err)
	cancel()
	switch {
	case err != nil && slow:
		return fail("describe", fmt.Errorf("no answer within %s, the process was killed: %w", h.opts.DescribeTimeout, err))
	case err != nil && h.ctx.Err() != nil:
		return fail("describe", ErrClosed)
	case err != nil:
		return fail("describe", err)
	}
	actions, err := checkInfo(name, info)
	if err != nil {
		return fail("describe", err)
	}

	p := &process{
		cmd:       cmd,
		client:    client,
		conn:      conn,
		rpc:       sc,
		exec:      NewRedactor(sc, info),
		info:      info,
		actions:   actions,
		startedAt: startedAt,
		lastUsed:  time.Now(),
		logger:    logger,
		stdio:     []*stdioWriter{stdout, stderr},
	}
	p.exec.live = secrets
	if cmd.Process != nil {
		p.pid = cmd.Process.Pid
	}
	p.ctx, p.cancel = context.WithCancelCause(context.Background())
	return p, nil
}

// startError says what go-plugin's start errors mean. go-plugin builds
// them with errors.New (there is nothing to match but ErrChecksumsDoNotMatch),
// and some carry several lines of generic notes, which are cut.
func (s *slot) startError(err error) error {
	msg := err.Error()
	const unrecognized = "Unrecognized remote plugin message: "
	switch {
	case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("%w: %s no longer has the registered sha256, refused: %w", ErrChecksumMismatch, s.path, err)
	case strings.Contains(msg, "Failed to read any lines from plugin's stdout"),
		strings.Contains(msg, "exited before we could connect"):
		return fmt.Errorf("the process exited before its handshake (its stderr is in the log with plugin=%s)", s.src.Name)
	case strings.Contains(msg, unrecognized):
		line, _, _ := strings.Cut(msg[strings.Index(msg, unrecognized)+len(unrecognized):], "\n")
		return fmt.Errorf("bad handshake: the program printed %q instead of a go-plugin handshake line "+
			"(is it a jobgraph executor built with plugins/sdk, and does it print nothing to stdout before serving?)", line)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("no handshake within %s: %w", s.h.opts.StartTimeout, err)
	case strings.Contains(msg, "ncompatible API version"):
		return fmt.Errorf("protocol version negotiation failed (the host speaks executor protocol %d): %w", sdk.ProtocolVersion, err)
	case strings.Contains(msg, "ncompatible core API version"), strings.Contains(msg, "unsupported plugin protocol"):
		return fmt.Errorf("bad handshake: %w", err)
	}
	return err
}

// checkInfo checks a plugin's Describe answer and compiles its actions'
// schemas.
func checkInfo(name string, info sdk.Info) (map[string]*action, error) {
	if info.Name != name {
		return nil, fmt.Errorf("the plugin calls itself %q, but it is registered as %q", info.Name, name)
	}
	actions := make(map[string]*action, len(info.Actions))
	for _, a := range info.Actions {
		if !validName(a.Name) {
			return nil, fmt.Errorf("action %q: invalid name, want 1–63 of [a-z0-9_-]", a.Name)
		}
		if _, dup := actions[a.Name]; dup {
			return nil, fmt.Errorf("action %q is described twice", a.Name)
		}
		raw := a.ParamsSchema
		if len(raw) == 0 {
			raw = json.RawMessage(`{"type":"object"}`)
		}
		schema, err := sdk.CompileSchema(raw)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", a.Name, err)
		}
		actions[a.Name] = &action{schema: schema, secretParams: a.SecretParams}
	}
	return actions, nil
}

// healthCheck asks the process to describe itself within timeout.
func (p *process) healthCheck(timeout time.Duration) error {
	if p.client.Exited() {
		return errors.New("the process exited")
	}
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if _, err := p.rpc.Describe(ctx); err != nil {
		if timedOut(ctx, err) {
			return fmt.Errorf("describe did not answer within %s", timeout)
		}
		return fmt.Errorf("describe: %w", err)
	}
	return nil
}

// timedOut reports whether a call with ctx failed with err because its
// deadline passed. The plugin's gRPC server learns the deadline too, and
// may end the call with DeadlineExceeded a moment before ctx's own timer
// fires.
func timedOut(ctx context.Context, err error) bool {
	return errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded) ||
		status.Code(err) == codes.DeadlineExceeded
}

// kill ends the process and waits until it is gone and go-plugin's
// goroutines are done. hard sends SIGKILL first; otherwise go-plugin asks
// for a graceful shutdown, and the host SIGKILLs after killTimeout.
func (p *process) kill(hard bool) {
	sigkill := func() {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill() // a no-op once reaped: os.Process tracks it
		}
	}
	if hard {
		p.logger.expectKill()
		sigkill()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.client.Kill()
	}()
	t := time.NewTimer(killTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		sigkill()
		<-done
	}
	for _, w := range p.stdio {
		w.flush()
	}
}
