package sdk

import (
	"context"
	"os"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/jobgraph/jobgraph/plugins/proto/executor/v1"
)

// Handshake is what a plugin process and jobgraph check before talking:
// the cookie stops a plugin binary from being run by hand by mistake (it is
// not a security measure), and the protocol version is negotiated through
// VersionedPlugins.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "JOBGRAPH_EXECUTOR_PLUGIN",
	MagicCookieValue: "b7f0c1f2a3e44b4c9c5f2c1de0e9a8d6",
}

// PluginEnvVars are the only variables of jobgraph's environment a plugin
// process inherits (besides go-plugin's own handshake variables): the
// server's environment, with its database password and cloud credentials,
// never reaches a plugin. A plugin needing configuration gets it through
// its task's parameters and credential.
var PluginEnvVars = []string{"PATH", "HOME", "TMPDIR", "LANG"}

// PluginEnv returns the environment a plugin process starts with: the
// current values of PluginEnvVars.
func PluginEnv() []string {
	var env []string
	for _, k := range PluginEnvVars {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// PluginName is the name under which an executor is dispensed.
const PluginName = "executor"

// PluginSets maps each protocol version this SDK speaks to its plugin set,
// for go-plugin's negotiation. impl is nil on the host side.
func PluginSets(impl Executor) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl}},
	}
}

// GRPCPlugin is the go-plugin glue for an executor. Plugin authors do not
// use it directly: Serve does.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Executor
}

// GRPCServer registers the executor on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterExecutorServer(s, newServer(p.Impl))
	return nil
}

// GRPCClient returns the host's view of the plugin: a *Client.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewClient(c), nil
}

// Serve serves impl as a plugin process until the host stops it. Call it
// from main; it does not return.
func Serve(impl Executor) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: PluginSets(impl),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
