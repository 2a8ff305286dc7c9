package httpexec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
)

type testBundle struct {
	exec *Executor
	h    *sdktest.Harness
}

// setup serves a fresh http executor in process, over gRPC.
func setup(t *testing.T) testBundle {
	t.Helper()
	e := newExecutor()
	t.Cleanup(e.shared.CloseIdleConnections)
	return testBundle{exec: e, h: sdktest.InProcess(t, e)}
}

// newServer starts an HTTP test server that logs nothing, closed when the
// test ends (after the tasks the test started: cleanups run last first).
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// newTLSServer is newServer over TLS, with cfg (may be nil).
func newTLSServer(t *testing.T, h http.Handler, cfg *tls.Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// caPEM is the PEM of the test server's certificate, which is its own CA.
func caPEM(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func params(t *testing.T, v any) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return raw
}

func reqTask(t *testing.T, p map[string]any) sdk.Task {
	return sdk.Task{Action: actionRequest, Params: params(t, p)}
}

// everything is all a run produced, for secret checks.
func everything(run sdktest.Run) string {
	var b strings.Builder
	b.WriteString(run.StdoutText() + "\n" + run.StderrText() + "\n" + run.Result.Error)
	for k, v := range run.Outputs() {
		b.WriteString("\n" + k + "=" + v)
	}
	if run.Err != nil {
		b.WriteString("\n" + run.Err.Error())
	}
	return b.String()
}

// slowHandler writes a line every 10 ms until the client goes away.
func slowHandler(w http.ResponseWriter, r *http.Request) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/slow", slowHandler)
	srv := newServer(t, mux)
	b := setup(t)
	sdktest.Conformance(t, b.h, sdktest.Suite{
		Quick: reqTask(t, map[string]any{"url": srv.URL + "/ok"}),
		Slow:  reqTask(t, map[string]any{"url": srv.URL + "/slow"}),
		Invalid: []sdk.Task{
			reqTask(t, map[string]any{"url": "http://"}),
			reqTask(t, map[string]any{"url": srv.URL, "body_regex": "("}),
			reqTask(t, map[string]any{"url": srv.URL, "json_path": "a.b"}),
			reqTask(t, map[string]any{"url": srv.URL, "ca_pem": "not a certificate"}),
			reqTask(t, map[string]any{"url": srv.URL, "body": "x", "json": map[string]any{"a": 1}}),
			reqTask(t, map[string]any{"url": srv.URL, "client_cert": "x"}),
			reqTask(t, map[string]any{"url": srv.URL, "extract": map[string]any{"1bad": "$.a"}}),
		},
		SlowTimeout: 300 * time.Millisecond,
	})
}

