package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
)

// Output travels in batches: every FlushEvery, or sooner once
// flushLines lines wait, one Logs request carries the lines of every task of
// the worker, in order, up to maxBatchBytes. A batch the server did not take
// is sent again, first, so each task's lines arrive in order and — the
// server ignoring a line it already stored — once. Writes that follow each
// other on one stream of one task, while their line has not been sent,
// join that line (up to maxLineBytes): a command printing a line every few
// milliseconds makes a few lines per flush, not one per write, which is
// what the database and every live subscriber pay for.
const (
	flushLines    = 500
	maxBatchBytes = 512 << 10 // encoded: well under NATS's default 1 MiB payload
	maxLineBytes  = 64 << 10
)

type shipper struct {
	w    *Worker
	kick chan struct{}

	mu      sync.Mutex
	pending []queue.LogLine
	sent    int                   // the first sent lines of pending were sent: they never grow
	last    map[queue.TaskRef]int // each task's last line in pending
	outs    map[queue.TaskRef]*output
}

func newShipper(w *Worker) *shipper {
	return &shipper{w: w, kick: make(chan struct{}, 1), outs: map[queue.TaskRef]*output{}, last: map[queue.TaskRef]int{}}
}

func (s *shipper) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run ships until ctx ends.
func (s *shipper) run(ctx context.Context) {
	t := time.NewTicker(s.w.o.FlushEvery)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		if failures > 0 {
			// The server is away: back off, up to 2s, before trying again.
			wait := min(s.w.o.FlushEvery<<min(failures, 6), 2*time.Second)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		for {
			more, ok := s.flush(ctx)
			if !ok {
				failures++
				break
			}
			failures = 0
			if !more {
				break
			}
		}
	}
}

// flush sends one batch and reports whether more is waiting, and whether
// the batch went through.
func (s *shipper) flush(ctx context.Context) (more, ok bool) {
	s.mu.Lock()
	n, size := 0, 0
	for n < len(s.pending) && (n == 0 || size+encodedSize(s.pending[n]) <= maxBatchBytes) {
		size += encodedSize(s.pending[n])
		n++
	}
	batch := s.pending[:n:n]
	s.sent = max(s.sent, n)
	s.mu.Unlock()
	if n == 0 {
		return false, true
	}
	stop, err := queue.Call[queue.Logs, queue.Stop](ctx, s.w.o.Queue, queue.OpLogs, queue.Logs{Worker: s.w.o.ID, Lines: batch})
	if err != nil {
		if ctx.Err() == nil {
			s.w.log.Warn("ship output", "lines", n, "err", err)
		}
		return false, false
	}
	s.mu.Lock()
	s.pending = s.pending[n:]
	s.sent -= n
	for ref, i := range s.last {
		if i < n {
			delete(s.last, ref)
		} else {
			s.last[ref] = i - n
		}
	}
	more = len(s.pending) > 0
	acked := map[queue.TaskRef]int64{}
	for _, l := range batch {
		acked[l.TaskRef] = l.Seq
	}
	type ack struct {
		o   *output
		seq int64
	}
	var acks []ack
	for ref, seq := range acked {
		if o, ok := s.outs[ref]; ok {
			acks = append(acks, ack{o, seq})
		}
	}
	var full []*output
	for _, id := range stop.LogFull {
		for ref, o := range s.outs {
			if ref.TaskID == id {
				full = append(full, o)
			}
		}
	}
	s.mu.Unlock()
	// Not under s.mu: writers take o.mu, then s.mu.
	for _, a := range acks {
		a.o.ack(a.seq)
	}
	for _, o := range full {
		o.setFull()
	}
	s.w.stopTasks(stop.Tasks)
	return more, true
}

// encodedSize bounds the size of l in a Logs request: its data in base64
// and the JSON around it. Counting the data alone let a batch of many short
// lines pass NATS's payload limit, and be refused forever.
func encodedSize(l queue.LogLine) int {
	return base64.StdEncoding.EncodedLen(len(l.Data)) + len(l.TaskID) + 200
}

// add queues l, or appends its data to its task's last line when that
// line is of the same stream, not sent yet and has room; it reports whether
// it appended (l then takes no sequence number).
func (s *shipper) add(l queue.LogLine) (joined bool) {
	s.mu.Lock()
	if i, ok := s.last[l.TaskRef]; ok && i >= s.sent && i < len(s.pending) {
		p := &s.pending[i]
		if p.Stream == l.Stream && len(p.Data)+len(l.Data) <= maxLineBytes {
			p.Data = append(slices.Clip(p.Data), l.Data...) // Clip: never into a buffer another line shares
			s.mu.Unlock()
			return true
		}
	}
	s.pending = append(s.pending, l)
	s.last[l.TaskRef] = len(s.pending) - 1
	full := len(s.pending) >= flushLines
	s.mu.Unlock()
	if full {
		s.wake()
	}
	return false
}

