// Package winrm is the built-in "winrm" executor: it runs commands and
// PowerShell scripts on Windows hosts over WinRM (WS-Management), with
// github.com/masterzen/winrm.
//
// Actions:
//
//   - command: runs {command, args} in a cmd.exe shell (the WinRM shell
//     runs `cmd.exe /c command args...`).
//   - powershell: runs {script} as `powershell.exe -EncodedCommand
//     BASE64(UTF-16LE(script))`, as winrm.Powershell builds it.
//
// Connection: the task's target address, on its port or 5985 (HTTP) /
// 5986 (https: true). TLS verifies the host's certificate against the
// worker's system roots, or ca_pem; insecure_skip_verify turns that off
// only when explicitly true, with a warning on the plugin's stderr.
// Authentication uses a credential of kind "password" (username and
// secret), with NTLMv2 (auth: ntlm, the default) or Basic (auth: basic).
// With ntlm the executor never falls back to Basic. Over plain HTTP,
// Windows accepts NTLM only with AllowUnencrypted (the executor does not
// implement WinRM message encryption): use HTTPS.
//
// Running: the executor opens a shell, starts the command, and receives
// its stdout and stderr as the host produces them, writing each piece to
// the task's output as it arrives. The task succeeds when the command
// exits 0, fails otherwise, and exports the exit code as "exit_code".
// When the task is cancelled or times out, the executor sends the command
// a terminate Signal and deletes the shell (within CleanupTimeout), then
// returns Canceled or TimedOut. The same cleanup follows a normal end.
//
// Outputs of its own: the command exports them by printing lines
// `::set-output name=KEY::VALUE` on stdout (CRLF line ends are fine), e.g.
// `Write-Output "::set-output name=path::C:\app\$v"` in PowerShell or
// `echo ::set-output name=path::C:\app` in cmd.exe: see sdk.CommandOutput
// for the rules. The lines stay in the log, values are redacted like the
// rest of the output, and exit_code cannot be set that way.
//
// Errors: a host that cannot be reached (DNS, refused, timeout) is a
// retryable Error; refused credentials and TLS failures are Errors that
// are not. The password is removed from every error and from the output.
package winrm

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	mzwinrm "github.com/masterzen/winrm"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Name and Version identify the executor.
const (
	Name    = "winrm"
	Version = "1.0.0"
)

// Default ports.
const (
	DefaultHTTPPort  = 5985
	DefaultHTTPSPort = 5986
)

// ReceiveWait is the OperationTimeout the executor asks for: how long the
// host may hold a Receive when the command writes nothing (pywinrm's
// default).
const ReceiveWait = 20 * time.Second

// Executor is the winrm executor. It is safe for concurrent use.
type Executor struct {
	info    sdk.Info
	schemas map[string]*sdk.Schema
	warn    io.Writer // where warnings go: the plugin's stderr
}

var (
	_ sdk.Executor  = (*Executor)(nil)
	_ sdk.Validator = (*Executor)(nil)
)

// New returns the winrm executor.
func New() sdk.Executor { return newExecutor() }

func newExecutor() *Executor {
	e := &Executor{schemas: map[string]*sdk.Schema{}, warn: os.Stderr}
	e.info = sdk.Info{
		Name:        Name,
		Version:     Version,
		Description: "Runs commands and PowerShell scripts on Windows hosts over WinRM (HTTP or HTTPS, NTLM or Basic), streaming their output.",
		Actions:     actions(),
	}
	for _, a := range e.info.Actions {
		schema, err := sdk.CompileSchema(a.ParamsSchema)
		if err != nil {
			panic(err) // the schemas are literals, checked by MustSchema and the tests
		}
		e.schemas[a.Name] = schema
	}
	return e
}

// Describe implements sdk.Executor.
func (e *Executor) Describe(context.Context) (sdk.Info, error) { return e.info, nil }

// Validate implements sdk.Validator: beyond the schema, ca_pem must hold
// certificates, and the TLS options need https.
func (e *Executor) Validate(_ context.Context, req sdk.ValidateRequest) ([]sdk.FieldError, error) {
	_, problems := e.parse(req.Action, req.Params)
	return problems, nil
}

// Execute implements sdk.Executor.
func (e *Executor) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	p, problems := e.parse(task.Action, task.Params)
	if err := sdk.InvalidParams(task.Action, problems); err != nil {
		return sdk.Result{}, err
	}
	cred := task.Credential
	if cred == nil || cred.Kind != "password" || cred.Username == "" {
		return sdk.Result{}, errors.New("the winrm executor needs a credential of kind password, with a username")
	}
	if task.Target.Address == "" {
		return sdk.Result{}, errors.New("the target has no address")
	}
	secret := string(cred.Secret)
	res, err := e.run(ctx, task, p, cred.Username, secret, out)
	if err != nil {
		err = scrubbed(err, secret)
	}
	res.Error = scrub(res.Error, secret)
	return res, err
}

