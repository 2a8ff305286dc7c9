// Package secrets seals credential secrets at rest with AES-256-GCM.
//
// jobgraph stores credentials (API tokens, passwords, SSH keys) in its
// database. Those values are sealed with a server-side key before they are
// written, so that a leaked database dump or backup does not leak the
// credentials with it. The key itself lives outside the database, typically in
// a file created by [LoadOrCreateKeyFile] or in an environment variable read
// with [ParseKey].
//
// # Keys and rotation
//
// A [Key] is 32 bytes of AES-256 key material plus an ID: the first 8 bytes of
// SHA-256(key) in lowercase hex (16 characters). The ID is stored in every
// sealed value, so a [Keyring] can hold several keys at once: it seals with
// its primary key and opens with whichever key a value names. To rotate, make
// the new key primary, keep the old one in the ring, re-seal stored values at
// leisure, then drop the old key.
//
// A Key never prints its material: String, GoString, Format (every fmt verb)
// and LogValue all render it as "secrets.Key(<id>)". Use [Key.Encode] when the
// material really has to be written out.
//
// # Sealed format
//
// The output of [Keyring.Seal] is
//
//	offset  size  field
//	0       1     format version, currently 1
//	1       1     L, the length of the key ID
//	2       L     key ID (printable ASCII)
//	2+L     12    nonce, fresh from crypto/rand for every Seal
//	14+L    ...   AES-256-GCM ciphertext followed by the 16-byte tag
//
// With the 16-character IDs used by this package the overhead is 46 bytes per
// value. The header is not fed to GCM as additional data, but it is still
// protected: a different version is rejected and a different key ID selects a
// different key (or none), so tampering with either makes Open fail.
//
// Random 96-bit nonces are safe for up to about 2^32 Seals per key, far more
// than a credential store performs; rotate long before that.
//
// # Additional authenticated data
//
// Seal and Open take an aad argument that is passed to GCM unchanged. Callers
// should bind each value to where it is stored, e.g. "credential/<id>", so a
// sealed blob copied into another row (or another column) fails to open
// instead of silently decrypting there.
//
// # Errors
//
// Open reports [ErrUnknownKey] when the value was sealed with a key the ring
// does not hold, and [ErrCorrupt] for everything else: truncation, an unknown
// version, a garbled header, a tampered ciphertext or a wrong aad (GCM cannot
// tell those apart, and neither should callers). Errors from this package
// never contain key material, plaintext or the input they failed to parse.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

const (
	// KeySize is the size of a Key's material in bytes (AES-256).
	KeySize = 32

	formatVersion = 1
	idBytes       = 8 // bytes of SHA-256 used for a key ID
	nonceSize     = 12
	tagSize       = 16

	// maxPlaintext is GCM's limit on the length of a single message. Seal
	// checks it so that an absurd input is an error rather than a panic.
	maxPlaintext = ((1 << 32) - 2) * aes.BlockSize
)

var (
	// ErrInvalidKey is returned by NewKey, ParseKey and LoadOrCreateKeyFile
	// for malformed key material.
	ErrInvalidKey = errors.New("secrets: invalid key")

	// ErrUnknownKey is returned by Keyring.Open for a value sealed with a
	// key the ring does not hold. The returned error names the key ID.
	ErrUnknownKey = errors.New("secrets: sealed with unknown key")

	// ErrCorrupt is returned by Keyring.Open for a value that is truncated,
	// garbled, of an unsupported version, or fails authentication (which
	// includes being opened with a different aad than it was sealed with).
	ErrCorrupt = errors.New("secrets: sealed value is corrupt")

	// ErrInsecureKeyFile is returned by LoadOrCreateKeyFile for a key file
	// that group or others can access.
	ErrInsecureKeyFile = errors.New("secrets: key file is accessible by group or others")
)

// Key is an AES-256 key together with its ID. The zero Key is not valid.
//
// A Key never reveals its material when formatted or logged; see the package
// documentation.
type Key struct {
	id       string
	material [KeySize]byte
}

// NewKey returns a Key for the given 32 bytes of key material. It copies raw.
func NewKey(raw []byte) (Key, error) {
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("%w: got %d bytes, want %d", ErrInvalidKey, len(raw), KeySize)
	}
	var k Key
	copy(k.material[:], raw)
	sum := sha256.Sum256(k.material[:])
	k.id = hex.EncodeToString(sum[:idBytes])
	return k, nil
}

// ParseKey decodes a Key from base64, as produced by Key.Encode. Surrounding
// whitespace is ignored, and both the standard and the URL-safe alphabet are
// accepted, with or without padding. The error never contains the input.
func ParseKey(encoded string) (Key, error) {
	s := strings.TrimSpace(encoded)
	if s == "" {
		return Key{}, fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding,
		base64.RawStdEncoding,
		base64.URLEncoding,
		base64.RawURLEncoding,
	} {
		raw, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		// NewKey's error reports only the decoded length.
		return NewKey(raw)
	}
	// Deliberately not wrapping the base64 error: keep anything derived from
	// the input out of the message.
	return Key{}, fmt.Errorf("%w: not valid base64", ErrInvalidKey)
}

