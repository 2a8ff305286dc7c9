package inventory

import (
	"crypto/x509"
	"errors"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jobgraph/jobgraph/core"
)

// Limits on credential fields.
const (
	MaxCredentialNameLen = 63
	MaxUsernameLen       = 255
	MaxSecretLen         = 64 << 10
)

// CredentialKind says what a credential's secret is and how executors use it.
type CredentialKind string

// The kinds of credential.
const (
	// CredentialSSHKey is a PEM or OpenSSH private key, optionally encrypted
	// with a passphrase, for Username.
	CredentialSSHKey CredentialKind = "ssh_key"
	// CredentialPassword is a password for Username (SSH, WinRM, sudo).
	CredentialPassword CredentialKind = "password"
	// CredentialToken is a bearer token or API key (HTTP).
	CredentialToken CredentialKind = "token"
	// CredentialDatabaseDSN is a database connection string with its password.
	CredentialDatabaseDSN CredentialKind = "database_dsn"
)

// CredentialKinds lists every kind, for exhaustive mapping tests.
func CredentialKinds() []CredentialKind {
	return []CredentialKind{CredentialSSHKey, CredentialPassword, CredentialToken, CredentialDatabaseDSN}
}

// Credential describes a sealed secret. It never holds the secret itself.
type Credential struct {
	ID          string
	ProjectID   string
	Name        string
	Kind        CredentialKind
	Username    string
	Description string
	// Fingerprint identifies an SSH key by the SHA-256 of its public key
	// ("SHA256:…"); empty for other kinds.
	Fingerprint     string
	SecretUpdatedAt time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Secret is a credential's sensitive material. It is only ever sealed, or
// handed to an executor; its String method hides it from logs.
type Secret struct {
	Value      string `json:"v"`
	Passphrase string `json:"p,omitempty"`
}

// String never shows the material.
func (Secret) String() string { return "inventory.Secret(redacted)" }

// GoString never shows the material.
func (Secret) GoString() string { return "inventory.Secret(redacted)" }

// CredentialFilter narrows a credential list.
type CredentialFilter struct {
	ProjectID string
	Search    string
	Kind      CredentialKind
}

func (c *Credential) validate() error {
	if err := core.CheckName("name", c.Name, MaxCredentialNameLen); err != nil {
		return err
	}
	if err := core.CheckText("description", c.Description, MaxDescriptionLen); err != nil {
		return err
	}
	if err := core.CheckText("username", c.Username, MaxUsernameLen); err != nil {
		return err
	}
	switch c.Kind {
	case CredentialPassword:
		if c.Username == "" {
			return core.Invalid("username", "a password credential needs a username")
		}
	case CredentialSSHKey, CredentialToken, CredentialDatabaseDSN:
	default:
		return core.Invalid("kind", "unknown credential kind %q", c.Kind)
	}
	return nil
}

// checkSecret validates a secret for kind and, for SSH keys, returns the
// key's fingerprint. Its errors never quote the secret.
func checkSecret(kind CredentialKind, s Secret) (fingerprint string, err error) {
	if s.Value == "" {
		return "", core.Invalid("secret", "must not be empty")
	}
	if len(s.Value) > MaxSecretLen || len(s.Passphrase) > MaxSecretLen {
		return "", core.Invalid("secret", "must be at most %d bytes", MaxSecretLen)
	}
	if kind != CredentialSSHKey {
		if s.Passphrase != "" {
			return "", core.Invalid("passphrase", "only SSH key credentials take a passphrase")
		}
		return "", nil
	}
	signer, err := ssh.ParsePrivateKey([]byte(s.Value))
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil && s.Passphrase != "":
		return "", core.Invalid("passphrase", "the private key is not encrypted: leave the passphrase empty")
	case errors.As(err, &missing) && s.Passphrase == "":
		return "", core.Invalid("passphrase", "the private key is encrypted: give its passphrase")
	case errors.As(err, &missing):
		signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(s.Value), []byte(s.Passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return "", core.Invalid("passphrase", "the passphrase does not decrypt the private key")
		}
	}
	if err != nil {
		// x/crypto's messages describe the format, never the key material.
		return "", core.Invalid("secret", "not a private key in PEM or OpenSSH format (%s)", err.Error())
	}
	return ssh.FingerprintSHA256(signer.PublicKey()), nil
}
