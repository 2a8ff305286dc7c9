package secrets_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/secrets"
)

func newKey(t testing.TB) secrets.Key {
	t.Helper()
	k, err := secrets.GenerateKey()
	require.NoError(t, err)
	return k
}

func newRing(t testing.TB, primary secrets.Key, older ...secrets.Key) *secrets.Keyring {
	t.Helper()
	r, err := secrets.NewKeyring(primary, older...)
	require.NoError(t, err)
	return r
}

func TestKey(t *testing.T) {
	t.Parallel()

	raw := bytes.Repeat([]byte{0x42}, 32)
	k, err := secrets.NewKey(raw)
	require.NoError(t, err)
	require.Len(t, k.ID(), 16)
	require.Equal(t, base64.StdEncoding.EncodeToString(raw), k.Encode())

	raw[0] = 0 // NewKey must have copied raw.
	require.Equal(t, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32)), k.Encode())

	back, err := secrets.ParseKey(k.Encode())
	require.NoError(t, err)
	require.Equal(t, k.ID(), back.ID())
	require.Equal(t, k.Encode(), back.Encode())

	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := secrets.NewKey(make([]byte, n))
		require.ErrorIs(t, err, secrets.ErrInvalidKey, "len %d", n)
	}

	k1, k2 := newKey(t), newKey(t)
	require.NotEqual(t, k1.ID(), k2.ID())
	require.NotEqual(t, k1.Encode(), k2.Encode())
}

func TestParseKeyEncodings(t *testing.T) {
	t.Parallel()

	// Pick material whose encodings contain '+' and '/' so the alphabets differ.
	raw := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:32]
	want, err := secrets.NewKey(raw)
	require.NoError(t, err)

	for _, in := range []string{
		base64.StdEncoding.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(raw) + "\n",
		"  \t" + base64.StdEncoding.EncodeToString(raw) + "\r\n",
		base64.RawURLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw) + "\n",
		base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw),
	} {
		got, err := secrets.ParseKey(in)
		require.NoError(t, err, "input %q", in)
		require.Equal(t, want.ID(), got.ID())
		require.Equal(t, want.Encode(), got.Encode())
	}
}

func TestParseKeyRejects(t *testing.T) {
	t.Parallel()

	for _, in := range []string{
		"",
		"   \n",
		"not base64 at all!!",
		"c2VjcmV0LXBhc3N3b3Jk", // valid base64, 15 bytes
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 31)),
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 33)),
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 64)),
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 32)) + "!",
		"hunter2hunter2hunter2hunter2hunter2hunter2hu==",
	} {
		_, err := secrets.ParseKey(in)
		require.ErrorIs(t, err, secrets.ErrInvalidKey, "input %q", in)
		if s := strings.TrimSpace(in); s != "" {
			require.NotContains(t, err.Error(), s)
			// Nor any sizeable piece of it.
			if len(s) >= 8 {
				require.NotContains(t, err.Error(), s[:8])
				require.NotContains(t, err.Error(), s[len(s)-8:])
			}
		}
	}
}

