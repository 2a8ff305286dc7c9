// Package jgbench is what the benchmark programs under bench/ share: start
// a real `jobgraph server` (temp data dir, SQLite, embedded NATS), sign in,
// talk GraphQL over HTTP and graphql-transport-ws, and read a process tree's
// memory and CPU from /proc. bench/inflight and bench/logvolume use it;
// the older programs (e2e-fanout, subscribers) carry their own copies of the
// same code.
package jgbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// AdminPassword is the first admin's password on servers started here.
const AdminPassword = "jgbench-admin-password"

// Server is a running `jobgraph server`.
type Server struct {
	PID     int
	Base    string // http://127.0.0.1:port
	DataDir string
	Log     string // the server's stderr, copied
	Client  *http.Client

	cmd    *exec.Cmd
	exited chan struct{}
	logf   *os.File
	// Keep keeps the data dir (and log) on Stop.
	Keep bool
}

// Start starts bin server with args (after --listen and --data-dir) and
// extra environment (JOBGRAPH_ variables of this process are not passed),
// waits for /readyz and signs in as the first admin.
func Start(name, bin string, args, env []string) (*Server, error) {
	dataDir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, err
	}
	s := &Server{DataDir: dataDir, Log: filepath.Join(dataDir, "server.log"), exited: make(chan struct{}),
		Client: &http.Client{Timeout: 120 * time.Second}}
	s.cmd = exec.Command(bin, append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JOBGRAPH_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	s.cmd.Env = append(append(s.cmd.Env, "JOBGRAPH_ADMIN_PASSWORD="+AdminPassword), env...)
	if s.logf, err = os.Create(s.Log); err != nil {
		return nil, err
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.PID = s.cmd.Process.Pid
	urlCh := make(chan string, 1)
	go func() { // copy the log; find the "jobgraph is serving" line's url
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.logf, line)
			if !sent && strings.Contains(line, "jobgraph is serving") {
				if i := strings.Index(line, "url="); i >= 0 {
					urlCh <- strings.Trim(strings.Fields(line[i+4:])[0], `"`)
					sent = true
				}
			}
		}
		close(urlCh)
	}()
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	select {
	case u, ok := <-urlCh:
		if !ok {
			s.Keep = true
			s.Stop()
			return nil, fmt.Errorf("the server exited before serving; log in %s", s.Log)
		}
		s.Base = u
	case <-time.After(60 * time.Second):
		s.Keep = true
		s.Stop()
		return nil, errors.New("the server did not serve within 60s")
	}
	for i := 0; ; i++ {
		resp, err := s.Client.Get(s.Base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if i > 600 {
			s.Keep = true
			s.Stop()
			return nil, errors.New("/readyz not 200 within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	jar, _ := cookiejar.New(nil)
	s.Client.Jar = jar
	var ignored map[string]any
	if err := s.GQL(`mutation($in: LoginInput!) { login(input: $in) { user { username } } }`,
		map[string]any{"in": map[string]any{"username": "admin", "password": AdminPassword}}, &ignored); err != nil {
		s.Keep = true
		s.Stop()
		return nil, err
	}
	return s, nil
}

// StopOnSignal stops s and exits on SIGINT or SIGTERM.
func StopOnSignal(s *Server) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		s.Stop()
		os.Exit(130)
	}()
}

// Stop stops the server (SIGTERM, then SIGKILL after 30 s) and removes its
// data dir unless Keep.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	_ = s.logf.Close()
	if s.Keep {
		fmt.Fprintln(os.Stderr, "kept", s.DataDir)
	} else {
		_ = os.RemoveAll(s.DataDir)
	}
}

// GQL runs one GraphQL operation over HTTP and decodes its data into data.
func (s *Server) GQL(query string, vars map[string]any, data any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	resp, err := s.Client.Post(s.Base+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		return fmt.Errorf("graphql: HTTP %d: %.500s", resp.StatusCode, raw)
	}
	return json.Unmarshal(r.Data, data)
}

// Token creates an API token (for WebSocket connections).
func (s *Server) Token(name string) (string, error) {
	var tok struct{ CreateApiToken struct{ Secret string } }
	err := s.GQL(`mutation($n: String!) { createApiToken(input: {name: $n}) { secret } }`, map[string]any{"n": name}, &tok)
	return tok.CreateApiToken.Secret, err
}

// Project creates a project and returns its ID.
func (s *Server) Project(name string) (string, error) {
	var p struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	err := s.GQL(`mutation($in: CreateProjectInput!) { createProject(input: $in) { project { id } } }`,
		map[string]any{"in": map[string]any{"name": name}}, &p)
	return p.CreateProject.Project.ID, err
}

