package host

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ManifestFile is the manifest's file name inside the plugin directory.
const ManifestFile = "plugins.json"

// ManifestVersion is the manifest format version this package reads.
const ManifestVersion = 1

// Manifest lists the external plugin binaries an administrator allows, with
// the SHA-256 each must have. It lives next to them as plugins.json:
//
//	{
//	  "version": 1,
//	  "plugins": [
//	    {"name": "k8s", "file": "jobgraph-executor-k8s", "sha256": "9f86d08188...(64 hex digits)"}
//	  ]
//	}
//
// Names are executor names (1–63 of [a-z0-9_-]) and must be unique; files
// are plain file names inside the plugin directory (no "/") and must be
// unique; sha256 is 64 hexadecimal digits. Unknown fields are refused, so a
// typo ("sha265") is an error rather than a silently missing checksum.
//
// `sha256sum jobgraph-executor-k8s` prints the digest to put in it.
type Manifest struct {
	Version int             `json:"version"`
	Plugins []ManifestEntry `json:"plugins"`
}

// ManifestEntry is one allowed plugin binary.
type ManifestEntry struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"` // hex
}

// Checksum returns the entry's SHA-256 as bytes. The manifest must have
// been validated.
func (e ManifestEntry) Checksum() []byte {
	b, _ := hex.DecodeString(e.SHA256)
	return b
}

// ParseManifest parses and validates a manifest. Errors name the entry and
// the field at fault and wrap ErrBadManifest.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %s", ErrBadManifest, describeJSONError(data, err))
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("%w: unexpected data after the JSON object", ErrBadManifest)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Manifest{}, fmt.Errorf("%w: unexpected data after the JSON object", ErrBadManifest)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// LoadManifest reads and parses the manifest at path. Errors name the file.
func LoadManifest(path string) (Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("plugin manifest: %w", err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Validate checks the manifest's version and entries.
func (m Manifest) Validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("%w: version is %d, want %d", ErrBadManifest, m.Version, ManifestVersion)
	}
	names := map[string]int{}
	files := map[string]int{}
	var errs []error
	bad := func(i int, field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: plugins[%d].%s: %s", ErrBadManifest, i, field, fmt.Sprintf(format, args...)))
	}
	for i, e := range m.Plugins {
		switch {
		case e.Name == "":
			bad(i, "name", "missing")
		case !validName(e.Name):
			bad(i, "name", "%q is not 1–63 of [a-z0-9_-]", e.Name)
		default:
			if j, dup := names[e.Name]; dup {
				bad(i, "name", "%q is also the name of plugins[%d]", e.Name, j)
			}
			names[e.Name] = i
		}
		switch {
		case e.File == "":
			bad(i, "file", "missing")
		case e.File != filepath.Base(e.File) || strings.ContainsAny(e.File, `/\`) || e.File == "." || e.File == "..":
			bad(i, "file", "%q must be a file name in the plugin directory, without a directory part", e.File)
		case e.File == ManifestFile || strings.HasPrefix(e.File, "."):
			bad(i, "file", "%q cannot be a plugin binary", e.File)
		default:
			if j, dup := files[e.File]; dup {
				bad(i, "file", "%q is also the file of plugins[%d]", e.File, j)
			}
			files[e.File] = i
		}
		if b, err := hex.DecodeString(e.SHA256); err != nil || len(b) != 32 {
			bad(i, "sha256", "must be 64 hexadecimal digits, got %q", e.SHA256)
		}
	}
	return errors.Join(errs...)
}

// byFile returns the entry for a file name.
func (m Manifest) byFile(file string) (ManifestEntry, bool) {
	for _, e := range m.Plugins {
		if e.File == file {
			return e, true
		}
	}
	return ManifestEntry{}, false
}

// describeJSONError turns a decoding error into one that says where.
func describeJSONError(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset)
		return fmt.Sprintf("line %d, column %d: %v", line, col, syn)
	case errors.As(err, &typ):
		line, col := lineCol(data, typ.Offset)
		return fmt.Sprintf("line %d, column %d: %s must be %s, not %s", line, col, typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return "empty file"
	}
	return err.Error() // e.g. `json: unknown field "sha265"`
}

// lineCol returns the position of the last byte the decoder read (the
// decoder's offsets count the bytes read, the culprit included).
func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off-1, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