func TestValidate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tt := range []struct {
		params map[string]any
		field  string
	}{
		{map[string]any{"url": "ftp://example.com/"}, "url"},
		{map[string]any{"url": "http://"}, "url"},
		{map[string]any{"url": "http://example.com:99999/"}, "url"},
		{map[string]any{"url": "http://example.com/", "method": "FETCH"}, "method"},
		{map[string]any{"url": "http://example.com/", "method": "HEAD", "body": "x"}, "method"},
		{map[string]any{"url": "http://example.com/", "body_regex": "(unclosed"}, "body_regex"},
		{map[string]any{"url": "http://example.com/", "json_path": "$..a"}, "json_path"},
		{map[string]any{"url": "http://example.com/", "json_path": "$.a[*]"}, "json_path"},
		{map[string]any{"url": "http://example.com/", "json_equals": 1}, "json_equals"},
		{map[string]any{"url": "http://example.com/", "extract": map[string]any{"x": "a"}}, "extract.x"},
		{map[string]any{"url": "http://example.com/", "extract": map[string]any{"status_code": "$.a"}}, "extract.status_code"},
		{map[string]any{"url": "http://example.com/", "ca_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "ca_pem"},
		{map[string]any{"url": "http://example.com/", "ca_pem": "nothing"}, "ca_pem"},
		{map[string]any{"url": "http://example.com/", "client_key": "k"}, "client_cert"},
		{map[string]any{"url": "http://example.com/", "body": "x", "json": "y"}, "json"},
		{map[string]any{"url": "http://example.com/", "headers": map[string]any{"bad name": "x"}}, "headers.bad name"},
		{map[string]any{"url": "http://example.com/", "headers": map[string]any{"X-A": "a\r\nX-B: b"}}, "headers.X-A"},
		{map[string]any{"url": "http://example.com/", "expect_status": []any{"6xx"}}, "expect_status.0"},
	} {
		errs := b.h.Validate(t, sdk.ValidateRequest{Action: actionRequest, Params: params(t, tt.params)})
		require.NotEmpty(t, errs, "%v", tt.params)
		require.Equal(t, tt.field, errs[0].Field, "%v: %v", tt.params, errs)
	}
	ok := b.h.Validate(t, sdk.ValidateRequest{Action: actionRequest, Params: params(t, map[string]any{
		"url": "https://example.com/a?b=c", "method": "POST", "json": map[string]any{"a": []int{1}},
		"headers": map[string]any{"X-Trace": "1"}, "query": map[string]any{"n": 3, "tags": []any{"a", true}},
		"expect_status": []any{200, "3xx"}, "body_regex": `^\{`, "json_path": "$.items[-1]['last-state']",
		"json_equals": nil, "extract": map[string]any{"state": "$.state"},
		"retry": map[string]any{"max_attempts": 3, "backoff_ms": 10, "on_status": []int{503}},
	})})
	require.Empty(t, ok)
}

func TestRequestIsSentAsAsked(t *testing.T) {
	t.Parallel()
	type seen struct {
		Method, Path, Query, ContentType, Trace, Host, UserAgent, Body string
	}
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("X-Trace"), r.Host, r.UserAgent(), string(body)})
	}))
	b := setup(t)

	run := b.h.Execute(t, reqTask(t, map[string]any{
		"method": "POST", "url": srv.URL + "/deploy?env=prod",
		"headers": map[string]any{"X-Trace": "abc", "Host": "api.example.com"},
		"query":   map[string]any{"n": 3, "tag": []any{"a", "b"}},
		"json":    map[string]any{"version": "1.2.3"},
	}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	var got seen
	require.NoError(t, json.Unmarshal([]byte(run.StdoutText()), &got))
	require.Equal(t, seen{
		Method: "POST", Path: "/deploy", Query: "env=prod&n=3&tag=a&tag=b", ContentType: "application/json",
		Trace: "abc", Host: "api.example.com", UserAgent: "jobgraph-http/" + Version, Body: `{"version":"1.2.3"}`,
	}, got)
	require.Equal(t, "200", run.Outputs()["status_code"])
	require.Contains(t, run.StderrText(), "> POST "+srv.URL+"/deploy?env=prod&n=3&tag=a&tag=b\n")
	require.Contains(t, run.StderrText(), "< HTTP/1.1 200 OK\n")

	run = b.h.Execute(t, reqTask(t, map[string]any{
		"method": "PUT", "url": srv.URL, "body": "plain", "headers": map[string]any{"Content-Type": "text/plain"},
	}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.NoError(t, json.Unmarshal([]byte(run.StdoutText()), &got))
	require.Equal(t, "PUT", got.Method)
	require.Equal(t, "plain", got.Body)
	require.Equal(t, "text/plain", got.ContentType)
}

func TestHTTPS(t *testing.T) {
	t.Parallel()
	srv := newTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secure\n") }), nil)
	b := setup(t)

	run := b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "ca_pem": caPEM(srv)}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "secure\n", run.StdoutText())
	require.NotContains(t, run.StderrText(), "warning")

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "certificate")
	require.False(t, run.Result.Retryable, "an untrusted certificate stays untrusted")

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "insecure_skip_verify": true}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Contains(t, run.StderrText(), "warning: insecure_skip_verify")

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "insecure_skip_verify": false}))
	run.RequireStatus(t, sdk.StatusError)

	// http:// to a TLS server, https:// to a plain one.
	run = b.h.Execute(t, reqTask(t, map[string]any{"url": strings.Replace(srv.URL, "https://", "http://", 1)}))
	run.RequireStatus(t, sdk.StatusFailed) // Go's TLS server answers plain HTTP with a 400
	plain := newServer(t, http.NotFoundHandler())
	run = b.h.Execute(t, reqTask(t, map[string]any{"url": strings.Replace(plain.URL, "http://", "https://", 1)}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "server gave HTTP response to HTTPS client")
}

