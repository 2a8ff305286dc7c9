// Package identity knows who is calling: it keeps local user accounts, the
// console's login sessions and personal API tokens, and turns the secret a
// request carries into a Principal. What a principal may do is decided
// elsewhere (rbac/); identity knows nothing about roles beyond storing the
// name of the role an API token is limited to.
//
// # Who authenticates how
//
//   - A person signs in to the web console with a username and a password
//     (Login) and receives a session secret, "jgs_…", which the console sends
//     with every request. A session lasts Options.SessionTTL (12 hours by
//     default) and slides: a session in use is extended once more than half
//     of its lifetime has passed. Logout ends it at once.
//   - Scripts, CI pipelines and the CLI use a personal access token, "jgp_…",
//     that a user creates for itself (CreateToken). A token may expire, may be
//     limited to one project and to one role, and may be revoked.
//   - Both kinds of secret go through Authenticate, which tells them apart by
//     their prefix. The prefixes also let secret scanners recognise a leaked
//     jobgraph credential.
//
// # What is stored
//
// Nothing is ever stored in clear that would let someone who reads the
// database sign in:
//
//   - Passwords are hashed with argon2id and kept as a PHC string
//     ("$argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>"). The string carries its
//     own parameters, so raising Options.Hash later keeps every old hash
//     valid; a user's hash is upgraded to the current parameters the next
//     time that user logs in.
//   - Session and token secrets are 32 random bytes. Only their SHA-256 is
//     stored, in a unique-indexed column, so that a request costs one indexed
//     lookup (a slow password hash per request would be a denial of service,
//     and is needless for a full-entropy secret). The secret itself is
//     returned exactly once, when it is made; it cannot be shown again.
//
// # Failures say nothing useful to an attacker
//
// Every failed Login reports "invalid username or password", and every
// rejected secret "invalid or expired credentials", whatever the reason. The
// reason is kept in AuthError.Reason for the audit log. For an unknown
// username Login still verifies the password against a dummy hash, so that
// the time an answer takes does not reveal which usernames exist.
//
// # Login throttling
//
// Failed logins are counted per username and per client address in a sliding
// window (MaxUserFailures and MaxAddrFailures within FailureWindow). Past
// the limit, further attempts are refused with a *ThrottledError before the
// password is even looked at, until the oldest failure leaves the window. A
// successful login clears the username's failures. The counts are kept in
// memory, per process: with several server replicas behind a load balancer
// an attacker gets the allowance once per replica, and a restart forgets
// them. That is the intended trade-off: a shared counter would add a write to
// the database (or NATS) on every failed login, which is exactly the load an
// attacker produces. The memory is bounded: old entries are pruned and the
// number of counted usernames and addresses is capped.
//
// # Why last-use writes are coalesced
//
// Authenticate records when a session was last seen and a token last used,
// and extends sliding sessions. A busy console or CI job sends many requests
// a second; writing on each would turn every read into a write and contend
// on one row. So Authenticate writes only when the stored time is at least
// UsageWriteInterval (one minute) old: the recorded time is accurate to a
// minute, which is all an audit of "is this token still used?" needs, and
// the extension of a session is applied at the same time.
package identity
