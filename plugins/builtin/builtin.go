// Package builtin lists the executors that ship inside the jobgraph
// binary. It is the one place to register a new built-in.
package builtin

import (
	httpexec "github.com/jobgraph/jobgraph/plugins/http"
	"github.com/jobgraph/jobgraph/plugins/local"
	"github.com/jobgraph/jobgraph/plugins/sdk"
	sqlexec "github.com/jobgraph/jobgraph/plugins/sql"
	sshexec "github.com/jobgraph/jobgraph/plugins/ssh"
	"github.com/jobgraph/jobgraph/plugins/winrm"
)

// Executors returns a factory for each built-in executor, by name.
//
// Built-ins are ordinary plugins: in production they run out of process,
// like third-party ones, by re-executing the jobgraph binary as
// `jobgraph plugin serve NAME`, which serves Executors()[NAME] with
// sdk.Serve, so that a crashing executor never takes the server down.
// Tests, and the `jobgraph plugin list` command, call the factories in
// process instead. Each executor imports only plugins/sdk.
func Executors() map[string]func() sdk.Executor {
	return map[string]func() sdk.Executor{
		httpexec.Name: httpexec.New,
		local.Name:    local.New,
		sqlexec.Name:  sqlexec.New,
		sshexec.Name:  sshexec.New,
		winrm.Name:    winrm.New,
	}
}
