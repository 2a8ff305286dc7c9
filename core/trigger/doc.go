// Package trigger lets other systems start runs of a job over HTTP: a
// webhook trigger is a URL (POST /hooks/{triggerId}) and a secret shared
// with the sender, which signs every delivery with it.
//
// # The model
//
// A Trigger belongs to a project and starts runs of one job. Its secret is
// 32 random bytes by default (shown as 64 hexadecimal characters), or one
// the caller chooses; it is sealed at rest like a credential's secret
// (core/secrets, bound to the trigger's ID) and shown once, when the trigger
// is made and when the secret is rotated. A trigger is enabled or disabled;
// a disabled one answers deliveries exactly as an unknown one does.
//
// # Signatures
//
// Two styles are accepted; MACs are compared in constant time:
//
//   - GitHub's: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>,
//     with the delivery named by X-GitHub-Delivery or X-Jobgraph-Delivery
//     (required, at most 128 characters).
//   - Timestamped: X-Jobgraph-Signature: t=<unix seconds>,v1=<hex
//     HMAC-SHA256(secret, t + "." + body)>, accepted within 5 minutes of the
//     server's clock either way. Its delivery ID is the delivery header if
//     one is given, else the signature itself. A trigger with
//     RequireTimestamp accepts only this style.
//
// # Replays
//
// Each accepted delivery's ID is recorded, unique per trigger, and
// remembered for DeliveryRetention (7 days; older ones are pruned when the
// trigger next takes a delivery). Recording it and creating the run happen
// in one transaction: a delivery whose run is refused (bad parameters, a
// guard rule) leaves no record and may be sent again once fixed, and a
// replay — even one racing the original — never starts a second run. A
// GitHub-style delivery replayed after the retention would be accepted;
// the timestamped style closes that gap with its 5-minute window, which is
// why RequireTimestamp exists.
//
// # Parameters
//
// A trigger's Params map each job parameter either to a constant JSON value
// or to a path into the JSON payload, in this subset of JSONPath:
//
//	$                    the whole payload
//	$.repository.name    object keys of letters, digits, "_" and "-"
//	$.commits[0].id      array indexes from 0
//	$["key with.dots"]   any key, as a JSON string
//
// The value found is passed as it is (a string, number, boolean, array or
// object) and the engine checks it against the parameter's type, so that a
// number parameter needs a JSON number and a hosts parameter an array of
// host IDs. A path missing from the payload (or null there) leaves the
// parameter unset: its default applies, or the run is refused as missing a
// required parameter, naming the parameter and the path.
//
// # Deliveries
//
// Service.Deliver takes one delivery through these states, each refusal
// final and audited (action "deliverWebhook", actor "trigger:<id>", never a
// signature, secret or payload in the record):
//
//	unknown or disabled trigger → not found
//	missing, malformed or wrong signature, stale timestamp → unauthenticated
//	body not JSON, parameter unmapped or of the wrong type → invalid input
//	delivery ID already recorded → conflict (naming the first run)
//	run refused by a command guard → forbidden
//	otherwise → accepted: the run is queued, its ID returned
//
// Runs started by a trigger carry Trigger{Kind: webhook, Actor: trigger ID}.
package trigger
