package httpexec

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Defaults and limits of the request action's parameters.
const (
	defaultMethod       = http.MethodGet
	defaultTimeout      = 30 * time.Second
	defaultMaxBodyBytes = 1 << 20
	defaultBackoff      = 500 * time.Millisecond
	// maxRedirects is how many redirects follow_redirects follows.
	maxRedirects = 10
	// maxBackoff caps the doubling wait between attempts.
	maxBackoff = 5 * time.Minute
)

// defaultRetryOn is retry.on_status when unset.
var defaultRetryOn = []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// methods are the methods the schema's enum allows.
var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// requestSchema is the request action's parameters. The descriptions are
// what the console shows next to each field.
var requestSchema = sdk.MustSchema(`{
	"type": "object",
	"description": "One HTTP request and the checks its response must pass. Values arrive already rendered by jobgraph: there is no templating here.",
	"properties": {
		"method": {
			"type": "string",
			"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
			"default": "GET",
			"description": "The HTTP method."
		},
		"url": {
			"type": "string",
			"format": "uri",
			"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
			"description": "The absolute http:// or https:// URL, e.g. \"https://api.example.com/v1/deploy\". A user:password@ in it is sent as basic authentication, and the password is redacted."
		},
		"headers": {
			"type": "object",
			"additionalProperties": {"type": "string"},
			"description": "Request headers, by name, e.g. {\"Accept\": \"application/json\"}. The task's credential, when it has one, replaces Authorization. Values of headers whose names look secret (Authorization, Cookie, *token*, *key*, *secret*, *password*) are redacted from the output."
		},
		"query": {
			"type": "object",
			"additionalProperties": {
				"anyOf": [
					{"type": ["string", "number", "boolean"]},
					{"type": "array", "items": {"type": ["string", "number", "boolean"]}}
				]
			},
			"description": "Query parameters added to those of the URL, by name: a value, or a list of values for a repeated parameter. They are URL-encoded here."
		},
		"body": {
			"type": "string",
			"description": "The request body, sent as is. Set Content-Type in headers. Not with json."
		},
		"json": {
			"description": "A JSON value sent as the request body, with Content-Type: application/json unless headers say otherwise. Not with body."
		},
		"timeout_ms": {
			"type": "integer",
			"minimum": 1,
			"maximum": 86400000,
			"default": 30000,
			"description": "How long one attempt may take, from connecting to the end of the response body, in milliseconds. When it passes the task ends timed out (retryable)."
		},
		"follow_redirects": {
			"type": "boolean",
			"default": true,
			"description": "Follow redirects (at most 10); the last response is the one checked. When false, a redirect is the response."
		},
		"ca_pem": {
			"type": "string",
			"description": "PEM certificates of the CAs to trust for https, instead of the system's."
		},
		"client_cert": {
			"type": "string",
			"description": "A PEM client certificate (and its chain) for mutual TLS; needs client_key."
		},
		"client_key": {
			"type": "string",
			"description": "The PEM private key of client_cert. Secret: it is redacted everywhere."
		},
		"insecure_skip_verify": {
			"type": "boolean",
			"default": false,
			"description": "Do not verify the server's certificate (and name). Dangerous: anyone on the path can read and change the traffic. A warning is written on every run."
		},
		"retry": {
			"type": "object",
			"description": "Try again when the response has one of some statuses. Network errors are not retried here: they end the task with an error the step's retry policy can retry.",
			"properties": {
				"on_status": {
					"type": "array",
					"items": {"type": "integer", "minimum": 100, "maximum": 599},
					"default": [502, 503, 504],
					"description": "The statuses that are tried again."
				},
				"max_attempts": {
					"type": "integer",
					"minimum": 1,
					"maximum": 100,
					"default": 1,
					"description": "How many attempts in all, the first included; 1 means no retry."
				},
				"backoff_ms": {
					"type": "integer",
					"minimum": 0,
					"maximum": 300000,
					"default": 500,
					"description": "The wait before the second attempt, in milliseconds; it doubles before each next one, up to 5 minutes."
				}
			},
			"additionalProperties": false
		},
		"expect_status": {
			"type": "array",
			"minItems": 1,
			"items": {
				"anyOf": [
					{"type": "integer", "minimum": 100, "maximum": 599},
					{"type": "string", "pattern": "^[1-5]xx$"}
				]
			},
			"default": ["2xx"],
			"description": "The statuses that count as success: codes such as 200 and classes such as \"2xx\". Any other fails the task."
		},
		"body_regex": {
			"type": "string",
			"description": "A regular expression (Go RE2 syntax) that must match somewhere in the response body (up to max_body_bytes), e.g. \"\\\"status\\\":\\\\s*\\\"ok\\\"\"."
		},
		"json_path": {
			"type": "string",
			"description": "A JSONPath into the JSON response body that must exist, e.g. \"$.data.items[0].state\". Supported: $, .name, ['name'], [index] (negative from the end)."
		},
		"json_equals": {
			"description": "The JSON value that json_path must equal, e.g. \"ready\" or 3 or {\"a\": true}. Needs json_path."
		},
		"extract": {
			"type": "object",
			"additionalProperties": {"type": "string"},
			"description": "Outputs to export, as {output name: JSONPath into the JSON response body}. Strings are exported as they are, other values as compact JSON. A path not found fails the task. Names are letters, digits and _, not starting with a digit; status_code is taken."
		},
		"max_body_bytes": {
			"type": "integer",
			"minimum": 0,
			"maximum": 67108864,
			"default": 1048576,
			"description": "How many bytes of the response body are read, streamed to stdout and checked; the rest is not read (a note on stderr says so)."
		}
	},
	"required": ["url"],
	"additionalProperties": false
}`)

