package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Redacted replaces secret material in everything a plugin sends back.
const Redacted = "[REDACTED]"

// minSecretLen is the shortest value redacted. Shorter values would mangle
// ordinary output (a password "ab" would eat every "ab") for little gain.
const minSecretLen = 4

// minLineLen is the shortest line of a multi-line secret (a PEM private
// key) that is redacted on its own, so that a plugin echoing one line of a
// key does not leak it.
const minLineLen = 16

// logRedactGrace is how long a finished task's secrets are still redacted
// from the plugin's stderr: its lines travel on a pipe that is not ordered
// with the task's gRPC stream.
const logRedactGrace = 10 * time.Second

// Redactor is middleware around an sdk.Executor (CONVENTIONS item 7): it
// runs the task on next and removes the task's credential material (the
// credential's Secret and Passphrase) and the values of the action's
// SecretParams from everything that comes back: log chunks, progress
// messages, output variables, the result's error text, Validate's messages
// and returned errors. Each occurrence becomes "[REDACTED]".
//
// Limits, by design:
//   - A secret split across two log chunks of the same stream is caught:
//     the writer holds back a chunk's tail while it could be the start of a
//     secret, and releases it with the next chunk or when the task ends. So
//     output may reach out a little later, and the held tail of stdout may
//     follow later stderr chunks. A secret split across stdout and stderr,
//     or across progress messages, is not caught.
//   - Only the exact bytes are matched (plus, for secret strings, their
//     JSON-escaped form, and each line of at least 16 bytes of a multi-line
//     secret): a plugin that prints a secret base64-encoded, reversed or
//     one character per chunk of another stream defeats it. Plugins must
//     not echo secrets; this is the safety net.
//   - Values shorter than 4 bytes are not redacted.
//   - A secret param that is not a string is matched as its JSON text.
type Redactor struct {
	next sdk.Executor
	// secretParams by action name.
	secretParams map[string][]string
	// live, when set, collects the secrets of tasks in flight so that the
	// host can redact them from the plugin's stderr too.
	live *secretSet
}

var (
	_ sdk.Executor  = (*Redactor)(nil)
	_ sdk.Validator = (*Redactor)(nil)
)

// NewRedactor wraps next; info gives each action's SecretParams.
func NewRedactor(next sdk.Executor, info sdk.Info) *Redactor {
	r := &Redactor{next: next, secretParams: map[string][]string{}}
	for _, a := range info.Actions {
		if len(a.SecretParams) > 0 {
			r.secretParams[a.Name] = a.SecretParams
		}
	}
	return r
}

// Describe implements sdk.Executor by calling next.
func (r *Redactor) Describe(ctx context.Context) (sdk.Info, error) { return r.next.Describe(ctx) }

// Execute implements sdk.Executor: it runs the task on next with out
// wrapped, then redacts the result and the error.
func (r *Redactor) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	pats := secretsOf(task.Credential, task.Params, r.secretParams[task.Action])
	if len(pats) == 0 {
		return r.next.Execute(ctx, task, out)
	}
	if r.live != nil {
		defer r.live.add(pats)()
	}
	ro := newRedactingOutput(out, pats)
	res, err := r.next.Execute(ctx, task, ro)
	if ferr := ro.flush(); ferr != nil && err == nil {
		err = ferr
	}
	res.Error = pats.redactString(res.Error)
	return res, pats.redactError(err)
}

// Validate implements sdk.Validator: it calls next's Validate when next
// has one (and reports no problems otherwise), redacting the secret
// parameters' values from the messages and the error.
func (r *Redactor) Validate(ctx context.Context, req sdk.ValidateRequest) ([]sdk.FieldError, error) {
	v, ok := r.next.(sdk.Validator)
	if !ok {
		return nil, nil
	}
	errs, err := v.Validate(ctx, req)
	pats := secretsOf(nil, req.Params, r.secretParams[req.Action])
	if len(pats) == 0 {
		return errs, err
	}
	for i := range errs {
		errs[i].Message = pats.redactString(errs[i].Message)
	}
	return errs, pats.redactError(err)
}

// patterns are secret values, longest first.
type patterns [][]byte

// secretsOf collects the values to redact for one task.
func secretsOf(cred *sdk.Credential, params json.RawMessage, secretParams []string) patterns {
	var p patterns
	add := func(v []byte) {
		if len(v) < minSecretLen {
			return
		}
		p = append(p, v)
		if bytes.ContainsAny(v, "\r\n") {
			for _, line := range bytes.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
				line = bytes.TrimSpace(line)
				if len(line) >= minLineLen && !bytes.HasPrefix(line, []byte("-----")) {
					p = append(p, line)
				}
			}
		}
	}
	if cred != nil {
		add(cred.Secret)
		add(cred.Passphrase)
	}
	if len(secretParams) > 0 && len(params) > 0 {
		var obj map[string]json.RawMessage
		if json.Unmarshal(params, &obj) == nil {
			for _, name := range secretParams {
				raw, ok := obj[name]
				if !ok {
					continue
				}
				var s string
				if json.Unmarshal(raw, &s) == nil {
					add([]byte(s))
					if esc, _ := json.Marshal(s); len(esc) >= 2 && string(esc[1:len(esc)-1]) != s {
						add(esc[1 : len(esc)-1]) // as a plugin printing JSON would show it
					}
				} else if t := bytes.TrimSpace(raw); !bytes.Equal(t, []byte("null")) {
					add(t)
				}
			}
		}
	}
	if len(p) == 0 {
		return nil
	}
	sort.SliceStable(p, func(i, j int) bool { return len(p[i]) > len(p[j]) })
	out := p[:1]
	for _, v := range p[1:] {
		if !bytes.Equal(v, out[len(out)-1]) {
			out = append(out, v)
		}
	}
	return out
}

