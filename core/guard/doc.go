// Package guard intercepts dangerous commands before a run starts, the way
// BlueKing Job intercepts dangerous statements: per-project rules, each a
// regular expression with a severity, are checked against what a run would
// execute.
//
// # Rules
//
// A rule has a name (unique among the project's rules and the built-ins), a
// Go RE2 pattern (at most 4096 bytes, compiled when saved: one that does
// not compile, or that matches the empty text and so every command, is a
// *core.ValidationError on "pattern"), a severity and, for an approve rule,
// the project role that approves (default "owner", checked to exist).
//
//	block    the run is refused: the engine returns Verdict.Blocked, a
//	         *BlockedError, which the API shows as FORBIDDEN with the rule,
//	         step and field
//	approve  the run is stored waiting for an approval by ApproverRole
//	         (Verdict.Approval) before it may start
//
// A rule is enabled or disabled; only enabled rules are checked. There are
// no other states.
//
// # Built-ins
//
// Built-in rules (builtins.go) ship in code and apply to every project: rm
// -rf /, mkfs, dd onto a disk, redirects onto a disk, fork bombs, chmod or
// chown -R /, shred and wipefs of devices block; shutdown and reboot, init
// 0/6, flushing iptables, SQL DROP, TRUNCATE and DELETE without WHERE ask
// for an approval. A project may disable a built-in for itself (the store
// keeps that), never edit or delete one, so an improved pattern reaches
// every project with the upgrade. Built-ins have fixed IDs
// ("gdr_000…0001"), which Match.RuleID carries like a stored rule's.
//
// # Checking a run
//
// Check looks at every string of each step's parameters, wherever it sits
// in the JSON (Field "params.env.HOME", "params.args.0"), as written and
// with the job's parameters rendered in (so that "rm -rf ${{ params.dir }}"
// with dir "/" is caught); and at every string value of the run's
// parameters (Field "parameters.NAME"). It never looks at the executor's
// name: a command is dangerous whoever runs it. A match in a secret
// parameter, or in a rendered string holding a secret's value, carries no
// excerpt. All matches are returned, block ones first, one per rule, step
// and field.
//
// The check runs at every run start, so it is kept cheap: the built-ins
// are compiled once, a project's patterns are compiled once per process and
// cached by their text, and the project's rule rows are read with two
// indexed queries (re-read each time, so that a change made through
// another server replica applies at once). See BenchmarkCheck.
package guard
