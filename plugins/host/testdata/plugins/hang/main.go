// Command hang is a test executor whose Describe never answers.
package main

import (
	"context"

	"github.com/jobgraph/jobgraph/plugins/host/testdata/plugins/testexec"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

type hang struct{ testexec.Good }

func (*hang) Describe(context.Context) (sdk.Info, error) { select {} }

func main() {
	testexec.WritePIDFile()
	sdk.Serve(&hang{})
}
