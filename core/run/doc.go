// Package run holds the records of executions and their lifecycles: a Run
// of a job version (or of an ad-hoc action) is made of one StepRun per step,
// and each step run of one Task per target host. Each task keeps its
// attempts, exit code, outputs, timings and its ordered log.
//
// The package has no behaviour of its own beyond the state machines: the
// engine decides, this package says what may change and the Store keeps it.
// The database is the source of truth for every run and task; the queue only
// carries "task X is ready" (DESIGN.md, CONVENTIONS.md item 11).
//
// # States
//
// Statuses are typed (RunStatus, StepStatus, TaskStatus); RunStatuses,
// StepStatuses and TaskStatuses list them; CanTransitionTo says whether a
// move is allowed and Final whether a status is terminal (it has no way
// out). These tables are the code's, checked by TestDocumentedTables:
//
// Run:
//
//	waiting_approval → queued, canceled, timed_out
//	queued     → running, failed, canceled
//	running    → succeeded, failed, canceled, timed_out
//	succeeded  final
//	failed     final
//	canceled   final
//	timed_out  final
//
// Step run:
//
//	pending    → running, waiting_approval, skipped, canceled
//	running    → succeeded, failed, canceled, timed_out
//	waiting_approval → succeeded, failed, canceled, timed_out
//	succeeded  final
//	failed     final
//	skipped    final
//	canceled   final
//	timed_out  final
//
// Task:
//
//	pending    → queued, canceled, error
//	queued     → running, canceled, error, lost
//	running    → queued, succeeded, failed, canceled, timed_out, error, lost
//	succeeded  final
//	failed     final
//	canceled   final
//	timed_out  final
//	error      final
//	lost       final
//
// A run that a command guard rule holds is created waiting_approval, with
// a run-level approval (core/approval): approved, it becomes queued and
// admission starts it as usual; rejected or canceled, it ends canceled;
// expired, timed_out. An approval step (job.Step.Approval) has no task: its
// step run moves pending → waiting_approval when its needs are met and its
// condition holds, then succeeded (approved), failed (rejected), timed_out
// (expired) or canceled (the run was canceled or aborted). Its run stays
// running meanwhile: other branches of the DAG go on.
//
// A task's life: CreateRun stores it pending. The dispatcher claims the
// tasks its step's strategy lets run (ClaimTasks: pending → queued) and
// publishes one message each. The worker that receives a message moves the
// task queued → running; a retry, or the redelivery of a task whose worker
// died, moves it running → queued again with Attempt+1 (the same row, so a
// task is never counted twice and final states stay final). A re-run of a
// whole run, or of its failed hosts, is a new Run with Trigger.Kind retry
// and Trigger.RetryOf.
//
// # Conditional transitions
//
// Every status change goes through TransitionRun, TransitionStep or
// TransitionTask with the statuses the caller expects the object to be in:
// the store updates the row only if its status is still one of them (UPDATE
// … WHERE id = ? AND status IN (…)), and otherwise changes nothing and
// reports the status the object has (TransitionResult.Applied false). That
// is what makes a redelivered message, or a cancel racing a completion,
// harmless: the second "running → succeeded" finds succeeded and does
// nothing. A move the tables forbid is ErrInvalidTransition, a bug in the
// caller, checked before the database is touched.
//
// # Claims and the rescuer
//
// The engine uses both store methods below:
//
//   - ClaimTasks is the dispatcher's: it moves up to n pending tasks of a
//     step run to queued and returns them, and concurrent dispatchers (two
//     server replicas) never get the same task. On MySQL/MariaDB it is
//     SELECT … FOR UPDATE SKIP LOCKED then UPDATE in one transaction; on
//     SQLite one UPDATE … WHERE id IN (SELECT … LIMIT n) AND status =
//     'pending' RETURNING. Priority and fairness between projects are the
//     engine's: it decides which step run to claim for.
//   - StaleTasks is the rescuer's: queued or running tasks whose heartbeat
//     (set on claim and on every transition, moved on by TouchTasks while a
//     worker reports progress) is older than the lease. The rescuer
//     re-publishes them, or marks them lost, by the step's policy; both are
//     conditional transitions, so a rescue racing a late completion is
//     harmless.
//
// # Logs
//
// A task's stdout and stderr are LogChunks numbered by the producer from 1
// (Seq, across both streams), stored in task_logs keyed by (task, seq), so a
// redelivered chunk is recognised and ignored. AppendLogs writes a batch in
// one transaction, at most 100 rows per INSERT. Each task's stored size is
// kept in tasks.log_bytes; the chunk that would take it past the cap
// (Options.MaxLogBytesPerTask, 10 MiB by default) is replaced by one marker
// chunk on StreamSystem (TruncationMarker) with that chunk's Seq, and every
// later chunk of that task is dropped, so a reader sees where the log was
// cut. ReadLogs pages by Seq; DeleteLogsBefore deletes whole logs of tasks
// that finished before a time, for retention: Retention calls it at start
// and then hourly with "now minus the log_retention setting".
//
// # Parameters and secrets
//
// Run.Params holds the non-secret parameter values as JSON. Secret values
// are not stored: Run.SecretParams records only which secret parameters
// were given. A sealed column is the planned home for the values; until
// then they live in the engine's memory for the run's lifetime.
//
// # What outlives what
//
// Runs reference their project (a project with runs cannot be deleted) but
// not their job or hosts: a run keeps JobID, JobVersion and Name, and a task
// HostID and HostName, as they were, so deleting a job or a host keeps the
// history of what ran.
package run
