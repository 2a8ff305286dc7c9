// Package job manages job definitions: versioned, typed parameters and a DAG
// of steps, each an executor action on targets. It knows nothing of runs:
// the engine reads versions from here and records which one each run ran.
//
// # Versions
//
// Create makes version 1. Every Update or ImportYAML that changes the spec
// makes version N+1; older versions are kept as they were, so a run can
// always show exactly what it ran. A change of name or description alone
// makes no version (they belong to the job, not to a version), and neither
// does an import whose spec equals the latest.
//
// # Validation
//
// Nothing is stored before the whole spec has been checked, and every
// problem is a *core.ValidationError naming the field path in the API's
// terms ("steps[2].needs", "parameters[0].default", "steps[1].params.cmd"):
//
//   - job, parameter, step and output names are core.CheckName names; those
//     that templates refer to (parameters, steps, outputs) may not contain
//     '.', which separates the parts of a reference; all are unique;
//   - each step's executor and action exist and its parameters pass the
//     action's JSON Schema (see "Templates and schemas" below);
//   - targets name at least one source: host or group IDs, a label selector,
//     or a hosts-typed parameter;
//   - needs name other steps, and the steps form a DAG; a cycle is reported
//     with its path ("a → b → a");
//   - strategy numbers are in range, step timeouts at most 24h, retries
//     0–10; the job's concurrency 0–1000 and its run timeout at most 7 days;
//   - defaults have their parameter's type (a choice among its choices), and
//     a secret parameter has no default: it would be stored in clear.
//
// # Templates and schemas
//
// Step parameters may use ${{ params.NAME }} and ${{ steps.STEP.outputs.NAME }}
// (package template). A parameter reference must name a parameter of the
// job; an output reference must name a step that this step needs, directly or
// through other steps, and an output that step exports.
//
// A templated string's value is only known at run time, so the schema check
// at save time skips it: the parameters are validated as written, and the
// schema's complaints about a string that holds a template are ignored (a
// "${{ params.port }}" where the schema wants an integer, say). Everything
// else, including required and unknown properties, is checked. The engine
// validates the rendered parameters again before it queues a task.
//
// # YAML
//
// Export and Import turn a job into a YAML document that teams keep in git:
//
//	apiVersion: jobgraph/v1
//	kind: Job
//	name: deploy
//	description: Roll out a release
//	concurrency: 1   # runs of this job at once (0 or absent: no limit)
//	timeout: 1h      # the whole run, from its start (absent: none)
//	parameters:
//	  - name: version
//	    type: string
//	    required: true
//	steps:
//	  - name: fetch
//	    executor: ssh
//	    action: exec
//	    params:
//	      command: fetch-release ${{ params.version }}
//	    targets:
//	      selector: tier=web
//	    timeout: 5m
//	    outputs: [path]
//	  - name: restart
//	    executor: ssh
//	    action: exec
//	    needs: [fetch]
//	    params:
//	      command: restart --from ${{ steps.fetch.outputs.path }}
//	    targets:
//	      selector: tier=web
//	    strategy:
//	      batchPercent: 25
//	      failureThreshold: 1
//
// Import is strict: an unknown field is an error that names its line. The
// same document, as JSON, is how the store keeps each version's spec
// (EncodeSpec, DecodeSpec).
package job
