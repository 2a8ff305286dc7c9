// Command good is a well-behaved test executor (see testexec.Good).
package main

import (
	"github.com/jobgraph/jobgraph/plugins/host/testdata/plugins/testexec"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

func main() {
	testexec.WritePIDFile()
	sdk.Serve(testexec.NewGood())
}