func (e *Executor) run(ctx context.Context, task sdk.Task, p params, user, pass string, out sdk.Output) (sdk.Result, error) {
	port := task.Target.Port
	if port == 0 {
		port = DefaultHTTPPort
		if p.HTTPS {
			port = DefaultHTTPSPort
		}
	}
	var roots *x509.CertPool
	if p.CAPEM != "" {
		var err error
		if roots, err = certPool(p.CAPEM); err != nil {
			return sdk.Result{}, fmt.Errorf("ca_pem: %w", err)
		}
	}
	if p.InsecureSkipVerify {
		fmt.Fprintf(e.warn, "warning: winrm task %s: insecure_skip_verify is set: the certificate of %s is not verified, anyone on the path can read the credential\n", task.ID, task.Target.Address)
	}
	scheme := "http"
	if p.HTTPS {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s/wsman", scheme, net.JoinHostPort(task.Target.Address, strconv.Itoa(port)))
	tr := newTransport(ctx, url, user, pass, p.conn, roots, ReceiveWait)
	defer tr.close()
	wp := mzwinrm.NewParameters(fmt.Sprintf("PT%dS", int(ReceiveWait/time.Second)), "en-US", 153600)
	wp.TransportDecorator = func() mzwinrm.Transporter { return tr }
	client, err := mzwinrm.NewClientWithParameters(&mzwinrm.Endpoint{Host: task.Target.Address, Port: port, HTTPS: p.HTTPS}, user, pass, wp)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("winrm client: %w", err)
	}

	command, args := p.Command, p.Args
	if task.Action == "powershell" {
		command, args = mzwinrm.Powershell(p.Script), nil
		if command == "" {
			return sdk.Result{}, errors.New("cannot encode the script in UTF-16")
		}
	}

	shell, err := client.CreateShell()
	if err != nil {
		return failure(ctx, "open a shell on "+task.Target.Address, err)
	}
	defer func() { _ = shell.Close() }() // Delete, on the cleanup budget
	cmd, err := shell.ExecuteWithContext(ctx, command, args...)
	if err != nil {
		return failure(ctx, "start the command on "+task.Target.Address, err)
	}

	// The client's pipes deliver each Receive's output as it arrives.
	// Output commands are parsed after redaction: a value never carries
	// the password.
	cmdOut := sdk.ParseOutputCommands(out, "exit_code")
	stdout, stderr := newRedactor(cmdOut.Stdout(), pass), newRedactor(out.Stderr(), pass)
	var (
		wg      sync.WaitGroup
		copyErr [2]error
	)
	wg.Go(func() { _, copyErr[0] = io.Copy(stdout, cmd.Stdout) })
	wg.Go(func() { _, copyErr[1] = io.Copy(stderr, cmd.Stderr) })
	cmd.Wait()
	wg.Wait()
	_ = cmd.Close() // Signal terminate: stops the command if it still runs, releases it otherwise
	flushErr := errors.Join(stdout.flush(), stderr.flush())
	cmdOut.End()

	if ctx.Err() != nil {
		return sdk.ContextResult(ctx), nil
	}
	for _, err := range copyErr {
		if err != nil {
			// The command started: it may have done part of its work, so
			// this is not worth retrying blindly.
			return sdk.Result{}, fmt.Errorf("lost the command's output from %s: %s", task.Target.Address, describe(err))
		}
	}
	if flushErr != nil {
		return sdk.Result{}, fmt.Errorf("write the output: %w", flushErr)
	}
	code := cmd.ExitCode()
	out.SetOutput("exit_code", strconv.Itoa(code))
	return sdk.Exited(code), nil
}

// failure is the outcome of a request that failed before the command ran.
func failure(ctx context.Context, what string, err error) (sdk.Result, error) {
	if ctx.Err() != nil {
		return sdk.ContextResult(ctx), nil
	}
	var he *hostError
	if errors.As(err, &he) {
		err = fmt.Errorf("%s: %s", what, he.msg)
		if he.retryable {
			return sdk.Result{}, sdk.Retryable(err)
		}
		return sdk.Result{}, err
	}
	return sdk.Result{}, fmt.Errorf("%s: %s", what, describe(err))
}

// describe words an error from the client: a *hostError's message, or
// the client's own text.
func describe(err error) string {
	var he *hostError
	if errors.As(err, &he) {
		return he.msg
	}
	return err.Error()
}

// Redacted replaces the password wherever it would appear.
const Redacted = "[REDACTED]"

// minSecret is the shortest password redacted from output: shorter ones
// would mangle ordinary output for little gain (the host redacts too).
const minSecret = 4

func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, Redacted)
}

// scrubbed returns err with the secret removed from its text, keeping
// whether it is retryable.
func scrubbed(err error, secret string) error {
	msg := scrub(err.Error(), secret)
	if msg == err.Error() {
		return err
	}
	if sdk.IsRetryable(err) {
		return sdk.Retryable(errors.New(msg))
	}
	return errors.New(msg)
}

// redactor writes to w with every occurrence of secret replaced by
// Redacted. It holds back the end of a write while it could be the start
// of the secret, until the next write or flush.
type redactor struct {
	w      io.Writer
	secret []byte
	held   []byte
}

func newRedactor(w io.Writer, secret string) *redactor {
	r := &redactor{w: w}
	if len(secret) >= minSecret {
		r.secret = []byte(secret)
	}
	return r
}

func (r *redactor) Write(p []byte) (int, error) {
	if r.secret == nil {
		return r.w.Write(p)
	}
	buf := bytes.ReplaceAll(append(r.held, p...), r.secret, []byte(Redacted))
	keep := 0
	for k := min(len(r.secret)-1, len(buf)); k > 0; k-- {
		if bytes.HasSuffix(buf, r.secret[:k]) {
			keep = k
			break
		}
	}
	r.held = append(r.held[:0:0], buf[len(buf)-keep:]...)
	if out := buf[:len(buf)-keep]; len(out) > 0 {
		if _, err := r.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush writes what is held back.
func (r *redactor) flush() error {
	if len(r.held) == 0 {
		return nil
	}
	_, err := r.w.Write(r.held)
	r.held = nil
	return err
}
