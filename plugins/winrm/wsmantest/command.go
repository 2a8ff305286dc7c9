package wsmantest

import (
	"context"
	"encoding/base64"
	"io"
	"strings"
	"sync"
)

// Process is one command a Handler runs.
type Process struct {
	// Line is the whole command line: the Command element and the
	// Arguments, joined with spaces, as cmd.exe /c would see them.
	Line string
	// Name is the first word of Line, lowercased, without ".exe".
	Name string
	// Args are the other words of Line (see SplitCommandLine).
	Args []string
	// Stdin reads what clients Send; it ends at a Send with End="true".
	Stdin io.Reader
	// Stdout and Stderr are returned by Receive requests, in order, as
	// they are written: each write is a chunk a Receive can return alone.
	Stdout, Stderr io.Writer

	cmd *command
}

// WaitDelivered blocks until every byte written to Stdout and Stderr so
// far has been returned to the client by a Receive, or ctx is done: a
// handler that writes, waits, and writes again makes the client see its
// output over several Receives, the first ones with CommandState Running.
func (p *Process) WaitDelivered(ctx context.Context) error {
	for {
		p.cmd.mu.Lock()
		pending, changed := len(p.cmd.chunks), p.cmd.changed
		p.cmd.mu.Unlock()
		if pending == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Handler runs a command and returns its exit code. ctx is cancelled when
// a client signals terminate or ctrl_c, deletes the shell, or the server
// closes: the handler must then return promptly (its exit code is still
// reported to a client that asks).
type Handler func(ctx context.Context, p *Process) int

// command is a command started in a shell.
type command struct {
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	stdin  *stdinBuffer

	mu      sync.Mutex
	chunks  []outputChunk
	done    bool
	code    int
	changed chan struct{} // closed, and replaced, on every change
}

func newCommand(parent context.Context) *command {
	ctx, cancel := context.WithCancel(parent)
	return &command{id: newUUID(), ctx: ctx, cancel: cancel, stdin: newStdinBuffer(ctx), changed: make(chan struct{})}
}

func (c *command) run(h Handler, p *Process) {
	defer func() {
		if r := recover(); r != nil {
			c.finish(-1)
			panic(r)
		}
	}()
	code := h(c.ctx, p)
	c.finish(code)
}

func (c *command) finish(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.done, c.code = true, code
	c.notify()
}

// notify wakes up waiting Receives; c.mu is held.
func (c *command) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// take removes up to max bytes of pending output and reports whether the
// command is done (only once all its output was taken), its exit code, and
// a channel closed at the next change.
func (c *command) take(max int) (chunks []outputChunk, done bool, code int, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for len(c.chunks) > 0 && n < max {
		ch := c.chunks[0]
		if room := max - n; len(ch.data) > room {
			chunks = append(chunks, outputChunk{ch.stream, ch.data[:room]})
			c.chunks[0].data = ch.data[room:]
			n = max
			break
		}
		chunks = append(chunks, ch)
		c.chunks = c.chunks[1:]
		n += len(ch.data)
	}
	if len(chunks) > 0 {
		c.notify()
	}
	return chunks, c.done && len(c.chunks) == 0, c.code, c.changed
}

func (c *command) writer(stream string) io.Writer { return &streamWriter{c, stream} }

type streamWriter struct {
	c      *command
	stream string
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	if w.c.done {
		return 0, io.ErrClosedPipe
	}
	w.c.chunks = append(w.c.chunks, outputChunk{w.stream, append([]byte(nil), p...)})
	w.c.notify()
	return len(p), nil
}

// stdinBuffer is a command's stdin: Sends append to it, the handler reads
// it; reads block until data, the end, or the command's cancellation.
type stdinBuffer struct {
	ctx     context.Context
	mu      sync.Mutex
	buf     []byte
	eof     bool
	changed chan struct{}
}

func newStdinBuffer(ctx context.Context) *stdinBuffer {
	return &stdinBuffer{ctx: ctx, changed: make(chan struct{})}
}

func (b *stdinBuffer) write(p []byte, eof bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	b.eof = b.eof || eof
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *stdinBuffer) Read(p []byte) (int, error) {
	for {
		b.mu.Lock()
		if len(b.buf) > 0 {
			n := copy(p, b.buf)
			b.buf = b.buf[n:]
			b.mu.Unlock()
			return n, nil
		}
		if b.eof {
			b.mu.Unlock()
			return 0, io.EOF
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		}
	}
}

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimSpace(s))
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// SplitCommandLine splits a command line into words at spaces and tabs;
// double quotes group words and are removed ("a b" is one word). It is
// the common subset of cmd.exe's and CommandLineToArgvW's rules.
func SplitCommandLine(line string) []string {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
		quoted bool
	)
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
