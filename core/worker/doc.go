// Package worker runs tasks: it takes task messages from the queue (core/queue),
// claims each from the servers, executes it on an executor plugin through
// the plugin host, ships its output in batches and reports how it ended. It
// holds no database credentials and no state worth keeping: everything it
// learns about a task comes in the claim's answer, and everything it does is
// reported over the worker protocol (core/queue/protocol.go). The server
// runs one in-process; `jobgraph worker` runs one on its own.
//
// # What happens to a task
//
//	delivery → Claim ──drop──→ ack (not due, a duplicate, or lost: see below)
//	             │run
//	             ▼
//	        Execute on the plugin ── lines → Logs (batched across tasks)
//	             │                    touch every TouchEvery → Touch
//	             ▼
//	        all lines acknowledged → Finish → ack
//
// The message stays leased to this worker while the task runs (the queue's
// heartbeats). If the worker dies, the message is delivered again, to
// another worker, whose Claim finds the task running under the same message:
// the server then marks that attempt lost, and the engine retries it or not
// as the step's onLost policy says.
//
// # Stopping
//
// Stop (or the Start context ending) stops taking messages, cancels the
// tasks running, ships their last lines and reports them lost (retryable)
// within a short grace period; a task that cannot be reported is released
// to the queue and found lost by the next claim. A task the server asks to
// stop (canceled run, or the attempt no longer held: CancelNotice, or a
// Stop in a Logs or Touch reply) is canceled and reported canceled.
package worker
