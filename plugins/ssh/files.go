package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// openSFTP opens an SFTP client on a pooled connection.
func (e *Executor) openSFTP(ctx context.Context, ep *endpoint) (*sftp.Client, *conn, func(), error) {
	client, c, release, err := openOn(ctx, e.pool, ep, func(cl *gossh.Client) (*sftp.Client, error) {
		return sftp.NewClient(cl, sftp.UseConcurrentWrites(true))
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return client, c, func() { _ = client.Close(); release() }, nil
}

// randomSuffix is an unguessable file name part.
func randomSuffix() string { return strings.ToLower(rand.Text()[:16]) }

// upload writes content to a new file at path (it must not exist) with
// mode, set before any byte is written.
func upload(client *sftp.Client, path string, content []byte, mode os.FileMode) error {
	f, err := client.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(content)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// script uploads the script to a private temporary file, runs it, and
// removes it whatever happens.
func (e *Executor) script(ctx context.Context, ep *endpoint, p *params, out sdk.Output) (sdk.Result, error) {
	client, c, release, err := e.openSFTP(ctx, ep)
	if err != nil {
		return sdk.Result{}, err
	}
	defer release()
	reportHostKeys(c, out)
	path := "/tmp/.jobgraph-script-" + randomSuffix()
	if err := upload(client, path, []byte(p.Script), 0o700); err != nil {
		_ = client.Remove(path)
		return sdk.Result{}, fmt.Errorf("upload the script to %s:%s: %w", ep.target, path, err)
	}
	defer func() { _ = client.Remove(path) }() // the process is stopped first, on cancel too
	args := []string{quote(cmpOr(p.Interpreter, "/bin/sh")), quote(path)}
	for _, a := range p.Args {
		args = append(args, quote(a))
	}
	r := &run{e: e, ep: ep, cmdline: innerScript(p.Env, p.Dir, "exec "+strings.Join(args, " ")), sudo: p.Sudo, out: out}
	return r.exec(ctx)
}

// output runs a short command and returns its stdout, or an error with
// its stderr.
func (e *Executor) output(ctx context.Context, ep *endpoint, cmd string) (string, error) {
	sess, _, release, err := openOn(ctx, e.pool, ep, func(cl *gossh.Client) (*gossh.Session, error) { return cl.NewSession() })
	if err != nil {
		return "", err
	}
	defer release()
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- sess.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = sess.Close()
		return "", ctx.Err()
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// push uploads next to the destination, verifies, sets owner and mode,
// and renames into place.
func (e *Executor) push(ctx context.Context, ep *endpoint, p *params, out sdk.Output) (sdk.Result, error) {
	client, c, release, err := e.openSFTP(ctx, ep)
	if err != nil {
		return sdk.Result{}, err
	}
	defer release()
	reportHostKeys(c, out)
	tmp := p.Dest + ".jobgraph-tmp-" + randomSuffix()
	renamed := false
	defer func() {
		if !renamed {
			_ = client.Remove(tmp)
		}
	}()
	mode := os.FileMode(p.mode & 0o777)
	if err := upload(client, tmp, p.content, mode); err != nil {
		return sdk.Result{}, fmt.Errorf("upload to %s:%s: %w", ep.target, tmp, err)
	}
	if ctx.Err() != nil {
		return sdk.ContextResult(ctx), nil
	}
	sum := sha256.Sum256(p.content)
	want := hex.EncodeToString(sum[:])
	got, err := e.output(ctx, ep, "sha256sum -- "+quote(tmp))
	if err != nil {
		if ctx.Err() != nil {
			return sdk.ContextResult(ctx), nil
		}
		return sdk.Result{}, fmt.Errorf("verify the upload on %s: %w", ep.target, err)
	}
	if f := strings.Fields(got); len(f) == 0 || f[0] != want {
		return sdk.Result{}, sdk.Retryable(fmt.Errorf("verify the upload on %s: SHA-256 is %q on the target, want %s", ep.target, strings.TrimSpace(got), want))
	}
	if p.Owner != "" {
		if _, err := e.output(ctx, ep, "chown -- "+quote(p.Owner)+" "+quote(tmp)); err != nil {
			return sdk.Result{}, fmt.Errorf("set the owner on %s: %w", ep.target, err)
		}
	}
	// After chown, which may clear set-id bits.
	if err := client.Chmod(tmp, os.FileMode(p.mode&0o777)|modeBits(p.mode)); err != nil {
		return sdk.Result{}, fmt.Errorf("set the mode on %s: %w", ep.target, err)
	}
	if ctx.Err() != nil {
		return sdk.ContextResult(ctx), nil
	}
	if err := client.PosixRename(tmp, p.Dest); err != nil {
		return sdk.Result{}, fmt.Errorf("rename into %s on %s: %w", p.Dest, ep.target, err)
	}
	renamed = true
	out.SetOutput("sha256", want)
	out.SetOutput("bytes", strconv.Itoa(len(p.content)))
	fmt.Fprintf(out.Stdout(), "pushed %d bytes to %s (sha256 %s)\n", len(p.content), p.Dest, want)
	return sdk.Succeeded(), nil
}

// modeBits turns the setuid, setgid and sticky bits of an octal mode into
// os.FileMode flags (SFTP's Chmod maps them back).
func modeBits(m uint32) os.FileMode {
	var fm os.FileMode
	if m&0o4000 != 0 {
		fm |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// fetch streams a file back as stdout.
func (e *Executor) fetch(ctx context.Context, ep *endpoint, p *params, out sdk.Output) (sdk.Result, error) {
	client, c, release, err := e.openSFTP(ctx, ep)
	if err != nil {
		return sdk.Result{}, err
	}
	defer release()
	reportHostKeys(c, out)
	f, err := client.Open(p.Path)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("open %s on %s: %w", p.Path, ep.target, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return sdk.Result{}, fmt.Errorf("stat %s on %s: %w", p.Path, ep.target, err)
	}
	if !st.Mode().IsRegular() {
		return sdk.Result{}, fmt.Errorf("%s on %s is not a regular file", p.Path, ep.target)
	}
	if st.Size() > p.MaxBytes {
		return sdk.Result{}, fmt.Errorf("%s on %s is %d bytes, more than max_bytes (%d)", p.Path, ep.target, st.Size(), p.MaxBytes)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.Close() })
	defer stop()
	h := sha256.New()
	stdout := newScrubber(out.Stdout(), secretRules(ep.cred)...)
	n, err := io.CopyBuffer(io.MultiWriter(h, stdout), io.LimitReader(f, p.MaxBytes+1), make([]byte, 32<<10))
	stdout.Flush()
	if ctx.Err() != nil {
		return sdk.ContextResult(ctx), nil
	}
	if err != nil {
		return sdk.Result{}, sdk.Retryable(fmt.Errorf("read %s on %s: %w", p.Path, ep.target, err))
	}
	if n > p.MaxBytes {
		return sdk.Result{}, fmt.Errorf("%s on %s grew past max_bytes (%d) while it was read", p.Path, ep.target, p.MaxBytes)
	}
	out.SetOutput("sha256", hex.EncodeToString(h.Sum(nil)))
	out.SetOutput("bytes", strconv.FormatInt(n, 10))
	return sdk.Succeeded(), nil
}