func TestKeyNeverPrintsMaterial(t *testing.T) {
	t.Parallel()

	k := newKey(t)
	want := "secrets.Key(" + k.ID() + ")"
	material, err := base64.StdEncoding.DecodeString(k.Encode())
	require.NoError(t, err)
	forbidden := []string{
		k.Encode(),
		base64.RawURLEncoding.EncodeToString(material),
		fmt.Sprintf("%x", material),
		fmt.Sprintf("%X", material),
		fmt.Sprint(material),
		fmt.Sprint(material[:4]), // a prefix of the decimal bytes
	}
	check := func(name, out string) {
		t.Helper()
		require.Contains(t, out, k.ID(), name)
		for _, f := range forbidden {
			require.NotContains(t, out, strings.Trim(f, "[]"), name)
		}
	}

	require.Equal(t, want, k.String())
	require.Equal(t, want, k.GoString())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%10.3v"} {
		check(verb, fmt.Sprintf(verb, k))
		check(verb+" pointer", fmt.Sprintf(verb, &k))
		check(verb+" in struct", fmt.Sprintf(verb, struct{ K secrets.Key }{k}))
		check(verb+" in slice", fmt.Sprintf(verb, []secrets.Key{k}))
	}
	require.Equal(t, want, fmt.Sprintf("%v", k))
	require.Equal(t, want, fmt.Sprintf("%#v", k))

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "key", k)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "key", k, slog.Any("ptr", &k))
	check("slog", buf.String())
	require.Contains(t, buf.String(), want)

	// The zero Key is harmless too.
	var zero secrets.Key
	require.Equal(t, "secrets.Key(invalid)", zero.String())
	require.Empty(t, zero.Encode())
	require.Empty(t, zero.ID())
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()

	r := newRing(t, newKey(t))
	aad := []byte("credential/42")
	for _, pt := range [][]byte{
		nil,
		{},
		[]byte("x"),
		[]byte("ghp_0123456789abcdefghijklmnopqrstuvwxyz"),
		bytes.Repeat([]byte{0, 1, 2, 255}, 10_000),
	} {
		sealed, err := r.Seal(pt, aad)
		require.NoError(t, err)
		require.Len(t, sealed, 2+16+12+len(pt)+16)
		require.Equal(t, byte(1), sealed[0])
		require.Equal(t, byte(16), sealed[1])
		require.Equal(t, r.PrimaryID(), string(sealed[2:18]))
		if len(pt) >= 8 {
			require.NotContains(t, string(sealed), string(pt))
		}

		got, err := r.Open(sealed, aad)
		require.NoError(t, err)
		require.NotNil(t, got)
		require.Equal(t, len(pt), len(got))
		if len(pt) > 0 {
			require.Equal(t, pt, got)
		}
	}

	// nil and empty aad are interchangeable, as they are for GCM.
	sealed, err := r.Seal([]byte("s3cret"), nil)
	require.NoError(t, err)
	got, err := r.Open(sealed, []byte{})
	require.NoError(t, err)
	require.Equal(t, []byte("s3cret"), got)
}

func TestSealIsRandomized(t *testing.T) {
	t.Parallel()

	r := newRing(t, newKey(t))
	pt, aad := []byte("same plaintext"), []byte("credential/1")
	a, err := r.Seal(pt, aad)
	require.NoError(t, err)
	b, err := r.Seal(pt, aad)
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	// The nonces (after version, id length and the 16-byte id) differ.
	require.NotEqual(t, a[18:30], b[18:30])
}

func TestOpenWrongAAD(t *testing.T) {
	t.Parallel()

	r := newRing(t, newKey(t))
	sealed, err := r.Seal([]byte("token"), []byte("credential/1"))
	require.NoError(t, err)

	for _, aad := range [][]byte{nil, []byte("credential/2"), []byte("credential/1 "), []byte("credential/")} {
		got, err := r.Open(sealed, aad)
		require.ErrorIs(t, err, secrets.ErrCorrupt, "aad %q", aad)
		require.NotErrorIs(t, err, secrets.ErrUnknownKey)
		require.Nil(t, got)
	}
}

func TestOpenFlippedByte(t *testing.T) {
	t.Parallel()

	r := newRing(t, newKey(t))
	pt, aad := []byte("a credential"), []byte("credential/7")
	sealed, err := r.Seal(pt, aad)
	require.NoError(t, err)

	for i := range sealed {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(sealed)
			c[i] ^= mask
			got, err := r.Open(c, aad)
			require.Error(t, err, "byte %d mask %#x", i, mask)
			require.Nil(t, got)
			if i >= 1 && i < 18 {
				// A changed key id (or id length) names a key the ring lacks,
				// or is malformed.
				require.True(t, errors.Is(err, secrets.ErrUnknownKey) || errors.Is(err, secrets.ErrCorrupt), "byte %d: %v", i, err)
			} else {
				require.ErrorIs(t, err, secrets.ErrCorrupt, "byte %d mask %#x", i, mask)
			}
			require.NotContains(t, err.Error(), string(pt))
		}
	}

	// Appending is tampering too.
	_, err = r.Open(append(bytes.Clone(sealed), 0), aad)
	require.ErrorIs(t, err, secrets.ErrCorrupt)
}