// clientCert returns a self-signed client certificate and its key, in PEM,
// and a pool that trusts it.
func clientCert(t *testing.T) (certPEM, keyPEM string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jobgraph-test-client"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), pool
}

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM, pool := clientCert(t)
	srv := newTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.TLS.PeerCertificates[0].Subject.CommonName)
		_, _ = io.WriteString(w, keyPEM) // a careless server echoing the key
	}), &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	b := setup(t)

	run := b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "ca_pem": caPEM(srv), "client_cert": certPEM, "client_key": keyPEM}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Contains(t, run.StdoutText(), "hello jobgraph-test-client\n")
	all := everything(run)
	require.NotContains(t, all, keyPEM)
	for _, line := range strings.Split(strings.TrimSpace(keyPEM), "\n") {
		if !strings.HasPrefix(line, "-----") {
			require.NotContains(t, all, line, "a line of the client key")
		}
	}

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "ca_pem": caPEM(srv)}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "certificate")
}

func TestCredentialsAreSentAndNeverShown(t *testing.T) {
	t.Parallel()
	var gotAuth atomic.Value
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		gotAuth.Store(auth)
		user, pass, _ := r.BasicAuth()
		token := strings.TrimPrefix(auth, "Bearer ")
		// Echo everything back, in headers and body.
		w.Header().Set("X-Echo-Auth", auth)
		w.Header().Set("X-Plain", "token="+token+" pass="+pass)
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "sess-" + token})
		_ = json.NewEncoder(w).Encode(map[string]string{"auth": auth, "token": token, "user": user, "pass": pass})
	}))
	b := setup(t)

	token := "tok-" + rand.Text()
	task := reqTask(t, map[string]any{"url": srv.URL, "extract": map[string]any{"echoed": "$.auth", "token": "$.token"}})
	task.Credential = &sdk.Credential{Kind: "token", Secret: []byte(token)}
	run := b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "Bearer "+token, gotAuth.Load())
	require.NotContains(t, everything(run), token)
	require.Equal(t, "Bearer "+redacted, run.Outputs()["echoed"])
	require.Contains(t, run.StderrText(), "< Set-Cookie: "+redacted+"\n")
	require.Contains(t, run.StderrText(), "< X-Echo-Auth: "+redacted+"\n")

	// A failure message quoting the echoed token is redacted too.
	task = reqTask(t, map[string]any{"url": srv.URL, "json_path": "$.token", "json_equals": "something else"})
	task.Credential = &sdk.Credential{Kind: "token", Secret: []byte(token)}
	run = b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusFailed)
	require.Contains(t, run.Result.Error, `json_path $.token is "`+redacted+`", expected "something else"`)
	require.NotContains(t, everything(run), token)

	password := "pw-" + rand.Text()
	task = reqTask(t, map[string]any{"url": srv.URL, "extract": map[string]any{"pass": "$.pass"}})
	task.Credential = &sdk.Credential{Kind: "password", Username: "deployer", Secret: []byte(password)}
	run = b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "Basic "+basicAuth("deployer", password), gotAuth.Load())
	all := everything(run)
	require.NotContains(t, all, password)
	require.NotContains(t, all, basicAuth("deployer", password))
	require.Equal(t, redacted, run.Outputs()["pass"])
	require.Contains(t, run.StdoutText(), `"user":"deployer"`)

	// A secret header of the parameters is redacted from the echo too.
	apiKey := "key-" + rand.Text()
	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "headers": map[string]any{"Authorization": "Bearer " + apiKey}}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "Bearer "+apiKey, gotAuth.Load())
	require.NotContains(t, everything(run), apiKey)

	// A credential the executor cannot use.
	task = reqTask(t, map[string]any{"url": srv.URL})
	task.Credential = &sdk.Credential{Kind: "ssh_key", Secret: []byte(token)}
	run = b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, `kind "ssh_key"`)
}

