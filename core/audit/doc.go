// Package audit keeps jobgraph's audit trail: who did what to which object,
// from where, and whether it was allowed.
//
// # What is recorded
//
// One Event for every mutation the API accepts and for every attempt that
// was refused or failed: the actor (a user, or nobody for an anonymous
// caller) and the API token used if any, the action ("createHost", "login"),
// the object and the project it belongs to, the client's address and user
// agent, and the Outcome:
//
//	Allowed  the action was authorized and succeeded
//	Denied   authorization refused it: unauthenticated or forbidden
//	Failed   it was authorized but failed: bad input, a conflict, a missing object
//
// Reads are not recorded, except where a read is itself an action worth
// auditing (an export of the trail, say), which the caller records as such.
//
// # The transaction rule
//
// A change and the event that records it commit together or not at all.
// The transaction travels in the context (see core.Transactor), and
// Recorder.Record simply writes with the context it is given, so recording
// inside the change's transaction is all it takes:
//
//	err := store.InTx(ctx, func(ctx context.Context) error {
//		h, err := inv.CreateHost(ctx, in) // joins the transaction
//		if err != nil {
//			return err
//		}
//		return rec.Record(ctx, audit.Event{
//			ActorID: "user:" + u.ID, ActorName: u.Name, Action: "createHost",
//			ObjectKind: "host", ObjectID: h.ID, ProjectID: h.ProjectID,
//			Outcome: audit.Allowed, ClientAddr: addr, UserAgent: ua,
//		})
//	})
//	if err != nil {
//		// The change rolled back, and its Allowed event with it. Record the
//		// failure now, with the outer ctx: recorded inside the failed
//		// transaction it would be rolled back too.
//		_ = rec.Record(ctx, audit.Event{..., Outcome: audit.Failed, Reason: audit.ReasonOf(err)})
//	}
//
// A Denied attempt changed nothing, so its event is written on its own (or
// in the request's transaction, if that commits). If the event cannot be
// written, Record's error fails the transaction, and with it the change: an
// unaudited change is not committed.
//
// # Nothing deletes it
//
// The trail is append-only. The Store interface has a method to insert an
// event and methods to read them, and none to update or delete one; no API
// edits or removes an event, and the table has no foreign keys, so deleting
// a user, a project or a host leaves the events that describe it. Retention,
// if ever wanted, is an operator's job on the database, outside jobgraph.
//
// # What Reason may contain
//
// Reason says briefly why an attempt was Denied or Failed, in the terms of
// the error vocabulary: "forbidden: host:write", "invalid input: port",
// "conflict: name". It names the rule or the input field at fault, never the
// value given, and never an error's raw text, which may carry a secret (a
// password in a DSN, a key in a driver message). ReasonOf builds one from an
// error. Allowed events have none.
//
// # Reading it
//
// Recorder.List pages through the events a Filter selects, newest first;
// Recorder.Count counts them; Recorder.Export streams all of them as JSON
// Lines, oldest first, reading the table in batches so that a trail of any
// size is exported in constant memory. Events are ordered by ID: IDs sort by
// creation time.
//
// Strings longer than their column are truncated (with a trailing "…")
// rather than refused, so that an audit write never fails on, say, a long
// user agent; invalid UTF-8 is replaced by U+FFFD.
package audit
