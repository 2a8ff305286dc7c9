package sdk

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/jobgraph/jobgraph/plugins/proto/executor/v1"
)

// MaxChunk is the largest log chunk sent in one event; longer writes are
// split.
const MaxChunk = 64 << 10

// server serves an Executor over the protocol, inside the plugin process.
type server struct {
	pb.UnimplementedExecutorServer
	impl Executor

	mu      sync.Mutex
	running map[string]context.CancelFunc // by task ID, for Cancel

	// schemas are the actions' compiled parameter schemas, from the first
	// Describe that succeeds, so that no executor sees an unknown action or
	// parameters its schema rejects.
	schemasMu sync.Mutex
	schemas   map[string]*Schema
}

func newServer(impl Executor) *server {
	return &server{impl: impl, running: map[string]context.CancelFunc{}}
}

func (s *server) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	info, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "describe: %v", err)
	}
	return infoToProto(info), nil
}

func (s *server) Validate(ctx context.Context, req *pb.ValidateRequest) (*pb.ValidateResponse, error) {
	v, ok := s.impl.(Validator)
	if !ok {
		return &pb.ValidateResponse{}, nil
	}
	errs, err := v.Validate(ctx, validateFromProto(req))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "validate: %v", err)
	}
	return fieldErrorsToProto(errs), nil
}

func (s *server) Cancel(_ context.Context, req *pb.CancelRequest) (*pb.CancelResponse, error) {
	s.mu.Lock()
	cancel := s.running[req.GetTaskId()]
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return &pb.CancelResponse{}, nil
}

func (s *server) Execute(req *pb.ExecuteRequest, stream pb.Executor_ExecuteServer) error {
	task := taskFromProto(req)
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	if task.Timeout > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, task.Timeout)
		defer c2()
	}
	s.mu.Lock()
	if _, dup := s.running[task.ID]; dup {
		s.mu.Unlock()
		return status.Errorf(codes.AlreadyExists, "task %s is already running", task.ID)
	}
	s.running[task.ID] = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, task.ID)
		s.mu.Unlock()
	}()

	out := &streamOutput{send: stream.Send}
	if err := s.check(ctx, task); err != nil {
		return out.finish(Result{Status: StatusError, Error: err.Error()})
	}
	res, err := s.impl.Execute(ctx, task, out)
	return out.finish(resultOf(ctx, res, err))
}

// actionSchemas compiles the actions' schemas on first use. A failure is
// not remembered: the next task tries again.
func (s *server) actionSchemas(ctx context.Context) (map[string]*Schema, error) {
	s.schemasMu.Lock()
	defer s.schemasMu.Unlock()
	if s.schemas != nil {
		return s.schemas, nil
	}
	// Not the task's own cancellation: the schemas serve every task.
	info, err := s.impl.Describe(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	schemas := map[string]*Schema{}
	for _, a := range info.Actions {
		if schemas[a.Name], err = CompileSchema(a.ParamsSchema); err != nil {
			return nil, fmt.Errorf("action %s: %w", a.Name, err)
		}
	}
	s.schemas = schemas
	return schemas, nil
}

// check refuses a task whose action the executor does not describe, or
// whose parameters its schema or its Validator rejects, before Execute sees
// it: an executor never has to repeat those checks.
func (s *server) check(ctx context.Context, task Task) error {
	schemas, err := s.actionSchemas(ctx)
	if err != nil {
		return err
	}
	schema, ok := schemas[task.Action]
	if !ok {
		return fmt.Errorf("no action %q", task.Action)
	}
	problems := schema.Validate(task.Params)
	if v, ok := s.impl.(Validator); ok && len(problems) == 0 {
		var err error
		if problems, err = v.Validate(ctx, ValidateRequest{Action: task.Action, Params: task.Params, Target: task.Target}); err != nil {
			return fmt.Errorf("validate: %w", err)
		}
	}
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Error()
		}
		return fmt.Errorf("invalid parameters for %s: %s", task.Action, strings.Join(msgs, "; "))
	}
	return nil
}

// streamOutput turns Output calls into numbered events on the stream.
type streamOutput struct {
	mu   sync.Mutex
	seq  uint64
	send func(*pb.ExecuteEvent) error
	err  error // the first send error: the host is gone
	done bool
}

func (o *streamOutput) emit(ev *pb.ExecuteEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil || o.done {
		return
	}
	o.seq++
	ev.Seq = o.seq
	o.err = o.send(ev)
}

func (o *streamOutput) finish(r Result) error {
	o.emit(&pb.ExecuteEvent{Event: &pb.ExecuteEvent_Result{Result: resultToProto(r)}})
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = true
	return o.err
}

func (o *streamOutput) Stdout() io.Writer { return &logWriter{o, pb.LogStream_LOG_STREAM_STDOUT} }
func (o *streamOutput) Stderr() io.Writer { return &logWriter{o, pb.LogStream_LOG_STREAM_STDERR} }

func (o *streamOutput) Progress(percent int, message string) {
	percent = max(0, min(100, percent))
	o.emit(&pb.ExecuteEvent{Event: &pb.ExecuteEvent_Progress{Progress: &pb.Progress{Percent: uint32(percent), Message: message}}})
}

func (o *streamOutput) SetOutput(name, value string) {
	o.emit(&pb.ExecuteEvent{Event: &pb.ExecuteEvent_Output{Output: &pb.OutputVar{Name: name, Value: value}}})
}

type logWriter struct {
	o      *streamOutput
	stream pb.LogStream
}

func (w *logWriter) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		n := min(len(rest), MaxChunk)
		chunk := make([]byte, n) // the caller may reuse p
		copy(chunk, rest[:n])
		w.o.emit(&pb.ExecuteEvent{Event: &pb.ExecuteEvent_Log{Log: &pb.LogChunk{Stream: w.stream, Data: chunk}}})
		rest = rest[n:]
	}
	w.o.mu.Lock()
	err := w.o.err
	w.o.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}