// requestParams are the request action's parameters as decoded.
type requestParams struct {
	Method             string                     `json:"method"`
	URL                string                     `json:"url"`
	Headers            map[string]string          `json:"headers"`
	Query              map[string]json.RawMessage `json:"query"`
	Body               *string                    `json:"body"`
	JSON               json.RawMessage            `json:"json"`
	TimeoutMS          *int64                     `json:"timeout_ms"`
	FollowRedirects    *bool                      `json:"follow_redirects"`
	CAPEM              string                     `json:"ca_pem"`
	ClientCert         string                     `json:"client_cert"`
	ClientKey          string                     `json:"client_key"`
	InsecureSkipVerify bool                       `json:"insecure_skip_verify"`
	Retry              *struct {
		OnStatus    []int  `json:"on_status"`
		MaxAttempts *int   `json:"max_attempts"`
		BackoffMS   *int64 `json:"backoff_ms"`
	} `json:"retry"`
	ExpectStatus []json.RawMessage `json:"expect_status"`
	BodyRegex    *string           `json:"body_regex"`
	JSONPath     *string           `json:"json_path"`
	JSONEquals   json.RawMessage   `json:"json_equals"`
	Extract      map[string]string `json:"extract"`
	MaxBodyBytes *int64            `json:"max_body_bytes"`
}

// request is a task's parameters, checked and ready to use.
type request struct {
	method  string
	url     *url.URL
	headers http.Header
	host    string // a Host header, which net/http takes from Request.Host
	body    []byte // nil: no body
	hasBody bool

	timeout         time.Duration
	followRedirects bool

	tls *tls.Config // nil: the shared transport

	insecure    bool
	retryOn     []int
	maxAttempts int
	backoff     time.Duration

	expect       []statusMatch
	bodyRegex    *regexp.Regexp
	jsonPath     *jsonPath
	jsonPathText string
	jsonEquals   any // set when hasEquals
	hasEquals    bool
	extract      []extraction

	maxBodyBytes int64

	// secrets are values of the parameters to redact (client_key, the URL's
	// password, secret-looking header values), besides the credential's.
	secrets [][]byte
}

type extraction struct {
	name     string
	path     *jsonPath
	pathText string
}

// statusMatch is one entry of expect_status: a code, or a class (2 for
// "2xx").
type statusMatch struct {
	code  int
	class int
}

func (m statusMatch) matches(code int) bool {
	if m.class != 0 {
		return code/100 == m.class
	}
	return code == m.code
}

func (m statusMatch) String() string {
	if m.class != 0 {
		return strconv.Itoa(m.class) + "xx"
	}
	return strconv.Itoa(m.code)
}

