package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
	"github.com/jobgraph/jobgraph/plugins/ssh/sshdtest"
)

type env struct {
	srv  *sshdtest.Server
	exec *Executor
	h    *sdktest.Harness
}

// setup starts an sshd and serves a fresh ssh executor in process.
func setup(t *testing.T) env {
	t.Helper()
	srv := sshdtest.Start(t)
	e := newExecutor()
	t.Cleanup(func() { _ = e.Close() })
	return env{srv: srv, exec: e, h: sdktest.InProcess(t, e)}
}

// task builds a task for the test sshd as root with the client key and
// the server's known_hosts line (unless params set them).
func (v env) task(t *testing.T, action string, params map[string]any) sdk.Task {
	t.Helper()
	if _, ok := params["known_hosts"]; !ok {
		params["known_hosts"] = v.srv.KnownHosts
	}
	raw, err := json.Marshal(params)
	require.NoError(t, err)
	return sdk.Task{
		Action:     action,
		Params:     raw,
		Target:     sdk.Target{Address: v.srv.Addr, Port: v.srv.Port},
		Credential: &sdk.Credential{Kind: "ssh_key", Username: "root", Secret: v.srv.ClientKey},
	}
}

func (v env) command(t *testing.T, cmd string) sdk.Task {
	return v.task(t, "command", map[string]any{"command": cmd})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	v := setup(t)
	sdktest.Conformance(t, v.h, sdktest.Suite{
		Quick: v.command(t, "echo hello"),
		Slow:  v.command(t, "echo started; while :; do echo tick; sleep 0.2; done"),
		Invalid: []sdk.Task{
			v.task(t, "command", map[string]any{"command": "pwd", "dir": "relative"}),
			v.task(t, "command", map[string]any{"command": "true", "env": map[string]string{"1BAD": "x"}}),
			v.task(t, "push", map[string]any{"content": "not base64!", "dest": "/tmp/x"}),
			v.task(t, "push", map[string]any{"archive": base64.StdEncoding.EncodeToString([]byte("not a tar")), "dest": "/tmp/x"}),
			v.task(t, "fetch", map[string]any{"path": "relative"}),
		},
		SlowTimeout: 500 * time.Millisecond,
	})
}

func TestCommandOutputAndExitCodes(t *testing.T) {
	t.Parallel()
	v := setup(t)
	run := v.h.Execute(t, v.command(t, "echo out; echo err >&2; echo out2"))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "out\nout2\n", run.StdoutText())
	require.Equal(t, "err\n", run.StderrText(), "the PID line is not in stderr")
	require.Equal(t, "0", run.Outputs()["exit_code"])

	for _, tt := range []struct {
		cmd  string
		code int
	}{{"exit 3", 3}, {"exit 255", 255}, {"kill -9 $$", 137}, {"no-such-command-anywhere", 127}} {
		run := v.h.Execute(t, v.command(t, tt.cmd))
		run.RequireStatus(t, sdk.StatusFailed)
		require.Equal(t, tt.code, run.Result.ExitCode, tt.cmd)
		require.Equal(t, strconv.Itoa(tt.code), run.Outputs()["exit_code"], tt.cmd)
	}

	// More than one protocol chunk arrives whole.
	run = v.h.Execute(t, v.command(t, "head -c 300000 /dev/zero | tr '\\0' a"))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, strings.Repeat("a", 300000), run.StdoutText())
}

