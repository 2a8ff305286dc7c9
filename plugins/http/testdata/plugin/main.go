// Command plugin serves the http executor as a plugin process, for the
// process-level conformance test (jobgraph itself serves it as
// `jobgraph plugin serve http`).
package main

import (
	httpexec "github.com/jobgraph/jobgraph/plugins/http"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

func main() { sdk.Serve(httpexec.New()) }