// outputName is what extract accepts as an output name.
var outputName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parse checks a request action's parameters beyond the schema (which the
// SDK has already applied) and returns the request, or the problems found,
// each naming its field.
func parse(params json.RawMessage) (*request, []sdk.FieldError) {
	var p requestParams
	if err := (sdk.Task{Action: actionRequest, Params: params}).DecodeParams(&p); err != nil {
		return nil, []sdk.FieldError{{Message: err.Error()}}
	}
	var problems []sdk.FieldError
	bad := func(field, format string, args ...any) {
		problems = append(problems, sdk.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	r := &request{
		method:          defaultMethod,
		headers:         http.Header{},
		timeout:         defaultTimeout,
		followRedirects: true,
		retryOn:         defaultRetryOn,
		maxAttempts:     1,
		backoff:         defaultBackoff,
		expect:          []statusMatch{{class: 2}},
		maxBodyBytes:    defaultMaxBodyBytes,
	}

	if p.Method != "" {
		if !slices.Contains(methods, p.Method) {
			bad("method", "%q is not one of %s", p.Method, strings.Join(methods, ", "))
		}
		r.method = p.Method
	}

	u, err := parseURL(p.URL)
	if err != nil {
		bad("url", "%v", err)
	} else {
		if pw, ok := u.User.Password(); ok {
			r.secrets = append(r.secrets, []byte(pw))
		}
		q := u.Query()
		for _, k := range slices.Sorted(maps.Keys(p.Query)) {
			vals, err := queryValues(p.Query[k])
			if err != nil {
				bad("query."+k, "%v", err)
				continue
			}
			for _, v := range vals {
				q.Add(k, v)
			}
		}
		if len(p.Query) > 0 {
			u.RawQuery = q.Encode()
		}
		r.url = u
	}

	for _, k := range slices.Sorted(maps.Keys(p.Headers)) {
		v := p.Headers[k]
		switch {
		case !validHeaderName(k):
			bad("headers."+k, "%q is not a valid header name", k)
			continue
		case strings.ContainsAny(v, "\r\n\x00"):
			bad("headers."+k, "the value contains a line break or a NUL")
			continue
		}
		if secretName(k) && len(v) > 0 {
			r.secrets = append(r.secrets, []byte(v))
			// "Bearer xyz", "Basic xyz": the credential part alone too.
			if _, cred, ok := strings.Cut(v, " "); ok {
				r.secrets = append(r.secrets, []byte(strings.TrimSpace(cred)))
			}
		}
		if http.CanonicalHeaderKey(k) == "Host" {
			r.host = v
			continue
		}
		r.headers.Add(k, v)
	}

	hasJSON := len(p.JSON) > 0 && !bytes.Equal(bytes.TrimSpace(p.JSON), []byte("null"))
	switch {
	case p.Body != nil && hasJSON:
		bad("json", "body and json are exclusive: set one")
	case p.Body != nil:
		r.body, r.hasBody = []byte(*p.Body), true
	case hasJSON:
		var compact bytes.Buffer
		if err := json.Compact(&compact, p.JSON); err != nil {
			bad("json", "not JSON: %v", err)
		}
		r.body, r.hasBody = compact.Bytes(), true
		if r.headers.Get("Content-Type") == "" {
			r.headers.Set("Content-Type", "application/json")
		}
	}
	if r.hasBody && r.method == http.MethodHead {
		bad("method", "a HEAD request has no body")
	}

	if p.TimeoutMS != nil {
		if *p.TimeoutMS < 1 {
			bad("timeout_ms", "must be at least 1")
		}
		r.timeout = time.Duration(*p.TimeoutMS) * time.Millisecond
	}
	if p.FollowRedirects != nil {
		r.followRedirects = *p.FollowRedirects
	}

	r.insecure = p.InsecureSkipVerify
	if cfg, tlsProblems := tlsConfig(p); len(tlsProblems) > 0 {
		problems = append(problems, tlsProblems...)
	} else {
		r.tls = cfg
	}
	if p.ClientKey != "" {
		r.secrets = append(r.secrets, []byte(p.ClientKey))
	}

	if rt := p.Retry; rt != nil {
		if rt.OnStatus != nil {
			r.retryOn = rt.OnStatus
		}
		if rt.MaxAttempts != nil {
			if *rt.MaxAttempts < 1 {
				bad("retry.max_attempts", "must be at least 1")
			}
			r.maxAttempts = *rt.MaxAttempts
		}
		if rt.BackoffMS != nil {
			if *rt.BackoffMS < 0 {
				bad("retry.backoff_ms", "must not be negative")
			}
			r.backoff = time.Duration(*rt.BackoffMS) * time.Millisecond
		}
	}

	if p.ExpectStatus != nil {
		r.expect = nil
		for i, raw := range p.ExpectStatus {
			m, err := parseStatusMatch(raw)
			if err != nil {
				bad(fmt.Sprintf("expect_status.%d", i), "%v", err)
				continue
			}
			r.expect = append(r.expect, m)
		}
		if len(p.ExpectStatus) == 0 {
			bad("expect_status", "lists no status")
		}
	}

	if p.BodyRegex != nil {
		re, err := regexp.Compile(*p.BodyRegex)
		if err != nil {
			bad("body_regex", "%v", err)
		}
		r.bodyRegex = re
	}
	if p.JSONPath != nil {
		jp, err := parseJSONPath(*p.JSONPath)
		if err != nil {
			bad("json_path", "%v", err)
		}
		r.jsonPath, r.jsonPathText = jp, *p.JSONPath
	}
	if p.JSONEquals != nil {
		if p.JSONPath == nil {
			bad("json_equals", "needs json_path")
		}
		if err := json.Unmarshal(p.JSONEquals, &r.jsonEquals); err != nil {
			bad("json_equals", "not JSON: %v", err)
		}
		r.hasEquals = true
	}
	for _, name := range slices.Sorted(maps.Keys(p.Extract)) {
		switch {
		case !outputName.MatchString(name):
			bad("extract."+name, "%q is not a valid output name (letters, digits and _, not starting with a digit)", name)
			continue
		case name == "status_code":
			bad("extract."+name, "status_code is the executor's own output")
			continue
		}
		jp, err := parseJSONPath(p.Extract[name])
		if err != nil {
			bad("extract."+name, "%v", err)
			continue
		}
		r.extract = append(r.extract, extraction{name: name, path: jp, pathText: p.Extract[name]})
	}

	if p.MaxBodyBytes != nil {
		if *p.MaxBodyBytes < 0 {
			bad("max_body_bytes", "must not be negative")
		}
		r.maxBodyBytes = *p.MaxBodyBytes
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return r, nil
}

// parseURL accepts absolute http and https URLs with a host. Its errors
// never repeat the URL, which may hold a password.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("the scheme must be http or https, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("the URL has no host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
	}
	return u, nil
}

// queryValues turns one query parameter (a scalar or a list of them) into
// strings.
func queryValues(raw json.RawMessage) ([]string, error) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		list = []json.RawMessage{raw}
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		var v any
		if err := json.Unmarshal(item, &v); err != nil {
			return nil, errors.New("not JSON")
		}
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case float64, bool:
			out = append(out, string(bytes.TrimSpace(item))) // 10, not 1e+01
		default:
			return nil, errors.New("must be a string, a number, a boolean or a list of them")
		}
	}
	return out, nil
}

