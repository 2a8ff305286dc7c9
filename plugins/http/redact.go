package httpexec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// redacted replaces a secret in output, outputs and errors; the same
// marker as jobgraph's host uses.
const redacted = "[REDACTED]"

// minSecretLen is the shortest value redacted: shorter ones would mangle
// ordinary output (a password "ab" would eat every "ab") for little gain.
const minSecretLen = 4

// minLineLen is the shortest line of a multi-line secret (a PEM key)
// that is also redacted on its own.
const minLineLen = 16

// secrets are the values one task must never show, longest first.
type secrets [][]byte

// taskSecrets collects the secrets of a task: the credential's secret and
// passphrase, the basic-authentication header value it makes, and the
// parameters' secrets (client_key, the URL's password, secret-looking
// header values).
func taskSecrets(cred *sdk.Credential, extra [][]byte) secrets {
	var s secrets
	add := func(v []byte) {
		if len(v) < minSecretLen {
			return
		}
		s = append(s, v)
		if esc, _ := json.Marshal(string(v)); len(esc) >= 2 && !bytes.Equal(esc[1:len(esc)-1], v) {
			s = append(s, esc[1:len(esc)-1]) // as a server echoing JSON shows it
		}
		if bytes.ContainsAny(v, "\r\n") {
			for _, line := range bytes.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
				line = bytes.TrimSpace(line)
				if len(line) >= minLineLen && !bytes.HasPrefix(line, []byte("-----")) {
					s = append(s, line)
				}
			}
		}
	}
	if cred != nil {
		add(cred.Secret)
		add(cred.Passphrase)
		if cred.Kind == "password" {
			// What a server echoing the Authorization header shows.
			add([]byte(base64.StdEncoding.EncodeToString([]byte(cred.Username + ":" + string(cred.Secret)))))
		}
	}
	for _, v := range extra {
		add(v)
	}
	slices.SortStableFunc(s, func(a, b []byte) int { return len(b) - len(a) })
	return slices.CompactFunc(s, bytes.Equal)
}

func (s secrets) redact(b []byte) []byte {
	for _, v := range s {
		if bytes.Contains(b, v) {
			b = bytes.ReplaceAll(b, v, []byte(redacted))
		}
	}
	return b
}

func (s secrets) redactString(str string) string {
	for _, v := range s {
		if strings.Contains(str, string(v)) {
			str = strings.ReplaceAll(str, string(v), redacted)
		}
	}
	return str
}

// holdBack returns how many bytes at the end of b could be the start of a
// secret, and so must wait for the next chunk.
func (s secrets) holdBack(b []byte) int {
	hold := 0
	for _, v := range s {
		from := max(len(b)-(len(v)-1), 0)
		for i := from; i < len(b)-hold; i++ {
			if b[i] == v[0] && bytes.HasPrefix(v, b[i:]) {
				hold = len(b) - i
				break
			}
		}
	}
	return hold
}

// redactingWriter writes to w with the secrets replaced, also when a
// secret is split across writes: the tail of a write that could be the
// start of a secret waits for the next write, or for Flush.
type redactingWriter struct {
	mu      sync.Mutex
	w       io.Writer
	secrets secrets
	pending []byte
}

func newRedactingWriter(w io.Writer, s secrets) *redactingWriter {
	return &redactingWriter{w: w, secrets: s}
}

func (r *redactingWriter) Write(p []byte) (int, error) {
	if len(r.secrets) == 0 {
		return r.w.Write(p)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	buf := r.secrets.redact(append(r.pending, p...))
	hold := r.secrets.holdBack(buf)
	r.pending = append([]byte(nil), buf[len(buf)-hold:]...)
	if out := buf[:len(buf)-hold]; len(out) > 0 {
		if _, err := r.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what is held back.
func (r *redactingWriter) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return nil
	}
	_, err := r.w.Write(r.pending)
	r.pending = nil
	return err
}
