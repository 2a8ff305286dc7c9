package ssh

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/pkg/sftp"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// tarInfo is what inspectArchive learnt of an archive.
type tarInfo struct {
	gzip  bool // gzip-compressed (magic 1f 8b)
	files int  // regular file entries
}

// Magic numbers of compressions tar could meet but push does not take.
var otherCompressions = []struct {
	name  string
	magic []byte
}{
	{"bzip2", []byte("BZh")},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{"zip", []byte("PK\x03\x04")},
}

// inspectArchive reads every entry of a tar archive (gzip-compressed or
// not, told by its magic bytes) and rejects what could write outside the
// directory it is extracted into: absolute names, .. components, entries
// below a symbolic link of the archive, symbolic links whose target leaves
// the tree or goes through another link, hard links to such names, and
// entries that are not files, directories or links (devices, FIFOs).
func inspectArchive(b []byte) (tarInfo, error) {
	var info tarInfo
	if len(b) == 0 {
		return info, errors.New("empty: give a tar archive (an empty one is 1024 zero bytes)")
	}
	var r io.Reader = bytes.NewReader(b)
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return info, fmt.Errorf("not valid gzip: %w", err)
		}
		info.gzip = true
		r = zr
	} else {
		for _, c := range otherCompressions {
			if bytes.HasPrefix(b, c.magic) {
				return info, fmt.Errorf("%s data: give a tar archive, plain or gzip-compressed", c.name)
			}
		}
	}
	type entry struct {
		name, link string
		typ        byte
	}
	var entries []entry
	links := map[string]bool{} // symbolic links, by cleaned name
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return info, fmt.Errorf("not a valid tar archive (after %d entries): %w", len(entries), err)
		}
		name, err := memberName(h.Name)
		if err != nil {
			return info, fmt.Errorf("entry %q: %w", h.Name, err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			info.files++
		case tar.TypeDir:
		case tar.TypeSymlink, tar.TypeLink:
			if name == "." {
				return info, fmt.Errorf("entry %q: a link cannot be the top directory", h.Name)
			}
			if h.Typeflag == tar.TypeSymlink {
				links[name] = true
			}
		case tar.TypeXGlobalHeader:
			continue
		default:
			return info, fmt.Errorf("entry %q: type %q is not a file, directory or link", h.Name, h.Typeflag)
		}
		if h.Typeflag == tar.TypeReg && name == "." {
			return info, fmt.Errorf("entry %q: a file cannot be the top directory", h.Name)
		}
		entries = append(entries, entry{name: name, link: h.Linkname, typ: h.Typeflag})
	}
	// Links may come after the entries below them: check once all are known.
	throughLink := func(p string) bool { // whether a proper prefix of p is a link
		for i := range len(p) {
			if p[i] == '/' && links[p[:i]] {
				return true
			}
		}
		return false
	}
	for _, e := range entries {
		if throughLink(e.name) {
			return info, fmt.Errorf("entry %q: is below a symbolic link of the archive", e.name)
		}
		switch e.typ {
		case tar.TypeLink: // relative to the top of the tree
			target, err := memberName(e.link)
			if err != nil || target == "." || throughLink(target) {
				return info, fmt.Errorf("entry %q: hard link to %q, outside the tree", e.name, e.link)
			}
		case tar.TypeSymlink: // relative to the link's directory
			if e.link == "" || path.IsAbs(e.link) {
				return info, fmt.Errorf("entry %q: symbolic link to %q, outside the tree", e.name, e.link)
			}
			dir := path.Dir(e.name)
			if dir == "." {
				dir = ""
			}
			if !insideTree(dir, e.link, links) {
				return info, fmt.Errorf("entry %q: symbolic link to %q, outside the tree", e.name, e.link)
			}
		}
	}
	return info, nil
}

// memberName cleans an archive member's name, rejecting absolute names and
// .. components.
func memberName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if path.IsAbs(name) {
		return "", errors.New("absolute path")
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == ".." {
			return "", errors.New("has a .. component")
		}
	}
	return path.Clean(name), nil
}

// insideTree reports whether the relative link target, followed from the
// directory dir ("" for the top), stays in the tree without going through
// a symbolic link of the archive (whose own target is checked on its own).
func insideTree(dir, target string, links map[string]bool) bool {
	var cur []string
	if dir != "" {
		cur = strings.Split(dir, "/")
	}
	comps := strings.Split(target, "/")
	for i, c := range comps {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return false
			}
			cur = cur[:len(cur)-1]
		default:
			cur = append(cur, c)
			if i < len(comps)-1 && links[strings.Join(cur, "/")] {
				return false
			}
		}
	}
	return true
}

// cleanupTimeout bounds removing temporary paths after a failure or a
// cancel (the task's context is then done).
const cleanupTimeout = StopGrace

