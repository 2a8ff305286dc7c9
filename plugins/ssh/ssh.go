// Package ssh is the built-in "ssh" executor: it runs commands and
// scripts on remote hosts over SSH, and pushes and fetches files over
// SFTP, with golang.org/x/crypto/ssh and github.com/pkg/sftp.
//
// Actions:
//
//   - command: runs the command line with /bin/sh -c on the target.
//   - script: uploads the script over SFTP to /tmp/.jobgraph-script-RANDOM,
//     created exclusively with mode 0700 before its content is written,
//     runs `interpreter FILE args...` (interpreter defaults to /bin/sh),
//     and removes the file afterwards, also when the task fails, times out
//     or is cancelled.
//   - push: uploads base64 content over SFTP to DEST.jobgraph-tmp-RANDOM
//     (mode set before the content is written), checks its SHA-256 with
//     `sha256sum` on the target, applies owner (chown) and mode, and
//     renames it onto DEST with posix-rename@openssh.com, so readers see
//     the old file or the new one, never a partial one. Outputs sha256 and
//     bytes.
//   - push with archive instead of content pushes a directory: archive is
//     a base64 tar, gzip-compressed or not (told by its magic bytes; -z is
//     passed to tar when it is). Validate reads every entry first and
//     refuses absolute names, .. components, entries below a symbolic link
//     of the archive, links whose target leaves the tree (or goes through
//     another link of the archive) and devices or FIFOs, before any
//     connection. The archive is uploaded to DEST.jobgraph-tmp-RANDOM.tar
//     (mode 0600), checked with sha256sum, and extracted with `tar -x -p
//     --no-same-owner` (the archive's permission bits, the login user as
//     owner) into a fresh sibling DEST.jobgraph-new-RANDOM; owner is
//     applied with chown -R and mode (default 0755) to the top directory.
//     Then it is swapped in: when DEST does not exist, `mv -T NEW DEST`;
//     when it is a directory, `mv -T DEST DEST.jobgraph-old-RANDOM`, `mv -T
//     NEW DEST` (moving the old tree back if that fails), and the old tree
//     is removed. Those are two renames, not one atomic step: for an
//     instant DEST does not exist, but it is never half-written, always
//     the whole old tree or the whole new one. DEST that exists and is not
//     a directory (a symbolic link too) is refused. The swap is not
//     interrupted once begun; before it, a failure or a cancel removes the
//     archive and the new tree. Progress lines on stdout: "uploaded N
//     bytes", "extracted N files", "replaced DEST" (or "created DEST").
//     Outputs sha256 (of the archive) and files (its regular files).
//   - fetch: reads a regular file of at most max_bytes back over SFTP and
//     streams it as stdout; outputs sha256 and bytes (of the file as read;
//     the stream is redacted like any output).
//
// command and script take env (exported in the shell, so the server's
// AcceptEnv does not matter), dir (cd before the command; the task fails
// with exit code 1 if it does not exist) and sudo ({enabled, user}: run
// through `sudo -S -u user`; sudo's prompt is detected on stderr, removed
// from the output and answered once with the credential's password, which
// is never echoed; without a password credential sudo must not ask). The
// command's stdin is /dev/null. command's pty runs it in a pseudo-terminal
// (stderr is then merged into stdout). They succeed when the command exits
// 0, fail otherwise, and export the exit code as the output exit_code
// (128+N when signal N killed it). The command exports outputs of its own
// by printing lines `::set-output name=KEY::VALUE` on stdout (on the pty,
// with pty), e.g. `echo "::set-output name=path::/opt/app/releases/$V"`:
// see sdk.CommandOutput for the rules. The lines stay in the log, values
// are redacted like the rest of the output, and exit_code, host_key and
// jump_host_key cannot be set that way.
//
// Target and credential: the task's target gives the address and port
// (22 when unset); the credential gives the user and how to log in: kind
// ssh_key (an OpenSSH or PEM private key in Secret, with its passphrase in
// Passphrase if encrypted) or password (offered as "password" and
// "keyboard-interactive"). With the parameter agent, the keys of the SSH
// agent at $SSH_AUTH_SOCK are offered too; jobgraph starts plugins with
// PATH, HOME, TMPDIR and LANG only, so that needs the executor to be run
// with SSH_AUTH_SOCK set (an ssh_key credential with an empty Secret then
// just names the user). The parameter jump {address, port, username}
// reaches the target through a jump host, logging in there with the same
// credential (username defaults to the credential's).
//
// Host keys: known_hosts (OpenSSH known_hosts lines, hashed names and
// @cert-authority lines included) lists the trusted keys of the target and
// the jump host; the client offers only the key algorithms known for the
// host, so a server with several keys presents the known one. With
// host_key_policy strict (the default) an unknown host is refused, naming
// the host and the key it presented; with accept-new it is trusted and its
// key exported as the output host_key (jump_host_key for the jump host) in
// authorized_keys format, for jobgraph to record. A key that differs from a
// known one is always refused. Host keys are never ignored.
//
// Streaming and stopping: stdout and stderr stream as produced. The
// session first runs `printf 'jobgraph-pid:%s\n' "$$" >&2; exec /bin/sh -c
// ...` in the login shell (which must be POSIX-like): sshd makes that
// shell a session and process-group leader, so its PID is the group of
// every process the command starts; the line is removed from the output.
// On cancel or timeout, the executor sends signal KILL on the session,
// runs `kill -KILL -- -PID` in a second session on the same connection
// (through the same sudo, for sudo tasks), then closes the session. A
// process that leaves the group (setsid, a daemon) survives, as it would
// under ssh. With sudo and sudo's use_pty the command runs in its own
// group under a root-owned sudo; then only a sudo to root can kill it.
//
// Connections: tasks for the same address, port, user, credential, jump
// host and host-key settings share one SSH connection, with at most
// MaxSessionsPerConn sessions each (lowered on the fly when the server
// refuses sessions, e.g. sshd's MaxSessions, 10 by default); more open a
// second connection. A connection without sessions is closed after
// IdleTimeout; keepalive@openssh.com is sent every KeepaliveInterval and a
// connection that does not answer is dropped. A session that cannot be
// opened on a pooled connection redials once. Connecting (TCP, key
// exchange, authentication, through the jump host too) is bounded by
// DialTimeout. Connection failures (refused, unreachable, DNS, a server
// closing mid-stream) end the task with status Error, retryable; a refused
// credential or host key with status Error, not retryable.
//
// Secrets: the credential's password and passphrase (4 bytes or more) are
// replaced by *** in stdout and stderr, even when a command echoes them,
// and are never put in an error or output.
package ssh

