package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are the argon2id cost parameters for new password hashes.
// Verification always uses the parameters recorded in the stored hash, so
// they can be raised at any time without invalidating existing passwords.
type HashParams struct {
	// Memory is the memory cost in KiB; at least 8 per thread.
	Memory uint32
	// Time is the number of passes over the memory; at least 1.
	Time uint32
	// Threads is the degree of parallelism; at least 1.
	Threads uint8
}

// DefaultHashParams are the parameters a zero Options.Hash stands for: 64 MiB,
// two passes, two lanes (in the range OWASP and RFC 9106 recommend for a
// server that hashes on login only). Treat it as a constant; configure a
// service through Options.Hash.
var DefaultHashParams = HashParams{Memory: 64 * 1024, Time: 2, Threads: 2}

// Bounds on hash parameters. The upper bounds also protect Verify from a
// stored hash whose parameters would take the server down.
const (
	maxHashMemory  = 4 * 1024 * 1024 // KiB: 4 GiB
	maxHashTime    = 64
	hashSaltLen    = 16
	hashKeyLen     = 32
	minStoredSalt  = 8
	maxStoredSalt  = 64
	minStoredKey   = 16
	maxStoredKey   = 64
	hashAlgorithm  = "argon2id"
	hashVersionStr = "v=19" // argon2.Version, 0x13
)

// Validate reports parameters argon2id cannot use or that are beyond reason.
func (p HashParams) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxHashTime:
		return fmt.Errorf("argon2 time must be between 1 and %d, got %d", maxHashTime, p.Time)
	case p.Threads < 1:
		return errors.New("argon2 threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxHashMemory:
		return fmt.Errorf("argon2 memory must be between %d KiB (8 per thread) and %d KiB, got %d", 8*uint32(p.Threads), maxHashMemory, p.Memory)
	}
	return nil
}

// HashPassword hashes password with argon2id under p and a fresh random
// 16-byte salt, and returns the PHC string
// "$argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>" (unpadded
// standard base64), which is what is stored.
func HashPassword(password string, p HashParams) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, hashSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, hashKeyLen)
	return fmt.Sprintf("$%s$%s$m=%d,t=%d,p=%d$%s$%s", hashAlgorithm, hashVersionStr, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// errMalformedHash never quotes the hash: even a broken one is sensitive.
var errMalformedHash = errors.New("malformed password hash")

// VerifyPassword reports whether password matches encoded, a hash made by
// HashPassword, using the parameters encoded records. The comparison takes
// constant time. A malformed encoded hash is an error, never a match.
func VerifyPassword(password, encoded string) (bool, error) {
	p, salt, key, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// parseHash splits a PHC argon2id string into its parameters, salt and key,
// refusing anything it does not fully understand.
func parseHash(encoded string) (HashParams, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != hashAlgorithm || parts[2] != hashVersionStr {
		return HashParams{}, nil, nil, errMalformedHash
	}
	var p HashParams
	kvs := strings.Split(parts[3], ",")
	if len(kvs) != 3 {
		return HashParams{}, nil, nil, errMalformedHash
	}
	for i, name := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(kvs[i], "=")
		if !ok || k != name {
			return HashParams{}, nil, nil, errMalformedHash
		}
		bits := 32
		if name == "p" {
			bits = 8
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil || v != strconv.FormatUint(n, 10) { // no signs, no leading zeros
			return HashParams{}, nil, nil, errMalformedHash
		}
		switch name {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			p.Threads = uint8(n)
		}
	}
	if p.Validate() != nil {
		return HashParams{}, nil, nil, errMalformedHash
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < minStoredSalt || len(salt) > maxStoredSalt {
		return HashParams{}, nil, nil, errMalformedHash
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < minStoredKey || len(key) > maxStoredKey {
		return HashParams{}, nil, nil, errMalformedHash
	}
	return p, salt, key, nil
}

// needsRehash reports whether encoded was made with other parameters than p
// (or another salt or key size), so that it should be replaced after the
// next successful login.
func needsRehash(encoded string, p HashParams) bool {
	got, salt, key, err := parseHash(encoded)
	return err != nil || got != p || len(salt) != hashSaltLen || len(key) != hashKeyLen
}