// pushDir uploads a tar archive next to dest, verifies it, extracts it
// into a fresh sibling directory, sets owner and mode, and swaps it into
// place; see the package comment.
func (e *Executor) pushDir(ctx context.Context, ep *endpoint, p *params, out sdk.Output) (sdk.Result, error) {
	client, c, release, err := e.openSFTP(ctx, ep)
	if err != nil {
		return sdk.Result{}, err
	}
	defer release()
	reportHostKeys(c, out)
	stdout := out.Stdout()

	if st, err := client.Lstat(p.Dest); err == nil && !st.IsDir() {
		return sdk.Result{}, fmt.Errorf("%s on %s exists and is not a directory (%s)", p.Dest, ep.target, st.Mode().Type())
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return sdk.Result{}, fmt.Errorf("stat %s on %s: %w", p.Dest, ep.target, err)
	}

	suffix := randomSuffix()
	tmp := p.Dest + ".jobgraph-tmp-" + suffix + ".tar"
	newDir := p.Dest + ".jobgraph-new-" + suffix
	oldDir := p.Dest + ".jobgraph-old-" + suffix
	swapped := false
	defer func() {
		// The archive always goes; the new tree unless it is dest now. With
		// a context of its own: the task's may be cancelled.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		paths := quote(tmp)
		if !swapped {
			paths += " " + quote(newDir)
		}
		if _, cerr := e.output(cctx, ep, "rm -rf -- "+paths); cerr != nil {
			fmt.Fprintf(out.Stderr(), "could not remove the temporary paths on %s: %v\n", ep.target, cerr)
		}
	}()
	canceled := func() bool { return ctx.Err() != nil }

	// Upload.
	if err := uploadCtx(ctx, client, tmp, p.archive, 0o600); err != nil {
		if canceled() {
			return sdk.ContextResult(ctx), nil
		}
		return sdk.Result{}, fmt.Errorf("upload to %s:%s: %w", ep.target, tmp, err)
	}
	fmt.Fprintf(stdout, "uploaded %d bytes\n", len(p.archive))

	// Verify.
	sum := sha256.Sum256(p.archive)
	want := hex.EncodeToString(sum[:])
	got, err := e.output(ctx, ep, "sha256sum -- "+quote(tmp))
	if err != nil {
		if canceled() {
			return sdk.ContextResult(ctx), nil
		}
		return sdk.Result{}, fmt.Errorf("verify the upload on %s: %w", ep.target, err)
	}
	if f := strings.Fields(got); len(f) == 0 || f[0] != want {
		return sdk.Result{}, sdk.Retryable(fmt.Errorf("verify the upload on %s: SHA-256 is %q on the target, want %s", ep.target, strings.TrimSpace(got), want))
	}

	// Extract into a fresh, private directory.
	if err := client.Mkdir(newDir); err != nil {
		return sdk.Result{}, fmt.Errorf("create %s on %s: %w", newDir, ep.target, err)
	}
	if err := client.Chmod(newDir, 0o700); err != nil {
		return sdk.Result{}, fmt.Errorf("set the mode on %s: %w", ep.target, err)
	}
	z := ""
	if p.tar.gzip {
		z = "-z "
	}
	// -p: the archive's modes, not the umask's; --no-same-owner: the login
	// user's (or owner's, below), not the archive's uids.
	if _, err := e.output(ctx, ep, "tar -x "+z+"-p --no-same-owner -f "+quote(tmp)+" -C "+quote(newDir)); err != nil {
		if canceled() {
			return sdk.ContextResult(ctx), nil
		}
		return sdk.Result{}, fmt.Errorf("extract on %s: %w", ep.target, err)
	}
	fmt.Fprintf(stdout, "extracted %d files\n", p.tar.files)

	// Owner and mode.
	if p.Owner != "" {
		if _, err := e.output(ctx, ep, "chown -R -- "+quote(p.Owner)+" "+quote(newDir)); err != nil {
			if canceled() {
				return sdk.ContextResult(ctx), nil
			}
			return sdk.Result{}, fmt.Errorf("set the owner on %s: %w", ep.target, err)
		}
	}
	if err := client.Chmod(newDir, os.FileMode(p.mode&0o777)|modeBits(p.mode)); err != nil {
		return sdk.Result{}, fmt.Errorf("set the mode on %s: %w", ep.target, err)
	}
	if canceled() {
		return sdk.ContextResult(ctx), nil
	}

	// Swap. Not interrupted once begun, so dest is never left missing: a
	// cancel from now on lets the push finish.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	d, n, o := quote(p.Dest), quote(newDir), quote(oldDir)
	swap := `if [ -e ` + d + ` ] || [ -L ` + d + ` ]; then
  if [ -L ` + d + ` ] || [ ! -d ` + d + ` ]; then echo "exists and is not a directory" >&2; exit 1; fi
  mv -T -- ` + d + ` ` + o + ` || exit 1
  if ! mv -T -- ` + n + ` ` + d + `; then mv -T -- ` + o + ` ` + d + `; exit 1; fi
  echo replaced
else
  mv -T -- ` + n + ` ` + d + ` || exit 1
  echo created
fi`
	how, err := e.output(sctx, ep, swap)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("move into %s on %s: %w", p.Dest, ep.target, err)
	}
	swapped = true
	how = strings.TrimSpace(how)
	if how == "replaced" {
		if _, err := e.output(sctx, ep, "rm -rf -- "+o); err != nil {
			fmt.Fprintf(out.Stderr(), "could not remove the previous tree %s on %s: %v\n", oldDir, ep.target, err)
		}
	}
	fmt.Fprintf(stdout, "%s %s\n", how, p.Dest)
	out.SetOutput("sha256", want)
	out.SetOutput("files", strconv.Itoa(p.tar.files))
	return sdk.Succeeded(), nil
}

// uploadChunk is how much uploadCtx writes between checks of its context.
const uploadChunk = 1 << 20

// uploadCtx is upload in chunks, stopping when ctx is done.
func uploadCtx(ctx context.Context, client *sftp.Client, path string, content []byte, mode os.FileMode) error {
	f, err := client.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	err = f.Chmod(mode)
	for rest := content; err == nil && len(rest) > 0; {
		if err = ctx.Err(); err != nil {
			break
		}
		n := min(len(rest), uploadChunk)
		_, err = f.Write(rest[:n])
		rest = rest[n:]
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
