// Command badproto is a test executor that speaks only protocol version 2
// (in its Describe answer; its handshake says 1).
package main

import (
	"context"

	"github.com/jobgraph/jobgraph/plugins/host/testdata/plugins/testexec"
	pb "github.com/jobgraph/jobgraph/plugins/proto/executor/v1"
)

type server struct{ pb.UnimplementedExecutorServer }

func (server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{Name: "badproto", Version: "2.0.0", ProtocolVersions: []uint32{2}}, nil
}

func main() { testexec.ServeRaw(server{}) }
