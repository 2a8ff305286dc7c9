// Package queue carries "task X is ready" messages from the dispatcher to the
// workers over NATS JetStream, embedded in-process (the default: no port is
// opened, the store lives under the data dir) or external (a URL).
//
// The database is the source of truth (CONVENTIONS 11). A message says only
// that a task is ready; a worker re-reads the task on receipt and acts only if
// it is still due, so a redelivery is harmless, and a rescuer re-publishes from
// the database every task that is not final and has no live lease. The queue
// is therefore allowed to deliver a message more than once, and is not trusted
// to remember one across a crash (JetStream file storage syncs on an interval).
//
// # Subjects, pools and consumers
//
// A task is published on
//
//	<prefix>.<pool>.<executor>     prefix "jobgraph.tasks", pool "any" when TaskMessage.Pool is ""
//
// into one work-queue stream (Options.Stream): a message is removed once a
// worker acks it. A work-queue stream accepts only one consumer per filter
// subject, and rejects consumers whose filters overlap. So there is exactly one
// durable consumer per pool (ConsumerOptions.Name, default "pool-<pool>"),
// filtering "<prefix>.<pool>.*" (or "<prefix>.<pool>.<executor>" for each
// executor in ConsumerOptions.Executors), and every worker of a pool shares it:
// JetStream hands each message to one of them. The limits that follow:
//
//   - All the workers of one pool must serve the same executors: Consume
//     refuses (core.ErrConflict) to change the filter of an existing durable,
//     since that would silently starve the workers that serve the others.
//     Changing a pool's executor set means deleting its durable first.
//   - A worker that serves several pools (say "zone-a" and the unrestricted
//     tasks) calls Consume once per pool.
//   - "any" is reserved: a task with Pool "" goes to the workers that consume
//     pool "" and to no other pool.
//   - Priority travels in the message but JetStream delivers in publish order
//     within a consumer: ordering by priority and fairness between projects are
//     the dispatcher's job (it decides what to publish and when).
//
// # Delivery, leases and retries
//
// A delivered message is leased to one worker for the consumer's AckWait. While
// the handler runs the consumer sends an InProgress heartbeat every AckWait/3,
// so a long task keeps its lease and a task whose worker died (process killed,
// connection lost) is redelivered to another worker after AckWait. The
// handler's result settles the message: nil acks it (a double ack, confirmed by
// the server); an error naks it with a backoff delay, or, once the message has
// been delivered MaxDeliver times, terminates it and reports it to
// ConsumerOptions.OnDeadLetter. A message whose worker dies on its last
// delivery is not reported here (no worker is left to report it); the server
// stops delivering it and the rescuer finds the task in the database.
//
// Stopping a consumer (Stop, its ctx, or Queue.Close) cancels the handlers'
// context and waits for them; a handler that then returns an error has its
// message naked at once, so another worker takes it without waiting for
// AckWait. A lease held when the embedded server stops may survive the restart
// (the consumer's state is written asynchronously): that message comes back
// after AckWait.
//
// # Leader election
//
// Queue.Leader elects one node per role (the scheduler, say) on a JetStream KV
// bucket: the key is created by one candidate only, renewed with a
// compare-and-set every TTL/3, and expires TTL after its last renewal. A
// renewal that fails for any reason ends the leadership (Leadership.Lost), so
// two nodes never both believe they lead for longer than the time it takes to
// notice; a node that lost campaigns again by calling Leader.
package queue
