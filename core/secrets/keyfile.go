package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxKeyFileSize bounds how much of a key file is read. An encoded key is 44
// bytes; anything much larger is not a key file.
const maxKeyFileSize = 1 << 10

// LoadOrCreateKeyFile reads a base64 key (see ParseKey) from path.
//
// If path does not exist, it generates a key and writes it there, creating
// the parent directory with mode 0700 if needed, and reports created = true.
// The key is written to a 0600 temporary file in the same directory, synced,
// and hard-linked into place, which never overwrites an existing file: if
// another process creates path first, its key is read and returned instead,
// so concurrent first starts agree on one key.
//
// It refuses (with an error wrapping ErrInsecureKeyFile and naming the path
// and mode) a key file that group or others can access.
func LoadOrCreateKeyFile(path string) (key Key, created bool, err error) {
	key, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}

	key, err = GenerateKey()
	if err != nil {
		return Key{}, false, err
	}
	switch err := createKeyFile(path, key); {
	case err == nil:
		return key, true, nil
	case errors.Is(err, fs.ErrExist):
		// Lost the race: someone else created the file after we looked.
		key, err = readKeyFile(path)
		return key, false, err
	default:
		return Key{}, false, err
	}
}

// readKeyFile reads and parses the key at path. Errors for a missing file
// wrap fs.ErrNotExist.
func readKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("secrets: reading key file: %w", err)
	}
	defer f.Close()

	// Stat the open file, not the path, so the mode checked is the mode of
	// the file read.
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("secrets: reading key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("secrets: key file %s is not a regular file (mode %s)", path, fi.Mode())
	}
	// Windows has no meaningful group/other permission bits.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return Key{}, fmt.Errorf("%w: %s has mode %#o; restrict it to the owner (chmod 600)",
			ErrInsecureKeyFile, path, perm)
	}

	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return Key{}, fmt.Errorf("secrets: reading key file: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return Key{}, fmt.Errorf("%w: key file %s is larger than %d bytes", ErrInvalidKey, path, maxKeyFileSize)
	}
	key, err := ParseKey(string(data))
	if err != nil {
		// ParseKey's error never contains the file's contents.
		return Key{}, fmt.Errorf("secrets: key file %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile atomically creates path containing key. If path already
// exists it returns an error wrapping fs.ErrExist and leaves path alone.
func createKeyFile(path string, key Key) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secrets: creating key directory: %w", err)
	}

	// os.CreateTemp creates the file with mode 0600 and O_EXCL.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("secrets: creating key file: %w", err)
	}
	tmpName := tmp.Name()
	// Once linked, the temporary name is just a second name for the key
	// file; remove it whatever happens. Failure to do so leaves a stray
	// 0600 file behind and is not worth failing the call for.
	defer os.Remove(tmpName)

	_, err = tmp.WriteString(key.Encode() + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("secrets: writing key file: %w", err)
	}

	// Unlike rename, link fails if the target exists, so a key another
	// process already published (and may already have used) is never
	// replaced.
	if err := os.Link(tmpName, path); err != nil {
		return fmt.Errorf("secrets: creating key file: %w", err)
	}
	// Make the new directory entry durable: losing the key in a crash after
	// values were sealed with it would make them unrecoverable.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("secrets: syncing key directory: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing on Windows
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}
