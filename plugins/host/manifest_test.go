package host

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

const sumA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestParseManifest(t *testing.T) {
	t.Parallel()
	m, err := ParseManifest([]byte(`{"version":1,"plugins":[{"name":"k8s","file":"jobgraph-executor-k8s","sha256":"` + sumA + `"}]}`))
	require.NoError(t, err)
	require.Equal(t, []ManifestEntry{{Name: "k8s", File: "jobgraph-executor-k8s", SHA256: sumA}}, m.Plugins)
	want, _ := hex.DecodeString(sumA)
	require.Equal(t, want, m.Plugins[0].Checksum())

	entry := func(name, file, sum string) string {
		return `{"name":"` + name + `","file":"` + file + `","sha256":"` + sum + `"}`
	}
	for _, tc := range []struct{ name, json, want string }{
		{"empty", ``, "empty file"},
		{"syntax", "{\"version\":1,\n \"plugins\": [}", "line 2, column 14"},
		{"unknown field", `{"version":1,"plugins":[{"name":"a","file":"a","sha265":"` + sumA + `"}]}`, `unknown field "sha265"`},
		{"wrong type", "{\"version\":\"1\"}", `line 1, column 14: version must be int, not string`},
		{"trailing data", `{"version":1,"plugins":[]} {}`, "unexpected data after the JSON object"},
		{"version", `{"version":2,"plugins":[]}`, "version is 2, want 1"},
		{"no version", `{"plugins":[]}`, "version is 0, want 1"},
		{"bad name", `{"version":1,"plugins":[` + entry("K8S", "a", sumA) + `]}`, `plugins[0].name: "K8S" is not 1–63 of [a-z0-9_-]`},
		{"missing name", `{"version":1,"plugins":[` + entry("", "a", sumA) + `]}`, `plugins[0].name: missing`},
		{"duplicate name", `{"version":1,"plugins":[` + entry("a", "a", sumA) + `,` + entry("a", "b", sumA) + `]}`, `plugins[1].name: "a" is also the name of plugins[0]`},
		{"duplicate file", `{"version":1,"plugins":[` + entry("a", "f", sumA) + `,` + entry("b", "f", sumA) + `]}`, `plugins[1].file: "f" is also the file of plugins[0]`},
		{"file with a directory", `{"version":1,"plugins":[` + entry("a", "../bin/sh", sumA) + `]}`, `plugins[0].file: "../bin/sh" must be a file name`},
		{"manifest as plugin", `{"version":1,"plugins":[` + entry("a", "plugins.json", sumA) + `]}`, `"plugins.json" cannot be a plugin binary`},
		{"short sha", `{"version":1,"plugins":[` + entry("a", "a", "abcd") + `]}`, `plugins[0].sha256: must be 64 hexadecimal digits, got "abcd"`},
		{"non-hex sha", `{"version":1,"plugins":[` + entry("a", "a", strings.Repeat("z", 64)) + `]}`, `plugins[0].sha256: must be 64 hexadecimal digits`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseManifest([]byte(tc.json))
			require.ErrorIs(t, err, ErrBadManifest)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFile(t, bin("good"), filepath.Join(dir, "jobgraph-executor-good"), 0o755)
	copyFile(t, bin("exit"), filepath.Join(dir, "stranger"), 0o755)                  // not in the manifest
	copyFile(t, bin("exit"), filepath.Join(dir, "jobgraph-executor-swapped"), 0o755) // wrong checksum
	copyFile(t, bin("good"), filepath.Join(dir, "jobgraph-executor-noexec"), 0o644)  // listed, not executable
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("docs"), 0o644))
	require.NoError(t, os.Symlink(bin("good"), filepath.Join(dir, "link")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "subdir"), 0o755))
	good := hex.EncodeToString(binSum["good"])
	require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{
	  "version": 1,
	  "plugins": [
	    {"name": "good", "file": "jobgraph-executor-good", "sha256": "`+good+`"},
	    {"name": "swapped", "file": "jobgraph-executor-swapped", "sha256": "`+good+`"},
	    {"name": "noexec", "file": "jobgraph-executor-noexec", "sha256": "`+good+`"},
	    {"name": "gone", "file": "jobgraph-executor-gone", "sha256": "`+good+`"}
	  ]
	}`), 0o644))

	srcs, errs := Discover(dir, Manifest{})
	require.Len(t, srcs, 1)
	require.Equal(t, Source{Name: "good", Path: filepath.Join(dir, "jobgraph-executor-good"), Checksum: binSum["good"]}, srcs[0])
	msgs := errorStrings(errs)
	require.Len(t, errs, 5, msgs)
	require.Contains(t, msgs, `unknown plugin binary `+filepath.Join(dir, "stranger")+`: "stranger" is not in the manifest, refused`)
	require.Contains(t, msgs, `plugin "swapped" refused: plugin binary checksum mismatch: `+filepath.Join(dir, "jobgraph-executor-swapped")+` has sha256 `+hex.EncodeToString(binSum["exit"])+`, want `+good)
	require.Contains(t, msgs, `plugin binary `+filepath.Join(dir, "link")+` is a symbolic link: refused, plugin binaries must be regular files`)
	require.Contains(t, msgs, `plugin "noexec": file `+filepath.Join(dir, "jobgraph-executor-noexec")+` listed in the manifest is not executable`)
	require.Contains(t, msgs, `plugin "gone": file `+filepath.Join(dir, "jobgraph-executor-gone")+` listed in the manifest is missing`)
	for _, err := range errs {
		if strings.Contains(err.Error(), "swapped") {
			require.ErrorIs(t, err, ErrChecksumMismatch)
		}
	}

	// What Discover found runs, from a private copy.
	opts := testOptions()
	opts.PrivateDir = filepath.Join(t.TempDir(), "bin")
	b := setup(t, opts, srcs...)
	res, _, err := b.run(t, "good", "noop", `{}`)
	require.NoError(t, err)
	require.Equal(t, sdk.StatusSucceeded, res.Status)
}

func TestDiscoverManifestGivenOrMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFile(t, bin("exit"), filepath.Join(dir, "exit"), 0o755)

	_, errs := Discover(dir, Manifest{})
	msgs := errorStrings(errs)
	require.Contains(t, msgs, "plugin directory "+dir+" has executables but no plugins.json manifest")
	require.Contains(t, msgs, `unknown plugin binary `+filepath.Join(dir, "exit")+`: "exit" is not in the manifest, refused`)

	srcs, errs := Discover(dir, Manifest{Version: 1, Plugins: []ManifestEntry{{Name: "exit", File: "exit", SHA256: hex.EncodeToString(binSum["exit"])}}})
	require.Empty(t, errs)
	require.Len(t, srcs, 1)

	_, errs = Discover(dir, Manifest{Version: 3})
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], ErrBadManifest)

	require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"version":1,"plugins":[{"name":"x"}]}`), 0o644))
	_, errs = Discover(dir, Manifest{})
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], filepath.Join(dir, ManifestFile)+": invalid plugin manifest: plugins[0].file: missing")

	_, errs = Discover(filepath.Join(dir, "nope"), Manifest{})
	require.Len(t, errs, 1)
	require.True(t, errors.Is(errs[0], os.ErrNotExist))

	empty := t.TempDir()
	srcs, errs = Discover(empty, Manifest{})
	require.Empty(t, srcs)
	require.Empty(t, errs, "an empty directory without a manifest is fine")
}

func errorStrings(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}
