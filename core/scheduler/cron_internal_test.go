package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCronWildcardMatchesBruteForce checks Next against the definition for
// expressions that are not fixed-time: the first real second after after
// whose wall-clock time matches, across both daylight-saving changes.
func TestCronWildcardMatchesBruteForce(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"*/7 * * * *", "*/20 * * * * *", "0 */2 * * *", "15 * * * *"} {
		c, err := ParseCron(expr, "America/Los_Angeles")
		require.NoError(t, err)
		require.False(t, c.fixed, expr)
		matches := func(t time.Time) bool {
			w := t.In(c.loc)
			return c.spec.Second&(1<<uint(w.Second())) != 0 && c.spec.Minute&(1<<uint(w.Minute())) != 0 &&
				c.spec.Hour&(1<<uint(w.Hour())) != 0
		}
		for _, from := range []time.Time{
			time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC),  // 00:00 PST, spring-forward day
			time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC), // 00:00 PDT, fall-back day
		} {
			after := from
			for after.Before(from.Add(5 * time.Hour)) {
				want := after.Truncate(time.Second).Add(time.Second)
				for !matches(want) {
					want = want.Add(time.Second)
				}
				got := c.Next(after)
				require.Equal(t, want, got, "%s after %s", expr, after.In(c.loc))
				after = got
			}
		}
	}
}
