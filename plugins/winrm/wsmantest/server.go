// Package wsmantest is a small WS-Management (WinRM) server for tests: it
// speaks the Windows Remote Shell protocol of [MS-WSMV] over HTTP or
// HTTPS, with Basic and NTLM authentication, well enough for real clients
// (github.com/masterzen/winrm, Python's pywinrm) to open a shell, run
// commands, stream their stdout and stderr, send stdin, signal and delete.
//
// It runs no Windows program. A command line is split into words and the
// first one (lowercased, without ".exe") names a Handler: tests register
// their own with Handle, and a few defaults simulate echo, exit, more and
// a tiny subset of powershell.exe -EncodedCommand (see DefaultHandlers).
// A command no handler knows fails as cmd.exe would ("is not recognized",
// exit code 1).
//
// Every request is recorded (Calls), so a test can assert that a client
// signalled and deleted what it created. What the server does not
// simulate is listed in docs/winrm-testing.md.
package wsmantest

import (
	"context"
	"crypto/subtle"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server. The zero value serves plain HTTP with Basic
// authentication for user "wsmantest", password "wsmantest-password".
type Options struct {
	// Username and Password are the only credentials accepted.
	Username, Password string
	// TLS serves HTTPS with a certificate from a test CA (CACertPEM).
	TLS bool
	// NTLM also accepts NTLMv2 (Negotiate or NTLM schemes): the 401
	// answers offer Negotiate and NTLM next to Basic.
	NTLM bool
	// NoBasic refuses Basic authentication (with NTLM: NTLM only, as a
	// default Windows host over HTTP).
	NoBasic bool
	// MaxReceiveWait caps how long a Receive waits for output before it
	// answers with an OperationTimeout fault, whatever the client's
	// OperationTimeout says. 0: the client's value (60s when absent).
	MaxReceiveWait time.Duration
}

// Default credentials.
const (
	DefaultUsername = "wsmantest"
	DefaultPassword = "wsmantest-password"
)

// Call is one request the server received, authenticated or not.
type Call struct {
	// Action is the short name: Create, Command, Receive, Send, Signal,
	// Delete, or the full URI of an action the server does not know.
	Action    string
	ShellID   string
	CommandID string
	// Command and Args are what a Command request asked to run.
	Command string
	Args    []string
	// Signal is a Signal request's code (SignalTerminate...).
	Signal string
	// Status is the HTTP status of the answer.
	Status int
	// Done says that a Receive answered with CommandState Done (Running
	// otherwise), and Output how many bytes of output it returned.
	Done   bool
	Output int
}

// Server is a running WS-Management server. It is safe for concurrent use.
type Server struct {
	// URL is the endpoint, http(s)://127.0.0.1:PORT/wsman.
	URL string

	opts Options
	srv  *httptest.Server
	ctx  context.Context // cancelled by Close: stops commands and waits
	stop context.CancelFunc

	mu       sync.Mutex
	handlers map[string]Handler
	shells   map[string]*shell
	calls    []Call
}

type shell struct {
	id       string
	commands map[string]*command
}

// New starts a server on a loopback port and closes it when the test
// ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := Start(opts)
	t.Cleanup(s.Close)
	return s
}

