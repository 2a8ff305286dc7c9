package sdktest

import (
	"bytes"
	"io"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Recorder is an sdk.Output that keeps everything a task produces, in
// memory. It is safe for concurrent use, and it can be waited on: tests
// wait for a line to arrive instead of sleeping.
type Recorder struct {
	mu       sync.Mutex
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	progress []Progress
	outputs  map[string]string
	events   int
	changed  chan struct{} // closed, and replaced, on every event
}

// Progress is one progress report.
type Progress struct {
	Percent int
	Message string
}

var _ sdk.Output = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{outputs: map[string]string{}, changed: make(chan struct{})}
}

// Stdout implements sdk.Output.
func (r *Recorder) Stdout() io.Writer { return recorderWriter{r, &r.stdout} }

// Stderr implements sdk.Output.
func (r *Recorder) Stderr() io.Writer { return recorderWriter{r, &r.stderr} }

// Progress implements sdk.Output.
func (r *Recorder) Progress(percent int, message string) {
	r.update(func() { r.progress = append(r.progress, Progress{percent, message}) })
}

// SetOutput implements sdk.Output.
func (r *Recorder) SetOutput(name, value string) {
	r.update(func() { r.outputs[name] = value })
}

type recorderWriter struct {
	r   *Recorder
	buf *bytes.Buffer
}

func (w recorderWriter) Write(p []byte) (int, error) {
	w.r.update(func() { w.buf.Write(p) })
	return len(p), nil
}

func (r *Recorder) update(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
	r.events++
	close(r.changed)
	r.changed = make(chan struct{})
}

// StdoutText returns what the task wrote to stdout so far.
func (r *Recorder) StdoutText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stdout.String()
}

// StderrText returns what the task wrote to stderr so far.
func (r *Recorder) StderrText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// Progresses returns the progress reports so far, in order.
func (r *Recorder) Progresses() []Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Progress(nil), r.progress...)
}

// Outputs returns the output values set so far.
func (r *Recorder) Outputs() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.outputs)
}

// Events returns how many times the task wrote, reported progress or set
// an output.
func (r *Recorder) Events() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

// allText is everything the task produced, for the secret scan.
func (r *Recorder) allText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.Write(r.stdout.Bytes())
	b.WriteByte('\n')
	b.Write(r.stderr.Bytes())
	for _, p := range r.progress {
		b.WriteString("\n" + p.Message)
	}
	for k, v := range r.outputs {
		b.WriteString("\n" + k + "=" + v)
	}
	return b.String()
}

// waitUntil waits until cond holds (checked under the recorder's lock) or
// stop is closed, or timeout passes. It reports whether cond held.
func (r *Recorder) waitUntil(cond func(r *Recorder) bool, stop <-chan struct{}, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok, changed := cond(r), r.changed
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-stop:
			r.mu.Lock()
			defer r.mu.Unlock()
			return cond(r)
		case <-timer.C:
			return false
		}
	}
}

// Run is a finished Execute call: what the task produced (the embedded
// Recorder), and what Execute returned.
type Run struct {
	*Recorder
	// Task is the task as sent, with the ID the harness gave it.
	Task sdk.Task
	// Result is the Result that ended the task; zero when Err is set.
	Result sdk.Result
	// Err is Execute's error: ctx's error after a cancel,
	// sdk.ErrPluginExited when the plugin died, an *sdk.ProtocolError...
	Err error
	// Duration is how long Execute took.
	Duration time.Duration
}

// Status is the task's status, or 0 when Execute returned an error.
func (r Run) Status() sdk.Status {
	if r.Err != nil {
		return 0
	}
	return r.Result.Status
}

// String summarises the run for failure messages.
func (r Run) String() string {
	var b strings.Builder
	if r.Err != nil {
		b.WriteString("error: " + r.Err.Error())
	} else {
		b.WriteString("status " + r.Result.Status.String())
		if r.Result.Error != "" {
			b.WriteString(" (" + r.Result.Error + ")")
		}
	}
	if r.Recorder != nil {
		if s := r.StdoutText(); s != "" {
			b.WriteString("\nstdout:\n" + s)
		}
		if s := r.StderrText(); s != "" {
			b.WriteString("\nstderr:\n" + s)
		}
	}
	return b.String()
}