func TestOpenTruncated(t *testing.T) {
	t.Parallel()

	r := newRing(t, newKey(t))
	aad := []byte("credential/3")
	for _, pt := range [][]byte{nil, []byte("pw")} {
		sealed, err := r.Seal(pt, aad)
		require.NoError(t, err)
		for n := 0; n < len(sealed); n++ {
			var got []byte
			require.NotPanics(t, func() { got, err = r.Open(sealed[:n], aad) }, "len %d", n)
			require.ErrorIs(t, err, secrets.ErrCorrupt, "len %d", n)
			require.Nil(t, got)
		}
	}

	_, err := r.Open(nil, nil)
	require.ErrorIs(t, err, secrets.ErrCorrupt)
}

func TestOpenGarbledHeader(t *testing.T) {
	t.Parallel()

	r := newRing(t, newKey(t))
	sealed, err := r.Seal([]byte("pw"), nil)
	require.NoError(t, err)

	for name, mutate := range map[string]func([]byte) []byte{
		"version 0":       func(b []byte) []byte { b[0] = 0; return b },
		"version 2":       func(b []byte) []byte { b[0] = 2; return b },
		"id length 0":     func(b []byte) []byte { b[1] = 0; return b },
		"id length 255":   func(b []byte) []byte { b[1] = 255; return b },
		"id with newline": func(b []byte) []byte { b[5] = '\n'; return b },
		"id with NUL":     func(b []byte) []byte { b[5] = 0; return b },
	} {
		_, err := r.Open(mutate(bytes.Clone(sealed)), nil)
		require.ErrorIs(t, err, secrets.ErrCorrupt, name)
	}
}

func TestOpenUnknownKey(t *testing.T) {
	t.Parallel()

	k1, k2 := newKey(t), newKey(t)
	sealed, err := newRing(t, k1).Seal([]byte("pw"), []byte("credential/9"))
	require.NoError(t, err)

	got, err := newRing(t, k2).Open(sealed, []byte("credential/9"))
	require.ErrorIs(t, err, secrets.ErrUnknownKey)
	require.NotErrorIs(t, err, secrets.ErrCorrupt)
	require.Nil(t, got)
	require.Equal(t, "secrets: sealed with unknown key "+k1.ID(), err.Error())
}

func TestRotation(t *testing.T) {
	t.Parallel()

	oldKey, newK := newKey(t), newKey(t)
	aad := []byte("credential/5")

	oldRing := newRing(t, oldKey)
	require.Equal(t, oldKey.ID(), oldRing.PrimaryID())
	oldBlob, err := oldRing.Seal([]byte("old secret"), aad)
	require.NoError(t, err)

	ring := newRing(t, newK, oldKey)
	require.Equal(t, newK.ID(), ring.PrimaryID())

	got, err := ring.Open(oldBlob, aad)
	require.NoError(t, err)
	require.Equal(t, []byte("old secret"), got)

	newBlob, err := ring.Seal(got, aad)
	require.NoError(t, err)
	require.Equal(t, newK.ID(), string(newBlob[2:2+len(newK.ID())]))
	got, err = ring.Open(newBlob, aad)
	require.NoError(t, err)
	require.Equal(t, []byte("old secret"), got)

	// The old ring cannot read what the new primary sealed...
	_, err = oldRing.Open(newBlob, aad)
	require.ErrorIs(t, err, secrets.ErrUnknownKey)
	// ...and once the old key is retired, neither can the new one read old blobs.
	_, err = newRing(t, newK).Open(oldBlob, aad)
	require.ErrorIs(t, err, secrets.ErrUnknownKey)
}

