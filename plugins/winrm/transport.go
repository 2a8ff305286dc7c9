package winrm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	mzwinrm "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// transport is the masterzen/winrm Transporter the executor uses instead
// of the client's own, for one task.
//
// Why not the client's: its requests carry no context, so a cancelled
// task would wait for a Receive to time out on the host (up to the
// OperationTimeout) and a silent host would hold a task forever; its errors
// for a refused password or a fault are an unreadable "http response
// error: 401 - invalid content type". Here every request but the cleanup
// (Signal, Delete) carries the task's context, and the cleanup has its own
// short budget, so that a cancelled task still stops its remote command.
type transport struct {
	url        string
	user, pass string
	timeout    time.Duration // for an answer (connect included)
	receive    time.Duration // more for a Receive, which the host may hold
	client     *http.Client
	http       *http.Transport
	ctx        context.Context // the task's

	cleanupOnce sync.Once
	cleanupCtx  context.Context
	cleanupStop context.CancelFunc
}

var _ mzwinrm.Transporter = (*transport)(nil)

// CleanupTimeout bounds the requests that stop the command and delete the
// shell after the task ends or is cancelled, together.
const CleanupTimeout = 5 * time.Second

// maxResponse bounds an answer's body; clients ask for 150 KiB envelopes.
const maxResponse = 16 << 20

