package ssh

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
	"github.com/jobgraph/jobgraph/plugins/ssh/sshdtest"
)

// member is one tar entry for makeTar: a directory when name ends in /,
// a symbolic (link) or hard (hard) link, else a file.
type member struct {
	name, body, link, hard string
	mode                   int64
	typ                    byte // overrides the type when set
}

// makeTar builds a tar archive, gzip-compressed when gz.
func makeTar(t *testing.T, gz bool, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Mode: cmp.Or(m.mode, 0o644), Uid: 12345, Gid: 12345, ModTime: time.Unix(1700000000, 0)}
		switch {
		case m.typ != 0:
			h.Typeflag = m.typ
		case strings.HasSuffix(m.name, "/"):
			h.Typeflag, h.Mode = tar.TypeDir, cmp.Or(m.mode, 0o755)
		case m.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, m.link
		case m.hard != "":
			h.Typeflag, h.Linkname = tar.TypeLink, m.hard
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(m.body))
		}
		require.NoError(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write([]byte(m.body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	if !gz {
		return buf.Bytes()
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, err := zw.Write(buf.Bytes())
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return z.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// remoteLs lists dir (dot files too) through a separate connection.
func remoteLs(t *testing.T, c *gossh.Client, dir string) []string {
	t.Helper()
	out, err := sshdtest.Run(c, "ls -A -- "+quote(dir))
	require.NoError(t, err, out)
	return strings.Fields(out)
}

// requireNoTemporaries asserts that no .jobgraph- path is left in dir.
func requireNoTemporaries(t *testing.T, c *gossh.Client, dir string) {
	t.Helper()
	for _, name := range remoteLs(t, c, dir) {
		require.NotContains(t, name, ".jobgraph-", "a temporary path is left in %s", dir)
	}
}

func requireFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, body, string(b), path)
	st, err := os.Lstat(path)
	require.NoError(t, err)
	require.Equal(t, mode, st.Mode().Perm(), path)
	require.Equal(t, uint32(0), st.Sys().(*syscall.Stat_t).Uid, "%s is the login user's (root), not the archive's uid", path)
}

func TestPushDirectory(t *testing.T) {
	t.Parallel()
	v := setup(t)
	probe := v.srv.Client(t)
	parent := t.TempDir()
	dest := filepath.Join(parent, "app")

	// A fresh dest, from a tar.gz.
	archive := makeTar(t, true,
		member{name: "./"},
		member{name: "bin/"},
		member{name: "bin/run.sh", body: "#!/bin/sh\necho run\n", mode: 0o755},
		member{name: "conf/app/settings.ini", body: "a = 1\n", mode: 0o600}, // no entry for its directories
		member{name: "README", body: "hello\n"},
		member{name: "current", link: "bin/run.sh"},
		member{name: "conf/up", link: "../README"},
	)
	sum := sha256.Sum256(archive)
	run := v.h.Execute(t, v.task(t, "push", map[string]any{"archive": b64(archive), "dest": dest, "mode": "0750", "owner": "root:root"}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, hex.EncodeToString(sum[:]), run.Outputs()["sha256"])
	require.Equal(t, "3", run.Outputs()["files"])
	require.Equal(t, "uploaded "+strconv.Itoa(len(archive))+" bytes\nextracted 3 files\ncreated "+dest+"\n", run.StdoutText())
	requireFile(t, filepath.Join(dest, "bin/run.sh"), "#!/bin/sh\necho run\n", 0o755)
	requireFile(t, filepath.Join(dest, "conf/app/settings.ini"), "a = 1\n", 0o600)
	requireFile(t, filepath.Join(dest, "README"), "hello\n", 0o644)
	link, err := os.Readlink(filepath.Join(dest, "current"))
	require.NoError(t, err)
	require.Equal(t, "bin/run.sh", link)
	st, err := os.Stat(dest)
	require.NoError(t, err)
	require.True(t, st.IsDir())
	require.Equal(t, os.FileMode(0o750), st.Mode().Perm(), "mode applies to the directory")
	require.Equal(t, uint32(0), st.Sys().(*syscall.Stat_t).Uid)
	require.Equal(t, []string{"app"}, remoteLs(t, probe, parent), "no temporary path is left")

	// Again, with another tree (plain tar, no owner): it replaces the old one whole.
	archive = makeTar(t, false,
		member{name: "bin/"},
		member{name: "bin/other", body: "new\n", mode: 0o700},
		member{name: "VERSION", body: "2\n"},
	)
	run = v.h.Execute(t, v.task(t, "push", map[string]any{"archive": b64(archive), "dest": dest}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "2", run.Outputs()["files"])
	require.Contains(t, run.StdoutText(), "replaced "+dest+"\n")
	requireFile(t, filepath.Join(dest, "bin/other"), "new\n", 0o700)
	requireFile(t, filepath.Join(dest, "VERSION"), "2\n", 0o644)
	for _, gone := range []string{"bin/run.sh", "conf", "README", "current"} {
		_, err := os.Lstat(filepath.Join(dest, gone))
		require.True(t, os.IsNotExist(err), "%s of the old tree is gone", gone)
	}
	st, err = os.Stat(dest)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), st.Mode().Perm(), "the directory's default mode")
	require.Equal(t, []string{"app"}, remoteLs(t, probe, parent), "the old tree and the temporary paths are removed")

	// dest that is a file is refused, and left alone.
	file := filepath.Join(parent, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	run = v.h.Execute(t, v.task(t, "push", map[string]any{"archive": b64(archive), "dest": file}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "not a directory")
	b, _ := os.ReadFile(file)
	require.Equal(t, "x", string(b))
	requireNoTemporaries(t, probe, parent)
}

// TestPushDirectoryCleansUpAfterAFailure: a chown that fails (an unknown
// owner) comes after the upload and the extraction; the archive and the
// new tree are removed, and dest is untouched.
func TestPushDirectoryCleansUpAfterAFailure(t *testing.T) {
	t.Parallel()
	v := setup(t)
	probe := v.srv.Client(t)
	parent := t.TempDir()
	dest := filepath.Join(parent, "app")
	require.NoError(t, os.MkdirAll(filepath.Join(dest, "keep"), 0o755))
	archive := makeTar(t, true, member{name: "new", body: "new"})
	run := v.h.Execute(t, v.task(t, "push", map[string]any{"archive": b64(archive), "dest": dest, "owner": "no-such-user-xyz"}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "owner")
	require.Contains(t, run.StdoutText(), "extracted 1 files", "it failed after the extraction")
	require.Equal(t, []string{"app"}, remoteLs(t, probe, parent))
	require.Equal(t, []string{"keep"}, remoteLs(t, probe, dest), "dest is untouched")

	// A missing parent: an Error before anything is written.
	run = v.h.Execute(t, v.task(t, "push", map[string]any{"archive": b64(archive), "dest": filepath.Join(parent, "missing", "app")}))
	run.RequireStatus(t, sdk.StatusError)
	require.Equal(t, []string{"app"}, remoteLs(t, probe, parent))
}

// TestPushDirectoryCancel cancels while tar runs: a fake tar on the
// sessions' PATH extracts with the real one, says so through a fifo, then
// waits on another fifo until the test lets it go.
func TestPushDirectoryCancel(t *testing.T) {
	t.Parallel()
	v := setup(t)
	// Over the harness, a cancelled task ends at once; the executor's
	// Execute (and its clean-up) is waited for through this wrapper.
	e := &returns{Executor: v.exec, ended: make(chan struct{}, 1)}
	v.h = sdktest.InProcess(t, e)
	probe := v.srv.Client(t)
	realTar, err := exec.LookPath("tar")
	require.NoError(t, err)
	fifos := t.TempDir()
	extracted, release := filepath.Join(fifos, "extracted"), filepath.Join(fifos, "release")
	require.NoError(t, syscall.Mkfifo(extracted, 0o600))
	require.NoError(t, syscall.Mkfifo(release, 0o600))
	fake := "#!/bin/sh\n" + quote(realTar) + " \"$@\" || exit\necho done > " + quote(extracted) + "\nread line < " + quote(release) + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(v.srv.FakeBin, "tar"), []byte(fake), 0o755))

	parent := t.TempDir()
	dest := filepath.Join(parent, "app")
	archive := makeTar(t, true, member{name: "dir/"}, member{name: "dir/f", body: "f"})
	x := v.h.Start(t, v.task(t, "push", map[string]any{"archive": b64(archive), "dest": dest}))
	released := false
	t.Cleanup(func() {
		if !released {
			writeFifo(t, release, "go\n")
		}
	})
	readFifo(t, extracted)
	names := remoteLs(t, probe, parent)
	require.Len(t, names, 2, "the archive and the new tree exist while tar runs: %v", names)
	x.Cancel()
	run := x.Wait(t)
	if run.Err == nil {
		require.Equal(t, sdk.StatusCanceled, run.Result.Status, "%s", run)
	}
	select {
	case <-e.ended:
	case <-time.After(2 * StopGrace):
		t.Fatal("the executor's Execute did not return after the cancel")
	}
	require.Empty(t, remoteLs(t, probe, parent), "the archive and the new tree are removed on cancel; stderr: %s", run.StderrText())
	writeFifo(t, release, "go\n")
	released = true
}

// returns tells when Execute returns.
type returns struct {
	*Executor
	ended chan struct{}
}

func (r *returns) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	defer func() { r.ended <- struct{}{} }()
	return r.Executor.Execute(ctx, task, out)
}

// readFifo waits (bounded) for a line written to fifo.
func readFifo(t *testing.T, fifo string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { // opening a fifo for reading waits for its writer
		_, err := os.ReadFile(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("nobody wrote to the fifo")
	}
}

// TestPushDirectoryValidate: unsafe or malformed archives, and content
// with archive, are refused by Validate with the field named, and by
// Execute before any connection (the target does not exist).
func TestPushDirectoryValidate(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, newExecutor())
	ok := b64(makeTar(t, true, member{name: "f", body: "x"}))
	for name, tt := range map[string]struct {
		params map[string]any
		field  string
		msg    string
	}{
		"dotdot":               {map[string]any{"archive": b64(makeTar(t, true, member{name: "../evil", body: "x"}))}, "archive", "../evil"},
		"nested dotdot":        {map[string]any{"archive": b64(makeTar(t, false, member{name: "a/../../evil", body: "x"}))}, "archive", ".."},
		"absolute":             {map[string]any{"archive": b64(makeTar(t, true, member{name: "/etc/evil", body: "x"}))}, "archive", "absolute"},
		"symlink outside":      {map[string]any{"archive": b64(makeTar(t, true, member{name: "a/l", link: "../../etc"}))}, "archive", "outside"},
		"absolute symlink":     {map[string]any{"archive": b64(makeTar(t, true, member{name: "l", link: "/etc/passwd"}))}, "archive", "outside"},
		"hard link outside":    {map[string]any{"archive": b64(makeTar(t, true, member{name: "h", hard: "../x"}))}, "archive", "outside"},
		"below a symlink":      {map[string]any{"archive": b64(makeTar(t, true, member{name: "l", link: "sub"}, member{name: "l/f", body: "x"}))}, "archive", "below a symbolic link"},
		"below a later link":   {map[string]any{"archive": b64(makeTar(t, true, member{name: "l/f", body: "x"}, member{name: "l", link: "."}))}, "archive", "below a symbolic link"},
		"through another link": {map[string]any{"archive": b64(makeTar(t, true, member{name: "l1", link: "."}, member{name: "d/l2", link: "../l1/.."}))}, "archive", "outside"},
		"device":               {map[string]any{"archive": b64(makeTar(t, true, member{name: "null", typ: tar.TypeChar}))}, "archive", "not a file"},
		"not a tar":            {map[string]any{"archive": b64([]byte("hello, this is not a tar archive at all"))}, "archive", "tar"},
		"bzip2":                {map[string]any{"archive": b64([]byte("BZh91AY&SY"))}, "archive", "bzip2"},
		"not base64":           {map[string]any{"archive": "not base64!"}, "archive", "base64"},
		"content and archive":  {map[string]any{"archive": ok, "content": ""}, "archive", "content"},
		"neither":              {map[string]any{}, "content", "archive"},
		"dest not clean":       {map[string]any{"archive": ok, "dest": "/srv/app/"}, "dest", "clean"},
		"dest root":            {map[string]any{"archive": ok, "dest": "/"}, "dest", "clean"},
	} {
		t.Run(name, func(t *testing.T) {
			params := tt.params
			if _, ok := params["dest"]; !ok {
				params["dest"] = "/srv/app"
			}
			raw, err := json.Marshal(params)
			require.NoError(t, err)
			errs := h.Validate(t, sdk.ValidateRequest{Action: "push", Params: raw})
			require.Len(t, errs, 1, "%v", errs)
			require.Equal(t, tt.field, errs[0].Field)
			require.Contains(t, errs[0].Message, tt.msg)

			task := sdk.Task{Action: "push", Params: raw, Target: sdk.Target{Address: "no-such-host.invalid"}, Credential: &sdk.Credential{Kind: "ssh_key", Username: "root"}}
			run := h.Execute(t, task)
			run.RequireStatus(t, sdk.StatusError)
			require.Contains(t, run.Result.Error, tt.field)
			require.NotContains(t, run.Result.Error, "no-such-host", "refused before connecting")
		})
	}
	// Safe archives pass: links inside the tree, gzip or not, an empty one.
	for _, archive := range [][]byte{
		makeTar(t, true, member{name: "./"}, member{name: "a/b/"}, member{name: "a/b/l", link: "../../f"}, member{name: "f", body: "x"}, member{name: "h", hard: "./f"}),
		makeTar(t, false, member{name: "l", link: "./sub/../f"}),
		makeTar(t, false),
	} {
		raw, _ := json.Marshal(map[string]any{"archive": b64(archive), "dest": "/srv/app", "mode": "2775"})
		require.Empty(t, h.Validate(t, sdk.ValidateRequest{Action: "push", Params: raw}))
	}
}
