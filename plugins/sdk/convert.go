package sdk

import (
	"time"

	pb "github.com/jobgraph/jobgraph/plugins/proto/executor/v1"
)

// This file is the only place that converts between the SDK's types and the
// protocol's. Both the plugin side (server.go) and the host side
// (client.go) go through it.

func infoToProto(i Info) *pb.DescribeResponse {
	r := &pb.DescribeResponse{Name: i.Name, Version: i.Version, Description: i.Description, ProtocolVersions: []uint32{ProtocolVersion}}
	for _, a := range i.Actions {
		r.Actions = append(r.Actions, &pb.Action{Name: a.Name, Description: a.Description, ParamsSchema: string(a.ParamsSchema), SecretParams: a.SecretParams})
	}
	return r
}

func infoFromProto(r *pb.DescribeResponse) (Info, []uint32) {
	i := Info{Name: r.GetName(), Version: r.GetVersion(), Description: r.GetDescription()}
	for _, a := range r.GetActions() {
		i.Actions = append(i.Actions, Action{Name: a.GetName(), Description: a.GetDescription(), ParamsSchema: []byte(a.GetParamsSchema()), SecretParams: a.GetSecretParams()})
	}
	return i, r.GetProtocolVersions()
}

func targetToProto(t Target) *pb.Target {
	return &pb.Target{Id: t.ID, Name: t.Name, Address: t.Address, Port: uint32(t.Port), Os: t.OS, Labels: t.Labels}
}

func targetFromProto(t *pb.Target) Target {
	return Target{ID: t.GetId(), Name: t.GetName(), Address: t.GetAddress(), Port: int(t.GetPort()), OS: t.GetOs(), Labels: t.GetLabels()}
}

func taskToProto(t Task) *pb.ExecuteRequest {
	r := &pb.ExecuteRequest{
		TaskId: t.ID, Action: t.Action, ParamsJson: t.Params, Target: targetToProto(t.Target),
		Attempt: uint32(t.Attempt), TimeoutMs: uint64(t.Timeout / time.Millisecond),
	}
	if c := t.Credential; c != nil {
		r.Credential = &pb.Credential{Kind: c.Kind, Username: c.Username, Secret: c.Secret, Passphrase: c.Passphrase}
	}
	return r
}

func taskFromProto(r *pb.ExecuteRequest) Task {
	t := Task{
		ID: r.GetTaskId(), Action: r.GetAction(), Params: r.GetParamsJson(), Target: targetFromProto(r.GetTarget()),
		Attempt: int(r.GetAttempt()), Timeout: time.Duration(r.GetTimeoutMs()) * time.Millisecond,
	}
	if c := r.GetCredential(); c != nil {
		t.Credential = &Credential{Kind: c.GetKind(), Username: c.GetUsername(), Secret: c.GetSecret(), Passphrase: c.GetPassphrase()}
	}
	return t
}

var statusToProto = map[Status]pb.Status{
	StatusSucceeded: pb.Status_STATUS_SUCCEEDED,
	StatusFailed:    pb.Status_STATUS_FAILED,
	StatusTimedOut:  pb.Status_STATUS_TIMED_OUT,
	StatusCanceled:  pb.Status_STATUS_CANCELED,
	StatusError:     pb.Status_STATUS_ERROR,
}

func resultToProto(r Result) *pb.Result {
	return &pb.Result{Status: statusToProto[r.Status], ExitCode: int32(r.ExitCode), Error: r.Error, Retryable: r.Retryable}
}

func resultFromProto(r *pb.Result) Result {
	out := Result{ExitCode: int(r.GetExitCode()), Error: r.GetError(), Retryable: r.GetRetryable()}
	for s, p := range statusToProto {
		if p == r.GetStatus() {
			out.Status = s
		}
	}
	return out
}

func validateToProto(req ValidateRequest) *pb.ValidateRequest {
	return &pb.ValidateRequest{Action: req.Action, ParamsJson: req.Params, Target: targetToProto(req.Target)}
}

func validateFromProto(r *pb.ValidateRequest) ValidateRequest {
	return ValidateRequest{Action: r.GetAction(), Params: r.GetParamsJson(), Target: targetFromProto(r.GetTarget())}
}

func fieldErrorsToProto(errs []FieldError) *pb.ValidateResponse {
	r := &pb.ValidateResponse{}
	for _, e := range errs {
		r.Errors = append(r.Errors, &pb.FieldError{Field: e.Field, Message: e.Message})
	}
	return r
}

func fieldErrorsFromProto(r *pb.ValidateResponse) []FieldError {
	var out []FieldError
	for _, e := range r.GetErrors() {
		out = append(out, FieldError{Field: e.GetField(), Message: e.GetMessage()})
	}
	return out
}
