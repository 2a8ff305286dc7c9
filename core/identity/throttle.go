package identity

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Login throttling limits: after MaxUserFailures failed logins for one
// username, or MaxAddrFailures from one client address, within
// FailureWindow, further attempts are refused until the oldest of those
// failures is FailureWindow old.
const (
	MaxUserFailures = 5
	MaxAddrFailures = 20
	FailureWindow   = 15 * time.Minute
)

// maxThrottleKeys caps how many usernames (and, separately, addresses) the
// throttle remembers, so that a flood of attempts with ever new usernames
// cannot grow the process's memory without bound. Each entry holds at most
// MaxAddrFailures timestamps.
const maxThrottleKeys = 10_000

// throttle counts failed logins per username and per client address in
// memory. It is safe for concurrent use.
//
// An attempt counts as a failure from the moment it is let through (begin)
// until it succeeds: otherwise many attempts started at once would all pass
// the check before the first of them had failed.
type throttle struct {
	mu     sync.Mutex
	users  failureLog
	addrs  failureLog
	window time.Duration
}

func newThrottle() *throttle {
	return &throttle{
		users:  failureLog{limit: MaxUserFailures, max: maxThrottleKeys, entries: map[string][]time.Time{}},
		addrs:  failureLog{limit: MaxAddrFailures, max: maxThrottleKeys, entries: map[string][]time.Time{}},
		window: FailureWindow,
	}
}

// attempt is one login attempt let through by the throttle.
type attempt struct {
	t          *throttle
	user, addr string
	at         time.Time
}

// begin lets an attempt for user from addr through, counting it as a
// failure until succeed or cancel says otherwise, or reports how long the
// caller must wait. addr may be "", which is not throttled.
func (t *throttle) begin(now time.Time, user, addr string) (*attempt, time.Duration) {
	user, addr = userKey(user), addrKey(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	wait := t.users.retryAfter(user, now, t.window)
	if addr != "" {
		wait = max(wait, t.addrs.retryAfter(addr, now, t.window))
	}
	if wait > 0 {
		return nil, wait
	}
	t.users.add(user, now, t.window)
	if addr != "" {
		t.addrs.add(addr, now, t.window)
	}
	return &attempt{t: t, user: user, addr: addr, at: now}, 0
}

// succeed clears the username's failures. The address keeps its other
// failures: one good password does not excuse a spray of bad ones.
func (a *attempt) succeed() {
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	delete(a.t.users.entries, a.user)
	if a.addr != "" {
		a.t.addrs.remove(a.addr, a.at)
	}
}

// cancel takes back an attempt that neither failed nor succeeded (the
// database was unreachable, say).
func (a *attempt) cancel() {
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	a.t.users.remove(a.user, a.at)
	if a.addr != "" {
		a.t.addrs.remove(a.addr, a.at)
	}
}

// failureLog keeps, per key, the times of up to limit recent failures, oldest
// first.
type failureLog struct {
	limit   int
	max     int
	entries map[string][]time.Time
}

// retryAfter returns how long until key may try again, or 0 if it may now.
func (l *failureLog) retryAfter(key string, now time.Time, window time.Duration) time.Duration {
	ts := l.recent(key, now, window)
	if len(ts) < l.limit {
		return 0
	}
	return ts[len(ts)-l.limit].Add(window).Sub(now)
}

// recent drops key's failures that have left the window and returns the rest.
func (l *failureLog) recent(key string, now time.Time, window time.Duration) []time.Time {
	ts := l.entries[key]
	i := 0
	for i < len(ts) && !ts[i].Add(window).After(now) {
		i++
	}
	if i == len(ts) {
		delete(l.entries, key)
		return nil
	}
	if i > 0 {
		ts = ts[i:]
		l.entries[key] = ts
	}
	return ts
}

func (l *failureLog) add(key string, now time.Time, window time.Duration) {
	ts, ok := l.entries[key]
	if !ok && len(l.entries) >= l.max {
		l.makeRoom(now, window)
	}
	ts = append(ts, now)
	if len(ts) > l.limit {
		ts = ts[len(ts)-l.limit:]
	}
	l.entries[key] = ts
}

// remove forgets one failure of key recorded at.
func (l *failureLog) remove(key string, at time.Time) {
	ts := l.entries[key]
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Equal(at) {
			ts = append(ts[:i], ts[i+1:]...)
			break
		}
	}
	if len(ts) == 0 {
		delete(l.entries, key)
	} else {
		l.entries[key] = ts
	}
}

// makeRoom prunes every key whose failures have all left the window and, if
// the log is still full, forgets the key whose last failure is the oldest.
// Evicting the stalest key means an attacker has to produce max fresher
// entries to push out the one of a username under attack.
func (l *failureLog) makeRoom(now time.Time, window time.Duration) {
	var oldestKey string
	var oldest time.Time
	for k, ts := range l.entries {
		last := ts[len(ts)-1]
		if !last.Add(window).After(now) {
			delete(l.entries, k)
			continue
		}
		if oldestKey == "" || last.Before(oldest) {
			oldestKey, oldest = k, last
		}
	}
	if len(l.entries) >= l.max && oldestKey != "" {
		delete(l.entries, oldestKey)
	}
}

// userKey is the throttle key of a username as typed: folded like a
// username, and cut short, since no valid username is longer.
func userKey(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	if len(u) > MaxUsernameLen+1 {
		u = u[:MaxUsernameLen+1]
	}
	return u
}

// addrKey is the throttle key of a client address: the IP without a port,
// and for IPv6 its /64 network, since one subscriber usually holds a whole
// /64 and could otherwise rotate through it. Anything that is not an IP
// address is used as it is, cut short.
func addrKey(a string) string {
	a = strings.TrimSpace(a)
	if host, _, err := net.SplitHostPort(a); err == nil {
		a = host
	}
	if ip, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
		ip = ip.Unmap().WithZone("")
		if ip.Is6() {
			return netip.PrefixFrom(ip, 64).Masked().String()
		}
		return ip.String()
	}
	if len(a) > MaxClientAddrLen {
		a = a[:MaxClientAddrLen]
	}
	return a
}
