// Package httpexec is the built-in "http" executor: it sends one HTTP or
// HTTPS request per task and decides from the response whether the task
// succeeded, the way an operator would with curl and a few checks.
//
// The package is named httpexec, not http, so that it can import net/http
// under its own name; jobgraph knows the executor as "http".
//
// # The request action
//
// Parameters (the JSON Schema in params.go says the same, field by field):
//
//   - method (GET by default), url (absolute http:// or https://), headers,
//     query (added to the URL's own query), and a body: either body (a
//     string, sent as is) or json (any JSON value, sent with Content-Type
//     application/json unless headers set another).
//   - timeout_ms (30000 by default) bounds each attempt, from connecting to
//     the end of the response body. An attempt that runs out of time ends
//     the task TimedOut (retryable). The task's own timeout, from the job,
//     ends it TimedOut too.
//   - follow_redirects (true by default): at most 10 redirects are
//     followed; the last response is the one checked. net/http drops the
//     Authorization header on a redirect to another host.
//   - TLS: ca_pem (the CAs to trust instead of the system's), client_cert
//     and client_key (PEM; client_key is a secret parameter), and
//     insecure_skip_verify, honoured only when explicitly true, with a
//     warning on stderr.
//   - retry: {on_status, max_attempts, backoff_ms}. A response whose status
//     is in on_status (502, 503 and 504 by default) is tried again, up to
//     max_attempts attempts in all (1 by default: no retry), waiting
//     backoff_ms (500 by default), then twice that, and so on (at most 5
//     minutes; Retry-After is not consulted). Cancelling the task ends the
//     wait at once. Only the last attempt's body is streamed. Network
//     errors are not retried here: they end the task with status Error,
//     marked retryable when trying again may help, and the step's retry
//     policy decides.
//   - Success criteria, all of which must hold: expect_status (a list of
//     codes and classes such as "2xx"; ["2xx"] by default), body_regex (an
//     RE2 regular expression that must match somewhere in the body), and
//     json_path (a JSONPath that must exist in a JSON body), optionally with
//     json_equals (the JSON value it must equal).
//   - extract: {output name: JSONPath}; each value found in the JSON body is
//     exported as an output, strings as they are and other values as
//     compact JSON. A path that is not found fails the task.
//   - max_body_bytes (1 MiB by default): how much of the body is read,
//     streamed and checked; the rest is not read, and a "…truncated" note
//     goes to stderr.
//
// There is no templating here: jobgraph renders {{ .param }} expressions in
// the parameters before a task reaches an executor, so every value arrives
// final.
//
// # Output
//
// The request line and the response's status line and headers go to
// stderr as they arrive (curl -v style, "> " and "< "); the body goes to
// stdout as it arrives, chunk by chunk. Every response exports the output
// "status_code" (the last attempt's). Results:
//
//   - Succeeded: the criteria hold.
//   - Failed: a response came and a criterion does not hold, with a reason
//     such as "status 500, expected 2xx" or "body does not match ...".
//   - Error: no response (connection refused, DNS failure, TLS handshake,
//     untrusted certificate, a server that closed the connection in the
//     middle of the body, too many redirects). Refused connections,
//     timeouts, resets and cut bodies are retryable; DNS names that do not
//     exist and certificate problems are not.
//   - TimedOut and Canceled when the task's context ends, promptly, whatever
//     the request was doing.
//
// # Authentication and secrets
//
// The task's credential authenticates the request: kind "token" as
// "Authorization: Bearer TOKEN", kind "password" as basic authentication
// with the credential's username; it overrides an Authorization header of
// the parameters. Other kinds are refused.
//
// Secrets never leave the executor: the credential's secret and
// passphrase, the basic-authentication header value, client_key, the
// password of a URL's user info, and the values of request headers whose
// names look secret (Authorization, Cookie, *token*, *key*, *secret*...)
// are replaced by "[REDACTED]" in everything written to stdout and stderr,
// in outputs and in error messages, even when the server echoes them.
// Values shorter than 4 bytes are not redacted (they would mangle the
// output without protecting anything). Response headers such as
// Set-Cookie, Authorization and names that look secret are shown as
// "[REDACTED]", and so are URL query values with such names. jobgraph's
// host redacts again on its side.
//
// # Connections
//
// Requests without TLS options share one connection pool per executor
// process. Requests with ca_pem, a client certificate or
// insecure_skip_verify get a transport of their own, closed when the task
// ends. Proxies from the environment are not used (jobgraph starts plugins
// without its environment).
package httpexec
