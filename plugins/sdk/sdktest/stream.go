package sdktest

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jobgraph/jobgraph/plugins/sdk"

	pb "github.com/jobgraph/jobgraph/plugins/proto/executor/v1"
)

// rawExecute runs task over the bare protocol, below *sdk.Client, and
// returns every event of the stream and the error that ended it (io.EOF
// for a stream that ended normally).
func (h *Harness) rawExecute(ctx context.Context, task sdk.Task) ([]*pb.ExecuteEvent, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewExecutorClient(h.conn).Execute(ctx, taskToProto(task))
	if err != nil {
		return nil, err
	}
	var events []*pb.ExecuteEvent
	for {
		ev, err := stream.Recv()
		if err != nil {
			return events, err
		}
		events = append(events, ev)
	}
}

// checkStream checks an Execute stream against the protocol: events
// numbered 1, 2, 3... without gaps, log chunks of at most sdk.MaxChunk
// bytes, progress within 0–100, then exactly one result with a known
// status, as the last event, and the stream's normal end.
func checkStream(events []*pb.ExecuteEvent, end error) error {
	if end != io.EOF {
		return fmt.Errorf("the stream ended with an error instead of ending normally: %v", end)
	}
	results := 0
	for i, ev := range events {
		if want := uint64(i + 1); ev.GetSeq() != want {
			return fmt.Errorf("event %d has seq %d, want %d", i+1, ev.GetSeq(), want)
		}
		if results > 0 {
			return fmt.Errorf("event %d (%T) comes after the result", ev.GetSeq(), ev.GetEvent())
		}
		switch e := ev.GetEvent().(type) {
		case *pb.ExecuteEvent_Log:
			if n := len(e.Log.GetData()); n > sdk.MaxChunk {
				return fmt.Errorf("event %d is a log chunk of %d bytes, more than %d", ev.GetSeq(), n, sdk.MaxChunk)
			}
			if s := e.Log.GetStream(); s != pb.LogStream_LOG_STREAM_STDOUT && s != pb.LogStream_LOG_STREAM_STDERR {
				return fmt.Errorf("event %d is a log chunk of stream %v", ev.GetSeq(), s)
			}
		case *pb.ExecuteEvent_Progress:
			if p := e.Progress.GetPercent(); p > 100 {
				return fmt.Errorf("event %d reports progress %d%%", ev.GetSeq(), p)
			}
		case *pb.ExecuteEvent_Output:
			if e.Output.GetName() == "" {
				return fmt.Errorf("event %d sets an output without a name", ev.GetSeq())
			}
		case *pb.ExecuteEvent_Result:
			results++
			if st := e.Result.GetStatus(); st == pb.Status_STATUS_UNSPECIFIED || pb.Status_name[int32(st)] == "" {
				return fmt.Errorf("event %d is a result with status %v", ev.GetSeq(), st)
			}
		default:
			return fmt.Errorf("event %d carries no event", ev.GetSeq())
		}
	}
	if results == 0 {
		return fmt.Errorf("the stream ended without a result after %d events", len(events))
	}
	return nil
}

// taskToProto is the request *sdk.Client would send for task.
func taskToProto(t sdk.Task) *pb.ExecuteRequest {
	r := &pb.ExecuteRequest{
		TaskId: t.ID, Action: t.Action, ParamsJson: t.Params, Attempt: uint32(t.Attempt),
		TimeoutMs: uint64(t.Timeout / time.Millisecond),
		Target: &pb.Target{
			Id: t.Target.ID, Name: t.Target.Name, Address: t.Target.Address, Port: uint32(t.Target.Port),
			Os: t.Target.OS, Labels: t.Target.Labels,
		},
	}
	if c := t.Credential; c != nil {
		r.Credential = &pb.Credential{Kind: c.Kind, Username: c.Username, Secret: c.Secret, Passphrase: c.Passphrase}
	}
	return r
}
