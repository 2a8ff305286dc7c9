// Command outoforder is a test executor whose Execute stream skips a
// sequence number: events 1, then 3.
package main

import (
	"context"

	"github.com/jobgraph/jobgraph/plugins/host/testdata/plugins/testexec"
	pb "github.com/jobgraph/jobgraph/plugins/proto/executor/v1"
)

type server struct{ pb.UnimplementedExecutorServer }

func (server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{
		Name: "outoforder", Version: "1.0.0", ProtocolVersions: []uint32{1},
		Actions: []*pb.Action{{Name: "run", ParamsSchema: `{"type":"object"}`}},
	}, nil
}

func (server) Execute(_ *pb.ExecuteRequest, stream pb.Executor_ExecuteServer) error {
	log := func(seq uint64, s string) error {
		return stream.Send(&pb.ExecuteEvent{Seq: seq, Event: &pb.ExecuteEvent_Log{Log: &pb.LogChunk{Stream: pb.LogStream_LOG_STREAM_STDOUT, Data: []byte(s)}}})
	}
	if err := log(1, "one\n"); err != nil {
		return err
	}
	if err := log(3, "three\n"); err != nil {
		return err
	}
	return stream.Send(&pb.ExecuteEvent{Seq: 4, Event: &pb.ExecuteEvent_Result{Result: &pb.Result{Status: pb.Status_STATUS_SUCCEEDED}}})
}

func main() { testexec.ServeRaw(server{}) }