// Start starts a server on a loopback port; Close stops it.
func Start(opts Options) *Server {
	if opts.Username == "" && opts.Password == "" {
		opts.Username, opts.Password = DefaultUsername, DefaultPassword
	}
	s := &Server{opts: opts, handlers: DefaultHandlers(), shells: map[string]*shell{}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.Config.ConnContext = withConnState
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are what some tests provoke
	if opts.TLS {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	s.URL = s.srv.URL + "/wsman"
	return s
}

// Close stops every command, and the server.
func (s *Server) Close() {
	s.stop()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Host and Port are the server's address.
func (s *Server) Host() string { u, _ := url.Parse(s.URL); return u.Hostname() }

// Port is the server's TCP port.
func (s *Server) Port() int { u, _ := url.Parse(s.URL); p, _ := strconv.Atoi(u.Port()); return p }

// Username and Password are the credentials the server accepts.
func (s *Server) Username() string { return s.opts.Username }

// Password is the password the server accepts.
func (s *Server) Password() string { return s.opts.Password }

// CACertPEM is the PEM certificate that signs the server's (HTTPS only; nil
// otherwise). httptest's certificate is valid for 127.0.0.1 and
// example.com.
func (s *Server) CACertPEM() []byte {
	if !s.opts.TLS {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Handle registers h for commands whose first word is name (matched
// lowercased, and without ".exe"), replacing any default.
func (s *Server) Handle(name string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[strings.ToLower(strings.TrimSuffix(strings.ToLower(name), ".exe"))] = h
}

// Calls returns the requests received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	copy(out, s.calls)
	return out
}

// CallsFor returns the recorded calls about one shell.
func (s *Server) CallsFor(shellID string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.ShellID == shellID {
			out = append(out, c)
		}
	}
	return out
}

// OpenShells returns the IDs of the shells created and not yet deleted.
func (s *Server) OpenShells() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.shells {
		ids = append(ids, id)
	}
	return ids
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

// maxRequest bounds a request body (Windows' MaxEnvelopeSize is 500 KiB by
// default; clients ask for 150 KiB).
const maxRequest = 1 << 20

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/wsman" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.authenticate(w, r) {
		s.record(Call{Action: "(unauthenticated)", Status: http.StatusUnauthorized})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequest))
	if err != nil {
		return
	}
	var req envelope
	if err := xml.Unmarshal(raw, &req); err != nil {
		s.reply(w, http.StatusBadRequest, fault(nil, true, "w:SchemaValidationError", "2150858817", "the request is not a SOAP envelope: "+err.Error()))
		return
	}
	call := Call{Action: shortAction(req.Header.Action), ShellID: req.selector("ShellId")}
	status, body := s.dispatch(r.Context(), &req, &call)
	call.Status = status
	s.record(call)
	s.reply(w, status, body)
}

func (s *Server) reply(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func shortAction(action string) string {
	for _, a := range []string{actionCreate, actionDelete, actionCommand, actionReceive, actionSend, actionSignal} {
		if action == a {
			return a[strings.LastIndexByte(a, '/')+1:]
		}
	}
	return action
}

func (s *Server) dispatch(ctx context.Context, req *envelope, call *Call) (int, []byte) {
	if req.Header.ResourceURI != resourceCmd {
		return http.StatusInternalServerError, fault(req, true, "w:InvalidParameter", "2150858770", "the resource URI "+req.Header.ResourceURI+" is not supported by wsmantest (only the cmd shell)")
	}
	switch req.Header.Action {
	case actionCreate:
		return s.create(req, call)
	case actionCommand:
		return s.command(req, call)
	case actionReceive:
		return s.receive(ctx, req, call)
	case actionSend:
		return s.send(req, call)
	case actionSignal:
		return s.signal(req, call)
	case actionDelete:
		return s.delete(req, call)
	}
	return http.StatusInternalServerError, fault(req, true, "a:ActionNotSupported", "2150858769", "the action "+req.Header.Action+" is not supported by wsmantest")
}

func notFound(req *envelope, what string) (int, []byte) {
	return http.StatusInternalServerError, fault(req, true, "w:InvalidSelectors", faultShellNotFound,
		"The request for the Windows Remote Shell with "+what+" failed because the shell was not found on the server. Possible causes are: the specified shell is either invalid or the shell was deleted.")
}

func (s *Server) create(req *envelope, call *Call) (int, []byte) {
	if req.Body.Shell == nil {
		return http.StatusInternalServerError, fault(req, true, "w:SchemaValidationError", "2150858817", "Create without a Shell element")
	}
	sh := &shell{id: newUUID(), commands: map[string]*command{}}
	s.mu.Lock()
	s.shells[sh.id] = sh
	s.mu.Unlock()
	call.ShellID = sh.id
	body := fmt.Sprintf(`<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI>`+
		`<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`+
		`<rsp:Shell><rsp:ShellId>%s</rsp:ShellId><rsp:ResourceUri>%s</rsp:ResourceUri><rsp:Owner>%s</rsp:Owner>`+
		`<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`,
		xmlText(s.URL), resourceCmd, sh.id, sh.id, resourceCmd, xmlText(s.opts.Username))
	return http.StatusOK, response(req, actionCreate+"Response", body)
}

func (s *Server) lookup(shellID, commandID string) (*shell, *command) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shells[shellID]
	if sh == nil || commandID == "" {
		return sh, nil
	}
	return sh, sh.commands[commandID]
}

func (s *Server) command(req *envelope, call *Call) (int, []byte) {
	sh, _ := s.lookup(call.ShellID, "")
	if sh == nil {
		return notFound(req, "ShellId "+call.ShellID)
	}
	if req.Body.CommandLine == nil {
		return http.StatusInternalServerError, fault(req, true, "w:SchemaValidationError", "2150858817", "Command without a CommandLine element")
	}
	call.Command = req.Body.CommandLine.Command
	call.Args = req.Body.CommandLine.Arguments
	// cmd.exe /c runs the command and its arguments as one line.
	line := strings.TrimSpace(strings.Join(append([]string{call.Command}, call.Args...), " "))
	words := SplitCommandLine(line)
	var name string
	if len(words) > 0 {
		name = strings.TrimSuffix(strings.ToLower(words[0]), ".exe")
	}
	s.mu.Lock()
	h := s.handlers[name]
	s.mu.Unlock()
	if h == nil {
		h = notRecognized
	}
	c := newCommand(s.ctx)
	call.CommandID = c.id
	s.mu.Lock()
	sh.commands[c.id] = c
	s.mu.Unlock()
	p := &Process{cmd: c, Line: line, Name: name, Stdin: c.stdin, Stdout: c.writer("stdout"), Stderr: c.writer("stderr")}
	if len(words) > 1 {
		p.Args = words[1:]
	}
	go c.run(h, p)
	body := fmt.Sprintf(`<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>`, c.id)
	return http.StatusOK, response(req, actionCommand+"Response", body)
}

// maxReceive bounds the output one Receive returns, before base64: well
// within the 150 KiB envelopes clients ask for.
const maxReceive = 64 << 10

func (s *Server) receive(ctx context.Context, req *envelope, call *Call) (int, []byte) {
	if req.Body.Receive == nil {
		return http.StatusInternalServerError, fault(req, true, "w:SchemaValidationError", "2150858817", "Receive without a Receive element")
	}
	call.CommandID = req.Body.Receive.DesiredStream.CommandID
	_, c := s.lookup(call.ShellID, call.CommandID)
	if c == nil {
		return notFound(req, "ShellId "+call.ShellID+" and CommandId "+call.CommandID)
	}
	wait := operationTimeout(req.Header.OperationTimeout)
	if wait <= 0 {
		wait = 60 * time.Second
	}
	if s.opts.MaxReceiveWait > 0 {
		wait = min(wait, s.opts.MaxReceiveWait)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		chunks, done, code, changed := c.take(maxReceive)
		if len(chunks) > 0 || done {
			call.Done = done
			for _, ch := range chunks {
				call.Output += len(ch.data)
			}
			return http.StatusOK, response(req, actionReceive+"Response", receiveBody(c.id, chunks, done, code))
		}
		select {
		case <-changed:
		case <-timer.C:
			return http.StatusInternalServerError, fault(req, false, "w:TimedOut", faultOperationTimeout,
				"The WS-Management service cannot complete the operation within the time specified in OperationTimeout.")
		case <-ctx.Done():
			return http.StatusServiceUnavailable, nil
		case <-s.ctx.Done():
			return http.StatusServiceUnavailable, fault(req, false, "w:InternalError", "2150858751", "the server is shutting down")
		}
	}
}

func (s *Server) send(req *envelope, call *Call) (int, []byte) {
	if req.Body.Send == nil {
		return http.StatusInternalServerError, fault(req, true, "w:SchemaValidationError", "2150858817", "Send without a Send element")
	}
	for _, st := range req.Body.Send.Streams {
		call.CommandID = st.CommandID
		_, c := s.lookup(call.ShellID, st.CommandID)
		if c == nil {
			return notFound(req, "ShellId "+call.ShellID+" and CommandId "+st.CommandID)
		}
		data, err := decodeBase64(st.Data)
		if err != nil {
			return http.StatusInternalServerError, fault(req, true, "w:SchemaValidationError", "2150858817", "the stdin stream is not base64")
		}
		c.stdin.write(data, st.End == "true" || st.End == "1")
	}
	return http.StatusOK, response(req, actionSend+"Response", `<rsp:SendResponse/>`)
}

func (s *Server) signal(req *envelope, call *Call) (int, []byte) {
	if req.Body.Signal == nil {
		return http.StatusInternalServerError, fault(req, true, "w:SchemaValidationError", "2150858817", "Signal without a Signal element")
	}
	call.CommandID = req.Body.Signal.CommandID
	call.Signal = strings.TrimSpace(req.Body.Signal.Code)
	sh, c := s.lookup(call.ShellID, call.CommandID)
	if c == nil {
		return notFound(req, "ShellId "+call.ShellID+" and CommandId "+call.CommandID)
	}
	switch call.Signal {
	case SignalTerminate:
		// The command stops, and its resources are released: Windows
		// forgets the CommandId.
		c.cancel()
		s.mu.Lock()
		delete(sh.commands, c.id)
		s.mu.Unlock()
	case SignalCtrlC:
		c.cancel()
	}
	return http.StatusOK, response(req, actionSignal+"Response", `<rsp:SignalResponse/>`)
}

func (s *Server) delete(req *envelope, call *Call) (int, []byte) {
	s.mu.Lock()
	sh := s.shells[call.ShellID]
	delete(s.shells, call.ShellID)
	s.mu.Unlock()
	if sh == nil {
		return notFound(req, "ShellId "+call.ShellID)
	}
	for _, c := range sh.commands {
		c.cancel()
	}
	return http.StatusOK, response(req, actionDelete+"Response", "")
}

// authenticate checks the request's credentials, answering 401 when they
// are missing or wrong; it reports whether the request may go on.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	cs := connStateOf(r.Context())
	if cs != nil && r.Header.Get("Authorization") == "" && cs.authenticated() {
		return true // NTLM authenticates the connection, as on Windows
	}
	auth := r.Header.Get("Authorization")
	scheme, payload, _ := strings.Cut(auth, " ")
	switch {
	case strings.EqualFold(scheme, "Basic") && !s.opts.NoBasic:
		user, pass, ok := r.BasicAuth()
		if ok && subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password)) == 1 {
			return true
		}
	case s.opts.NTLM && (strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "NTLM")) && cs != nil:
		token, err := decodeBase64(strings.TrimSpace(payload))
		if err != nil {
			break
		}
		next, ok, err := cs.ntlm(token, s.opts.Username, s.opts.Password)
		if err != nil {
			break
		}
		if next != nil { // the challenge
			w.Header().Set("WWW-Authenticate", scheme+" "+encodeBase64(next))
			w.WriteHeader(http.StatusUnauthorized)
			return false
		}
		if ok {
			return true
		}
	}
	if s.opts.NTLM {
		w.Header().Add("WWW-Authenticate", "Negotiate")
		w.Header().Add("WWW-Authenticate", "NTLM")
	}
	if !s.opts.NoBasic {
		w.Header().Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
	return false
}

// connState is what the server knows about one TCP connection: NTLM
// authenticates connections, not requests.
type connState struct {
	mu        sync.Mutex
	challenge []byte // the server challenge sent, between the two legs
	ntlmUser  string // set once NTLM succeeded
}

type connKey struct{}

func withConnState(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

func connStateOf(ctx context.Context) *connState {
	cs, _ := ctx.Value(connKey{}).(*connState)
	return cs
}

var errNTLM = errors.New("ntlm: bad message")
