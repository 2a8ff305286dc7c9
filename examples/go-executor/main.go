// Command jobgraph-executor-http-check is an example jobgraph executor
// plugin written with the Go SDK (github.com/jobgraph/jobgraph/plugins/sdk).
//
// It offers two actions:
//
//   - check: GET a URL, stream the response's status line and headers as
//     the task's output, and succeed when the status is the expected one
//     (200 unless expect_status says otherwise).
//   - sleep: write a dot every 100 ms for the given number of seconds,
//     or until the task is cancelled or times out.
//
// Build it, list it with its SHA-256 in the plugin directory's
// plugins.json, and restart jobgraph: see README.md.
//
// jobgraph starts the binary itself: run by hand, it refuses (the
// go-plugin handshake cookie is missing).
package main

import "github.com/jobgraph/jobgraph/plugins/sdk"

func main() {
	sdk.Serve(newExecutor())
}
