package httpexec

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Name and Version identify the executor.
const (
	Name    = "http"
	Version = "1.0.0"
)

// actionRequest is the executor's one action.
const actionRequest = "request"

// Limits that are not parameters.
const (
	// readChunk is the most read from a response body at once, and so the
	// largest stdout chunk.
	readChunk = 32 << 10
	// maxDrain is how much of a response that is retried is read (and
	// thrown away) so that its connection can be reused.
	maxDrain = 64 << 10
	// maxShown is how much of a JSON value a failure message quotes.
	maxShown = 200
)

// Executor is the http executor. It is safe for concurrent use.
type Executor struct {
	info sdk.Info
	// shared serves the requests without TLS options, so that tasks to the
	// same server reuse connections.
	shared *http.Transport
}

var (
	_ sdk.Executor  = (*Executor)(nil)
	_ sdk.Validator = (*Executor)(nil)
)

// New returns the http executor.
func New() sdk.Executor { return newExecutor() }

func newExecutor() *Executor {
	return &Executor{
		info: sdk.Info{
			Name:        Name,
			Version:     Version,
			Description: "Sends HTTP and HTTPS requests and checks the responses: status, body, JSON values; exports values of the body as outputs.",
			Actions: []sdk.Action{{
				Name: actionRequest,
				Description: "Send one HTTP request (with retries on chosen statuses) and succeed when the response meets the criteria (2xx by default). " +
					"The request line, status line and headers go to stderr, the body to stdout, as they arrive; the status code is the output \"status_code\". " +
					"A task credential of kind \"token\" is sent as a bearer token, one of kind \"password\" as basic authentication.",
				ParamsSchema: requestSchema,
				SecretParams: []string{"client_key"},
			}},
		},
		shared: newTransport(nil),
	}
}

// newTransport returns a transport that never uses a proxy from the
// environment, with tlsConfig (nil: the defaults, the system's CAs).
func newTransport(tlsConfig *tls.Config) *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Half the default 4 KiB each: a connection's buffers are most of
		// what a request in flight costs this process (10,000 requests
		// waiting on a slow server: 80 MB of buffers at 4 KiB). Longer
		// header lines still parse (net/textproto reads on past a full
		// buffer), and bodies are read in readChunk pieces straight through.
		ReadBufferSize:  2 << 10,
		WriteBufferSize: 2 << 10,
	}
}

// Describe implements sdk.Executor.
func (e *Executor) Describe(context.Context) (sdk.Info, error) { return e.info, nil }

// Validate implements sdk.Validator: beyond the schema, the URL parses
// with a host, regular expressions compile, JSONPaths parse, PEM
// certificates and the client key parse, header names are valid, and body
// and json are not both set.
func (e *Executor) Validate(_ context.Context, req sdk.ValidateRequest) ([]sdk.FieldError, error) {
	if req.Action != actionRequest {
		return []sdk.FieldError{{Message: fmt.Sprintf("the http executor has no action %q (it has: %s)", req.Action, actionRequest)}}, nil
	}
	_, problems := parse(req.Params)
	return problems, nil
}

// Execute implements sdk.Executor.
func (e *Executor) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	if task.Action != actionRequest {
		// Not reached: the SDK refuses actions that Describe does not list.
		return sdk.Result{}, fmt.Errorf("the http executor has no action %q", task.Action)
	}
	r, problems := parse(task.Params)
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Error()
		}
		sec := taskSecrets(task.Credential, nil)
		return sdk.Result{}, errors.New(sec.redactString("invalid parameters for request: " + strings.Join(msgs, "; ")))
	}
	if c := task.Credential; c != nil && c.Kind != "token" && c.Kind != "password" {
		return sdk.Result{}, fmt.Errorf("a credential of kind %q cannot authenticate an HTTP request: use \"token\" (bearer) or \"password\" (basic)", c.Kind)
	}
	x := &exchange{
		req:     r,
		cred:    task.Credential,
		secrets: taskSecrets(task.Credential, r.secrets),
		out:     out,
	}
	x.stdout = newRedactingWriter(out.Stdout(), x.secrets)
	x.stderr = newRedactingWriter(out.Stderr(), x.secrets)
	defer func() {
		_ = x.stdout.Flush()
		_ = x.stderr.Flush()
	}()

	transport := e.shared
	if r.tls != nil {
		transport = newTransport(r.tls)
		defer transport.CloseIdleConnections()
	}
	x.client = &http.Client{Transport: transport, CheckRedirect: x.checkRedirect}
	if r.insecure {
		fmt.Fprintln(x.stderr, "warning: insecure_skip_verify is set: the server's certificate is not verified, and anyone on the network path can read and change this request")
	}
	res := x.run(ctx)
	res.Error = x.secrets.redactString(res.Error)
	return res, nil
}

