// Package scheduler starts runs of jobs at the times of cron schedules, from
// exactly one replica at a time.
//
// # Schedules
//
// A Schedule names a job of its project, a cron expression read in a time
// zone, the parameters and priority of the runs it starts, and two policies.
// The Service validates everything when a schedule is created or changed —
// the expression parses and fires at least once, the time zone is a known
// IANA zone, the parameters are what the job accepts (engine.CheckParams) —
// so a bad schedule is refused with a *core.ValidationError naming the field
// and nothing is stored. Secret parameters cannot be given a value in a
// schedule: it would be stored in clear; the job's default applies.
//
// # Cron expressions
//
// Five fields (minute hour day-of-month month day-of-week), or six with
// seconds first, or a descriptor: @yearly (@annually), @monthly, @weekly,
// @daily (@midnight), @hourly, and @every <duration> (at least 1s). Parsing
// is robfig/cron v3's; a CRON_TZ= or TZ= prefix is refused, the zone is a
// field of its own. As in every cron, when both day-of-month and
// day-of-week are restricted, a day matching either fires.
//
// @every is allowed: it fires every interval of real time from the
// previous fire time (from the time it was enabled for the first one),
// whatever the zone.
//
// robfig/cron's own Next skips a time that falls in a spring-forward gap
// (02:30 on 2026-03-08 in Los Angeles never fires). Cron.Next uses the
// parser's fields only and follows ISC cron instead:
//
//   - A fixed-time expression (no '*', '?' or step in its second, minute and
//     hour fields, such as "30 2 * * *" or @daily) fires once a day even on
//     the days the clocks change: a time in the spring-forward gap fires at
//     the first instant after the gap (03:00 PDT), a time in the repeated
//     fall-back hour fires at its first occurrence only (01:30 PDT).
//   - Any other expression ("*/30 * * * *", @hourly) fires at every real
//     instant whose wall-clock time matches: four times in a repeated hour,
//     never in a skipped one.
//
// # Firing
//
// Every schedule row carries next_fire_at, its next time by the expression,
// and due_at, the same plus a random jitter (up to the schedule's Jitter)
// drawn when the time is planned and stored, so that every replica agrees
// on it. The Scheduler campaigns in the election "scheduler"
// ((*queue.Queue).Leader: a NATS KV key with a TTL, the Lease); the leader
// looks for due schedules at least every second (so that edits made
// through another replica are seen) and sleeps until the earliest due_at
// otherwise. It stops at once when its leadership ends; if it dies, another
// replica is elected once the lease expires.
//
// Each fire time is handled in one database transaction that starts the
// run (RunStarter: the engine stores the run in the transaction and
// activates it once committed), moves next_fire_at from the time handled to
// the next with a compare-and-set, and records the Fire, whose primary key
// is (schedule, time). Two replicas that both believe they lead (a paused
// leader whose lease expired) therefore still start one run per time: the
// second compare-and-set matches no row and its transaction rolls back.
//
// What a due fire time does:
//
//	previous run not ended, overlap skip  → no run (OutcomeSkippedBusy), next time
//	previous run not ended, overlap queue → waits; once the run ends, one run, next time after now
//	previous run not ended, overlap allow → a run
//	later than Grace (1 min), missed skip → no run (OutcomeSkippedMissed), next time after now
//	later than Grace, missed run_once     → one run, next time after now
//	otherwise                             → a run, next time
//
// Within the grace every fire time is made up one by one: a leader change
// (about a lease) loses no fire. A fire whose run cannot start because of
// the schedule (job deleted, parameters no longer valid) is recorded as
// OutcomeFailed with the reason in the schedule's LastError, and the
// schedule moves on; an error of the database is retried at the next look.
//
// Disabling a schedule clears its next fire; enabling it plans the next
// time after now, so the times it was disabled are not made up.
package scheduler
