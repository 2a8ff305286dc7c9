package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/jobgraph/jobgraph/plugins/proto/executor/v1"
)

// ErrPluginExited reports that the plugin process went away (crashed or was
// killed) during a call. Tasks that fail with it may be retried.
var ErrPluginExited = errors.New("executor plugin exited")

// ProtocolError reports a plugin that broke the protocol: events out of
// order, a stream that ended without a result, an unknown status.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "executor protocol violation: " + e.Msg }

// Client is an Executor served by a plugin process, seen from the host. It
// implements Executor and Validator, so that the host treats in-process and
// out-of-process executors alike.
type Client struct {
	rpc pb.ExecutorClient
}

// NewClient returns a Client over a gRPC connection to a plugin.
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{rpc: pb.NewExecutorClient(conn)}
}

var (
	_ Executor  = (*Client)(nil)
	_ Validator = (*Client)(nil)
)

// Describe implements Executor. It also checks that the plugin speaks this
// protocol version.
func (c *Client) Describe(ctx context.Context) (Info, error) {
	r, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return Info{}, rpcError(ctx, err)
	}
	info, versions := infoFromProto(r)
	for _, v := range versions {
		if v == ProtocolVersion {
			return info, nil
		}
	}
	return Info{}, &ProtocolError{Msg: fmt.Sprintf("plugin speaks protocol versions %v, not %d", versions, ProtocolVersion)}
}

// Validate implements Validator.
func (c *Client) Validate(ctx context.Context, req ValidateRequest) ([]FieldError, error) {
	r, err := c.rpc.Validate(ctx, validateToProto(req))
	if err != nil {
		return nil, rpcError(ctx, err)
	}
	return fieldErrorsFromProto(r), nil
}

// Cancel asks the plugin to stop a task.
func (c *Client) Cancel(ctx context.Context, taskID string) error {
	_, err := c.rpc.Cancel(ctx, &pb.CancelRequest{TaskId: taskID})
	return rpcError(ctx, err)
}

// Execute implements Executor: it runs the task in the plugin and replays
// its events into out, checking that they arrive in order and end with
// exactly one result.
func (c *Client) Execute(ctx context.Context, task Task, out Output) (Result, error) {
	// End the stream when we return: gRPC releases a client stream only
	// when it is read to its end or its context is done, and we stop
	// reading at the result (sdktest's TestClientReleasesStreams).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Execute(ctx, taskToProto(task))
	if err != nil {
		return Result{}, rpcError(ctx, err)
	}
	stdout, stderr := out.Stdout(), out.Stderr()
	var seq uint64
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			return Result{}, &ProtocolError{Msg: "the stream ended without a result"}
		}
		if err != nil {
			return Result{}, rpcError(ctx, err)
		}
		if ev.GetSeq() != seq+1 {
			return Result{}, &ProtocolError{Msg: fmt.Sprintf("event %d arrived after event %d", ev.GetSeq(), seq)}
		}
		seq++
		switch e := ev.GetEvent().(type) {
		case *pb.ExecuteEvent_Log:
			w := stdout
			if e.Log.GetStream() == pb.LogStream_LOG_STREAM_STDERR {
				w = stderr
			}
			if _, err := w.Write(e.Log.GetData()); err != nil {
				return Result{}, fmt.Errorf("write task output: %w", err)
			}
		case *pb.ExecuteEvent_Progress:
			out.Progress(int(e.Progress.GetPercent()), e.Progress.GetMessage())
		case *pb.ExecuteEvent_Output:
			out.SetOutput(e.Output.GetName(), e.Output.GetValue())
		case *pb.ExecuteEvent_Result:
			r := resultFromProto(e.Result)
			if r.Status == 0 {
				return Result{}, &ProtocolError{Msg: fmt.Sprintf("unknown result status %v", e.Result.GetStatus())}
			}
			return r, nil
		default:
			return Result{}, &ProtocolError{Msg: fmt.Sprintf("event %d carries nothing this host understands", ev.GetSeq())}
		}
	}
}

// rpcError maps a gRPC error: the caller's own cancellation stays ctx's
// error, a vanished plugin is ErrPluginExited, anything else is kept.
func rpcError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
		return fmt.Errorf("%w: %s", ErrPluginExited, status.Convert(err).Message())
	}
	return err
}
