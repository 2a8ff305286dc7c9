package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
)

// okServer answers every request with 200 and a header.
func okServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Example", "yes")
		switch r.URL.Path {
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/login":
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "s3cr3t-session"})
		}
		_, _ = fmt.Fprintln(w, "body")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// suite is what the conformance kit needs: a quick task and one that runs
// until cancelled. The same suite runs against the built binary in
// jobgraph's own tests (plugins/sdk/sdktest/examples_test).
func suite(url string) sdktest.Suite {
	return sdktest.Suite{
		Quick: sdk.Task{Action: "check", Params: json.RawMessage(fmt.Sprintf(`{"url": %q, "expect_status": 200}`, url))},
		Slow:  sdk.Task{Action: "sleep", Params: json.RawMessage(`{"seconds": 3600}`)},
		Invalid: []sdk.Task{
			{Action: "check", Params: json.RawMessage(`{"url": "http://"}`)},
		},
		SlowTimeout: 300 * time.Millisecond,
	}
}

// TestConformance serves the executor in process, over gRPC: the test an
// executor's authors run on every change.
func TestConformance(t *testing.T) {
	t.Parallel()
	sdktest.Conformance(t, sdktest.InProcess(t, newExecutor()), suite(okServer(t).URL))
}

func TestCheck(t *testing.T) {
	t.Parallel()
	srv := okServer(t)
	h := sdktest.InProcess(t, newExecutor())

	run := h.Execute(t, sdk.Task{Action: "check", Params: json.RawMessage(fmt.Sprintf(`{"url": %q}`, srv.URL))})
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Contains(t, run.StdoutText(), "HTTP/1.1 200 OK\n")
	require.Contains(t, run.StdoutText(), "X-Example: yes\n")
	require.Equal(t, map[string]string{"status_code": "200"}, run.Outputs())

	run = h.Execute(t, sdk.Task{Action: "check", Params: json.RawMessage(fmt.Sprintf(`{"url": %q}`, srv.URL+"/down"))})
	run.RequireStatus(t, sdk.StatusFailed)
	require.Contains(t, run.StdoutText(), "HTTP/1.1 503 Service Unavailable\n")
	require.Contains(t, run.Result.Error, "status 503, want 200")

	run = h.Execute(t, sdk.Task{Action: "check", Params: json.RawMessage(fmt.Sprintf(`{"url": %q, "expect_status": 503}`, srv.URL+"/down"))})
	run.RequireStatus(t, sdk.StatusSucceeded)

	run = h.Execute(t, sdk.Task{Action: "check", Params: json.RawMessage(fmt.Sprintf(`{"url": %q}`, srv.URL+"/login"))})
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Contains(t, run.StdoutText(), "Set-Cookie: (redacted)\n")
	require.NotContains(t, run.StdoutText(), "s3cr3t-session")
}

func TestCheckCredential(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "ops" || pass != "hunter2-long" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	h := sdktest.InProcess(t, newExecutor())
	task := sdk.Task{
		Action:     "check",
		Params:     json.RawMessage(fmt.Sprintf(`{"url": %q}`, srv.URL)),
		Credential: &sdk.Credential{Kind: "password", Username: "ops", Secret: []byte("hunter2-long")},
	}
	h.Execute(t, task).RequireStatus(t, sdk.StatusSucceeded)
	task.Credential = nil
	h.Execute(t, task).RequireStatus(t, sdk.StatusFailed)
}

func TestCheckUnreachableIsRetryable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	h := sdktest.InProcess(t, newExecutor())
	run := h.Execute(t, sdk.Task{Action: "check", Params: json.RawMessage(`{"url": "http://user:pa55word@` + addr + `/"}`)})
	run.RequireStatus(t, sdk.StatusError)
	require.True(t, run.Result.Retryable, "a refused connection may work next time: %s", run)
	require.NotContains(t, run.Result.Error, "pa55word", "the URL's password is redacted")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, newExecutor())
	errs := h.Validate(t, sdk.ValidateRequest{Action: "check", Params: json.RawMessage(`{"url": "ftp://example.com/"}`)})
	require.Equal(t, []sdk.FieldError{{Field: "url", Message: `the scheme must be http or https, not "ftp"`}}, errs)
	require.Empty(t, h.Validate(t, sdk.ValidateRequest{Action: "check", Params: json.RawMessage(`{"url": "https://example.com/healthz"}`)}))
}

func TestSleep(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, newExecutor())
	run := h.Execute(t, sdk.Task{Action: "sleep", Params: json.RawMessage(`{"seconds": 0.35}`)})
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Regexp(t, `^sleeping 350ms\n\.{2,4}\ndone\n$`, run.StdoutText())
}