func TestNewKeyringRejects(t *testing.T) {
	t.Parallel()

	k1, k2 := newKey(t), newKey(t)
	_, err := secrets.NewKeyring(k1, k2, k1)
	require.Error(t, err)
	require.Contains(t, err.Error(), k1.ID())
	require.NotContains(t, err.Error(), k1.Encode())

	_, err = secrets.NewKeyring(k1, k1)
	require.Error(t, err)

	_, err = secrets.NewKeyring(secrets.Key{})
	require.ErrorIs(t, err, secrets.ErrInvalidKey)
	_, err = secrets.NewKeyring(k1, secrets.Key{})
	require.ErrorIs(t, err, secrets.ErrInvalidKey)
}

func TestKeyringConcurrent(t *testing.T) {
	t.Parallel()

	k1, k2 := newKey(t), newKey(t)
	oldBlob, err := newRing(t, k2).Seal([]byte("old"), []byte("a"))
	require.NoError(t, err)
	r := newRing(t, k1, k2)

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				aad := fmt.Appendf(nil, "credential/%d/%d", g, i)
				pt := fmt.Appendf(nil, "secret %d %d", g, i)
				s, err := r.Seal(pt, aad)
				if err == nil {
					var got []byte
					got, err = r.Open(s, aad)
					if err == nil && !bytes.Equal(got, pt) {
						err = errors.New("round trip mismatch")
					}
				}
				if err == nil {
					_, err = r.Open(oldBlob, []byte("a"))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestSealedBlobAtOtherRowFails(t *testing.T) {
	t.Parallel()

	// The motivating case for aad: a blob copied from one row to another.
	r := newRing(t, newKey(t))
	blob, err := r.Seal([]byte("prod-db-password"), []byte("credential/1"))
	require.NoError(t, err)
	_, err = r.Open(blob, []byte("credential/2"))
	require.ErrorIs(t, err, secrets.ErrCorrupt)
}

// --- key files ---

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Mode().Perm()
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()

	dir := filepath.Join(t.TempDir(), "state", "keys")
	path := filepath.Join(dir, "secrets.key")

	k, created, err := secrets.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.True(t, created)
	require.NotEmpty(t, k.ID())

	if runtime.GOOS != "windows" {
		require.Equal(t, fs.FileMode(0o600), fileMode(t, path))
		require.Equal(t, fs.FileMode(0o700), fileMode(t, dir))
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, k.Encode()+"\n", string(data))

	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)

	k2, created, err := secrets.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, k.ID(), k2.ID())
	require.Equal(t, k.Encode(), k2.Encode())
}

func TestLoadOrCreateKeyFileExisting(t *testing.T) {
	t.Parallel()

	want := newKey(t)
	path := filepath.Join(t.TempDir(), "k")
	// Hand-written file: URL-safe, no padding, no trailing newline.
	material, err := base64.StdEncoding.DecodeString(want.Encode())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(base64.RawURLEncoding.EncodeToString(material)), 0o600))

	got, created, err := secrets.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, want.ID(), got.ID())
}

func TestLoadOrCreateKeyFileRefusesInsecureMode(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no group/other permission bits on Windows")
	}

	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o666} {
		k := newKey(t)
		path := filepath.Join(t.TempDir(), "secrets.key")
		require.NoError(t, os.WriteFile(path, []byte(k.Encode()), 0o600))
		require.NoError(t, os.Chmod(path, mode)) // bypass the umask

		_, created, err := secrets.LoadOrCreateKeyFile(path)
		require.ErrorIs(t, err, secrets.ErrInsecureKeyFile)
		require.False(t, created)
		require.Contains(t, err.Error(), path)
		require.Contains(t, err.Error(), fmt.Sprintf("%#o", mode))
		require.NotContains(t, err.Error(), k.Encode())

		// The file is left untouched.
		require.Equal(t, mode, fileMode(t, path))
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, k.Encode(), string(data))
	}
}

