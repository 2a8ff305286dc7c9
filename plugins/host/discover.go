package host

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Discover finds the external plugins in dir and returns a Source for each
// binary the manifest allows, sorted by name, plus one error per refusal.
// Refusals do not stop the others: one bad file never hides the good ones.
//
// Every regular, executable file in dir is a candidate (dot files and the
// manifest itself are skipped; so are non-executable files such as a
// README). A candidate is refused when:
//   - the manifest does not list it ("unknown plugin binary ... not in the
//     manifest"), so that dropping a file into the directory is not enough
//     to get it run;
//   - its SHA-256 differs from the manifest's.
//
// A symbolic link, or a manifest entry whose file is missing, is an error
// too. manifest is the zero Manifest to read dir/plugins.json; a missing
// plugins.json with candidates present refuses them all.
//
// Discover hashes the files but does not run them. Register the returned
// sources with a Host whose Options.PrivateDir is set, so that each binary
// is copied into a private directory and verified there before it ever
// runs (go-plugin's SecureConfig then re-checks the copy at every start).
func Discover(dir string, manifest Manifest) ([]Source, []error) {
	var errs []error
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, []error{fmt.Errorf("plugin directory %s: %w", dir, err)}
	}
	entries, err := os.ReadDir(absDir)
	if err != nil {
		return nil, []error{fmt.Errorf("plugin directory: %w", err)}
	}
	if manifest.Version == 0 && manifest.Plugins == nil {
		m, err := LoadManifest(filepath.Join(absDir, ManifestFile))
		switch {
		case err == nil:
			manifest = m
		case errors.Is(err, fs.ErrNotExist):
			// No manifest: every candidate below is refused as unknown.
			manifest = Manifest{Version: ManifestVersion}
			if hasCandidates(absDir, entries) {
				errs = append(errs, fmt.Errorf("plugin directory %s has executables but no %s manifest", absDir, ManifestFile))
			}
		default:
			return nil, []error{err}
		}
	} else if err := manifest.Validate(); err != nil {
		return nil, []error{err}
	}

	var out []Source
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if name == ManifestFile || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(absDir, name)
		fi, err := os.Lstat(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin binary %s: %w", path, err))
			continue
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if _, listed := manifest.byFile(name); listed || isExecutableTarget(path) {
				errs = append(errs, fmt.Errorf("plugin binary %s is a symbolic link: refused, plugin binaries must be regular files", path))
			}
			continue
		case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
			continue // a directory, a README...
		}
		entry, ok := manifest.byFile(name)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown plugin binary %s: %q is not in the manifest, refused", path, name))
			continue
		}
		seen[name] = true
		sum, err := FileSHA256(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin %q: %w", entry.Name, err))
			continue
		}
		if want := entry.Checksum(); !bytes.Equal(sum, want) {
			errs = append(errs, fmt.Errorf("plugin %q refused: %w", entry.Name, checksumError(path, want, sum)))
			continue
		}
		out = append(out, Source{Name: entry.Name, Path: path, Checksum: sum})
	}
	for _, e := range manifest.Plugins {
		if !seen[e.File] {
			if _, err := os.Lstat(filepath.Join(absDir, e.File)); errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("plugin %q: file %s listed in the manifest is missing", e.Name, filepath.Join(absDir, e.File)))
			} else if err == nil {
				if fi, _ := os.Lstat(filepath.Join(absDir, e.File)); fi != nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 == 0 {
					errs = append(errs, fmt.Errorf("plugin %q: file %s listed in the manifest is not executable", e.Name, filepath.Join(absDir, e.File)))
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errs
}

func hasCandidates(dir string, entries []os.DirEntry) bool {
	for _, e := range entries {
		if e.Name() == ManifestFile || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if fi, err := os.Lstat(filepath.Join(dir, e.Name())); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return true
		}
	}
	return false
}

func isExecutableTarget(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