func (p patterns) redact(b []byte) []byte {
	for _, s := range p {
		if bytes.Contains(b, s) {
			b = bytes.ReplaceAll(b, s, []byte(Redacted))
		}
	}
	return b
}

func (p patterns) redactString(s string) string {
	for _, v := range p {
		if strings.Contains(s, string(v)) {
			s = strings.ReplaceAll(s, string(v), Redacted)
		}
	}
	return s
}

// holdBack returns how many bytes at the end of b could be the beginning
// of a secret, and so must wait for the next chunk.
func (p patterns) holdBack(b []byte) int {
	hold := 0
	for _, s := range p {
		// Only suffixes shorter than s, and longer than what we hold.
		from := max(len(b)-(len(s)-1), 0)
		for i := from; i < len(b)-hold; i++ {
			if b[i] == s[0] && bytes.HasPrefix(s, b[i:]) {
				hold = len(b) - i
				break
			}
		}
	}
	return hold
}

// redactError returns err with secrets removed from its text. An error
// that contains none is returned as is. One that does is replaced by an
// error with the redacted text that still matches what callers test for:
// sdk.ErrPluginExited, the context errors, *sdk.ProtocolError and the
// gRPC status code. The original is dropped: its text holds the secret.
func (p patterns) redactError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := p.redactString(msg)
	if red == msg {
		return err
	}
	re := &redactedError{msg: red}
	for _, s := range []error{sdk.ErrPluginExited, context.Canceled, context.DeadlineExceeded, ErrClosed} {
		if errors.Is(err, s) {
			re.wraps = append(re.wraps, s)
		}
	}
	var pe *sdk.ProtocolError
	if errors.As(err, &pe) {
		re.wraps = append(re.wraps, &sdk.ProtocolError{Msg: p.redactString(pe.Msg)})
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		re.code = st.Code()
	}
	return re
}

type redactedError struct {
	msg   string
	wraps []error
	code  codes.Code
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.wraps }

// GRPCStatus keeps the status code for status.Code and status.FromError.
func (e *redactedError) GRPCStatus() *status.Status {
	if e.code == codes.OK {
		return nil
	}
	return status.New(e.code, e.msg)
}

// redactingOutput wraps an sdk.Output.
type redactingOutput struct {
	out            sdk.Output
	pats           patterns
	stdout, stderr *redactingWriter
}

func newRedactingOutput(out sdk.Output, pats patterns) *redactingOutput {
	return &redactingOutput{
		out: out, pats: pats,
		stdout: &redactingWriter{w: out.Stdout(), pats: pats},
		stderr: &redactingWriter{w: out.Stderr(), pats: pats},
	}
}

func (o *redactingOutput) Stdout() io.Writer { return o.stdout }
func (o *redactingOutput) Stderr() io.Writer { return o.stderr }

func (o *redactingOutput) Progress(percent int, message string) {
	o.out.Progress(percent, o.pats.redactString(message))
}

func (o *redactingOutput) SetOutput(name, value string) {
	o.out.SetOutput(o.pats.redactString(name), o.pats.redactString(value))
}

// flush writes what the writers still hold back.
func (o *redactingOutput) flush() error {
	return errors.Join(o.stdout.flush(), o.stderr.flush())
}

// redactingWriter redacts one stream. It is safe for concurrent use.
type redactingWriter struct {
	mu      sync.Mutex
	w       io.Writer
	pats    patterns
	pending []byte // a tail that could be the start of a secret
}

func (rw *redactingWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	buf := p
	if len(rw.pending) > 0 {
		buf = append(rw.pending, p...)
		rw.pending = nil
	}
	buf = rw.pats.redact(buf)
	if hold := rw.pats.holdBack(buf); hold > 0 {
		rw.pending = append([]byte(nil), buf[len(buf)-hold:]...)
		buf = buf[:len(buf)-hold]
	}
	if len(buf) > 0 {
		if _, err := rw.w.Write(buf); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (rw *redactingWriter) flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.pending) == 0 {
		return nil
	}
	buf := rw.pats.redact(rw.pending)
	rw.pending = nil
	_, err := rw.w.Write(buf)
	return err
}

// secretSet holds the secrets of one plugin process's tasks in flight (and
// of those that ended in the last logRedactGrace), to redact its stderr.
type secretSet struct {
	mu   sync.Mutex
	refs map[string]int
	pats patterns // rebuilt from refs when dirty
	dirt bool
}

func newSecretSet() *secretSet { return &secretSet{refs: map[string]int{}} }

// add registers pats and returns the function that releases them, after
// logRedactGrace.
func (s *secretSet) add(pats patterns) (release func()) {
	s.mu.Lock()
	for _, p := range pats {
		if s.refs[string(p)] == 0 {
			s.dirt = true
		}
		s.refs[string(p)]++
	}
	s.mu.Unlock()
	return func() {
		time.AfterFunc(logRedactGrace, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, p := range pats {
				if s.refs[string(p)]--; s.refs[string(p)] <= 0 {
					delete(s.refs, string(p))
					s.dirt = true
				}
			}
		})
	}
}

func (s *secretSet) redactString(v string) string {
	s.mu.Lock()
	if s.dirt {
		// A new slice each time: callers iterate the old one unlocked.
		pats := make(patterns, 0, len(s.refs))
		for k := range s.refs {
			pats = append(pats, []byte(k))
		}
		sort.Slice(pats, func(i, j int) bool { return len(pats[i]) > len(pats[j]) })
		s.pats, s.dirt = pats, false
	}
	pats := s.pats
	s.mu.Unlock()
	if len(pats) == 0 {
		return v
	}
	return pats.redactString(v)
}