func TestOutputCommands(t *testing.T) {
	t.Parallel()
	v := setup(t)
	// command, with and without a pty (which ends lines with \r\n); the
	// marker lines stay in the log.
	for _, pty := range []bool{false, true} {
		run := v.h.Execute(t, v.task(t, "command", map[string]any{
			"command": `echo fetching; echo "::set-output name=path::/opt/app/releases/$VERSION"; echo '::set-output name=exit_code::9'; printf '::set-output name=last::%s' 'no newline'`,
			"env":     map[string]string{"VERSION": "1.2.3"},
			"pty":     pty,
		}))
		run.RequireStatus(t, sdk.StatusSucceeded)
		require.Equal(t, map[string]string{"path": "/opt/app/releases/1.2.3", "last": "no newline", "exit_code": "0"}, run.Outputs(), "pty: %v", pty)
		require.Contains(t, run.StdoutText(), "::set-output name=path::/opt/app/releases/1.2.3", "pty: %v", pty)
	}

	// script; stderr and reserved names export nothing, also under
	// accept-new, where the executor sets host_key itself.
	task := v.task(t, "script", map[string]any{
		"script": "echo \"::set-output name=greeting::hello $1\"\n" +
			"echo '::set-output name=host_key::ssh-ed25519 AAAAforged'\n" +
			"echo '::set-output name=jump_host_key::forged'\n" +
			"echo '::set-output name=from_stderr::x' >&2\n" +
			"exit 3\n",
		"args":            []string{"world"},
		"known_hosts":     "",
		"host_key_policy": "accept-new",
	})
	run := v.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusFailed)
	outputs := run.Outputs()
	require.Equal(t, "hello world", outputs["greeting"])
	require.Equal(t, "3", outputs["exit_code"])
	require.NotContains(t, outputs["host_key"], "forged")
	require.NotEmpty(t, outputs["host_key"])
	require.NotContains(t, outputs, "jump_host_key")
	require.NotContains(t, outputs, "from_stderr")

	// A value is redacted like the log: it never carries the password.
	if v.srv.Password == "" {
		t.Fatal("password logins need the test user, created only when the tests run as root")
	}
	task = v.task(t, "command", map[string]any{"command": `echo "::set-output name=token::pw=$SECRET"`, "env": map[string]string{"SECRET": v.srv.Password}})
	task.Credential = &sdk.Credential{Kind: "password", Username: sshdtest.PasswordUser, Secret: []byte(v.srv.Password)}
	run = v.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "pw=***", run.Outputs()["token"])
}

func TestEnvAndDir(t *testing.T) {
	t.Parallel()
	v := setup(t)
	dir := t.TempDir()
	run := v.h.Execute(t, v.task(t, "command", map[string]any{
		"command": `pwd; printf '%s\n' "$GREETING" "$OTHER"`,
		"env":     map[string]string{"GREETING": `it's "quoted" $HOME`, "OTHER": "two"},
		"dir":     dir,
	}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, dir+"\nit's \"quoted\" $HOME\ntwo\n", run.StdoutText())

	run = v.h.Execute(t, v.task(t, "command", map[string]any{"command": "pwd", "dir": "/nonexistent/dir"}))
	run.RequireStatus(t, sdk.StatusFailed)
	require.Contains(t, run.StderrText(), "/nonexistent/dir")
}

func TestStreamsOutputAsItIsProduced(t *testing.T) {
	t.Parallel()
	v := setup(t)
	// The sshd runs on this machine: a local fifo is a remote one.
	fifo := filepath.Join(t.TempDir(), "gate")
	require.NoError(t, syscall.Mkfifo(fifo, 0o666))
	x := v.h.Start(t, v.command(t, fmt.Sprintf("echo first; read line < %s; echo \"second $line\"", fifo)))
	x.WaitStdout(t, "first\n")
	select {
	case <-x.Done():
		t.Fatal("the command ended before it was let go")
	default:
	}
	writeFifo(t, fifo, "go\n")
	run := x.Wait(t)
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "first\nsecond go\n", run.StdoutText())
}

func writeFifo(t *testing.T, fifo, s string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { // opening a fifo for writing waits for its reader
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString(s)
			_ = f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("nobody opened the fifo")
	}
}

// pgrep counts the server's processes whose command line contains s,
// through a separate connection.
func pgrep(t *testing.T, c *gossh.Client, s string) int {
	t.Helper()
	out, _ := sshdtest.Run(c, "pgrep -c -f "+quote(s)+" || true")
	n, err := strconv.Atoi(strings.TrimSpace(out))
	require.NoError(t, err, "pgrep: %q", out)
	return n
}

// requireGone waits (bounded) until no process matches s.
func requireGone(t *testing.T, c *gossh.Client, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for pgrep(t, c, s) > 0 {
		if time.Now().After(deadline) {
			out, _ := sshdtest.Run(c, "ps -ef")
			t.Fatalf("a process matching %q is still running on the server:\n%s", s, out)
		}
		time.Sleep(20 * time.Millisecond) // polling the server, bounded by the deadline
	}
}