import (
	"context"
	"fmt"
	"time"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Name and Version identify the executor.
const (
	Name    = "ssh"
	Version = "1.0.0"
)

// Limits; see the package comment.
const (
	MaxSessionsPerConn = 64
	IdleTimeout        = 60 * time.Second
	KeepaliveInterval  = 15 * time.Second
	DialTimeout        = 10 * time.Second
	// StopGrace bounds stopping a cancelled command.
	StopGrace = 5 * time.Second
)

// Executor is the ssh executor. It is safe for concurrent use.
type Executor struct {
	actions map[string]*action
	info    sdk.Info
	pool    *pool
}

var (
	_ sdk.Executor  = (*Executor)(nil)
	_ sdk.Validator = (*Executor)(nil)
)

// New returns the ssh executor.
func New() sdk.Executor { return newExecutor() }

func newExecutor() *Executor {
	e := &Executor{actions: map[string]*action{}, pool: newPool()}
	e.info = sdk.Info{
		Name:        Name,
		Version:     Version,
		Description: "Runs commands and scripts on remote hosts over SSH, and pushes and fetches files over SFTP; host keys are checked against known_hosts.",
	}
	for _, a := range actions() {
		schema, err := sdk.CompileSchema(a.Action.ParamsSchema)
		if err != nil {
			panic(err) // the schemas are literals, checked by MustSchema and the tests
		}
		a.schema = schema
		e.actions[a.Name] = a
		e.info.Actions = append(e.info.Actions, a.Action)
	}
	return e
}

// Close closes the pooled connections.
func (e *Executor) Close() error {
	e.pool.closeAll()
	return nil
}

// Describe implements sdk.Executor.
func (e *Executor) Describe(context.Context) (sdk.Info, error) { return e.info, nil }

// Validate implements sdk.Validator: beyond the schema, paths must be
// absolute, env keys valid variable names, content valid base64, archive
// a safe tar (exactly one of the two for push) and mode octal.
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
	ep, err := newEndpoint(task, p)
	if err != nil {
		return sdk.Result{}, err
	}
	switch task.Action {
	case "command":
		r := &run{e: e, ep: ep, cmdline: innerScript(p.Env, p.Dir, p.Command), sudo: p.Sudo, pty: p.PTY, out: out}
		return r.exec(ctx)
	case "script":
		return e.script(ctx, ep, p, out)
	case "push":
		if p.Archive != nil {
			return e.pushDir(ctx, ep, p, out)
		}
		return e.push(ctx, ep, p, out)
	case "fetch":
		return e.fetch(ctx, ep, p, out)
	}
	return sdk.Result{}, fmt.Errorf("the ssh executor has no action %q", task.Action)
}