func basicAuth(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestURLSecretsAreNotShown(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, _ := r.BasicAuth()
		fmt.Fprintf(w, "pass=%s query=%s\n", pass, r.URL.RawQuery)
	}))
	b := setup(t)
	u := strings.Replace(srv.URL, "http://", "http://bob:hunter2hunter2@", 1) + "/?api_key=k3y-s3cr3t-value&page=2"
	run := b.h.Execute(t, reqTask(t, map[string]any{"url": u, "expect_status": []any{500}}))
	run.RequireStatus(t, sdk.StatusFailed)
	require.Contains(t, run.StdoutText(), "pass="+redacted)
	all := everything(run)
	require.NotContains(t, all, "hunter2hunter2")
	require.Contains(t, run.StderrText(), "bob:xxxxx@")
	require.Contains(t, run.StderrText(), "page=2")
	require.NotContains(t, run.StderrText(), "k3y-s3cr3t-value") // the server's echo on stdout is its own business
	require.Equal(t, "status 200, expected 500", run.Result.Error)
}

func TestRetriesOnStatus(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if attempts.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	}))
	b := setup(t)
	run := b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "retry": map[string]any{"max_attempts": 5, "backoff_ms": 1}}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.EqualValues(t, 3, attempts.Load())
	require.Equal(t, "ready\n", run.StdoutText(), "only the last attempt's body is the output")
	require.Contains(t, run.StderrText(), "* attempt 3\n")
	require.Equal(t, "200", run.Outputs()["status_code"])

	// Out of attempts: the last response decides.
	attempts.Store(0)
	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "retry": map[string]any{"max_attempts": 2, "backoff_ms": 1}}))
	run.RequireStatus(t, sdk.StatusFailed)
	require.Equal(t, "status 503, expected 2xx", run.Result.Error)
	require.EqualValues(t, 2, attempts.Load())
	require.Equal(t, "503", run.Outputs()["status_code"])

	// A status not in on_status is not retried; by default nothing is.
	attempts.Store(0)
	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "retry": map[string]any{"max_attempts": 3, "on_status": []int{500}}}))
	run.RequireStatus(t, sdk.StatusFailed)
	require.EqualValues(t, 1, attempts.Load())
	attempts.Store(0)
	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL}))
	run.RequireStatus(t, sdk.StatusFailed)
	require.EqualValues(t, 1, attempts.Load())
}

func TestRetryBackoffHonoursCancel(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	served := make(chan struct{}, 1)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		attempts.Add(1)
		w.WriteHeader(http.StatusBadGateway)
		select {
		case served <- struct{}{}:
		default:
		}
	}))
	b := setup(t)
	// The backoff is an hour: only the cancel can end the task in time.
	x := b.h.Start(t, reqTask(t, map[string]any{"url": srv.URL, "retry": map[string]any{"max_attempts": 3, "backoff_ms": 300000}}))
	select {
	case <-served:
	case <-time.After(b.h.Timeout):
		t.Fatal("no request reached the server")
	}
	x.Cancel()
	select {
	case <-x.Done():
	case <-time.After(b.h.CancelGrace):
		t.Fatal("the task did not end after its cancel")
	}
	run := x.Wait(t)
	if run.Err == nil {
		run.RequireStatus(t, sdk.StatusCanceled)
	}
	require.EqualValues(t, 1, attempts.Load())
}

