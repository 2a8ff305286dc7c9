package sdk

import (
	"bytes"
	"io"
	"slices"
	"sync"
)

// setOutputPrefix starts a line that exports an output (GitHub Actions'
// classic workflow command).
const setOutputPrefix = "::set-output name="

// MaxOutputCommandLine is the longest line, its end of line excluded, that
// CommandOutput recognises as an output command; a longer one stays in the
// log and exports nothing.
const MaxOutputCommandLine = 64 << 10

// CommandOutput is an Output for executors that run shell commands: it
// passes everything to the Output it wraps, unchanged and as it comes, and
// lets the command export outputs of its own by printing, on stdout, lines
// of the form
//
//	::set-output name=KEY::VALUE
//
// (GitHub Actions' classic syntax), for instance
// `echo "::set-output name=path::/opt/app/releases/$VERSION"`. Each such
// line calls SetOutput(KEY, VALUE) on the wrapped Output; the line stays in
// the log. The rules:
//
//   - The line starts with the marker itself, at its first byte; it ends
//     with \n (a \r before it is dropped, for Windows and pseudo-terminals)
//     or with the end of the stream (see End).
//   - KEY is a valid job output name: 1–63 letters, digits, '_' and '-',
//     starting and ending with a letter or digit.
//   - VALUE is the rest of the line after the first "::" that follows KEY,
//     taken literally (no %-decoding, so a value is one line); it may be
//     empty. A later line for the same KEY replaces its value.
//   - A line longer than MaxOutputCommandLine, with an invalid KEY, or
//     naming a reserved output (the executor's own, e.g. exit_code) exports
//     nothing. Stderr is never parsed.
//
// Only the start of a line is inspected to tell whether it can be a marker,
// and only a marker line is held in memory (up to MaxOutputCommandLine), so
// output of any size streams without buffering. Its methods are safe for
// concurrent use; writes to Stdout must come in the order the command
// produced them.
type CommandOutput struct {
	out      Output
	reserved []string

	mu     sync.Mutex
	line   []byte // the current line while it may be a marker line
	skip   bool   // the current line is not one: wait for its end
	stdout commandStdout
}

var _ Output = (*CommandOutput)(nil)

// ParseOutputCommands wraps out so that the command whose stdout is written
// to it can export outputs with ::set-output lines (see CommandOutput).
// Outputs named in reserved (the executor's own, such as "exit_code")
// cannot be set that way. Call End once the command's stdout has ended.
func ParseOutputCommands(out Output, reserved ...string) *CommandOutput {
	c := &CommandOutput{out: out, reserved: slices.Clone(reserved)}
	c.stdout = commandStdout{c}
	return c
}

// Stdout passes writes on to the wrapped Output's Stdout and parses them.
func (c *CommandOutput) Stdout() io.Writer { return c.stdout }

// Stderr is the wrapped Output's Stderr.
func (c *CommandOutput) Stderr() io.Writer { return c.out.Stderr() }

// Progress reports to the wrapped Output.
func (c *CommandOutput) Progress(percent int, message string) { c.out.Progress(percent, message) }

// SetOutput exports to the wrapped Output; reserved names are not refused
// here, since the executor itself sets them.
func (c *CommandOutput) SetOutput(name, value string) { c.out.SetOutput(name, value) }

// End tells c that the command's stdout has ended: a marker on a last line
// without an end of line exports its output now. Call it after the last
// write to Stdout (and after flushing any writer in between), before
// returning the task's result. Writes after End start a new line.
func (c *CommandOutput) End() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.skip && len(c.line) > 0 {
		c.parseLine(c.line)
	}
	c.line, c.skip = nil, false
}

type commandStdout struct{ c *CommandOutput }

func (w commandStdout) Write(p []byte) (int, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	// The log first, so that the line is logged before its output is set.
	n, err := c.out.Stdout().Write(p)
	c.scan(p[:n])
	return n, err
}

// scan follows p through its lines, keeping the current one while it can
// still be a marker line. Called with c.mu held.
func (c *CommandOutput) scan(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !c.skip {
			switch {
			case len(c.line)+len(chunk) > MaxOutputCommandLine+1: // +1: a \r before the \n
				c.skip, c.line = true, nil
			default:
				c.line = append(c.line, chunk...)
				if !couldBeMarker(c.line) {
					c.skip, c.line = true, nil
				}
			}
		}
		if i < 0 {
			return
		}
		if !c.skip {
			c.parseLine(c.line)
		}
		c.line, c.skip = c.line[:0], false
		p = p[i+1:]
	}
}

// couldBeMarker reports whether line, so far, starts like a marker line.
func couldBeMarker(line []byte) bool {
	n := min(len(line), len(setOutputPrefix))
	return string(line[:n]) == setOutputPrefix[:n]
}

// parseLine exports the output that line, without its \n, sets, if it is a
// valid marker line. Called with c.mu held.
func (c *CommandOutput) parseLine(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > MaxOutputCommandLine {
		return
	}
	rest, ok := bytes.CutPrefix(line, []byte(setOutputPrefix))
	if !ok {
		return
	}
	key, value, ok := bytes.Cut(rest, []byte("::"))
	if !ok || !ValidOutputName(string(key)) || slices.Contains(c.reserved, string(key)) {
		return
	}
	c.out.SetOutput(string(key), string(value))
}

// ValidOutputName reports whether name can name a job step's output (and so
// be referred to as ${{ steps.STEP.outputs.NAME }}): 1–63 ASCII letters,
// digits, '_' and '-', starting and ending with a letter or digit.
func ValidOutputName(name string) bool {
	if name == "" || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && c != '_' && c != '-' {
			return false
		}
		if !alnum && (i == 0 || i == len(name)-1) {
			return false
		}
	}
	return true
}
