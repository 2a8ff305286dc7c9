package host

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter is the hclog.Logger go-plugin writes to, routed into the
// host's slog.Logger (which carries plugin=<name>). go-plugin logs two
// kinds of lines through it: its own (starting, handshake, exit), and each
// line the plugin process writes to stderr, parsed as hclog JSON when it is
// (the SDK's Serve logs that way) with its level kept.
//
// Every message and string argument goes through redact, which removes the
// secrets of the plugin's tasks in flight: a driver that logs its DSN must
// not put it in the server's log.
type hclogAdapter struct {
	log    *slog.Logger
	name   string
	args   []any
	redact func(string) string
	// stderrName is the name go-plugin gives the logger it writes the
	// plugin's stderr lines to (the binary's base name).
	stderrName string
	// killing is set when the host kills the process on purpose (shared by
	// the copies With and Named make).
	killing *atomic.Bool
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogAdapter(l *slog.Logger, stderrName string, redact func(string) string) *hclogAdapter {
	return &hclogAdapter{log: l, redact: redact, stderrName: stderrName, killing: new(atomic.Bool)}
}

// expectKill tells the adapter the host is about to SIGKILL the process:
// go-plugin's complaints that follow ("plugin failed to exit gracefully",
// an exit by "signal: killed") are expected, and logged at Debug.
func (a *hclogAdapter) expectKill() { a.killing.Store(true) }

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	// go-plugin logs a plain (non-JSON) stderr line at Debug with no
	// arguments; JSON lines always carry a "timestamp" argument. Raise the
	// plain ones to Info: for a plugin that does not use hclog, stderr is
	// where its diagnostics are, and operators should see them.
	if level == hclog.Debug && len(args) == 0 && a.name == a.stderrName {
		level = hclog.Info
		args = []any{"stream", "stderr"}
	}
	if a.killing.Load() && level >= hclog.Warn &&
		(msg == "plugin failed to exit gracefully" || msg == "plugin process exited") {
		level = hclog.Debug
	}
	lvl := slogLevel(level)
	ctx := context.Background()
	if !a.log.Enabled(ctx, lvl) {
		return
	}
	all := make([]any, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		all = append(all, "logger", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	for i := range all {
		switch v := all[i].(type) {
		case string:
			if i%2 == 0 && v == "plugin" {
				all[i] = "plugin_path" // go-plugin's key; ours names the plugin
			} else if i%2 == 1 {
				all[i] = a.redact(v)
			}
		case error:
			all[i] = a.redact(v.Error())
		case fmt.Stringer:
			all[i] = a.redact(v.String())
		}
	}
	a.log.Log(ctx, lvl, a.redact(msg), all...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	return a.log.Enabled(context.Background(), slogLevel(l))
}

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

// SetLevel does nothing: the slog handler decides.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

// GetLevel reports the lowest level the slog handler takes; go-plugin
// skips parsing plugin lines below it.
func (a *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return lineWriter(func(line string) { a.Log(level, line) })
}

// lineWriter logs each line written to it (log.Logger writes whole lines).
type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			w(line)
		}
	}
	return len(p), nil
}

// maxStdioLine is the longest line a stdioWriter buffers before logging it
// anyway.
const maxStdioLine = 64 << 10

// stdioWriter logs, line by line, what a plugin writes to its os.Stdout or
// os.Stderr once it serves: go-plugin's Serve replaces both with pipes
// forwarded to the host over its GRPCStdio stream (and drops them unless
// ClientConfig.SyncStdout/SyncStderr are set). What the process wrote
// before Serve, and what the Go runtime writes to fd 2 (a panic), reach
// the host through the process's real stderr instead, which go-plugin logs
// through the hclogAdapter.
type stdioWriter struct {
	mu     sync.Mutex
	log    *slog.Logger
	stream string
	redact func(string) string
	buf    []byte
}

func newStdioWriter(l *slog.Logger, stream string, redact func(string) string) *stdioWriter {
	return &stdioWriter{log: l, stream: stream, redact: redact}
}

func (w *stdioWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) >= maxStdioLine {
		w.emit(w.buf)
		w.buf = nil
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return len(p), nil
}

// flush logs a last line without its newline.
func (w *stdioWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *stdioWriter) emit(line []byte) {
	s := strings.TrimRight(string(line), "\r")
	if strings.TrimSpace(s) == "" {
		return
	}
	level := slog.LevelInfo
	for prefix, l := range stdioLevels {
		if strings.HasPrefix(s, prefix) {
			level = l
			break
		}
	}
	w.log.Log(context.Background(), level, w.redact(s), "stream", w.stream)
}

// stdioLevels are the level prefixes go-plugin also recognises in plain
// stderr lines ("[WARN] disk almost full").
var stdioLevels = map[string]slog.Level{
	"[TRACE]": slog.LevelDebug - 4,
	"[DEBUG]": slog.LevelDebug,
	"[INFO]":  slog.LevelInfo,
	"[WARN]":  slog.LevelWarn,
	"[ERROR]": slog.LevelError,
}
