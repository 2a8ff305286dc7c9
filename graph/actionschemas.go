package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/plugins/host"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// ActionSchemas lets the job service check a step's parameters against its
// executor's JSON Schema (Caddy-style: each plugin owns its config schema,
// the core validates generically). Describing an executor starts its plugin
// if it is not running; compiled schemas are cached per executor version.
func ActionSchemas(e Executors) job.ActionSchemas { return &actionSchemas{executors: e} }

type actionSchemas struct {
	executors Executors
	cache     sync.Map // executor \x00 version \x00 action → *sdk.Schema
}

func (a *actionSchemas) Schema(ctx context.Context, executor, action string) (func(json.RawMessage) []job.FieldError, error) {
	info, err := a.executors.Describe(ctx, executor)
	if errors.Is(err, host.ErrUnknownPlugin) {
		return nil, fmt.Errorf("%w %q", job.ErrUnknownExecutor, executor)
	}
	if err != nil {
		return nil, err
	}
	act, ok := info.Action(action)
	if !ok {
		return nil, fmt.Errorf("%w %q of executor %s", job.ErrUnknownAction, action, executor)
	}
	key := executor + "\x00" + info.Version + "\x00" + action
	cached, ok := a.cache.Load(key)
	if !ok {
		schema, err := sdk.CompileSchema(act.ParamsSchema)
		if err != nil {
			return nil, fmt.Errorf("executor %s, action %s: %w", executor, action, err)
		}
		cached, _ = a.cache.LoadOrStore(key, schema)
	}
	schema := cached.(*sdk.Schema)
	return func(params json.RawMessage) []job.FieldError {
		var out []job.FieldError
		for _, e := range schema.Validate(params) {
			out = append(out, job.FieldError{Field: e.Field, Message: e.Message})
		}
		return out
	}, nil
}