func TestCancelKillsTheRemoteProcess(t *testing.T) {
	t.Parallel()
	v := setup(t)
	probe := v.srv.Client(t)
	for _, pty := range []bool{false, true} {
		t.Run(fmt.Sprintf("pty=%v", pty), func(t *testing.T) {
			// A unique duration names the process for pgrep (the pattern
			// is split so pgrep does not find its own command line).
			secs := fmt.Sprintf("1%08d", randInt())
			task := v.task(t, "command", map[string]any{"command": "echo started; sleep " + secs + "; echo never", "pty": pty})
			x := v.h.Start(t, task)
			x.WaitStdout(t, "started")
			require.Positive(t, pgrep(t, probe, "[s]leep "+secs), "the remote sleep runs")
			x.Cancel()
			<-x.Done()
			if run := x.Wait(t); run.Err == nil {
				require.Equal(t, sdk.StatusCanceled, run.Result.Status)
			}
			requireGone(t, probe, "[s]leep "+secs)
			require.NotContains(t, x.StdoutText(), "never")
			require.NotContains(t, x.StdoutText(), pidMarker)
		})
	}
}

func randInt() int {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return int(b[0])<<16 | int(b[1])<<8 | int(b[2])
}

func TestTimeoutKillsTheRemoteProcess(t *testing.T) {
	t.Parallel()
	v := setup(t)
	probe := v.srv.Client(t)
	secs := fmt.Sprintf("2%08d", randInt())
	task := v.command(t, "echo started; sleep "+secs)
	task.Timeout = 300 * time.Millisecond
	run := v.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusTimedOut)
	requireGone(t, probe, "[s]leep "+secs)
}

func TestScript(t *testing.T) {
	t.Parallel()
	v := setup(t)
	run := v.h.Execute(t, v.task(t, "script", map[string]any{
		"script": "echo \"path=$0\"; echo \"args=$*\"; ls -l \"$0\" | cut -c1-10; exit 4",
		"args":   []string{"a b", "c"},
	}))
	run.RequireStatus(t, sdk.StatusFailed)
	require.Equal(t, 4, run.Result.ExitCode)
	out := run.StdoutText()
	require.Contains(t, out, "args=a b c\n")
	require.Contains(t, out, "-rwx------\n", "the script is private")
	path := strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "path=")
	require.True(t, strings.HasPrefix(path, "/tmp/.jobgraph-script-"), path)
	_, err := os.Stat(path)
	require.True(t, os.IsNotExist(err), "the script %s is removed after the run", path)

	// Another interpreter.
	run = v.h.Execute(t, v.task(t, "script", map[string]any{"script": "print(6*7)", "interpreter": "python3"}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "42\n", run.StdoutText())

	// Removed on cancel too.
	run = v.h.AssertCancel(t, v.task(t, "script", map[string]any{"script": "echo \"$0\"; sleep 1000"}))
	path = strings.TrimSpace(run.StdoutText())
	require.True(t, strings.HasPrefix(path, "/tmp/.jobgraph-script-"), path)
	_, err = os.Stat(path)
	require.True(t, os.IsNotExist(err), "the script %s is removed after a cancel", path)
}

func TestPush(t *testing.T) {
	t.Parallel()
	v := setup(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "app.conf")
	require.NoError(t, os.WriteFile(dest, []byte("old"), 0o600))
	content := []byte("key = value\n\x00binary\xff")
	sum := sha256.Sum256(content)
	run := v.h.Execute(t, v.task(t, "push", map[string]any{
		"content": base64.StdEncoding.EncodeToString(content),
		"dest":    dest,
		"mode":    "0640",
		"owner":   "root:root",
	}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	got, err := os.ReadFile(dest)
	require.NoError(t, err)
	require.Equal(t, content, got)
	st, err := os.Stat(dest)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), st.Mode().Perm())
	require.Equal(t, hex.EncodeToString(sum[:]), run.Outputs()["sha256"])
	require.Equal(t, strconv.Itoa(len(content)), run.Outputs()["bytes"])
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left: %v", entries)

	// A missing directory: an Error, and nothing left behind.
	run = v.h.Execute(t, v.task(t, "push", map[string]any{"content": "", "dest": filepath.Join(dir, "missing", "f")}))
	run.RequireStatus(t, sdk.StatusError)
	// An unknown owner: an Error, the destination untouched.
	run = v.h.Execute(t, v.task(t, "push", map[string]any{"content": "bmV3", "dest": dest, "owner": "no-such-user-xyz"}))
	run.RequireStatus(t, sdk.StatusError)
	got, _ = os.ReadFile(dest)
	require.Equal(t, content, got)
	entries, _ = os.ReadDir(dir)
	require.Len(t, entries, 1, "no temporary file is left: %v", entries)
}

