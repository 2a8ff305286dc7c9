package engine

import (
	"bytes"
	"context"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/jobgraph/jobgraph/core/run"
)

// output is the sdk.Output of one attempt: it numbers the chunks of the
// task's log (going on from the last attempt's), redacts secrets, and
// stores the chunks in batches (every flushChunks chunks, every
// flushInterval, and at the end).
type output struct {
	e       *Engine
	taskID  string
	secrets [][]byte

	mu      sync.Mutex
	seq     int64
	pending []run.LogChunk
	outs    map[string]string
	closed  bool

	kick chan struct{}
	done chan struct{}
}

func newOutput(e *Engine, taskID string, lastSeq int64, secrets []string) *output {
	o := &output{e: e, taskID: taskID, seq: lastSeq, outs: map[string]string{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	for _, s := range secrets {
		if s != "" {
			o.secrets = append(o.secrets, []byte(s))
		}
	}
	go o.flusher()
	return o
}

func (o *output) Stdout() io.Writer { return streamWriter{o, run.StreamStdout} }
func (o *output) Stderr() io.Writer { return streamWriter{o, run.StreamStderr} }

func (o *output) Progress(int, string) {}

func (o *output) SetOutput(name, value string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outs[name] = string(o.redact([]byte(value)))
}

func (o *output) outputs() map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.outs) == 0 {
		return nil
	}
	return maps.Clone(o.outs)
}

func (o *output) lastSeq() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seq
}

func (o *output) redact(p []byte) []byte {
	for _, s := range o.secrets {
		p = bytes.ReplaceAll(p, s, []byte("[redacted]"))
	}
	return p
}

type streamWriter struct {
	o      *output
	stream run.LogStream
}

func (w streamWriter) Write(p []byte) (int, error) {
	n := len(p)
	o := w.o
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return n, nil // a late write after the attempt ended is dropped
	}
	data := o.redact(bytes.Clone(p))
	at := o.e.o.Now().UTC()
	for len(data) > 0 {
		part := data[:min(len(data), run.MaxLogChunkBytes)]
		data = data[len(part):]
		o.seq++
		o.pending = append(o.pending, run.LogChunk{TaskID: o.taskID, Seq: o.seq, Stream: w.stream, Data: part, At: at})
	}
	full := len(o.pending) >= flushChunks
	o.mu.Unlock()
	if full {
		select {
		case o.kick <- struct{}{}:
		default:
		}
	}
	return n, nil
}

func (o *output) flusher() {
	defer close(o.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-o.kick:
		}
		o.mu.Lock()
		closed := o.closed
		o.mu.Unlock()
		o.flush()
		if closed {
			return
		}
	}
}

// flush stores what is pending; a failure is logged and the batch kept
// for the next flush, up to the end of the attempt.
func (o *output) flush() {
	o.mu.Lock()
	batch := o.pending
	o.pending = nil
	o.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := o.e.o.Store.AppendLogs(ctx, batch, o.e.o.Runs.LogCap()); err != nil {
		o.e.log.Warn("store task log", "task", o.taskID, "chunks", len(batch), "err", err)
		o.mu.Lock()
		o.pending = append(batch, o.pending...)
		o.mu.Unlock()
	}
}

// close stops the flusher after a last flush.
func (o *output) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
	<-o.done
}
