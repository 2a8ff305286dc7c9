package ssh

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// pidMarker starts the line the command wrapper writes first, on stderr
// (stdout with a pty): the PID of the remote shell, which leads the
// command's process group.
const pidMarker = "jobgraph-pid:"

// reservedOutputs are the outputs command and script export themselves,
// which the command cannot set with ::set-output lines.
var reservedOutputs = []string{"exit_code", "host_key", "jump_host_key"}

// quote quotes s for a POSIX shell.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// innerScript is what /bin/sh runs: stdin from /dev/null (the channel's
// stdin only carries a sudo password), the variables, the directory,
// then the command line.
func innerScript(env map[string]string, dir, cmdline string) string {
	var b strings.Builder
	b.WriteString("exec </dev/null\n")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "export %s=%s\n", k, quote(env[k]))
	}
	if dir != "" {
		fmt.Fprintf(&b, "cd -- %s || exit 1\n", quote(dir))
	}
	b.WriteString(cmdline)
	return b.String()
}

// remoteCommand is what the session runs in the login shell: report the
// shell's PID (sshd made it a session and process-group leader, so every
// process the command starts shares it as group ID), then replace the
// shell with /bin/sh -c inner, through sudo if asked.
func remoteCommand(inner string, sudo *sudoParam, prompt string) string {
	run := "/bin/sh -c " + quote(inner)
	if sudo != nil && sudo.Enabled {
		run = "sudo -S -p " + quote(prompt) + " -u " + quote(cmpOr(sudo.User, "root")) + " -- " + run
	}
	return `printf '` + pidMarker + `%s\n' "$$" >&2; exec ` + run
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// secretRules are the credential's secrets, replaced by *** wherever a
// command echoes them. Secrets shorter than 4 bytes are left alone: they
// would match by chance.
func secretRules(cred *sdk.Credential) []rule {
	if cred == nil {
		return nil
	}
	var rules []rule
	add := func(b []byte) {
		if len(b) >= 4 {
			rules = append(rules, rule{find: append([]byte(nil), b...), replace: []byte("***")})
		}
	}
	if cred.Kind == "password" {
		add(cred.Secret)
	}
	add(cred.Passphrase)
	return rules
}

// sudoPassword is the password that answers sudo's prompt.
func sudoPassword(cred *sdk.Credential) []byte {
	if cred != nil && cred.Kind == "password" {
		return cred.Secret
	}
	return nil
}

// run is one remote command of a task.
type run struct {
	e       *Executor
	ep      *endpoint
	cmdline string // the inner script for /bin/sh
	sudo    *sudoParam
	pty     bool
	out     sdk.Output
}

// exec runs the command, streaming its output, until it exits or ctx is
// done; then it stops the remote process group (see the package doc).
func (r *run) exec(ctx context.Context) (sdk.Result, error) {
	sess, c, release, err := openOn(ctx, r.e.pool, r.ep, func(cl *gossh.Client) (*gossh.Session, error) { return cl.NewSession() })
	if err != nil {
		return sdk.Result{}, err
	}
	defer release()
	defer sess.Close()
	reportHostKeys(c, r.out)

	// Output commands are parsed after the secrets are scrubbed: a value
	// never carries one. The executor's own outputs are reserved.
	cmdOut := sdk.ParseOutputCommands(r.out, reservedOutputs...)
	secrets := secretRules(r.ep.cred)
	stdout := newScrubber(cmdOut.Stdout(), secrets...)
	stderr := newScrubber(r.out.Stderr(), secrets...)
	var control io.Writer = stderr // where the wrapper's PID line and sudo's prompt go
	if r.pty {
		control = stdout
	}
	var pid struct {
		sync.Mutex
		v string
	}
	sudo := r.sudo != nil && r.sudo.Enabled
	prompt := "[jobgraph-sudo-" + strings.ToLower(rand.Text()[:12]) + "]"
	var stdin io.WriteCloser
	var promptScrub *scrubber
	if sudo {
		if stdin, err = sess.StdinPipe(); err != nil {
			return sdk.Result{}, fmt.Errorf("open stdin on %s: %w", r.ep.target, err)
		}
		password := sudoPassword(r.ep.cred)
		answered := false
		promptScrub = newScrubber(control, rule{find: []byte(prompt), onMatch: func() {
			// Answer once; a second prompt means the password is wrong,
			// and closing stdin makes sudo give up.
			if !answered && len(password) > 0 {
				answered = true
				_, _ = stdin.Write(append(append([]byte(nil), password...), '\n'))
				return
			}
			_ = stdin.Close()
		}})
		control = promptScrub
	}
	pf := &pidFilter{next: control, marker: []byte(pidMarker), found: func(p string) {
		pid.Lock()
		pid.v = p
		pid.Unlock()
	}}
	if r.pty {
		sess.Stdout, sess.Stderr = pf, stderr
		modes := gossh.TerminalModes{gossh.ECHO: 0, gossh.TTY_OP_ISPEED: 14400, gossh.TTY_OP_OSPEED: 14400}
		if err := sess.RequestPty("xterm", 40, 120, modes); err != nil {
			return sdk.Result{}, fmt.Errorf("request a pty on %s: %w", r.ep.target, err)
		}
	} else {
		sess.Stdout, sess.Stderr = stdout, pf
	}
	flush := func() {
		pf.Flush()
		if promptScrub != nil {
			promptScrub.Flush()
		}
		stdout.Flush()
		stderr.Flush()
		cmdOut.End()
	}
	if err := sess.Start(remoteCommand(r.cmdline, r.sudo, prompt)); err != nil {
		return sdk.Result{}, sdk.Retryable(fmt.Errorf("start the command on %s: %w", r.ep.target, err))
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	select {
	case err := <-waited:
		flush()
		return exitResult(err, r.ep, r.out)
	case <-ctx.Done():
		pid.Lock()
		p := pid.v
		pid.Unlock()
		r.stop(sess, p)
		select {
		case <-waited:
		case <-time.After(StopGrace):
		}
		flush()
		return sdk.ContextResult(ctx), nil
	}
}

// stop ends a cancelled command: signal KILL on the session (OpenSSH
// delivers it to the session's process since 8.1), SIGKILL to its whole
// process group from a second session, then close the session.
func (r *run) stop(sess *gossh.Session, pid string) {
	_ = sess.Signal(gossh.SIGKILL)
	if _, err := strconv.Atoi(pid); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), StopGrace)
		defer cancel()
		kill := "kill -KILL -- -" + pid
		var input []byte
		if r.sudo != nil && r.sudo.Enabled {
			// kill reads no stdin: the password can be given up front.
			kill = "sudo -S -p '' -u " + quote(cmpOr(r.sudo.User, "root")) + " -- " + kill
			input = append(append([]byte(nil), sudoPassword(r.ep.cred)...), '\n')
		}
		ks, _, release, err := openOn(ctx, r.e.pool, r.ep, func(cl *gossh.Client) (*gossh.Session, error) { return cl.NewSession() })
		if err == nil {
			ks.Stdin = strings.NewReader(string(input))
			done := make(chan struct{})
			go func() { _ = ks.Run(kill); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
			}
			_ = ks.Close()
			release()
		}
	}
	_ = sess.Close()
}

// exitResult turns what Session.Wait returned into the task's result.
func exitResult(err error, ep *endpoint, out sdk.Output) (sdk.Result, error) {
	code := 0
	var ee *gossh.ExitError
	var missing *gossh.ExitMissingError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitStatus()
		if sig := ee.Signal(); sig != "" {
			code = 128 + signalNumber(sig)
		}
	case errors.As(err, &missing):
		return sdk.Result{}, sdk.Retryable(fmt.Errorf("the connection to %s ended before the command reported an exit status", ep.target))
	default:
		return sdk.Result{}, sdk.Retryable(fmt.Errorf("the connection to %s was lost while the command ran: %w", ep.target, err))
	}
	out.SetOutput("exit_code", strconv.Itoa(code))
	return sdk.Exited(code), nil
}

// signalNumber maps an SSH signal name to its Linux number.
func signalNumber(sig string) int {
	return map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15}[sig]
}

// reportHostKeys exports the host keys accepted on first use.
func reportHostKeys(c *conn, out sdk.Output) {
	if c.newHostKey != "" {
		out.SetOutput("host_key", c.newHostKey)
	}
	if c.newJumpKey != "" {
		out.SetOutput("jump_host_key", c.newJumpKey)
	}
}
