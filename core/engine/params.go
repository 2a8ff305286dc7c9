package engine

import (
	"encoding/json"

	"github.com/jobgraph/jobgraph/core/job"
)

// CheckParams validates raw (a JSON object of parameter values, or empty)
// against a job's parameters as RunJob does, without running anything:
// for callers that store parameters to run later, such as schedules. Its
// errors are *core.ValidationError on "params" or "params.<name>".
func CheckParams(params []job.Parameter, raw json.RawMessage) error {
	_, _, err := checkParams(params, raw)
	return err
}
