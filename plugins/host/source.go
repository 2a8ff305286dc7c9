package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// Source says where a plugin comes from and how to run it.
//
// A built-in executor is the jobgraph binary itself, re-executed as
// `<self> plugin serve NAME`: the caller builds that command (Path from
// os.Executable, or /proc/self/exe on Linux so that an upgrade that replaces
// the file on disk does not change what runs; Args "plugin", "serve", NAME).
// The host treats every source alike and never special-cases a name.
//
// Why Path and Args rather than an *exec.Cmd factory: the host must know
// the file it runs, to copy it into its private directory and to check its
// checksum (go-plugin's SecureConfig hashes Cmd.Path), and it builds the
// environment itself so that the server's never leaks into a plugin.
type Source struct {
	// Name is the executor's name as jobs refer to it, 1–63 of [a-z0-9_-].
	// The plugin's Describe must report the same name.
	Name string
	// Path is the absolute path of the executable.
	Path string
	// Args are the arguments after the program name.
	Args []string
	// Env holds extra "KEY=value" environment variables for the plugin, on
	// top of the minimal environment the host passes (PATH, HOME, TMPDIR,
	// LANG). Never put a secret here: credentials travel in each task.
	Env []string
	// Checksum is the SHA-256 of the file at Path. It is required for
	// external plugins and checked at registration (on the private copy)
	// and again by go-plugin before every start. Optional for built-ins.
	Checksum []byte
	// BuiltIn marks the jobgraph binary's own executors. They are not
	// copied, and need no checksum (the binary is the one already running).
	BuiltIn bool
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]{1,63}$`)

// validName reports whether name is a valid executor or action name.
func validName(name string) bool { return nameRE.MatchString(name) }

func (s Source) validate() error {
	switch {
	case !validName(s.Name):
		return fmt.Errorf("invalid plugin name %q: want 1–63 of [a-z0-9_-]", s.Name)
	case s.Path == "":
		return errors.New("no executable path")
	case !filepath.IsAbs(s.Path):
		return fmt.Errorf("executable path %q is not absolute", s.Path)
	case !s.BuiltIn && len(s.Checksum) == 0:
		return errors.New("an external plugin needs a SHA-256 checksum")
	case len(s.Checksum) != 0 && len(s.Checksum) != sha256.Size:
		return fmt.Errorf("checksum is %d bytes, want a %d-byte SHA-256", len(s.Checksum), sha256.Size)
	}
	return nil
}

// FileSHA256 returns the SHA-256 of the file at path.
func FileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func checksumError(path string, want, got []byte) error {
	return fmt.Errorf("%w: %s has sha256 %s, want %s", ErrChecksumMismatch, path, hex.EncodeToString(got), hex.EncodeToString(want))
}

// privateCopy copies the plugin binary src into dir (created 0700 if
// missing; refused if anyone but its owner may write to it), checks the
// copy's SHA-256 against want, and returns the copy's path.
//
// This closes the window between "hash the file" and "execute the file"
// (go-plugin's SecureConfig does both on the same path, see STACK.md §3):
// whoever can write the plugin directory could swap the binary in between;
// nobody but us can write the private copy, and go-plugin re-checks it at
// every start anyway.
func privateCopy(dir, name, src string, want []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("plugin copy directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("plugin copy directory: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("plugin copy directory %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return "", fmt.Errorf("plugin copy directory %s is writable by others: %w", dir, err)
		}
	}
	dst := filepath.Join(dir, fmt.Sprintf("%s-%s", name, hex.EncodeToString(want[:8])))
	if got, err := FileSHA256(dst); err == nil && bytes.Equal(got, want) {
		return dst, nil // already there from an earlier run
	}
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".copy-"+name+"-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), in); err != nil {
		tmp.Close()
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	if err := tmp.Chmod(0o500); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return "", checksumError(src, want, got)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	return dst, nil
}
