package scheduler

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
)

func mustZone(t *testing.T, tz string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	require.NoError(t, err)
	return loc
}

func TestCronNextN(t *testing.T) {
	t.Parallel()
	const la, berlin = "America/Los_Angeles", "Europe/Berlin"
	at := func(tz, s string) time.Time {
		loc := mustZone(t, tz)
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		require.NoError(t, err)
		return v
	}
	// zoned formats a UTC instant as wall clock plus zone abbreviation.
	tests := []struct {
		name, expr, tz string
		after          time.Time
		want           []string // "2006-01-02 15:04:05 MST" in tz
	}{
		{"spring-forward fixed time runs at the end of the gap", "30 2 * * *", la, at(la, "2026-03-07 12:00:00"),
			[]string{"2026-03-08 03:00:00 PDT", "2026-03-09 02:30:00 PDT"}},
		{"spring-forward two fixed times in the gap fire once", "0,30 2 * * *", la, at(la, "2026-03-08 01:00:00"),
			[]string{"2026-03-08 03:00:00 PDT", "2026-03-09 02:00:00 PDT"}},
		{"fall-back fixed time fires once, the first time", "30 1 * * *", la, at(la, "2026-10-31 12:00:00"),
			[]string{"2026-10-31 01:30:00 PDT", "2026-11-01 01:30:00 PDT", "2026-11-02 01:30:00 PST"}[1:]},
		{"fall-back wildcard fires at every real instant", "*/30 * * * *", la, at(la, "2026-11-01 00:10:00"),
			[]string{"2026-11-01 00:30:00 PDT", "2026-11-01 01:00:00 PDT", "2026-11-01 01:30:00 PDT",
				"2026-11-01 01:00:00 PST", "2026-11-01 01:30:00 PST", "2026-11-01 02:00:00 PST"}},
		{"spring-forward wildcard skips the missing hour", "*/30 * * * *", la, at(la, "2026-03-08 01:10:00"),
			[]string{"2026-03-08 01:30:00 PST", "2026-03-08 03:00:00 PDT", "2026-03-08 03:30:00 PDT"}},
		{"hourly is a wildcard hour", "@hourly", la, at(la, "2026-11-01 00:30:00"),
			[]string{"2026-11-01 01:00:00 PDT", "2026-11-01 01:00:00 PST", "2026-11-01 02:00:00 PST"}},
		{"Berlin spring-forward", "30 2 * * *", berlin, at(berlin, "2026-03-28 12:00:00"),
			[]string{"2026-03-29 03:00:00 CEST", "2026-03-30 02:30:00 CEST"}},
		{"Berlin fall-back", "30 2 * * *", berlin, at(berlin, "2026-10-24 12:00:00"),
			[]string{"2026-10-25 02:30:00 CEST", "2026-10-26 02:30:00 CET"}},
		{"seconds field", "*/20 * * * * *", "UTC", at("UTC", "2026-01-01 00:00:00"),
			[]string{"2026-01-01 00:00:20 UTC", "2026-01-01 00:00:40 UTC", "2026-01-01 00:01:00 UTC"}},
		{"daily", "@daily", berlin, at(berlin, "2026-01-01 00:00:00"),
			[]string{"2026-01-02 00:00:00 CET", "2026-01-03 00:00:00 CET"}},
		{"every 90s ignores the zone", "@every 90s", la, at(la, "2026-03-08 01:59:00"),
			[]string{"2026-03-08 03:00:30 PDT", "2026-03-08 03:02:00 PDT"}},
		{"Feb 29 only in leap years", "0 12 29 2 *", "UTC", at("UTC", "2026-01-01 00:00:00"),
			[]string{"2028-02-29 12:00:00 UTC"}},
		{"day-of-month OR day-of-week", "0 0 1 * MON", "UTC", at("UTC", "2026-06-01 00:00:00"),
			// June 1 2026 is a Monday; then Mondays and July 1st.
			[]string{"2026-06-08 00:00:00 UTC", "2026-06-15 00:00:00 UTC", "2026-06-22 00:00:00 UTC",
				"2026-06-29 00:00:00 UTC", "2026-07-01 00:00:00 UTC", "2026-07-06 00:00:00 UTC"}},
		{"day-of-month with wildcard day-of-week is AND", "0 0 13 * *", "UTC", at("UTC", "2026-01-01 00:00:00"),
			[]string{"2026-01-13 00:00:00 UTC", "2026-02-13 00:00:00 UTC"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCron(tc.expr, tc.tz)
			require.NoError(t, err)
			loc := mustZone(t, tc.tz)
			var got []string
			for _, v := range c.NextN(tc.after, len(tc.want)) {
				assert.Equal(t, time.UTC, v.Location())
				got = append(got, v.In(loc).Format("2006-01-02 15:04:05 MST"))
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCronNextIsStrictlyIncreasing(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"* * * * * *", "*/7 * * * *", "0 30 1 * * *", "15 2 * * *"} {
		c, err := ParseCron(expr, "America/Los_Angeles")
		require.NoError(t, err)
		after := time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC) // 00:00 PDT on fall-back day
		prev := after
		for range 100 {
			next := c.Next(prev)
			require.True(t, next.After(prev), "%s: %s after %s", expr, next, prev)
			prev = next
		}
	}
}

func TestCronBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct{ expr, tz, field string }{
		{"", "UTC", "expression"},
		{"61 * * * *", "UTC", "expression"},
		{"* * * *", "UTC", "expression"},
		{"@sometimes", "UTC", "expression"},
		{"@every 10ms", "UTC", "expression"},
		{"CRON_TZ=Europe/Berlin 0 0 * * *", "UTC", "expression"},
		{"TZ=UTC 0 0 * * *", "UTC", "expression"},
		{"0 0 * * *", "Mars/Olympus_Mons", "timeZone"},
		{"0 0 * * *", "Local", "timeZone"},
	}
	for _, tc := range tests {
		_, err := ParseCron(tc.expr, tc.tz)
		require.Error(t, err, "%q in %q", tc.expr, tc.tz)
		assert.True(t, errors.Is(err, core.ErrInvalidInput), "%v", err)
		assert.Equal(t, tc.field, core.FieldOf(err), "%q: %v", tc.expr, err)
	}
}

func TestCronNeverFires(t *testing.T) {
	t.Parallel()
	c, err := ParseCron("0 0 30 2 *", "UTC")
	require.NoError(t, err)
	assert.True(t, c.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero())
	assert.Empty(t, c.NextN(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 3))
}