// exchange is one task's request and its attempts.
type exchange struct {
	req     *request
	cred    *sdk.Credential
	secrets secrets
	client  *http.Client
	out     sdk.Output
	stdout  *redactingWriter
	stderr  *redactingWriter
}

// run makes the attempts and returns how the task ended.
func (x *exchange) run(ctx context.Context) sdk.Result {
	r := x.req
	backoff := r.backoff
	for attempt := 1; ; attempt++ {
		res, retry := x.attempt(ctx, attempt)
		if !retry {
			return res
		}
		fmt.Fprintf(x.stderr, "* status is in retry.on_status: attempt %d of %d in %s\n", attempt+1, r.maxAttempts, backoff)
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return sdk.ContextResult(ctx)
		case <-timer.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// attempt sends the request once. It returns the task's result, or retry
// when the response's status asks for another attempt and one is left.
func (x *exchange) attempt(ctx context.Context, attempt int) (res sdk.Result, retry bool) {
	r := x.req
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var body io.Reader
	if r.hasBody {
		body = bytes.NewReader(r.body) // sets GetBody, for 307 and 308 redirects
	}
	req, err := http.NewRequestWithContext(actx, r.method, r.url.String(), body)
	if err != nil {
		return sdk.Result{Status: sdk.StatusError, Error: fmt.Sprintf("%s: %v", x.what(), err)}, false
	}
	req.Header = r.headers.Clone()
	if r.host != "" {
		req.Host = r.host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "jobgraph-http/"+Version)
	}
	if c := x.cred; c != nil {
		// The credential goes into the request and nowhere else.
		switch c.Kind {
		case "token":
			req.Header.Set("Authorization", "Bearer "+string(c.Secret))
		case "password":
			req.SetBasicAuth(c.Username, string(c.Secret))
		}
	}
	if attempt > 1 {
		fmt.Fprintf(x.stderr, "* attempt %d\n", attempt)
	}
	fmt.Fprintf(x.stderr, "> %s %s\n", r.method, displayURL(r.url))

	resp, err := x.client.Do(req)
	if err != nil {
		return x.failure(ctx, actx, "no response", err), false
	}
	defer resp.Body.Close()
	x.writeHead(resp)

	if attempt < r.maxAttempts && slices.Contains(r.retryOn, resp.StatusCode) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return sdk.Result{}, true
	}
	x.out.SetOutput("status_code", strconv.Itoa(resp.StatusCode))

	content, truncated, err := x.streamBody(resp.Body)
	if err != nil {
		return x.failure(ctx, actx, fmt.Sprintf("the response body was cut after %d bytes", len(content)), err), false
	}
	return x.check(resp.StatusCode, content, truncated), false
}

// what names the request in messages: method and URL, without secrets.
func (x *exchange) what() string {
	return x.req.method + " " + displayURL(x.req.url)
}

// failure is the result of an attempt that got no complete response.
func (x *exchange) failure(ctx, actx context.Context, what string, err error) sdk.Result {
	switch {
	case ctx.Err() != nil: // the task was cancelled or timed out
		return sdk.ContextResult(ctx)
	case actx.Err() != nil:
		return sdk.Result{
			Status:    sdk.StatusTimedOut,
			Error:     fmt.Sprintf("%s: %s within timeout_ms (%s)", x.what(), what, x.req.timeout),
			Retryable: true,
		}
	}
	msg, retryable := describeError(err)
	if what != "no response" {
		msg = what + ": " + msg
	}
	return sdk.Result{Status: sdk.StatusError, Error: x.what() + ": " + msg, Retryable: retryable}
}

// describeError says what a network error means, and whether trying again
// may help. It drops *url.Error's wrapping, which repeats the URL.
func describeError(err error) (string, bool) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		dnsErr     *net.DNSError
		verifyErr  *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
		netErr     net.Error
		opErr      *net.OpError
	)
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %q: %s", dnsErr.Name, dnsErr.Err), dnsErr.IsTimeout || dnsErr.IsTemporary
	case errors.As(err, &verifyErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		return "TLS: the server's certificate is not trusted (set ca_pem to the CA that signed it): " + err.Error(), false
	case errors.As(err, &recordErr):
		return "TLS: the server does not answer TLS (is it http:// rather than https://?)", false
	case errors.As(err, &alertErr):
		return "TLS: the server refused the handshake: " + err.Error(), false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: " + err.Error(), true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "the server closed the connection: " + err.Error(), true
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out: " + err.Error(), true
	case errors.As(err, &opErr):
		return err.Error(), true
	}
	return err.Error(), false
}

