package job_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/jobgraph/jobgraph/core/job"
)

// fakeSchemas stands in for the plugin host (a process boundary). It knows
// executor "shell" with actions "exec" ({"command": string, required;
// "retries": integer; "env": object of strings}) and "noop" (anything).
type fakeSchemas struct {
	schema func(ctx context.Context, executor, action string) (func(json.RawMessage) []job.FieldError, error)
}

func (f fakeSchemas) Schema(ctx context.Context, executor, action string) (func(json.RawMessage) []job.FieldError, error) {
	if f.schema != nil {
		return f.schema(ctx, executor, action)
	}
	if executor != "shell" {
		return nil, fmt.Errorf("%w %q", job.ErrUnknownExecutor, executor)
	}
	switch action {
	case "noop":
		return func(json.RawMessage) []job.FieldError { return nil }, nil
	case "exec":
		return validateExec, nil
	}
	return nil, fmt.Errorf("%w %q", job.ErrUnknownAction, action)
}

func validateExec(raw json.RawMessage) []job.FieldError {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return []job.FieldError{{Message: "not an object"}}
	}
	var errs []job.FieldError
	if _, ok := m["command"]; !ok {
		errs = append(errs, job.FieldError{Message: "missing property 'command'"})
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		switch k {
		case "command":
			if _, ok := v.(string); !ok {
				errs = append(errs, job.FieldError{Field: k, Message: "got " + fmt.Sprintf("%T", v) + ", want string"})
			}
		case "retries":
			if f, ok := v.(float64); !ok || f != float64(int(f)) {
				errs = append(errs, job.FieldError{Field: k, Message: "want integer"})
			}
		case "env":
			env, ok := v.(map[string]any)
			if !ok {
				errs = append(errs, job.FieldError{Field: k, Message: "want object"})
				continue
			}
			names := make([]string, 0, len(env))
			for n := range env {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				if _, ok := env[n].(string); !ok {
					errs = append(errs, job.FieldError{Field: k + "." + n, Message: "want string"})
				}
			}
		default:
			errs = append(errs, job.FieldError{Message: fmt.Sprintf("additional property '%s' not allowed", k)})
		}
	}
	return errs
}