func TestCriteria(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"state": "up", "count": 3, "items": [{"id": "a"}, {"id": "b", "last-state": "ok"}], "none": null}`)
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "status page\n")
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/json", http.StatusMovedPermanently)
	})
	srv := newServer(t, mux)
	b := setup(t)
	for _, tt := range []struct {
		name   string
		params map[string]any
		status sdk.Status
		reason string
	}{
		{"2xx by default", map[string]any{"url": srv.URL + "/status/204"}, sdk.StatusSucceeded, ""},
		{"500 fails", map[string]any{"url": srv.URL + "/status/500"}, sdk.StatusFailed, "status 500, expected 2xx"},
		{"404 expected", map[string]any{"url": srv.URL + "/status/404", "expect_status": []any{404}}, sdk.StatusSucceeded, ""},
		{"list", map[string]any{"url": srv.URL + "/status/418", "expect_status": []any{200, "3xx"}}, sdk.StatusFailed, "status 418, expected 200, 3xx"},
		{"redirect followed", map[string]any{"url": srv.URL + "/moved", "json_path": "$.state"}, sdk.StatusSucceeded, ""},
		{"redirect not followed", map[string]any{"url": srv.URL + "/moved", "follow_redirects": false}, sdk.StatusFailed, "status 301, expected 2xx"},
		{"redirect expected", map[string]any{"url": srv.URL + "/moved", "follow_redirects": false, "expect_status": []any{"3xx"}}, sdk.StatusSucceeded, ""},
		{"regex matches", map[string]any{"url": srv.URL + "/json", "body_regex": `"state":\s*"up"`}, sdk.StatusSucceeded, ""},
		{"regex does not match", map[string]any{"url": srv.URL + "/json", "body_regex": `"state":\s*"down"`}, sdk.StatusFailed, `body does not match "\"state\":\\s*\"down\""`},
		{"path exists", map[string]any{"url": srv.URL + "/json", "json_path": "$.items[1]['last-state']"}, sdk.StatusSucceeded, ""},
		{"null exists", map[string]any{"url": srv.URL + "/json", "json_path": "$.none", "json_equals": nil}, sdk.StatusSucceeded, ""},
		{"path missing", map[string]any{"url": srv.URL + "/json", "json_path": "$.items[2].id"}, sdk.StatusFailed, "json_path $.items[2].id: not found in the body"},
		{"equals", map[string]any{"url": srv.URL + "/json", "json_path": "$.state", "json_equals": "up"}, sdk.StatusSucceeded, ""},
		{"equals number", map[string]any{"url": srv.URL + "/json", "json_path": "$.count", "json_equals": 3.0}, sdk.StatusSucceeded, ""},
		{"equals object", map[string]any{"url": srv.URL + "/json", "json_path": "$.items[0]", "json_equals": map[string]any{"id": "a"}}, sdk.StatusSucceeded, ""},
		{"not equal", map[string]any{"url": srv.URL + "/json", "json_path": "$.state", "json_equals": "down"}, sdk.StatusFailed, `json_path $.state is "up", expected "down"`},
		{"not JSON", map[string]any{"url": srv.URL + "/status/200", "json_path": "$.state"}, sdk.StatusFailed, "body is not JSON"},
		{"status before body", map[string]any{"url": srv.URL + "/status/500", "body_regex": "status page"}, sdk.StatusFailed, "status 500, expected 2xx"},
		{"HEAD", map[string]any{"url": srv.URL + "/json", "method": "HEAD"}, sdk.StatusSucceeded, ""},
	} {
		run := b.h.Execute(t, reqTask(t, tt.params))
		if run.Err != nil || run.Result.Status != tt.status {
			t.Fatalf("%s: want %s, got %s", tt.name, tt.status, run)
		}
		if tt.reason != "" {
			require.Contains(t, run.Result.Error, tt.reason, tt.name)
		}
		require.NotEmpty(t, run.Outputs()["status_code"], tt.name)
	}
}

func TestExtract(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"id": "dep-42", "count": 3, "ok": true, "items": [{"n": 1}, {"n": 2}], "none": null}`)
	}))
	b := setup(t)
	run := b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "extract": map[string]any{
		"id": "$.id", "count": "$.count", "ok": "$['ok']", "last": "$.items[-1]", "none": "$.none",
	}}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, map[string]string{
		"status_code": "200", "id": "dep-42", "count": "3", "ok": "true", "last": `{"n":2}`, "none": "null",
	}, run.Outputs())

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "extract": map[string]any{"id": "$.id", "gone": "$.missing"}}))
	run.RequireStatus(t, sdk.StatusFailed)
	require.Equal(t, "extract gone: $.missing not found in the body", run.Result.Error)
}

