package ssh

import (
	"bytes"
	"io"
	"sync"
)

// rule is a string a scrubber replaces, calling onMatch each time.
type rule struct {
	find    []byte
	replace []byte
	onMatch func()
}

// scrubber is a writer that replaces strings on their way to next, also
// across writes: it holds back a tail that could be the start of one
// until the next write or Flush. It streams: nothing else is held.
type scrubber struct {
	mu      sync.Mutex
	next    io.Writer
	rules   []rule
	pending []byte
}

func newScrubber(next io.Writer, rules ...rule) *scrubber {
	var kept []rule
	for _, r := range rules {
		if len(r.find) > 0 {
			kept = append(kept, r)
		}
	}
	return &scrubber{next: next, rules: kept}
}

func (s *scrubber) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rules) == 0 {
		return s.next.Write(p)
	}
	buf := append(s.pending, p...)
	s.pending = nil
	var out []byte
	for {
		at, which := -1, -1
		for i, r := range s.rules {
			if j := bytes.Index(buf, r.find); j >= 0 && (at < 0 || j < at) {
				at, which = j, i
			}
		}
		if at < 0 {
			break
		}
		r := s.rules[which]
		out = append(out, buf[:at]...)
		out = append(out, r.replace...)
		buf = buf[at+len(r.find):]
		if r.onMatch != nil {
			r.onMatch()
		}
	}
	hold := 0
	for _, r := range s.rules {
		for n := min(len(r.find)-1, len(buf)); n > hold; n-- {
			if bytes.HasSuffix(buf, r.find[:n]) {
				hold = n
				break
			}
		}
	}
	out = append(out, buf[:len(buf)-hold]...)
	s.pending = append([]byte(nil), buf[len(buf)-hold:]...)
	if len(out) > 0 {
		if _, err := s.next.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what was held back.
func (s *scrubber) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 {
		_, _ = s.next.Write(s.pending)
		s.pending = nil
	}
}

// pidFilter reads the first line of a stream, which the command wrapper
// writes ("jobgraph-pid:N"), reports N and passes everything else on.
type pidFilter struct {
	mu     sync.Mutex
	next   io.Writer
	marker []byte
	head   []byte
	done   bool
	found  func(pid string)
}

// maxPidLine bounds the wait for the first line.
const maxPidLine = 64

func (f *pidFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return f.writeNext(p, len(p))
	}
	f.head = append(f.head, p...)
	i := bytes.IndexByte(f.head, '\n')
	if i < 0 && len(f.head) < maxPidLine {
		return len(p), nil
	}
	f.done = true
	rest := f.head
	if i >= 0 {
		line := bytes.TrimSuffix(f.head[:i], []byte("\r"))
		if pid, ok := bytes.CutPrefix(line, f.marker); ok && len(pid) > 0 {
			f.found(string(pid))
			rest = f.head[i+1:]
		}
	}
	f.head = nil
	return f.writeNext(rest, len(p))
}

func (f *pidFilter) writeNext(b []byte, n int) (int, error) {
	if len(b) == 0 {
		return n, nil
	}
	if _, err := f.next.Write(b); err != nil {
		return 0, err
	}
	return n, nil
}

// Flush passes on a first line that never ended.
func (f *pidFilter) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.done && len(f.head) > 0 {
		_, _ = f.next.Write(f.head)
	}
	f.done = true
	f.head = nil
}