func TestFetch(t *testing.T) {
	t.Parallel()
	v := setup(t)
	path := filepath.Join(t.TempDir(), "data.bin")
	content := make([]byte, 200_000)
	_, _ = rand.Read(content)
	require.NoError(t, os.WriteFile(path, content, 0o600))
	sum := sha256.Sum256(content)
	run := v.h.Execute(t, v.task(t, "fetch", map[string]any{"path": path}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, string(content), run.StdoutText())
	require.Equal(t, hex.EncodeToString(sum[:]), run.Outputs()["sha256"])
	require.Equal(t, "200000", run.Outputs()["bytes"])

	run = v.h.Execute(t, v.task(t, "fetch", map[string]any{"path": path, "max_bytes": 1000}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "max_bytes")
	run = v.h.Execute(t, v.task(t, "fetch", map[string]any{"path": path + ".missing"}))
	run.RequireStatus(t, sdk.StatusError)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	v := setup(t)
	t.Run("key with passphrase", func(t *testing.T) {
		task := v.command(t, "whoami")
		task.Credential = &sdk.Credential{Kind: "ssh_key", Username: "root", Secret: v.srv.EncryptedClientKey, Passphrase: v.srv.Passphrase}
		run := v.h.Execute(t, task)
		run.RequireStatus(t, sdk.StatusSucceeded)
		require.Equal(t, "root\n", run.StdoutText())

		task.Credential = &sdk.Credential{Kind: "ssh_key", Username: "root", Secret: v.srv.EncryptedClientKey, Passphrase: []byte("wrong-passphrase")}
		run = v.h.Execute(t, task)
		run.RequireStatus(t, sdk.StatusError)
		require.Contains(t, run.Result.Error, "passphrase")
		require.NotContains(t, run.Result.Error, "wrong-passphrase")
	})
	t.Run("wrong key", func(t *testing.T) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		block, err := gossh.MarshalPrivateKey(priv, "")
		require.NoError(t, err)
		task := v.command(t, "true")
		task.Credential = &sdk.Credential{Kind: "ssh_key", Username: "root", Secret: pem.EncodeToMemory(block)}
		run := v.h.Execute(t, task)
		run.RequireStatus(t, sdk.StatusError)
		require.False(t, run.Result.Retryable)
		require.Contains(t, run.Result.Error, "refused the credential")
	})
	t.Run("password", func(t *testing.T) {
		if v.srv.Password == "" {
			t.Fatal("password logins need the test user, created only when the tests run as root")
		}
		task := v.task(t, "command", map[string]any{"command": `whoami; echo "$SECRET"`, "env": map[string]string{"SECRET": v.srv.Password}})
		task.Credential = &sdk.Credential{Kind: "password", Username: sshdtest.PasswordUser, Secret: []byte(v.srv.Password)}
		run := v.h.Execute(t, task)
		run.RequireStatus(t, sdk.StatusSucceeded)
		require.Equal(t, sshdtest.PasswordUser+"\n***\n", run.StdoutText(), "the password is redacted even when echoed")

		task.Credential = &sdk.Credential{Kind: "password", Username: sshdtest.PasswordUser, Secret: []byte("not-the-password")}
		run = v.h.Execute(t, task)
		run.RequireStatus(t, sdk.StatusError)
		require.NotContains(t, run.Result.Error, "not-the-password")
	})
}

func TestSudoPasswordPrompt(t *testing.T) {
	t.Parallel()
	v := setup(t)
	if v.srv.Password == "" {
		t.Fatal("the sudo test logs in as the password user, created only when the tests run as root")
	}
	// sudo is not installed on this machine: a fake one on the sessions'
	// PATH speaks the same protocol (-S -p PROMPT -u USER -- cmd), prints
	// the prompt on stderr, reads the password from stdin and checks it.
	shared := filepath.Join(v.srv.Dir, "sudo")
	require.NoError(t, os.Mkdir(shared, 0o777))
	require.NoError(t, os.Chmod(shared, 0o777)) // the fake sudo runs as the password user
	pwFile := filepath.Join(shared, "sudo-password")
	require.NoError(t, os.WriteFile(pwFile, []byte(v.srv.Password), 0o644))
	fake := `#!/bin/sh
prompt=
while [ $# -gt 0 ]; do
  case $1 in
    -S) shift;;
    -p) prompt=$2; shift 2;;
    -u) echo "$2" > ` + filepath.Join(shared, "sudo-user") + `; shift 2;;
    --) shift; break;;
    *) break;;
  esac
done
printf '%s' "$prompt" >&2
IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
[ "$pw" = "$(cat ` + pwFile + `)" ] || { echo "sudo: incorrect password" >&2; exit 1; }
exec "$@"
`
	require.NoError(t, os.WriteFile(filepath.Join(v.srv.FakeBin, "sudo"), []byte(fake), 0o755))
	cred := &sdk.Credential{Kind: "password", Username: sshdtest.PasswordUser, Secret: []byte(v.srv.Password)}
	task := v.task(t, "command", map[string]any{"command": "echo as-sudo; cat", "sudo": map[string]any{"enabled": true, "user": "admin"}})
	task.Credential = cred
	run := v.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "as-sudo\n", run.StdoutText(), "the command's stdin is empty: the password is not readable by it")
	require.Empty(t, run.StderrText(), "the prompt is removed from stderr")
	u, _ := os.ReadFile(filepath.Join(shared, "sudo-user"))
	require.Equal(t, "admin\n", string(u))

	// A wrong password: sudo fails, the password is not shown.
	require.NoError(t, os.WriteFile(pwFile, []byte("something-else"), 0o644))
	run = v.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusFailed)
	require.Contains(t, run.StderrText(), "incorrect password")
	require.NotContains(t, run.StderrText(), v.srv.Password)
}

