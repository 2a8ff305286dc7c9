package queue

import (
	"time"

	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// The worker protocol: what a worker (core/worker) asks of the servers
// (core/engine) about one delivered task. In order:
//
//  1. Claim: "I hold the message of task T, attempt A". The server moves
//     the task queued → running for this holder and answers with the
//     Assignment (rendered parameters, target, credential), or tells the
//     worker to drop the message (the task is no longer due, or this is a
//     duplicate). A claim for a task already running under the same
//     message is a redelivery after its worker died: the server marks that
//     attempt lost and the worker drops the message. Claims are idempotent
//     for one holder, so a retried claim gets the same answer.
//  2. Logs: batches of numbered output lines, across tasks. The reply
//     names the tasks the worker must stop (canceled, or no longer held).
//  3. Touch: every few seconds, the tasks in flight, so the server knows
//     they are alive (their heartbeat); the reply names tasks to stop.
//  4. Finish: how the attempt ended, sent once all its lines were
//     acknowledged. Then the worker acks the message.
//
// Every report names the attempt, and the server applies it only while the
// task is at that attempt: a late or repeated report changes nothing.

// Claim asks to run one attempt of a task.
type Claim struct {
	TaskID  string `json:"taskId"`
	Attempt int    `json:"attempt"`
	// Holder names the worker and the message: "<worker id>@<stream seq>".
	Holder string `json:"holder"`
}

// Assignment answers a Claim.
type Assignment struct {
	// Run is false when the worker must drop the message; Reason says why.
	Run    bool   `json:"run"`
	Reason string `json:"reason,omitempty"`
	// Executor is the plugin that runs Task.
	Executor string   `json:"executor,omitempty"`
	Task     sdk.Task `json:"task"`
	// SeqBase is the last log sequence number stored for the task; this
	// attempt numbers its lines from SeqBase+1.
	SeqBase int64 `json:"seqBase,omitempty"`
	// Redact lists secret values to replace in output and errors.
	Redact []string `json:"redact,omitempty"`
}

// TaskRef names one attempt of a task.
type TaskRef struct {
	TaskID  string `json:"taskId"`
	Attempt int    `json:"attempt"`
}

// LogLine is one chunk of a task's output.
type LogLine struct {
	TaskRef
	Seq    int64         `json:"seq"`
	Stream run.LogStream `json:"stream"`
	Data   []byte        `json:"data"`
	At     time.Time     `json:"at"`
}

// Logs is a batch of lines, of any tasks of one worker.
type Logs struct {
	Worker string    `json:"worker"`
	Lines  []LogLine `json:"lines"`
}

// Touch reports the tasks a worker is running.
type Touch struct {
	Worker string    `json:"worker"`
	Tasks  []TaskRef `json:"tasks"`
}

// Stop answers Logs and Touch: the tasks the worker must stop now.
type Stop struct {
	Tasks []string `json:"tasks,omitempty"`
	// LogFull (in a Logs reply) lists the tasks whose stored log reached
	// the per-task cap: the server drops their further output, so the
	// worker stops shipping it. Workers that do not know the field ship on
	// and the server drops it, as before.
	LogFull []string `json:"logFull,omitempty"`
}

// Finish reports how an attempt ended.
type Finish struct {
	TaskRef
	Holder string `json:"holder"`
	// Status is final: succeeded, failed, timed_out, canceled, error or
	// lost (the worker stopped before the attempt ended).
	Status    run.TaskStatus    `json:"status"`
	ExitCode  *int              `json:"exitCode,omitempty"`
	Error     string            `json:"error,omitempty"`
	Retryable bool              `json:"retryable,omitempty"`
	Outputs   map[string]string `json:"outputs,omitempty"`
	At        time.Time         `json:"at"`
}

// Done answers Finish.
type Done struct{}

// CancelNotice asks every worker to stop these tasks.
type CancelNotice struct {
	Tasks []string `json:"tasks"`
}
