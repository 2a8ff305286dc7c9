package ssh

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// authMethods returns how to log in with cred (and the agent when asked),
// and a function closing what they opened (the agent's socket), to call
// once the handshake is over.
func authMethods(cred *sdk.Credential, useAgent bool) ([]gossh.AuthMethod, func(), error) {
	var methods []gossh.AuthMethod
	closer := func() {}
	if cred != nil {
		switch {
		case cred.Kind == "ssh_key" && len(cred.Secret) == 0 && useAgent:
			// The credential only names the user; the agent has the keys.
		case cred.Kind == "ssh_key":
			signer, err := gossh.ParsePrivateKey(cred.Secret)
			var missing *gossh.PassphraseMissingError
			if errors.As(err, &missing) {
				if len(cred.Passphrase) == 0 {
					return nil, nil, errors.New("the credential's private key is encrypted and the credential has no passphrase")
				}
				signer, err = gossh.ParsePrivateKeyWithPassphrase(cred.Secret, cred.Passphrase)
				if err != nil {
					// The library's errors name no secret; say which part is wrong.
					return nil, nil, fmt.Errorf("decrypt the credential's private key (wrong passphrase?): %s", cleanKeyError(err))
				}
			} else if err != nil {
				return nil, nil, fmt.Errorf("parse the credential's private key: %s", cleanKeyError(err))
			}
			methods = append(methods, gossh.PublicKeys(signer))
		case cred.Kind == "password":
			pw := string(cred.Secret)
			methods = append(methods,
				gossh.Password(pw),
				gossh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
					answers := make([]string, len(questions))
					for i := range answers {
						answers[i] = pw
					}
					return answers, nil
				}))
		default:
			return nil, nil, fmt.Errorf("the ssh executor needs a credential of kind ssh_key or password, not %q", cred.Kind)
		}
	}
	if useAgent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, nil, errors.New("agent is true but SSH_AUTH_SOCK is not set in the executor's environment (jobgraph starts plugins with PATH, HOME, TMPDIR and LANG only)")
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to the SSH agent: %w", err)
		}
		closer = func() { _ = c.Close() }
		methods = append(methods, gossh.PublicKeysCallback(agent.NewClient(c).Signers))
	}
	if len(methods) == 0 {
		return nil, nil, errors.New("the task has no credential (and agent is not set)")
	}
	return methods, closer, nil
}

// cleanKeyError keeps the first line of a key parsing error: enough to
// say what is wrong, never the key material.
func cleanKeyError(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// credFingerprint identifies a credential in the connection pool without
// keeping its secret in the clear.
func credFingerprint(cred *sdk.Credential) string {
	if cred == nil {
		return "none"
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(cred.Kind), []byte(cred.Username), cred.Secret, cred.Passphrase} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hostKeys checks server host keys against known_hosts lines with a
// policy.
type hostKeys struct {
	db     gossh.HostKeyCallback // nil when no known_hosts lines were given
	policy string
}

// placeholderKey is a key no server has, used to ask the known_hosts
// database which keys it knows for a host.
var placeholderKey = func() gossh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := gossh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
}()

// knownHostsCache keeps parsed known_hosts by content hash.
var knownHostsCache sync.Map // string -> gossh.HostKeyCallback

// newHostKeys parses known_hosts lines (knownhosts only reads files, so
// they go through a private temporary file, removed at once).
func newHostKeys(lines, policy string) (*hostKeys, error) {
	hk := &hostKeys{policy: policy}
	if strings.TrimSpace(lines) == "" {
		return hk, nil
	}
	sum := sha256.Sum256([]byte(lines))
	key := hex.EncodeToString(sum[:])
	if cb, ok := knownHostsCache.Load(key); ok {
		hk.db = cb.(gossh.HostKeyCallback)
		return hk, nil
	}
	f, err := os.CreateTemp("", "jobgraph-known-hosts-*")
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(lines + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	cb, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %s", strings.ReplaceAll(err.Error(), f.Name(), "known_hosts"))
	}
	knownHostsCache.Store(key, cb)
	hk.db = cb
	return hk, nil
}

// known returns the keys known_hosts lists for hostport.
func (h *hostKeys) known(hostport string) []knownhosts.KnownKey {
	if h.db == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := h.db(hostport, &net.TCPAddr{IP: net.IPv4zero}, placeholderKey); errors.As(err, &ke) {
		return ke.Want
	}
	return nil
}

// algorithms returns the host key algorithms to offer for hostport: those
// of its known keys, so that a server with several keys presents the one
// known_hosts has (else nil: the library's defaults).
func (h *hostKeys) algorithms(hostport string) []string {
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, k := range h.known(hostport) {
		switch t := k.Key.Type(); t {
		case gossh.KeyAlgoRSA:
			add(gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// callback returns the HostKeyCallback for a connection. With accept-new,
// a host unknown to known_hosts is accepted and onNew gets its key.
func (h *hostKeys) callback(onNew func(gossh.PublicKey)) gossh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key gossh.PublicKey) error {
		var err error
		if h.db != nil {
			err = h.db(hostname, remote, key)
			if err == nil {
				return nil
			}
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			return &hostKeyError{fmt.Sprintf("the host key of %s (%s %s) is revoked in known_hosts", hostname, key.Type(), gossh.FingerprintSHA256(key))}
		case err != nil && errors.As(err, &ke) && len(ke.Want) > 0:
			return &hostKeyError{fmt.Sprintf("the host key of %s has CHANGED: it presented %s %s, known_hosts has %s (line %d); refusing to connect (possible man-in-the-middle)",
				hostname, key.Type(), gossh.FingerprintSHA256(key), gossh.FingerprintSHA256(ke.Want[0].Key), ke.Want[0].Line)}
		case err != nil && !errors.As(err, &ke):
			return &hostKeyError{fmt.Sprintf("check the host key of %s: %v", hostname, err)}
		}
		// Unknown host.
		if h.policy == policyAcceptNew {
			if onNew != nil {
				onNew(key)
			}
			return nil
		}
		return &hostKeyError{fmt.Sprintf("the host key of %s is not in known_hosts (it presented %s %s); add it to known_hosts, or set host_key_policy to accept-new to trust it on first use",
			hostname, key.Type(), gossh.FingerprintSHA256(key))}
	}
}

// hostKeyError is a refused host key: never worth retrying.
type hostKeyError struct{ msg string }

func (e *hostKeyError) Error() string { return e.msg }