func TestLoadOrCreateKeyFileBadContents(t *testing.T) {
	t.Parallel()

	for name, contents := range map[string]string{
		"empty":      "",
		"not base64": "this is my secret password, not a key\n",
		"short key":  base64.StdEncoding.EncodeToString([]byte("sixteen byte key")) + "\n",
		"huge":       strings.Repeat("A", 1<<20),
	} {
		path := filepath.Join(t.TempDir(), "secrets.key")
		require.NoError(t, os.WriteFile(path, []byte(contents), 0o600))

		_, created, err := secrets.LoadOrCreateKeyFile(path)
		require.ErrorIs(t, err, secrets.ErrInvalidKey, name)
		require.False(t, created)
		require.Contains(t, err.Error(), path, name)
		if s := strings.TrimSpace(contents); len(s) >= 8 {
			require.NotContains(t, err.Error(), s[:8], name)
		}

		// A bad key file is an error, never silently replaced.
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, contents, string(data), name)
	}
}

func TestLoadOrCreateKeyFileNotRegular(t *testing.T) {
	t.Parallel()

	path := t.TempDir() // a directory
	_, _, err := secrets.LoadOrCreateKeyFile(path)
	require.Error(t, err)
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	t.Parallel()

	for range 20 { // repeat to give the race a chance to happen
		dir := filepath.Join(t.TempDir(), "keys")
		path := filepath.Join(dir, "secrets.key")

		const n = 8
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			keys    [n]secrets.Key
			created [n]bool
			errs    [n]error
		)
		for i := range n {
			wg.Go(func() {
				<-start
				keys[i], created[i], errs[i] = secrets.LoadOrCreateKeyFile(path)
			})
		}
		close(start)
		wg.Wait()

		onDisk, _, err := secrets.LoadOrCreateKeyFile(path)
		require.NoError(t, err)
		nCreated := 0
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, onDisk.ID(), keys[i].ID(), "goroutine %d", i)
			require.Equal(t, onDisk.Encode(), keys[i].Encode(), "goroutine %d", i)
			if created[i] {
				nCreated++
			}
		}
		require.Equal(t, 1, nCreated, "exactly one caller creates the key")

		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "temporary files left behind")
	}
}

// --- fuzzing ---

func FuzzOpen(f *testing.F) {
	k, err := secrets.NewKey(bytes.Repeat([]byte{7}, 32))
	require.NoError(f, err)
	other, err := secrets.NewKey(bytes.Repeat([]byte{8}, 32))
	require.NoError(f, err)
	r := newRing(f, k)

	valid, err := r.Seal([]byte("hello"), []byte("aad"))
	require.NoError(f, err)
	foreign, err := newRing(f, other).Seal([]byte("hello"), []byte("aad"))
	require.NoError(f, err)

	f.Add(valid, []byte("aad"))
	f.Add(valid, []byte("other"))
	f.Add(foreign, []byte("aad"))
	f.Add(valid[:len(valid)-1], []byte("aad"))
	f.Add(valid[:20], []byte("aad"))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1}, []byte{})
	f.Add([]byte{1, 0}, []byte{})
	f.Add([]byte{1, 255}, []byte{})
	f.Add([]byte{1, 16}, []byte{})
	f.Add(append([]byte{1, 3, 'a', 'b', 'c'}, make([]byte, 28)...), []byte{})

	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		in := bytes.Clone(sealed)
		got, err := r.Open(sealed, aad)
		require.Equal(t, in, sealed, "Open modified its input")
		if err != nil {
			require.Nil(t, got)
			require.True(t, errors.Is(err, secrets.ErrCorrupt) || errors.Is(err, secrets.ErrUnknownKey), "unexpected error %v", err)
			return
		}
		// Anything that opens must re-seal and open to the same plaintext.
		again, err := r.Seal(got, aad)
		require.NoError(t, err)
		got2, err := r.Open(again, aad)
		require.NoError(t, err)
		require.Equal(t, got, got2)
	})
}
