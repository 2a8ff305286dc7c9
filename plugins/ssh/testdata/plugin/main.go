// Command plugin serves the ssh executor as a plugin process, the way
// `jobgraph plugin serve ssh` does, for TestProcessConformance.
package main

import (
	"github.com/jobgraph/jobgraph/plugins/sdk"
	sshexec "github.com/jobgraph/jobgraph/plugins/ssh"
)

func main() { sdk.Serve(sshexec.New()) }
