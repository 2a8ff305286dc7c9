package trigger

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/run"
)

// Limits on a trigger's fields.
const (
	MaxNameLen = 63
	// MinSecretLen and MaxSecretLen bound a secret the caller chooses; a
	// generated one is 64 hexadecimal characters (32 random bytes).
	MinSecretLen = 16
	MaxSecretLen = 256
	// MaxParams bounds the entries of a ParamMap.
	MaxParams = 64
	// MaxPathLen bounds one payload path.
	MaxPathLen = 256
	// MaxConstLen bounds one constant value, in bytes of JSON.
	MaxConstLen = 4096
)

// Trigger is a webhook that starts runs of one job. Its secret is never
// part of it: it is sealed at rest and shown once, when it is made.
type Trigger struct {
	ID        string
	ProjectID string
	JobID     string
	Name      string
	// Params says where each job parameter's value comes from, ordered by
	// parameter name.
	Params []ParamSource
	// RequireTimestamp accepts only the timestamped signature style
	// (X-Jobgraph-Signature), whose replay window is bounded by the clock.
	RequireTimestamp bool
	Priority         int
	Enabled          bool
	CreatedBy        string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// LastDeliveryAt is when a delivery last started a run; zero for never.
	LastDeliveryAt time.Time
}

// ParamSource says where the value of job parameter Name comes from: the
// payload at Path, or the constant Value. Exactly one of the two is set.
type ParamSource struct {
	Name string
	// Path is a path into the JSON payload, e.g. "$.repository.name"; see
	// the package doc for the syntax.
	Path string
	// Value is a constant JSON value.
	Value json.RawMessage
}

// Filter narrows a trigger list.
type Filter struct {
	ProjectID string
}

func (t *Trigger) validate() error {
	if err := core.CheckName("name", t.Name, MaxNameLen); err != nil {
		return err
	}
	if err := run.CheckPriority("priority", t.Priority); err != nil {
		return err
	}
	return checkParams(t.Params)
}

// checkParams validates a ParamMap and sorts it by name.
func checkParams(ps []ParamSource) error {
	if len(ps) > MaxParams {
		return core.Invalid("params", "at most %d parameters", MaxParams)
	}
	seen := map[string]bool{}
	for i := range ps {
		p := &ps[i]
		field := "params." + p.Name
		if p.Name == "" {
			return core.Invalid("params", "a parameter name must not be empty")
		}
		if seen[p.Name] {
			return core.Invalid(field, "mapped twice")
		}
		seen[p.Name] = true
		switch {
		case p.Path != "" && len(p.Value) > 0:
			return core.Invalid(field, "give a path or a value, not both")
		case p.Path != "":
			if _, err := parsePath(p.Path); err != nil {
				return core.Invalid(field, "%v", err)
			}
		case len(p.Value) > 0:
			if len(p.Value) > MaxConstLen {
				return core.Invalid(field, "the value must be at most %d bytes of JSON", MaxConstLen)
			}
			if !json.Valid(p.Value) {
				return core.Invalid(field, "the value must be JSON")
			}
		default:
			return core.Invalid(field, "give a path or a value")
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return nil
}
