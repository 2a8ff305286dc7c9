package identity

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The throttle's memory stays bounded however many usernames an attacker
// tries, and evicting makes room with the stalest entries first.
func TestThrottleMemoryIsBounded(t *testing.T) {
	t.Parallel()
	th := newThrottle()
	th.users.max, th.addrs.max = 3, 3
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

	target, _ := th.begin(now, "alice", "192.0.2.1")
	require.NotNil(t, target)
	for i := range 100 {
		att, _ := th.begin(now.Add(time.Duration(i+1)*time.Second), fmt.Sprintf("spray%d", i), fmt.Sprintf("198.51.100.%d", i))
		require.NotNil(t, att)
		require.LessOrEqual(t, len(th.users.entries), 3)
		require.LessOrEqual(t, len(th.addrs.entries), 3)
	}
	require.NotContains(t, th.users.entries, "alice", "the stalest entry went first")

	// Entries that have left the window are pruned before anything is evicted.
	later := now.Add(time.Hour)
	th.begin(later, "bob", "")
	require.Len(t, th.users.entries, 1)
}

func TestAddrKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1":             "192.0.2.1",
		"192.0.2.1:5000":        "192.0.2.1",
		"::ffff:192.0.2.1":      "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:443": "2001:db8:1:2::/64",
		"fe80::1%eth0":          "fe80::/64",
		"":                      "",
		"unix-socket":           "unix-socket",
	} {
		require.Equal(t, want, addrKey(in), in)
	}
}