func TestHostKeys(t *testing.T) {
	t.Parallel()
	v := setup(t)
	hostport := net.JoinHostPort(v.srv.Addr, strconv.Itoa(v.srv.Port))
	t.Run("strict refuses an unknown host", func(t *testing.T) {
		run := v.h.Execute(t, v.task(t, "command", map[string]any{"command": "true", "known_hosts": ""}))
		run.RequireStatus(t, sdk.StatusError)
		require.False(t, run.Result.Retryable)
		require.Contains(t, run.Result.Error, hostport)
		require.Contains(t, run.Result.Error, "not in known_hosts")
	})
	t.Run("accept-new records the key", func(t *testing.T) {
		run := v.h.Execute(t, v.task(t, "command", map[string]any{"command": "echo ok", "known_hosts": "", "host_key_policy": "accept-new"}))
		run.RequireStatus(t, sdk.StatusSucceeded)
		hk := run.Outputs()["host_key"]
		require.NotEmpty(t, hk)
		key, _, _, _, err := gossh.ParseAuthorizedKey([]byte(hk))
		require.NoError(t, err)
		// The server has an ECDSA key too; either is its own.
		require.Contains(t, []string{gossh.KeyAlgoED25519, gossh.KeyAlgoECDSA256}, key.Type())
	})
	t.Run("known host under accept-new exports nothing", func(t *testing.T) {
		run := v.h.Execute(t, v.task(t, "command", map[string]any{"command": "echo ok", "host_key_policy": "accept-new"}))
		run.RequireStatus(t, sdk.StatusSucceeded)
		require.NotContains(t, run.Outputs(), "host_key")
	})
	t.Run("a changed key is refused", func(t *testing.T) {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		other, err := gossh.NewPublicKey(pub)
		require.NoError(t, err)
		line := fmt.Sprintf("[%s]:%d %s", v.srv.Addr, v.srv.Port, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(other))))
		for _, policy := range []string{"strict", "accept-new"} {
			run := v.h.Execute(t, v.task(t, "command", map[string]any{"command": "true", "known_hosts": line, "host_key_policy": policy}))
			run.RequireStatus(t, sdk.StatusError)
			require.Contains(t, run.Result.Error, "CHANGED", policy)
			require.Contains(t, run.Result.Error, hostport, policy)
			require.NotContains(t, run.Outputs(), "host_key", policy)
		}
	})
}