func parseStatusMatch(raw json.RawMessage) (statusMatch, error) {
	var code int
	if err := json.Unmarshal(raw, &code); err == nil {
		if code < 100 || code > 599 {
			return statusMatch{}, fmt.Errorf("%d is not an HTTP status (100–599)", code)
		}
		return statusMatch{code: code}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil && len(s) == 3 && s[0] >= '1' && s[0] <= '5' && strings.EqualFold(s[1:], "xx") {
		return statusMatch{class: int(s[0] - '0')}, nil
	}
	return statusMatch{}, fmt.Errorf("%s is neither a status code nor a class such as \"2xx\"", raw)
}

// tlsConfig builds the TLS configuration the TLS parameters ask for; nil
// when they ask for nothing (the shared transport's defaults).
func tlsConfig(p requestParams) (*tls.Config, []sdk.FieldError) {
	if p.CAPEM == "" && p.ClientCert == "" && p.ClientKey == "" && !p.InsecureSkipVerify {
		return nil, nil
	}
	var problems []sdk.FieldError
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: p.InsecureSkipVerify} //nolint:gosec // only when asked, with a warning
	if p.CAPEM != "" {
		pool := x509.NewCertPool()
		n, err := addPEMCerts(pool, []byte(p.CAPEM))
		switch {
		case err != nil:
			problems = append(problems, sdk.FieldError{Field: "ca_pem", Message: err.Error()})
		case n == 0:
			problems = append(problems, sdk.FieldError{Field: "ca_pem", Message: "holds no PEM certificate"})
		}
		cfg.RootCAs = pool
	}
	switch {
	case p.ClientCert != "" && p.ClientKey == "":
		problems = append(problems, sdk.FieldError{Field: "client_key", Message: "client_cert needs client_key"})
	case p.ClientCert == "" && p.ClientKey != "":
		problems = append(problems, sdk.FieldError{Field: "client_cert", Message: "client_key needs client_cert"})
	case p.ClientCert != "":
		cert, err := tls.X509KeyPair([]byte(p.ClientCert), []byte(p.ClientKey))
		if err != nil {
			// crypto/tls's messages never quote the key.
			problems = append(problems, sdk.FieldError{Field: "client_cert", Message: "client_cert and client_key: " + err.Error()})
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, problems
}

// addPEMCerts adds every CERTIFICATE block of pemData to pool, failing on
// one that does not parse.
func addPEMCerts(pool *x509.CertPool, pemData []byte) (int, error) {
	n := 0
	for {
		var block *pem.Block
		block, pemData = pem.Decode(pemData)
		if block == nil {
			return n, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return n, fmt.Errorf("certificate %d: %v", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// secretName reports whether a header or query parameter named name
// probably carries a secret, so that its value is redacted from output.
func secretName(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "www-authenticate", "proxy-authenticate": // challenges, useful for a 401
		return false
	case "authorization", "proxy-authorization", "cookie", "set-cookie", "set-cookie2":
		return true
	}
	for _, word := range []string{"token", "secret", "password", "passwd", "apikey", "api-key", "api_key", "session", "signature", "credential", "auth"} {
		if strings.Contains(n, word) {
			return true
		}
	}
	return strings.HasSuffix(n, "-key") || strings.HasSuffix(n, "_key") || n == "key" || n == "sig"
}
