package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Name and Version identify the executor. The name is what jobs and the
// plugin manifest call it; bump the version with every release.
const (
	Name    = "http-check"
	Version = "0.1.0"
)

// Defaults and limits of the check action.
const (
	defaultExpectStatus = http.StatusOK
	defaultTimeout      = 10 * time.Second
	// maxDrain is how much of a response body is read (and thrown away)
	// so that the connection can be reused; the rest is not read.
	maxDrain = 64 << 10
	// dotEvery is how often sleep writes a dot.
	dotEvery = 100 * time.Millisecond
)

// The actions' parameter schemas (JSON Schema, draft 2020-12). jobgraph
// validates every task's parameters against them before the task is
// queued, and the SDK checks them again before Execute is called, so
// Execute never sees an unknown action or a parameter of the wrong type.
// The descriptions are what the console shows next to each field.
var (
	checkSchema = sdk.MustSchema(`{
		"type": "object",
		"properties": {
			"url": {
				"type": "string",
				"format": "uri",
				"pattern": "^https?://",
				"description": "The absolute http:// or https:// URL to GET, e.g. \"https://example.com/healthz\". Redirects are followed; the last response is the one checked."
			},
			"expect_status": {
				"type": "integer",
				"minimum": 100,
				"maximum": 599,
				"default": 200,
				"description": "The HTTP status code the check expects; any other fails it."
			},
			"timeout_ms": {
				"type": "integer",
				"minimum": 1,
				"maximum": 600000,
				"default": 10000,
				"description": "How long to wait for the response headers, in milliseconds. A check that gets no answer in time ends with an error that may be retried."
			}
		},
		"required": ["url"],
		"additionalProperties": false
	}`)
	sleepSchema = sdk.MustSchema(`{
		"type": "object",
		"properties": {
			"seconds": {
				"type": "number",
				"minimum": 0,
				"maximum": 86400,
				"description": "How long to sleep, in seconds (fractions allowed)."
			}
		},
		"required": ["seconds"],
		"additionalProperties": false
	}`)
)

// executor is the http-check executor. It is safe for concurrent use: the
// plugin process serves many tasks at once, each in its own Execute call.
type executor struct {
	client *http.Client
}

// The SDK calls Validate when an executor implements sdk.Validator.
var (
	_ sdk.Executor  = (*executor)(nil)
	_ sdk.Validator = (*executor)(nil)
)

func newExecutor() *executor {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // jobgraph starts plugins without its environment anyway
	return &executor{client: &http.Client{Transport: transport}}
}

// Describe implements sdk.Executor. It is called once per plugin start and
// must not have side effects.
func (e *executor) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name:        Name,
		Version:     Version,
		Description: "Checks that an HTTP endpoint answers with the expected status; an example of a third-party executor.",
		Actions: []sdk.Action{
			{
				Name:         "check",
				Description:  "GET a URL and succeed when the response has the expected status. The status line and the response headers are the task's output; the status code is exported as the output \"status_code\". A task credential of kind \"password\" is sent as basic authentication, one of kind \"token\" as a bearer token.",
				ParamsSchema: checkSchema,
			},
			{
				Name:         "sleep",
				Description:  "Write a dot every 100 ms for the given number of seconds; stops at once when cancelled.",
				ParamsSchema: sleepSchema,
			},
		},
	}, nil
}

// checkParams are the check action's parameters, as decoded from JSON.
type checkParams struct {
	URL          string `json:"url"`
	ExpectStatus int    `json:"expect_status"`
	TimeoutMS    int    `json:"timeout_ms"`
}

type sleepParams struct {
	Seconds float64 `json:"seconds"`
}

// Validate implements sdk.Validator: what the schema cannot say. jobgraph
// calls it before a run starts; Execute checks the same again, since a
// task may reach it without a Validate call.
func (e *executor) Validate(_ context.Context, req sdk.ValidateRequest) ([]sdk.FieldError, error) {
	if req.Action != "check" {
		return nil, nil // sleep: the schema says it all
	}
	var p checkParams
	if err := (sdk.Task{Action: req.Action, Params: req.Params}).DecodeParams(&p); err != nil {
		return []sdk.FieldError{{Message: err.Error()}}, nil
	}
	if _, err := parseURL(p.URL); err != nil {
		return []sdk.FieldError{{Field: "url", Message: err.Error()}}, nil
	}
	return nil, nil
}