// CreateHosts creates hosts (CreateHostInput maps without projectId), 50
// mutations per request.
func (s *Server) CreateHosts(project string, hosts []map[string]any) error {
	const perRequest = 50
	for lo := 0; lo < len(hosts); lo += perRequest {
		hi := min(lo+perRequest, len(hosts))
		var q strings.Builder
		vars := map[string]any{}
		q.WriteString("mutation(")
		for i := lo; i < hi; i++ {
			if i > lo {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "$h%d: CreateHostInput!", i)
			h := map[string]any{"projectId": project}
			for k, v := range hosts[i] {
				h[k] = v
			}
			vars[fmt.Sprintf("h%d", i)] = h
		}
		q.WriteString(") {")
		for i := lo; i < hi; i++ {
			fmt.Fprintf(&q, " h%d: createHost(input: $h%d) { host { id } }", i, i)
		}
		q.WriteString(" }")
		var ignored map[string]any
		if err := s.GQL(q.String(), vars, &ignored); err != nil {
			return err
		}
	}
	return nil
}

// ---- graphql-transport-ws ---------------------------------------------------

// WS is one graphql-transport-ws connection.
type WS struct {
	C     *websocket.Conn
	subID int
}

// DialWS opens a graphql-transport-ws connection authenticated by token.
func (s *Server) DialWS(ctx context.Context, token string) (*WS, error) {
	url := "ws" + strings.TrimPrefix(s.Base, "http") + "/graphql"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(64 << 20)
	w := &WS{C: c}
	if err := w.Write(ctx, map[string]any{"type": "connection_init", "payload": map[string]any{"authToken": token}}); err != nil {
		return nil, err
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var ack struct{ Type string }
	if err := json.Unmarshal(b, &ack); err != nil || ack.Type != "connection_ack" {
		return nil, fmt.Errorf("no connection_ack: %s", b)
	}
	return w, nil
}

// Write sends one message.
func (w *WS) Write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.C.Write(ctx, websocket.MessageText, b)
}

// Subscribe starts a subscription and returns its id.
func (w *WS) Subscribe(ctx context.Context, query string, vars map[string]any) (string, error) {
	w.subID++
	id := strconv.Itoa(w.subID)
	return id, w.Write(ctx, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
}

// Msg is a server message.
type Msg struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	Size    int             `json:"-"` // bytes of the frame
}

// Next returns the next "next", "error" or "complete" message, answering
// pings.
func (w *WS) Next(ctx context.Context) (Msg, error) {
	for {
		_, b, err := w.C.Read(ctx)
		if err != nil {
			return Msg{}, err
		}
		var m Msg
		if err := json.Unmarshal(b, &m); err != nil {
			return m, fmt.Errorf("bad message %.200s: %w", b, err)
		}
		m.Size = len(b)
		switch m.Type {
		case "ping":
			if err := w.Write(ctx, map[string]any{"type": "pong"}); err != nil {
				return m, err
			}
		case "pong", "ka":
		default:
			return m, nil
		}
	}
}

// ---- /proc -------------------------------------------------------------------

// StatusKB reads a "kB" line of /proc/pid/status (VmRSS:, VmHWM:); 0 when
// the process is gone.
func StatusKB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// Proc is one process of /proc.
type Proc struct {
	PPID  int
	Comm  string
	Args  string // the command line, spaces for NULs
	Ticks int64  // utime+stime+cutime+cstime
}

// Procs reads every process.
func Procs() map[int]Proc {
	ents, _ := os.ReadDir("/proc")
	all := map[int]Proc{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		j := bytes.IndexByte(b, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 15 { // f[0] is field 3 (state)
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		var t int64
		for _, k := range []int{11, 12, 13, 14} { // fields 14-17: utime stime cutime cstime
			v, _ := strconv.ParseInt(f[k], 10, 64)
			t += v
		}
		cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		all[p] = Proc{PPID: ppid, Comm: string(b[j+1 : i]), Args: strings.TrimSpace(string(bytes.ReplaceAll(cl, []byte{0}, []byte{' '}))), Ticks: t}
	}
	return all
}

// Descendants returns pid and its live descendants.
func Descendants(all map[int]Proc, pid int) map[int]bool {
	in := map[int]bool{pid: true}
	for changed := true; changed; {
		changed = false
		for p, s := range all {
			if !in[p] && in[s.PPID] {
				in[p] = true
				changed = true
			}
		}
	}
	return in
}

// TreeTicks returns the ticks of pid, and those of its live descendants.
func TreeTicks(pid int) (self, desc int64) {
	all := Procs()
	for p := range Descendants(all, pid) {
		if p == pid {
			self = all[p].Ticks
		} else {
			desc += all[p].Ticks
		}
	}
	return self, desc
}

// TicksToS converts clock ticks to seconds (USER_HZ is 100 on Linux).
func TicksToS(t int64) float64 { return float64(t) / 100 }

// SelfCPU is this process's CPU seconds.
func SelfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// RaiseNoFile raises this process's open-file limit to at least want, or to
// its hard limit (children inherit it).
func RaiseNoFile(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur >= want {
		return l.Cur
	}
	if l.Max < want {
		l.Max = want // works as root
	}
	l.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// LoadAvg is /proc/loadavg's first three fields.
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
