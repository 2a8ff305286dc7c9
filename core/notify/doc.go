// Package notify tells people about runs: when a run finishes (succeeded,
// failed or timed out, canceled) or waits for an approval, each enabled
// notification channel of the run's project that subscribed to that event
// gets a message, through an outgoing webhook (generic JSON, optionally
// signed with HMAC-SHA256), a Slack incoming webhook, or email over SMTP.
//
// # Channels
//
// A Channel belongs to a project and has a kind, a set of Events and an
// Enabled flag. Kinds are modules: each is a Config type (Webhook, Slack,
// Email) registered by name in one table, which validates itself and sends
// a Message; nothing else in the package switches on the kind. A Config has
// clear settings, stored as JSON and shown by the API, and secrets (the
// webhook's signing secret and custom headers, the Slack URL, which is itself
// a credential, the SMTP password), sealed with core/secrets, bound to the
// channel's ID, and never returned. An update that leaves a secret out keeps
// it (Config.KeepSecrets).
//
// # Nothing lost: the outbox
//
// The engine calls Service.Notify once per milestone. Notify does not send:
// it inserts one pending Delivery per matching channel (the outbox) and
// wakes the Dispatcher, so the engine waits for one short insert only. If
// the database is down then, the notification is logged and lost: the
// run's own state is what the engine must keep.
//
// A Dispatcher runs in every server replica. It claims due deliveries with
// a compare-and-set in the store (status and due time checked in the same
// statement; SKIP LOCKED on MySQL), so two replicas never hold one delivery
// at once, and sends each with a per-attempt timeout. A delivery moves
//
//	pending ──claim──▶ sending ──accepted──────────────▶ sent
//	   ▲                  │ ──permanent error, or ─────▶ failed
//	   │                  │   MaxAttempts spent
//	   └──retryable error─┘   (next attempt after Backoff: 2s·2^(n-1), ≤10m, ±20%)
//
// sending → sending: a dispatcher that vanished mid-attempt leaves the
// delivery sending until its lease (NextAttemptAt) ends; any dispatcher then
// claims it again. An outcome is stored only if the delivery is still
// sending with the attempt count of the claim, so a late answer of a lost
// lease changes nothing. The cost of this choice is at-least-once: a
// receiver that accepted a message but whose answer was lost may get it
// again (webhook receivers can dedupe on run.id and event).
//
// HTTP 408, 429, 5xx, timeouts and connection errors are retried; other
// 4xx are permanent. SMTP 4xx replies are retried, 5xx are permanent.
// Sent and failed deliveries are pruned after the log retention.
package notify