func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	v := setup(t)
	const n = 100
	var wg sync.WaitGroup
	runs := make([]sdktest.Run, n)
	for i := range n {
		wg.Go(func() { runs[i] = v.h.Execute(t, v.command(t, "echo hi")) })
	}
	wg.Wait()
	for _, run := range runs {
		run.RequireStatus(t, sdk.StatusSucceeded)
		require.Equal(t, "hi\n", run.StdoutText())
	}
	maxConns := (n + MaxSessionsPerConn - 1) / MaxSessionsPerConn
	v.exec.pool.mu.Lock()
	dials := v.exec.pool.dials
	v.exec.pool.mu.Unlock()
	require.LessOrEqual(t, dials, maxConns, "%d tasks share connections of %d sessions", n, MaxSessionsPerConn)
	require.LessOrEqual(t, v.srv.Count("Accepted publickey"), maxConns, "logins seen by sshd")

	// Later tasks reuse the idle connection.
	v.h.Execute(t, v.command(t, "true")).RequireStatus(t, sdk.StatusSucceeded)
	require.LessOrEqual(t, v.srv.Count("Accepted publickey"), maxConns)
}

func TestBrokenConnectionIsRedialled(t *testing.T) {
	t.Parallel()
	v := setup(t)
	v.h.Execute(t, v.command(t, "true")).RequireStatus(t, sdk.StatusSucceeded)
	// The server ends the connection mid-stream: kill this connection's
	// sshd process (the login shell's parent).
	run := v.h.Execute(t, v.command(t, "echo started; kill -9 $PPID; sleep 5"))
	run.RequireStatus(t, sdk.StatusError)
	require.True(t, run.Result.Retryable, "a lost connection is worth retrying: %s", run.Result.Error)
	require.Contains(t, run.Result.Error, "connection")
	// The next task gets a new connection.
	v.h.Execute(t, v.command(t, "echo again")).RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, 2, v.srv.Count("Accepted publickey"))
}

func TestJumpHost(t *testing.T) {
	t.Parallel()
	v := setup(t)
	run := v.h.Execute(t, v.task(t, "command", map[string]any{
		"command": "echo through",
		"jump":    map[string]any{"address": v.srv.Addr, "port": v.srv.Port},
	}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "through\n", run.StdoutText())
	require.Equal(t, 2, v.srv.Count("Accepted publickey"), "one login on the jump host, one on the target")
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	v := setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	task := v.command(t, "true")
	task.Target.Port = port
	start := time.Now()
	run := v.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.True(t, run.Result.Retryable)
	require.Contains(t, run.Result.Error, "refused")
	require.Less(t, time.Since(start), 3*time.Second)

	task = v.command(t, "true")
	task.Target.Address = "no-such-host.invalid"
	run = v.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "no-such-host.invalid")

	// A server that accepts TCP and says nothing: bounded by the dial timeout.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	e := newExecutor()
	e.pool.dialTimeout = 500 * time.Millisecond
	h := sdktest.InProcess(t, e)
	task = v.command(t, "true")
	task.Target.Port = silent.Addr().(*net.TCPAddr).Port
	start = time.Now()
	run = h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.True(t, run.Result.Retryable)
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestIdleConnectionIsClosed(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t)
	e := newExecutor()
	e.pool.idle = 50 * time.Millisecond
	t.Cleanup(func() { _ = e.Close() })
	v := env{srv: srv, exec: e, h: sdktest.InProcess(t, e)}
	v.h.Execute(t, v.command(t, "true")).RequireStatus(t, sdk.StatusSucceeded)
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.pool.mu.Lock()
		n := len(e.pool.conns)
		e.pool.mu.Unlock()
		if n == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the idle connection is closed")
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
	v.h.Execute(t, v.command(t, "true")).RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, 2, srv.Count("Accepted publickey"))
}

// TestAgent is not parallel: it sets SSH_AUTH_SOCK for the process.
func TestAgent(t *testing.T) {
	srv := sshdtest.Start(t)
	agentPath, err := exec.LookPath("ssh-agent")
	require.NoError(t, err, "ssh-agent (openssh-client) is needed")
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command(agentPath, "-D", "-a", sock)
	require.NoError(t, agent.Start())
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	keyFile := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(keyFile, srv.ClientKey, 0o600))
	deadline := time.Now().Add(5 * time.Second)
	for {
		add := exec.Command("ssh-add", keyFile)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("ssh-add: %v: %s", err, out)
		}
		time.Sleep(10 * time.Millisecond) // the agent's socket appears shortly
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	e := newExecutor()
	t.Cleanup(func() { _ = e.Close() })
	v := env{srv: srv, exec: e, h: sdktest.InProcess(t, e)}
	task := v.task(t, "command", map[string]any{"command": "whoami", "agent": true})
	task.Credential = &sdk.Credential{Kind: "ssh_key", Username: "root"} // names the user only
	run := v.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "root\n", run.StdoutText())
}