// checkRedirect follows at most maxRedirects redirects when asked to.
func (x *exchange) checkRedirect(req *http.Request, via []*http.Request) error {
	if !x.req.followRedirects {
		return http.ErrUseLastResponse
	}
	if len(via) > maxRedirects { // via holds the first request too
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.Response != nil {
		x.writeHead(req.Response)
	}
	fmt.Fprintf(x.stderr, "> %s %s\n", req.Method, displayURL(req.URL))
	return nil
}

// writeHead writes a response's status line and headers to stderr, with
// the values of secret-looking headers redacted.
func (x *exchange) writeHead(resp *http.Response) {
	var b strings.Builder
	fmt.Fprintf(&b, "< %s %s\n", resp.Proto, resp.Status)
	for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
		for _, v := range resp.Header[k] {
			if secretName(k) {
				v = redacted
			}
			fmt.Fprintf(&b, "< %s: %s\n", k, v)
		}
	}
	_, _ = io.WriteString(x.stderr, b.String())
}

// readBufs holds streamBody's buffers: 10,000 responses arriving at once
// each allocated one (320 MB at 32 KiB) where a few dozen are ever in use.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// streamBody copies body to stdout as it arrives, up to max_body_bytes,
// and returns what it read and whether there was more.
func (x *exchange) streamBody(body io.Reader) ([]byte, bool, error) {
	limit := x.req.maxBodyBytes
	var content []byte
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	for {
		if int64(len(content)) >= limit {
			n, err := body.Read(buf[:1])
			if n == 0 && err == nil {
				n, err = io.ReadFull(body, buf[:1])
			}
			if n > 0 {
				fmt.Fprintf(x.stderr, "\n* …truncated: the body is longer than max_body_bytes (%d); the rest was not read\n", limit)
				return content, true, nil
			}
			if err == io.EOF {
				return content, false, nil
			}
			return content, false, err
		}
		n, err := body.Read(buf[:min(int64(len(buf)), limit-int64(len(content)))])
		if n > 0 {
			content = append(content, buf[:n]...)
			_, _ = x.stdout.Write(buf[:n])
		}
		switch {
		case err == io.EOF:
			return content, false, nil
		case err != nil:
			return content, false, err
		}
	}
}

// check applies the success criteria to a complete response and exports
// the extracted outputs.
func (x *exchange) check(code int, body []byte, truncated bool) sdk.Result {
	r := x.req
	failed := func(format string, args ...any) sdk.Result {
		msg := fmt.Sprintf(format, args...)
		if truncated {
			msg += fmt.Sprintf(" (in the first %d bytes of the body: max_body_bytes)", len(body))
		}
		return sdk.Result{Status: sdk.StatusFailed, Error: msg}
	}
	if !slices.ContainsFunc(r.expect, func(m statusMatch) bool { return m.matches(code) }) {
		want := make([]string, len(r.expect))
		for i, m := range r.expect {
			want[i] = m.String()
		}
		return sdk.Result{Status: sdk.StatusFailed, Error: fmt.Sprintf("status %d, expected %s", code, strings.Join(want, ", "))}
	}
	if r.bodyRegex != nil && !r.bodyRegex.Match(body) {
		return failed("body does not match %q", r.bodyRegex.String())
	}
	if r.jsonPath == nil && len(r.extract) == 0 {
		return sdk.Succeeded()
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return failed("body is not JSON: %v", err)
	}
	if r.jsonPath != nil {
		v, ok := r.jsonPath.lookup(doc)
		if !ok {
			return failed("json_path %s: not found in the body", r.jsonPathText)
		}
		if r.hasEquals && !reflect.DeepEqual(v, r.jsonEquals) {
			return failed("json_path %s is %s, expected %s", r.jsonPathText, x.show(v), x.show(r.jsonEquals))
		}
	}
	values := map[string]string{}
	for _, ex := range r.extract {
		v, ok := ex.path.lookup(doc)
		if !ok {
			return failed("extract %s: %s not found in the body", ex.name, ex.pathText)
		}
		if s, ok := v.(string); ok {
			values[ex.name] = s
		} else {
			raw, _ := json.Marshal(v)
			values[ex.name] = string(raw)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		x.out.SetOutput(name, x.secrets.redactString(values[name]))
	}
	return sdk.Succeeded()
}

// show quotes a JSON value for a message, shortened.
func (x *exchange) show(v any) string {
	raw, _ := json.Marshal(v)
	s := x.secrets.redactString(string(raw))
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return s
}

// displayURL is u for output and messages: no password, and the values
// of secret-looking query parameters redacted.
func displayURL(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			c.RawQuery = redacted // cannot tell secret values apart
		} else {
			changed := false
			for k, vs := range q {
				if secretName(k) {
					for i := range vs {
						vs[i] = redacted
					}
					changed = true
				}
			}
			if changed {
				c.RawQuery = q.Encode()
			}
		}
	}
	return c.Redacted() // user:xxxxx@
}