// open returns the sdk.Output of one attempt, numbering its lines from
// seqBase+1.
func (s *shipper) open(ref queue.TaskRef, seqBase int64, redact []string) *output {
	o := &output{s: s, ref: ref, seq: seqBase, acked: seqBase, outs: map[string]string{}, changed: make(chan struct{})}
	for _, r := range redact {
		if r != "" {
			o.redact = append(o.redact, []byte(r))
		}
	}
	s.mu.Lock()
	s.outs[ref] = o
	s.mu.Unlock()
	return o
}

// output is the sdk.Output of one attempt: it redacts secrets, splits and
// numbers the lines and hands them to the shipper.
type output struct {
	s      *shipper
	ref    queue.TaskRef
	redact [][]byte

	mu      sync.Mutex
	seq     int64 // last line numbered
	acked   int64 // last line the server took
	closed  bool
	full    bool                     // the server's log cap is reached: output is dropped here
	carry   map[run.LogStream][]byte // a write's tail that may begin a secret
	outs    map[string]string
	changed chan struct{} // closed and replaced when acked moves
}

func (o *output) Stdout() io.Writer    { return streamWriter{o, run.StreamStdout} }
func (o *output) Stderr() io.Writer    { return streamWriter{o, run.StreamStderr} }
func (o *output) Progress(int, string) {}

func (o *output) SetOutput(name, value string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outs[name] = string(o.redactBytes([]byte(value)))
}

func (o *output) outputs() map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.outs) == 0 {
		return nil
	}
	return maps.Clone(o.outs)
}

func (o *output) redactBytes(p []byte) []byte {
	for _, s := range o.redact {
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
	if o.closed || o.full {
		// A late write after the attempt ended, or one past the server's
		// log cap (the server would drop it), goes nowhere.
		o.mu.Unlock()
		return n, nil
	}
	// A secret may straddle two writes: the tail that could begin one waits
	// for the next write (or close).
	data := o.redactBytes(append(bytes.Clone(o.carry[w.stream]), p...))
	keep := o.secretPrefixLen(data)
	if keep > 0 {
		if o.carry == nil {
			o.carry = map[run.LogStream][]byte{}
		}
		o.carry[w.stream] = bytes.Clone(data[len(data)-keep:])
	} else {
		delete(o.carry, w.stream)
	}
	o.emit(w.stream, data[:len(data)-keep])
	o.mu.Unlock()
	return n, nil
}

// secretPrefixLen returns the length of the longest end of p that is the
// start of a secret (and not a whole one).
func (o *output) secretPrefixLen(p []byte) int {
	longest := 0
	for _, s := range o.redact {
		longest = max(longest, len(s))
	}
	for k := min(len(p), longest-1); k > 0; k-- {
		for _, s := range o.redact {
			if k < len(s) && bytes.HasPrefix(s, p[len(p)-k:]) {
				return k
			}
		}
	}
	return 0
}

// emit splits data into numbered lines and queues them. o.mu is held, so
// that the lines of one task queue in Seq order.
func (o *output) emit(stream run.LogStream, data []byte) {
	at := time.Now().UTC()
	for len(data) > 0 {
		part := data[:min(len(data), maxLineBytes)]
		data = data[len(part):]
		if !o.s.add(queue.LogLine{TaskRef: o.ref, Seq: o.seq + 1, Stream: stream, Data: part, At: at}) {
			o.seq++
		}
	}
}

// setFull stops the shipping of o's further output: the server's
// per-task log cap is reached (Stop.LogFull). Lines already queued still go,
// and the server drops them.
func (o *output) setFull() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.full {
		o.full = true
		o.carry = nil
		o.s.w.log.Debug("the task's log reached the server's cap: its further output is not shipped", "task", o.ref.TaskID)
	}
}

// ack is called by the shipper when the server took the lines up to seq.
func (o *output) ack(seq int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if seq > o.acked {
		o.acked = seq
		close(o.changed)
		o.changed = make(chan struct{})
	}
}

// close ends the attempt's output and waits until the server took every
// line, or ctx ends.
func (o *output) close(ctx context.Context) error {
	o.mu.Lock()
	for _, st := range []run.LogStream{run.StreamStdout, run.StreamStderr} {
		o.emit(st, o.carry[st]) // a secret's start only, never a whole one
	}
	o.carry = nil
	o.closed = true
	o.mu.Unlock()
	defer func() {
		o.s.mu.Lock()
		delete(o.s.outs, o.ref)
		o.s.mu.Unlock()
	}()
	for {
		o.mu.Lock()
		done, changed := o.acked >= o.seq, o.changed
		o.mu.Unlock()
		if done {
			return nil
		}
		o.s.wake()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