func TestBodyStreamsAsItArrives(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second\n")
	}))
	b := setup(t)
	x := b.h.Start(t, reqTask(t, map[string]any{"url": srv.URL}))
	// The handler cannot end before the test releases it, so the first
	// line arriving proves it was streamed, not buffered.
	x.WaitStdout(t, "first\n")
	select {
	case <-x.Done():
		t.Fatal("the task ended before the server finished")
	default:
	}
	require.Contains(t, x.StderrText(), "< HTTP/1.1 200 OK\n")
	close(release)
	run := x.Wait(t)
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "first\nsecond\n", run.StdoutText())
}

func TestMaxBodyBytes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("a", 100<<10)+"END")
	}))
	b := setup(t)

	run := b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "max_body_bytes": 1000}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, strings.Repeat("a", 1000), run.StdoutText())
	require.Contains(t, run.StderrText(), "…truncated")

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "max_body_bytes": 1000, "body_regex": "END"}))
	run.RequireStatus(t, sdk.StatusFailed)
	require.Contains(t, run.Result.Error, "in the first 1000 bytes of the body")

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL, "max_body_bytes": 0}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Empty(t, run.StdoutText())
	require.Contains(t, run.StderrText(), "…truncated")

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Len(t, run.StdoutText(), 100<<10+3)
	require.NotContains(t, run.StderrText(), "truncated")
}

func TestNetworkErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	run := b.h.Execute(t, reqTask(t, map[string]any{"url": "http://" + addr + "/"}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "connection refused")
	require.True(t, run.Result.Retryable)
	require.Less(t, run.Duration, 5*time.Second)

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": "http://nonexistent.invalid/health"}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, `GET http://nonexistent.invalid/health: cannot resolve "nonexistent.invalid"`)
	require.Less(t, run.Duration, 10*time.Second)
}

func TestServerClosesMidBody(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "0123456789")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection, quietly
	}))
	b := setup(t)
	run := b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "the response body was cut after 10 bytes: the server closed the connection")
	require.True(t, run.Result.Retryable)
	require.Equal(t, "0123456789", run.StdoutText())
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	b := setup(t)

	run := b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL + "/headers", "timeout_ms": 100}))
	run.RequireStatus(t, sdk.StatusTimedOut)
	require.Contains(t, run.Result.Error, "no response within timeout_ms (100ms)")
	require.True(t, run.Result.Retryable)

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL + "/body", "timeout_ms": 100}))
	run.RequireStatus(t, sdk.StatusTimedOut)
	require.Contains(t, run.Result.Error, "the response body was cut after 7 bytes within timeout_ms (100ms)")

	// The task's own timeout.
	task := reqTask(t, map[string]any{"url": srv.URL + "/headers"})
	task.Timeout = 100 * time.Millisecond
	run = b.h.Execute(t, task)
	run.RequireStatus(t, sdk.StatusTimedOut)
}

func TestRedirectLimit(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if n > 0 {
			http.Redirect(w, r, "/"+strconv.Itoa(n-1), http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "arrived\n")
	}))
	b := setup(t)
	run := b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL + "/10"}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, "arrived\n", run.StdoutText())
	require.Equal(t, 11, strings.Count(run.StderrText(), "> GET "))

	run = b.h.Execute(t, reqTask(t, map[string]any{"url": srv.URL + "/11"}))
	run.RequireStatus(t, sdk.StatusError)
	require.Contains(t, run.Result.Error, "stopped after 10 redirects")
}
