package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// The prefixes of the two kinds of secret. They tell Authenticate which
// table to look in, and let secret scanners recognise a leaked credential.
const (
	SessionSecretPrefix = "jgs_"
	TokenSecretPrefix   = "jgp_"
)

// secretBytes is the entropy of a secret: 256 bits, so that a hash lookup
// needs no slow hash and no salt to be safe.
const secretBytes = 32

// secretLen is the length of a whole secret: prefix and 43 base64 characters.
var secretLen = len(SessionSecretPrefix) + base64.RawURLEncoding.EncodedLen(secretBytes)

// newSecret returns a fresh secret with prefix, and the hash to store.
func newSecret(prefix string) (secret, hash string, err error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("generate secret: %w", err)
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, hashSecret(secret), nil
}

// hashSecret is what is stored of a secret: the hex SHA-256 of the whole
// string, prefix included.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// secretPrefix returns the prefix of a well-formed secret, or "" if s cannot
// be a secret jobgraph made: unknown prefix, wrong length, or not canonical
// unpadded URL-safe base64 of 32 bytes. It is checked before any query so
// that garbage costs no database round trip.
func secretPrefix(s string) string {
	if len(s) != secretLen {
		return ""
	}
	prefix := s[:len(SessionSecretPrefix)]
	if prefix != SessionSecretPrefix && prefix != TokenSecretPrefix {
		return ""
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(s, prefix))
	if err != nil || len(b) != secretBytes {
		return ""
	}
	return prefix
}