func newTransport(ctx context.Context, url, user, pass string, c conn, roots *x509.CertPool, receiveWait time.Duration) *transport {
	timeout := c.requestTimeout()
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	ht := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: timeout,
		MaxConnsPerHost:     1, // NTLM authenticates a connection: keep using one
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
	}
	if c.HTTPS {
		//nolint:gosec // InsecureSkipVerify only when the task explicitly asks, with a warning
		ht.TLSClientConfig = &tls.Config{RootCAs: roots, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = ht
	if c.auth() == authNTLM {
		rt = ntlmssp.Negotiator{RoundTripper: noBasic{ht}}
	}
	return &transport{
		url: url, user: user, pass: pass, ctx: ctx, http: ht, timeout: timeout, receive: receiveWait,
		client: &http.Client{
			Transport: rt,
			// WinRM does not redirect; following one would send the
			// credential elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// noBasic refuses to send Basic credentials: the NTLM negotiator falls
// back to Basic when the host offers nothing else, which would send the
// password in clear over HTTP although the task asked for NTLM.
type noBasic struct{ next http.RoundTripper }

// errOnlyBasic is how noBasic refuses.
var errOnlyBasic = errors.New("the host does not offer NTLM (only Basic): set auth to basic, preferably over HTTPS")

func (n noBasic) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.Header.Get("Authorization"), "Basic ") {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errOnlyBasic
	}
	return n.next.RoundTrip(req)
}

// Transport implements mzwinrm.Transporter: the transport is set up by
// newTransport.
func (t *transport) Transport(*mzwinrm.Endpoint) error { return nil }

// close releases the connections and the cleanup budget.
func (t *transport) close() {
	t.cleanupOnce.Do(func() {}) // no cleanup context from now on
	if t.cleanupStop != nil {
		t.cleanupStop()
	}
	t.http.CloseIdleConnections()
}

// requestCtx is the context of a request with that body: the task's, or
// for Signal and Delete the cleanup budget, which starts with the first
// of them and survives the task's cancellation.
func (t *transport) requestCtx(body string) context.Context {
	if !strings.Contains(body, "/windows/shell/Signal<") && !strings.Contains(body, "/transfer/Delete<") {
		return t.ctx
	}
	t.cleanupOnce.Do(func() {
		t.cleanupCtx, t.cleanupStop = context.WithTimeout(context.WithoutCancel(t.ctx), CleanupTimeout)
	})
	if t.cleanupCtx == nil { // after close
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	return t.cleanupCtx
}

// Post implements mzwinrm.Transporter. Its errors are *hostError values,
// which never wrap *url.Error: the client would take a timeout for an
// empty Receive and ask again forever.
func (t *transport) Post(_ *mzwinrm.Client, msg *soap.SoapMessage) (string, error) {
	body := msg.String()
	ctx := t.requestCtx(body)
	wait := t.timeout
	if strings.Contains(body, "/windows/shell/Receive<") {
		wait += t.receive // the host holds a Receive until output comes, up to the OperationTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		return "", &hostError{msg: "build the request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(t.user, t.pass) // the NTLM negotiator turns it into NTLM
	resp, err := t.client.Do(req)
	if err != nil {
		return "", t.requestError(ctx, rctx, wait, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", t.requestError(ctx, rctx, wait, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if !strings.Contains(resp.Header.Get("Content-Type"), "soap+xml") {
			return "", &hostError{msg: fmt.Sprintf("the host answered with %q, not SOAP: is this a WinRM endpoint?", resp.Header.Get("Content-Type"))}
		}
		return string(raw), nil
	case resp.StatusCode == http.StatusUnauthorized:
		return "", &hostError{msg: fmt.Sprintf("the host refused the credentials of user %q (%s authentication)", t.user, schemeOf(resp)), auth: true}
	}
	if f, ok := parseFault(raw); ok {
		if f.code == faultOperationTimeout {
			// The client receives again when the error says so.
			return "", &hostError{msg: "OperationTimeout: no output yet"}
		}
		return "", &hostError{msg: fmt.Sprintf("the host answered HTTP %d: %s", resp.StatusCode, f)}
	}
	return "", &hostError{msg: fmt.Sprintf("the host answered HTTP %d (%s) without a WS-Management fault: is this a WinRM endpoint?", resp.StatusCode, http.StatusText(resp.StatusCode)),
		retryable: resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusBadGateway}
}

func schemeOf(resp *http.Response) string {
	if resp.Request != nil {
		if auth := resp.Request.Header.Get("Authorization"); auth != "" {
			scheme, _, _ := strings.Cut(auth, " ")
			return scheme
		}
	}
	return "no"
}

// hostError is an error talking to the host, already worded for people.
type hostError struct {
	msg       string
	retryable bool  // a network error: trying again may work
	auth      bool  // the credentials were refused
	ctxErr    error // the task's context ended
}

func (e *hostError) Error() string { return e.msg }

// requestError words a failed HTTP request.
// ctx is the task's (or the cleanup's), rctx the request's, which ends
// after wait.
func (t *transport) requestError(ctx, rctx context.Context, wait time.Duration, err error) *hostError {
	if ctx.Err() != nil {
		return &hostError{msg: ctx.Err().Error(), ctxErr: ctx.Err()}
	}
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(t.url, "https://"), "http://"), "/wsman")
	if rctx.Err() != nil {
		return &hostError{msg: fmt.Sprintf("%s did not answer in time (%s)", host, wait), retryable: true}
	}
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		dnsErr   *net.DNSError
		opErr    *net.OpError
		netErr   net.Error
	)
	switch {
	case errors.Is(err, errOnlyBasic):
		return &hostError{msg: errOnlyBasic.Error(), auth: true}
	case errors.As(err, &unknown):
		return &hostError{msg: fmt.Sprintf("TLS: the certificate of %s is signed by an unknown authority: give its CA in ca_pem", host)}
	case errors.As(err, &hostname):
		return &hostError{msg: fmt.Sprintf("TLS: the certificate of %s is not valid for that name: %v", host, hostname)}
	case errors.As(err, &invalid):
		return &hostError{msg: fmt.Sprintf("TLS: the certificate of %s is not valid: %v", host, invalid)}
	case errors.As(err, &certErr):
		return &hostError{msg: fmt.Sprintf("TLS: the certificate of %s: %v", host, certErr.Err)}
	case errors.As(err, &record):
		return &hostError{msg: fmt.Sprintf("TLS: %s does not speak TLS: is https right for this port?", host)}
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return &hostError{msg: fmt.Sprintf("TLS: %s answered in plain HTTP: set https to false, or use its HTTPS port", host)}
	case errors.As(err, &dnsErr):
		return &hostError{msg: fmt.Sprintf("cannot resolve %s: %v", dnsErr.Name, dnsErr.Err), retryable: dnsErr.IsTemporary || dnsErr.IsTimeout}
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return &hostError{msg: fmt.Sprintf("cannot connect to %s: %v", host, opErr.Err), retryable: true}
	case errors.As(err, &netErr) && netErr.Timeout():
		return &hostError{msg: fmt.Sprintf("%s did not answer in time: %v", host, netErr), retryable: true}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &hostError{msg: fmt.Sprintf("%s closed the connection", host), retryable: true}
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "Post ") {
		msg = msg[i+2:] // "Post "URL": reason" → reason
	}
	return &hostError{msg: fmt.Sprintf("talking to %s: %s", host, msg), retryable: true}
}

// faultOperationTimeout is the WSManFault code for a Receive that got no
// output within the OperationTimeout.
const faultOperationTimeout = "2150858793"

type soapFault struct {
	code, reason, subcode string
}

func (f soapFault) String() string {
	s := strings.TrimSpace(f.reason)
	if s == "" {
		s = "a fault without a reason"
	}
	if f.code != "" {
		s += " (WSManFault " + f.code + ")"
	}
	return s
}

// parseFault reads a SOAP fault.
func parseFault(raw []byte) (soapFault, bool) {
	var env struct {
		Body struct {
			Fault *struct {
				Subcode string `xml:"Code>Subcode>Value"`
				Reason  string `xml:"Reason>Text"`
				Detail  struct {
					WSManFault struct {
						Code    string `xml:"Code,attr"`
						Message string `xml:"Message"`
					} `xml:"WSManFault"`
				} `xml:"Detail"`
			} `xml:"Fault"`
		} `xml:"Body"`
	}
	if xml.Unmarshal(raw, &env) != nil || env.Body.Fault == nil {
		return soapFault{}, false
	}
	f := env.Body.Fault
	reason := f.Reason
	if reason == "" {
		reason = f.Detail.WSManFault.Message
	}
	return soapFault{code: f.Detail.WSManFault.Code, reason: reason, subcode: f.Subcode}, true
}
