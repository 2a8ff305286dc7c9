// Command echo serves the sdktest echo executor as a plugin process, for
// the kit's own tests (TestMain builds it).
package main

import (
	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest/internal/echo"
)

func main() {
	e := echo.New()
	e.Misbehave = true
	sdk.Serve(e)
}