// GenerateKey returns a new random Key from crypto/rand.
func GenerateKey() (Key, error) {
	var raw [KeySize]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Key{}, fmt.Errorf("secrets: generating key: %w", err)
	}
	return NewKey(raw[:])
}

// ID returns the key's ID: the first 8 bytes of SHA-256 of the material, in
// lowercase hex. It is "" for the zero Key.
func (k Key) ID() string { return k.id }

// Encode returns the key material in standard base64. It is "" for the zero
// Key. Treat the result as a secret.
func (k Key) Encode() string {
	if k.id == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString(k.material[:])
}

// String returns "secrets.Key(<id>)". It never includes the material.
func (k Key) String() string {
	if k.id == "" {
		return "secrets.Key(invalid)"
	}
	return "secrets.Key(" + k.id + ")"
}

// GoString implements fmt.GoStringer like String.
func (k Key) GoString() string { return k.String() }

// Format implements fmt.Formatter so that every verb (%x and %d included,
// which would otherwise print the struct's fields) renders like String.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue implements slog.LogValuer like String.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Keyring seals with its primary key and opens with any key it holds. It is
// immutable and safe for concurrent use.
type Keyring struct {
	primary *ringKey
	keys    map[string]*ringKey
}

type ringKey struct {
	id   string
	aead cipher.AEAD
}

// NewKeyring returns a Keyring that seals with primary and opens values sealed
// with primary or any of older. Keys must be valid and have distinct IDs.
func NewKeyring(primary Key, older ...Key) (*Keyring, error) {
	r := &Keyring{keys: make(map[string]*ringKey, 1+len(older))}
	for i, k := range append([]Key{primary}, older...) {
		if k.id == "" {
			return nil, fmt.Errorf("%w: key %d of the keyring is the zero Key", ErrInvalidKey, i)
		}
		if _, dup := r.keys[k.id]; dup {
			return nil, fmt.Errorf("secrets: duplicate key %s in keyring", k.id)
		}
		block, err := aes.NewCipher(k.material[:])
		if err != nil {
			return nil, fmt.Errorf("secrets: key %s: %w", k.id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets: key %s: %w", k.id, err)
		}
		rk := &ringKey{id: k.id, aead: aead}
		r.keys[k.id] = rk
		if i == 0 {
			r.primary = rk
		}
	}
	return r, nil
}

// PrimaryID returns the ID of the key Seal uses.
func (r *Keyring) PrimaryID() string { return r.primary.id }

// Seal encrypts and authenticates plaintext with the primary key, binding it
// to aad, and returns the sealed value in the format described in the package
// documentation. aad is not included in the output; Open must be given the
// same aad.
func (r *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	if uint64(len(plaintext)) > maxPlaintext {
		return nil, fmt.Errorf("secrets: plaintext too large (%d bytes)", len(plaintext))
	}
	k := r.primary
	hdr := 2 + len(k.id)
	out := make([]byte, hdr+nonceSize, hdr+nonceSize+len(plaintext)+tagSize)
	out[0] = formatVersion
	out[1] = byte(len(k.id))
	copy(out[2:], k.id)
	nonce := out[hdr : hdr+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secrets: generating nonce: %w", err)
	}
	return k.aead.Seal(out, nonce, plaintext, aad), nil
}

// Open authenticates and decrypts a value produced by Seal with the same aad.
// It returns an error wrapping ErrUnknownKey if the value names a key the ring
// does not hold, and one wrapping ErrCorrupt for any other failure.
func (r *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 2 {
		return nil, fmt.Errorf("%w: truncated header", ErrCorrupt)
	}
	if sealed[0] != formatVersion {
		return nil, fmt.Errorf("%w: unsupported format version %d", ErrCorrupt, sealed[0])
	}
	idLen := int(sealed[1])
	hdr := 2 + idLen
	if idLen == 0 || len(sealed) < hdr+nonceSize+tagSize {
		return nil, fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	rawID := sealed[2:hdr]
	if !printableASCII(rawID) {
		// The ID ends up in error messages and logs; don't let arbitrary
		// bytes from storage get there.
		return nil, fmt.Errorf("%w: malformed key id", ErrCorrupt)
	}
	k, ok := r.keys[string(rawID)]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownKey, rawID)
	}
	nonce := sealed[hdr : hdr+nonceSize]
	ciphertext := sealed[hdr+nonceSize:]
	// Allocate dst so that an empty plaintext opens as a non-nil empty slice.
	plaintext, err := k.aead.Open(make([]byte, 0, len(ciphertext)-tagSize), nonce, ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	return plaintext, nil
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