// parseURL accepts absolute http and https URLs with a host.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL") // url's error repeats the URL, password included
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("the scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("the URL has no host")
	}
	return u, nil
}

// Execute implements sdk.Executor. A returned error means the task could
// not run (status Error, retried only when marked with sdk.Retryable); a
// task that ran and failed is a Result with status Failed.
func (e *executor) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	switch task.Action {
	case "check":
		p := checkParams{ExpectStatus: defaultExpectStatus, TimeoutMS: int(defaultTimeout / time.Millisecond)}
		if err := task.DecodeParams(&p); err != nil {
			return sdk.Result{}, err
		}
		u, err := parseURL(p.URL)
		if err != nil {
			return sdk.Result{}, fmt.Errorf("parameter url: %w", err)
		}
		return e.check(ctx, task, u, p, out)
	case "sleep":
		var p sleepParams
		if err := task.DecodeParams(&p); err != nil {
			return sdk.Result{}, err
		}
		return sleep(ctx, time.Duration(p.Seconds*float64(time.Second)), out)
	}
	// Not reached: the SDK refuses actions that Describe does not list.
	return sdk.Result{}, fmt.Errorf("%s has no action %q", Name, task.Action)
}

func (e *executor) check(ctx context.Context, task sdk.Task, u *url.URL, p checkParams, out sdk.Output) (sdk.Result, error) {
	timeout := time.Duration(p.TimeoutMS) * time.Millisecond
	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	req.Header.Set("User-Agent", Name+"/"+Version+" (jobgraph executor)")
	if c := task.Credential; c != nil {
		// The credential's bytes are secret: they go into the request and
		// nowhere else (never into the output, an error or a log line).
		switch c.Kind {
		case "password":
			req.SetBasicAuth(c.Username, string(c.Secret))
		case "token":
			req.Header.Set("Authorization", "Bearer "+string(c.Secret))
		default:
			return sdk.Result{}, fmt.Errorf("credential of kind %q: %s supports \"password\" and \"token\"", c.Kind, Name)
		}
	}

	resp, err := e.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil: // the task was cancelled or timed out
			return sdk.ContextResult(ctx), nil
		case reqCtx.Err() != nil:
			return sdk.Result{}, sdk.Retryable(fmt.Errorf("GET %s: no response within %s", u.Redacted(), timeout))
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL; net/http redacts its password, but say it once
		}
		return sdk.Result{}, sdk.Retryable(fmt.Errorf("GET %s: %w", u.Redacted(), err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))

	fmt.Fprintf(out.Stdout(), "%s %s\n", resp.Proto, resp.Status)
	for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
		for _, v := range resp.Header[k] {
			if k == "Set-Cookie" {
				v = "(redacted)" // session cookies do not belong in job logs
			}
			fmt.Fprintf(out.Stdout(), "%s: %s\n", k, v)
		}
	}
	out.SetOutput("status_code", strconv.Itoa(resp.StatusCode))
	if resp.StatusCode != p.ExpectStatus {
		return sdk.Result{
			Status: sdk.StatusFailed,
			Error:  fmt.Sprintf("GET %s: status %d, want %d", u.Redacted(), resp.StatusCode, p.ExpectStatus),
		}, nil
	}
	return sdk.Exited(0), nil
}

// sleep writes a dot every dotEvery until d has passed or ctx is done.
func sleep(ctx context.Context, d time.Duration, out sdk.Output) (sdk.Result, error) {
	// Say something at once: a console shows that the task started, and
	// sdktest's cancellation checks wait for a task's first output.
	fmt.Fprintf(out.Stdout(), "sleeping %s\n", d)
	end := time.NewTimer(d)
	defer end.Stop()
	tick := time.NewTicker(dotEvery)
	defer tick.Stop()
	start := time.Now()
	lastPercent := -1
	for {
		select {
		case <-ctx.Done():
			// Stop promptly, and say why: TimedOut or Canceled.
			_, _ = io.WriteString(out.Stdout(), "\n")
			return sdk.ContextResult(ctx), nil
		case <-end.C:
			_, _ = io.WriteString(out.Stdout(), "\ndone\n")
			out.Progress(100, "done")
			return sdk.Succeeded(), nil
		case <-tick.C:
			_, _ = io.WriteString(out.Stdout(), ".")
			if percent := int(100 * time.Since(start) / max(d, 1)); percent/10 != lastPercent/10 && percent < 100 {
				lastPercent = percent
				out.Progress(percent, "sleeping")
			}
		}
	}
}
