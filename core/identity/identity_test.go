package identity_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// These tests run the identity service over a real store on every dialect
// (SQLite and MariaDB), so they are also the store's conformance suite for
// users, sessions and tokens.

// cheap keeps argon2 at about a millisecond per hash.
var cheap = identity.HashParams{Memory: 1024, Time: 1, Threads: 1}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// clock is the injected time source; tests move it instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type testBundle struct {
	store    *store.Store
	svc      *identity.Service
	clock    *clock
	projects *project.Service
}

func setup(t *testing.T, s *store.Store) *testBundle {
	t.Helper()
	c := &clock{now: t0}
	return &testBundle{
		store: s,
		clock: c,
		svc: identity.NewService(s, identity.Options{
			Hash: cheap,
			Now:  c.Now,
			RoleValidator: func(role string) error {
				if role != "viewer" && role != "operator" {
					return fmt.Errorf("unknown role %q", role)
				}
				return nil
			},
		}),
		projects: project.NewService(s, nil),
	}
}

func (b *testBundle) user(t *testing.T, name, password string) identity.User {
	t.Helper()
	u, err := b.svc.CreateUser(context.Background(), identity.CreateUserInput{Username: name, DisplayName: strings.ToUpper(name), Password: password})
	require.NoError(t, err)
	return u
}

func (b *testBundle) login(t *testing.T, name, password string) (identity.Session, string) {
	t.Helper()
	_, ses, secret, err := b.svc.Login(context.Background(), identity.LoginInput{Username: name, Password: password})
	require.NoError(t, err)
	return ses, secret
}

func (b *testBundle) raw(t *testing.T) *sql.DB {
	t.Helper()
	db, err := b.store.SQLDB()
	require.NoError(t, err)
	return db
}

// rawTime reads a time column straight from the table, bypassing the store.
func (b *testBundle) rawTime(t *testing.T, table, col, id string) *time.Time {
	t.Helper()
	var v any
	require.NoError(t, b.raw(t).QueryRow("SELECT "+col+" FROM "+table+" WHERE id = ?", id).Scan(&v))
	switch v := v.(type) {
	case nil:
		return nil
	case time.Time:
		u := v.UTC()
		return &u
	case string, []byte:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
			if tm, err := time.Parse(layout, fmt.Sprint(toString(v))); err == nil {
				u := tm.UTC()
				return &u
			}
		}
	}
	t.Fatalf("cannot read %s.%s as a time: %T %v", table, col, v, v)
	return nil
}

func toString(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// dump returns every value of every row of table, as text.
func (b *testBundle) dump(t *testing.T, table string) string {
	t.Helper()
	rows, err := b.raw(t).Query("SELECT * FROM " + table)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var sb strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		for _, v := range vals {
			sb.WriteString(toString(v))
			sb.WriteByte('\n')
		}
	}
	require.NoError(t, rows.Err())
	return sb.String()
}

func reason(t *testing.T, err error) string {
	t.Helper()
	require.ErrorIs(t, err, core.ErrUnauthenticated)
	var ae *identity.AuthError
	require.ErrorAs(t, err, &ae)
	return ae.Reason
}

func ptr[T any](v T) *T { return &v }

// ---- passwords ----

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	enc, err := identity.HashPassword("correct horse", cheap)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=1024,t=1,p=1$"), enc)
	ok, err := identity.VerifyPassword("correct horse", enc)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = identity.VerifyPassword("correct horsE", enc)
	require.NoError(t, err)
	require.False(t, ok)

	again, err := identity.HashPassword("correct horse", cheap)
	require.NoError(t, err)
	require.NotEqual(t, enc, again, "every hash has its own salt")

	require.Equal(t, identity.HashParams{Memory: 64 * 1024, Time: 2, Threads: 2}, identity.DefaultHashParams)
	for _, p := range []identity.HashParams{{}, {Memory: 1024, Time: 0, Threads: 1}, {Memory: 1024, Time: 1}, {Memory: 7, Time: 1, Threads: 1}} {
		_, err := identity.HashPassword("correct horse", p)
		require.Error(t, err, "%+v", p)
	}
}

func TestVerifyPasswordReadsParamsFromTheHash(t *testing.T) {
	t.Parallel()
	// A hash made elsewhere with other parameters and another key length
	// verifies: nothing but the string says how it was made.
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("s3cret-pass"), salt, 2, 2048, 3, 24)
	enc := fmt.Sprintf("$argon2id$v=19$m=2048,t=2,p=3$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	ok, err := identity.VerifyPassword("s3cret-pass", enc)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = identity.VerifyPassword("s3cret-pasS", enc)
	require.NoError(t, err)
	require.False(t, ok)

	// Changing a parameter in the string changes the result.
	tampered := strings.Replace(enc, "t=2", "t=1", 1)
	ok, err = identity.VerifyPassword("s3cret-pass", tampered)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestVerifyPasswordRefusesMalformedHashes(t *testing.T) {
	t.Parallel()
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	good := "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key
	_, err := identity.VerifyPassword("x", good)
	require.NoError(t, err, "the well-formed base case")
	for _, enc := range []string{
		"",
		"correct horse",
		"$argon2id$",
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "m=1024", "m=0", 1),
		strings.Replace(good, "m=1024", "m=4294967295", 1),
		strings.Replace(good, "m=1024", "m=01024", 1),
		strings.Replace(good, "m=1024", "m=-1", 1),
		strings.Replace(good, "t=1", "t=0", 1),
		strings.Replace(good, "t=1", "t=100000", 1),
		strings.Replace(good, "p=1", "p=0", 1),
		strings.Replace(good, "p=1", "p=256", 1),
		strings.Replace(good, "m=1024,t=1,p=1", "t=1,m=1024,p=1", 1),
		strings.Replace(good, "m=1024,t=1,p=1", "m=1024,t=1", 1),
		strings.Replace(good, salt, "not*base64", 1),
		strings.Replace(good, salt, "c2FsdA", 1), // 4-byte salt
		strings.Replace(good, key, "c2hvcnQ", 1), // 5-byte key
		strings.Replace(good, key, key+"==", 1),
		good + "$extra",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", // bcrypt
	} {
		ok, err := identity.VerifyPassword("correct horse", enc)
		require.Error(t, err, "%q", enc)
		require.False(t, ok, "%q", enc)
		if enc != "" {
			require.NotContains(t, err.Error(), enc, "an error never quotes the hash")
		}
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	require.NoError(t, identity.Options{}.Validate(), "zero values stand for the defaults")
	require.Error(t, identity.Options{SessionTTL: time.Minute}.Validate())
	require.Error(t, identity.Options{Hash: identity.HashParams{Memory: 1024}}.Validate())
	require.Panics(t, func() { identity.NewService(nil, identity.Options{SessionTTL: time.Second}) })
	require.Equal(t, "user:usr_1", identity.Principal{User: identity.User{ID: "usr_1"}}.Actor())
}

// ---- users ----

func TestCreateUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		u, err := b.svc.CreateUser(ctx, identity.CreateUserInput{Username: " Alice.Smith_1-x ", DisplayName: " Alice Smith ", Password: "12345678"})
		require.NoError(t, err)
		require.Equal(t, "alice.smith_1-x", u.Username, "usernames are folded to lower case")
		require.Equal(t, "Alice Smith", u.DisplayName)
		require.False(t, u.Disabled)
		require.Nil(t, u.LastLoginAt)
		require.Equal(t, t0, u.CreatedAt)
		got, err := b.svc.GetUser(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, u, got)
		got, err = b.svc.UserByUsername(ctx, "ALICE.SMITH_1-X")
		require.NoError(t, err)
		require.Equal(t, u, got)

		_, err = b.svc.CreateUser(ctx, identity.CreateUserInput{Username: "ALICE.smith_1-X", Password: "another-password"})
		require.ErrorIs(t, err, core.ErrConflict)
		require.Equal(t, "username", core.FieldOf(err))

		long := strings.Repeat("a", identity.MaxUsernameLen)
		_, err = b.svc.CreateUser(ctx, identity.CreateUserInput{Username: long, Password: strings.Repeat("p", identity.MaxPasswordLen)})
		require.NoError(t, err, "64 characters and a 1024-byte password are allowed")

		cases := []struct {
			in    identity.CreateUserInput
			field string
		}{
			{identity.CreateUserInput{Username: "", Password: "12345678"}, "username"},
			{identity.CreateUserInput{Username: "   ", Password: "12345678"}, "username"},
			{identity.CreateUserInput{Username: long + "a", Password: "12345678"}, "username"},
			{identity.CreateUserInput{Username: ".alice", Password: "12345678"}, "username"},
			{identity.CreateUserInput{Username: "-bob", Password: "12345678"}, "username"},
			{identity.CreateUserInput{Username: "_bob", Password: "12345678"}, "username"},
			{identity.CreateUserInput{Username: "al ice", Password: "12345678"}, "username"},
			{identity.CreateUserInput{Username: "bob@example.com", Password: "12345678"}, "username"},
			{identity.CreateUserInput{Username: "alïce", Password: "12345678"}, "username"},
			{identity.CreateUserInput{Username: "\u212Aelvin", Password: "12345678"}, "username"}, // Kelvin sign folds to "k"
			{identity.CreateUserInput{Username: "carol", Password: "1234567"}, "password"},
			{identity.CreateUserInput{Username: "carol", Password: strings.Repeat("p", identity.MaxPasswordLen+1)}, "password"},
			{identity.CreateUserInput{Username: "carol", Password: "12345678", DisplayName: "bad \xff utf-8"}, "displayName"},
			{identity.CreateUserInput{Username: "carol", Password: "12345678", DisplayName: strings.Repeat("d", 256)}, "displayName"},
		}
		for _, tc := range cases {
			_, err := b.svc.CreateUser(ctx, tc.in)
			require.ErrorIs(t, err, core.ErrInvalidInput, "%+v", tc.in)
			require.Equal(t, tc.field, core.FieldOf(err), "%+v", tc.in)
			require.NotContains(t, err.Error(), tc.in.Password, "a password is never echoed")
		}
		n, err := b.svc.CountUsers(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n, "no failed create may leave a row")

		_, err = b.svc.GetUser(ctx, core.NewID(core.KindUser))
		require.ErrorIs(t, err, core.ErrNotFound)
		_, err = b.svc.GetUser(ctx, core.NewID(core.KindHost))
		require.ErrorIs(t, err, core.ErrInvalidInput)
		_, err = b.svc.UserByUsername(ctx, "nobody")
		require.ErrorIs(t, err, core.ErrNotFound)

		byID, err := b.svc.UsersByID(ctx, []string{u.ID, core.NewID(core.KindUser)})
		require.NoError(t, err)
		require.Equal(t, map[string]identity.User{u.ID: u}, byID)
	})
}

// ---- login and sessions ----

func TestLoginAndSession(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		alice := b.user(t, "alice", "correct horse")

		u, ses, secret, err := b.svc.Login(ctx, identity.LoginInput{
			Username: "ALICE", Password: "correct horse", ClientAddr: "192.0.2.7", UserAgent: "Mozilla/5.0 " + strings.Repeat("x", 600),
		})
		require.NoError(t, err)
		require.Equal(t, alice.ID, u.ID)
		require.Equal(t, ptr(t0), u.LastLoginAt)
		require.True(t, strings.HasPrefix(secret, identity.SessionSecretPrefix), secret)
		require.Len(t, secret, 47)
		require.Equal(t, alice.ID, ses.UserID)
		require.Equal(t, t0.Add(identity.DefaultSessionTTL), ses.ExpiresAt)
		require.Equal(t, "192.0.2.7", ses.ClientAddr)
		require.Len(t, ses.UserAgent, identity.MaxUserAgentLen, "a long user agent is cut, not refused")

		got, err := b.svc.GetUser(ctx, alice.ID)
		require.NoError(t, err)
		require.Equal(t, ptr(t0), got.LastLoginAt)

		p, err := b.svc.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.NotNil(t, p.Session)
		require.Nil(t, p.Token)
		require.Equal(t, ses, *p.Session)
		require.Equal(t, alice.ID, p.User.ID)
		require.Equal(t, "user:"+alice.ID, p.Actor())

		// Only the hash of the session secret is stored.
		dump := b.dump(t, "sessions")
		require.NotContains(t, dump, secret)
		require.NotContains(t, dump, strings.TrimPrefix(secret, identity.SessionSecretPrefix))
		sum := sha256.Sum256([]byte(secret))
		require.Contains(t, dump, hex.EncodeToString(sum[:]))
		require.NotContains(t, b.dump(t, "users"), "correct horse")

		require.NoError(t, b.svc.Logout(ctx, ses.ID))
		_, err = b.svc.Authenticate(ctx, secret)
		require.Equal(t, identity.ReasonUnknown, reason(t, err))
		require.NoError(t, b.svc.Logout(ctx, ses.ID), "logging out twice is fine")
		require.ErrorIs(t, b.svc.Logout(ctx, "nope"), core.ErrInvalidInput)
	})
}

func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		b.user(t, "alice", "correct horse")
		carol := b.user(t, "carol", "correct horse")
		require.NoError(t, b.svc.SetDisabled(ctx, carol.ID, true))

		cases := []struct {
			in     identity.LoginInput
			reason string
		}{
			{identity.LoginInput{Username: "alice", Password: "wrong horse"}, identity.ReasonWrongPassword},
			{identity.LoginInput{Username: "mallory", Password: "correct horse"}, identity.ReasonUnknownUser},
			{identity.LoginInput{Username: "carol", Password: "correct horse"}, identity.ReasonUserDisabled},
			{identity.LoginInput{Username: "bad name", Password: "correct horse"}, identity.ReasonInvalidInput},
			{identity.LoginInput{Username: "alice", Password: strings.Repeat("x", 10_000)}, identity.ReasonInvalidInput},
		}
		for _, tc := range cases {
			u, ses, secret, err := b.svc.Login(ctx, tc.in)
			require.Equal(t, "invalid username or password", err.Error(), tc.reason)
			require.Equal(t, tc.reason, reason(t, err))
			require.Zero(t, u)
			require.Zero(t, ses)
			require.Empty(t, secret)
		}
		got, err := b.svc.GetUser(ctx, carol.ID)
		require.NoError(t, err)
		require.Nil(t, got.LastLoginAt, "a refused login is not a login")
	})
}

func TestLoginThrottlePerUsername(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		b.user(t, "alice", "correct horse")
		b.user(t, "bob", "battery staple")
		wrong := identity.LoginInput{Username: "alice", Password: "wrong horse", ClientAddr: "198.51.100.1:50000"}
		right := identity.LoginInput{Username: "Alice", Password: "correct horse", ClientAddr: "203.0.113.9"}

		for i := range identity.MaxUserFailures {
			_, _, _, err := b.svc.Login(ctx, wrong)
			require.Equal(t, identity.ReasonWrongPassword, reason(t, err), "failure %d", i+1)
			b.clock.Advance(time.Minute)
		}
		// Failures at t0 … t0+4m; now is t0+5m: the first leaves the window
		// at t0+15m.
		_, _, _, err := b.svc.Login(ctx, right)
		require.ErrorIs(t, err, core.ErrUnauthenticated)
		var te *identity.ThrottledError
		require.ErrorAs(t, err, &te, "the right password from another address is refused too")
		require.Equal(t, 10*time.Minute, te.RetryAfter)
		require.Equal(t, "too many failed login attempts; try again in 10m0s", err.Error())

		_, _, _, err = b.svc.Login(ctx, identity.LoginInput{Username: "bob", Password: "battery staple", ClientAddr: "198.51.100.1"})
		require.NoError(t, err, "other usernames are not affected")

		b.clock.Advance(10*time.Minute - time.Second)
		_, _, _, err = b.svc.Login(ctx, right)
		require.ErrorAs(t, err, &te)
		require.Equal(t, time.Second, te.RetryAfter)

		b.clock.Advance(time.Second)
		_, _, _, err = b.svc.Login(ctx, right)
		require.NoError(t, err, "the window has moved past the oldest failure")

		// The success cleared alice's failures: she has the full allowance again.
		for range identity.MaxUserFailures {
			_, _, _, err := b.svc.Login(ctx, wrong)
			require.Equal(t, identity.ReasonWrongPassword, reason(t, err))
		}
		_, _, _, err = b.svc.Login(ctx, right)
		require.ErrorAs(t, err, &te)
		require.Equal(t, identity.FailureWindow, te.RetryAfter)
	})
}

func TestLoginThrottlePerAddress(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		b.user(t, "bob", "battery staple")
		for i := range identity.MaxAddrFailures {
			// A spray: every username a few times only.
			_, _, _, err := b.svc.Login(ctx, identity.LoginInput{Username: fmt.Sprintf("user%d", i%7), Password: "guess-1234", ClientAddr: "2001:db8:1:2::1"})
			require.Equal(t, identity.ReasonUnknownUser, reason(t, err))
		}
		_, _, _, err := b.svc.Login(ctx, identity.LoginInput{Username: "bob", Password: "battery staple", ClientAddr: "[2001:db8:1:2::ffff]:443"})
		var te *identity.ThrottledError
		require.ErrorAs(t, err, &te, "the same /64, another port")
		require.Equal(t, identity.FailureWindow, te.RetryAfter)

		_, _, _, err = b.svc.Login(ctx, identity.LoginInput{Username: "bob", Password: "battery staple", ClientAddr: "2001:db8:1:3::1"})
		require.NoError(t, err, "another network is not affected")

		b.clock.Advance(identity.FailureWindow)
		_, _, _, err = b.svc.Login(ctx, identity.LoginInput{Username: "bob", Password: "battery staple", ClientAddr: "2001:db8:1:2::1"})
		require.NoError(t, err)
	})
}

func TestLoginThrottleCountsConcurrentAttempts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		b.user(t, "alice", "correct horse")
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, _, _, errs[i] = b.svc.Login(ctx, identity.LoginInput{Username: "alice", Password: "wrong horse"})
			})
		}
		wg.Wait()
		wrongs, throttled := 0, 0
		for _, err := range errs {
			var te *identity.ThrottledError
			switch {
			case errors.As(err, &te):
				throttled++
			default:
				require.Equal(t, identity.ReasonWrongPassword, reason(t, err))
				wrongs++
			}
		}
		require.Equal(t, identity.MaxUserFailures, wrongs, "no more passwords are tried than the limit, however many arrive at once")
		require.Equal(t, n-identity.MaxUserFailures, throttled)
	})
}

func TestSessionSlidesAndExpires(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		b.user(t, "alice", "correct horse")
		ses, secret := b.login(t, "alice", "correct horse")
		other, _ := b.login(t, "alice", "correct horse")

		auth := func() identity.Session {
			t.Helper()
			p, err := b.svc.Authenticate(ctx, secret)
			require.NoError(t, err)
			return *p.Session
		}
		stored := func() (time.Time, time.Time) {
			t.Helper()
			return *b.rawTime(t, "sessions", "last_seen_at", ses.ID), *b.rawTime(t, "sessions", "expires_at", ses.ID)
		}

		b.clock.Advance(30 * time.Second)
		auth()
		seen, exp := stored()
		require.Equal(t, t0, seen, "no write within a minute of the last")
		require.Equal(t, t0.Add(12*time.Hour), exp)

		b.clock.Set(t0.Add(2 * time.Hour))
		got := auth()
		seen, exp = stored()
		require.Equal(t, t0.Add(2*time.Hour), seen)
		require.Equal(t, t0.Add(12*time.Hour), exp, "less than half used: not extended")
		require.Equal(t, seen, got.LastSeenAt)

		b.clock.Set(t0.Add(7 * time.Hour))
		got = auth()
		seen, exp = stored()
		require.Equal(t, t0.Add(7*time.Hour), seen)
		require.Equal(t, t0.Add(19*time.Hour), exp, "more than half used: extended by a whole TTL")
		require.Equal(t, exp, got.ExpiresAt)

		b.clock.Set(t0.Add(7*time.Hour + 59*time.Second))
		auth()
		seen, _ = stored()
		require.Equal(t, t0.Add(7*time.Hour), seen)
		b.clock.Set(t0.Add(7*time.Hour + time.Minute))
		auth()
		seen, exp = stored()
		require.Equal(t, t0.Add(7*time.Hour+time.Minute), seen, "a minute after the last write")
		require.Equal(t, t0.Add(19*time.Hour), exp, "recently extended: not again")

		// The other session, never used, expired at t0+12h.
		b.clock.Set(t0.Add(19 * time.Hour))
		_, err := b.svc.Authenticate(ctx, secret)
		require.Equal(t, identity.ReasonExpired, reason(t, err))
		_, err = b.svc.Authenticate(ctx, secret)
		require.Equal(t, identity.ReasonUnknown, reason(t, err), "an expired session is deleted when it is shown")

		n, err := b.svc.PruneSessions(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		var left int
		require.NoError(t, b.raw(t).QueryRow("SELECT COUNT(*) FROM sessions WHERE id = ?", other.ID).Scan(&left))
		require.Zero(t, left)
	})
}

func TestSetPasswordEndsSessions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		alice := b.user(t, "alice", "correct horse")
		_, session := b.login(t, "alice", "correct horse")
		_, token, err := b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: "ci"})
		require.NoError(t, err)

		require.ErrorIs(t, b.svc.SetPassword(ctx, alice.ID, "short"), core.ErrInvalidInput)
		require.ErrorIs(t, b.svc.SetPassword(ctx, core.NewID(core.KindUser), "new password"), core.ErrNotFound)
		_, err = b.svc.Authenticate(ctx, session)
		require.NoError(t, err, "a refused change changes nothing")

		require.NoError(t, b.svc.SetPassword(ctx, alice.ID, "new password"))
		_, err = b.svc.Authenticate(ctx, session)
		require.Equal(t, identity.ReasonUnknown, reason(t, err))
		_, err = b.svc.Authenticate(ctx, token)
		require.NoError(t, err, "API tokens survive a password change")
		_, _, _, err = b.svc.Login(ctx, identity.LoginInput{Username: "alice", Password: "correct horse"})
		require.Equal(t, identity.ReasonWrongPassword, reason(t, err))
		b.login(t, "alice", "new password")
	})
}

func TestStrongerParamsKeepOldHashesValid(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		alice := b.user(t, "alice", "correct horse")
		stronger := identity.HashParams{Memory: 2048, Time: 2, Threads: 1}
		svc2 := identity.NewService(s, identity.Options{Hash: stronger, Now: b.clock.Now})

		_, _, _, err := svc2.Login(ctx, identity.LoginInput{Username: "alice", Password: "correct horse"})
		require.NoError(t, err, "a hash made with the old parameters still verifies")
		var enc string
		require.NoError(t, b.raw(t).QueryRow("SELECT password_hash FROM users WHERE id = ?", alice.ID).Scan(&enc))
		require.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=2048,t=2,p=1$"), "upgraded on login: %s", enc)

		_, _, _, err = b.svc.Login(ctx, identity.LoginInput{Username: "alice", Password: "correct horse"})
		require.NoError(t, err, "and the upgraded hash verifies under any configuration")
	})
}

// ---- API tokens ----

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		alice := b.user(t, "alice", "correct horse")
		bob := b.user(t, "bob", "battery staple")
		prj, err := b.projects.Create(ctx, project.CreateInput{Name: "ops"})
		require.NoError(t, err)

		tok, secret, err := b.svc.CreateToken(ctx, identity.CreateTokenInput{
			UserID: alice.ID, Name: " ci-deploy ", ProjectID: prj.ID, Role: "viewer", ExpiresAt: ptr(t0.Add(24 * time.Hour)),
		})
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(secret, identity.TokenSecretPrefix), secret)
		require.Len(t, secret, 47)
		require.Equal(t, "ci-deploy", tok.Name)
		require.Equal(t, prj.ID, tok.ProjectID)
		require.Equal(t, "viewer", tok.Role)
		require.Equal(t, ptr(t0.Add(24*time.Hour)), tok.ExpiresAt)
		require.Nil(t, tok.LastUsedAt)
		require.Nil(t, tok.RevokedAt)
		got, err := b.svc.GetToken(ctx, tok.ID)
		require.NoError(t, err)
		require.Equal(t, tok, got)

		// The secret is shown once: the database holds only its hash.
		for _, table := range []string{"api_tokens", "sessions", "users"} {
			dump := b.dump(t, table)
			require.NotContains(t, dump, secret, table)
			require.NotContains(t, dump, strings.TrimPrefix(secret, identity.TokenSecretPrefix), table)
		}
		var stored string
		require.NoError(t, b.raw(t).QueryRow("SELECT secret_hash FROM api_tokens WHERE id = ?", tok.ID).Scan(&stored))
		sum := sha256.Sum256([]byte(secret))
		require.Equal(t, hex.EncodeToString(sum[:]), stored)

		p, err := b.svc.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Nil(t, p.Session)
		require.NotNil(t, p.Token)
		require.Equal(t, tok.ID, p.Token.ID)
		require.Equal(t, prj.ID, p.Token.ProjectID)
		require.Equal(t, "viewer", p.Token.Role)
		require.Equal(t, ptr(t0), p.Token.LastUsedAt)
		require.Equal(t, alice.ID, p.User.ID)

		// Names are unique per user.
		_, _, err = b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: "ci-deploy"})
		require.ErrorIs(t, err, core.ErrConflict)
		require.Equal(t, "name", core.FieldOf(err))
		_, _, err = b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: bob.ID, Name: "ci-deploy"})
		require.NoError(t, err, "another user may use the same name")

		cases := []struct {
			in    identity.CreateTokenInput
			field string
			is    error
		}{
			{identity.CreateTokenInput{UserID: alice.ID, Name: ""}, "name", core.ErrInvalidInput},
			{identity.CreateTokenInput{UserID: alice.ID, Name: "ci deploy"}, "name", core.ErrInvalidInput},
			{identity.CreateTokenInput{UserID: alice.ID, Name: strings.Repeat("n", 64)}, "name", core.ErrInvalidInput},
			{identity.CreateTokenInput{UserID: alice.ID, Name: "x", ExpiresAt: ptr(t0)}, "expiresAt", core.ErrInvalidInput},
			{identity.CreateTokenInput{UserID: alice.ID, Name: "x", ExpiresAt: ptr(t0.Add(-time.Hour))}, "expiresAt", core.ErrInvalidInput},
			{identity.CreateTokenInput{UserID: alice.ID, Name: "x", ProjectID: "ops"}, "projectId", core.ErrInvalidInput},
			{identity.CreateTokenInput{UserID: alice.ID, Name: "x", ProjectID: core.NewID(core.KindProject)}, "projectId", core.ErrInvalidInput},
			{identity.CreateTokenInput{UserID: alice.ID, Name: "x", Role: "admin"}, "role", core.ErrInvalidInput},
			{identity.CreateTokenInput{UserID: "alice", Name: "x"}, "userId", core.ErrInvalidInput},
			{identity.CreateTokenInput{UserID: core.NewID(core.KindUser), Name: "x"}, "", core.ErrNotFound},
		}
		for _, tc := range cases {
			_, _, err := b.svc.CreateToken(ctx, tc.in)
			require.ErrorIs(t, err, tc.is, "%+v", tc.in)
			require.Equal(t, tc.field, core.FieldOf(err), "%+v", tc.in)
		}
		page, err := b.svc.ListTokens(ctx, alice.ID, core.PageArgs{})
		require.NoError(t, err)
		require.Len(t, page.Items, 1, "no failed create may leave a row")

		// Revoked tokens fail; revoking twice keeps the first time.
		b.clock.Advance(time.Hour)
		require.NoError(t, b.svc.RevokeToken(ctx, tok.ID))
		_, err = b.svc.Authenticate(ctx, secret)
		require.Equal(t, identity.ReasonRevoked, reason(t, err))
		require.Equal(t, "invalid or expired credentials", err.Error())
		b.clock.Advance(time.Hour)
		require.NoError(t, b.svc.RevokeToken(ctx, tok.ID))
		got, err = b.svc.GetToken(ctx, tok.ID)
		require.NoError(t, err)
		require.Equal(t, ptr(t0.Add(time.Hour)), got.RevokedAt)
		require.ErrorIs(t, b.svc.RevokeToken(ctx, core.NewID(core.KindToken)), core.ErrNotFound)
		require.ErrorIs(t, b.svc.RevokeToken(ctx, alice.ID), core.ErrInvalidInput)
	})
}

func TestTokenExpiryAndDisabledUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		alice := b.user(t, "alice", "correct horse")
		_, expiring, err := b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: "short", ExpiresAt: ptr(t0.Add(time.Hour))})
		require.NoError(t, err)
		_, forever, err := b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: "forever"})
		require.NoError(t, err)
		_, session := b.login(t, "alice", "correct horse")

		b.clock.Advance(time.Hour - time.Microsecond)
		_, err = b.svc.Authenticate(ctx, expiring)
		require.NoError(t, err)
		b.clock.Advance(time.Microsecond)
		_, err = b.svc.Authenticate(ctx, expiring)
		require.Equal(t, identity.ReasonExpired, reason(t, err))

		require.NoError(t, b.svc.SetDisabled(ctx, alice.ID, true))
		_, err = b.svc.Authenticate(ctx, forever)
		require.Equal(t, identity.ReasonUserDisabled, reason(t, err))
		_, err = b.svc.Authenticate(ctx, session)
		require.Equal(t, identity.ReasonUnknown, reason(t, err), "disabling ends sessions")
		_, _, err = b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: "new"})
		require.ErrorIs(t, err, core.ErrInvalidInput)
		require.Equal(t, "userId", core.FieldOf(err))

		require.NoError(t, b.svc.SetDisabled(ctx, alice.ID, false))
		_, err = b.svc.Authenticate(ctx, forever)
		require.NoError(t, err, "tokens work again once the user is re-enabled")
		_, err = b.svc.Authenticate(ctx, session)
		require.Error(t, err, "sessions do not come back")
		require.ErrorIs(t, b.svc.SetDisabled(ctx, core.NewID(core.KindUser), true), core.ErrNotFound)
	})
}

func TestTokenLastUsedIsWrittenAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		alice := b.user(t, "alice", "correct horse")
		tok, secret, err := b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: "ci"})
		require.NoError(t, err)
		lastUsed := func() *time.Time { return b.rawTime(t, "api_tokens", "last_used_at", tok.ID) }
		require.Nil(t, lastUsed())

		_, err = b.svc.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, ptr(t0), lastUsed(), "the first use is written")

		b.clock.Advance(59 * time.Second)
		for range 3 {
			_, err = b.svc.Authenticate(ctx, secret)
			require.NoError(t, err)
		}
		require.Equal(t, ptr(t0), lastUsed(), "not again within a minute")

		b.clock.Advance(time.Second)
		p, err := b.svc.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, ptr(t0.Add(time.Minute)), lastUsed(), "again once a minute has passed")
		require.Equal(t, lastUsed(), p.Token.LastUsedAt)
	})
}

func TestAuthenticateRejectsMalformedSecrets(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		alice := b.user(t, "alice", "correct horse")
		_, secret, err := b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: "ci"})
		require.NoError(t, err)
		body := strings.TrimPrefix(secret, identity.TokenSecretPrefix)

		// Flip one of the last character's two unused low bits: it decodes to
		// the same bytes unless decoding is strict.
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		nonCanonical := secret[:len(secret)-1] + string(alphabet[strings.IndexByte(alphabet, secret[len(secret)-1])^1])
		for _, in := range []string{
			"",
			"jgp_",
			"jgs_",
			"Bearer x",
			"Bearer " + secret,
			" " + secret,
			secret + "\n",
			strings.ToUpper(secret[:4]) + body,
			"jgx_" + body,
			body,
			"jgp_" + body[:42],
			"jgp_" + body + "A",
			"jgp_" + strings.Repeat("*", 43),
			"jgp_" + strings.Repeat("é", 21) + "a",
			nonCanonical,
			strings.Repeat("A", 10*1024),
			"jgp_" + strings.Repeat("\x00", 43),
		} {
			p, err := b.svc.Authenticate(ctx, in)
			require.Equal(t, identity.ReasonMalformed, reason(t, err), "%q", in)
			require.Equal(t, "invalid or expired credentials", err.Error())
			require.Zero(t, p)
		}

		// Well-formed but unknown.
		for _, prefix := range []string{identity.TokenSecretPrefix, identity.SessionSecretPrefix} {
			fake := prefix + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
			_, err := b.svc.Authenticate(ctx, fake)
			require.Equal(t, identity.ReasonUnknown, reason(t, err))
		}
		_, err = b.svc.Authenticate(ctx, identity.SessionSecretPrefix+body)
		require.Equal(t, identity.ReasonUnknown, reason(t, err), "a token's secret is no session secret")
		_, err = b.svc.Authenticate(ctx, secret)
		require.NoError(t, err)
	})
}

func TestProjectDeletionRemovesItsTokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		alice := b.user(t, "alice", "correct horse")
		prj, err := b.projects.Create(ctx, project.CreateInput{Name: "ops"})
		require.NoError(t, err)
		limited, secret, err := b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: "ops-only", ProjectID: prj.ID})
		require.NoError(t, err)
		_, _, err = b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: "everything"})
		require.NoError(t, err)

		require.NoError(t, b.projects.Delete(ctx, prj.ID), "a limited token does not block the project's deletion")
		_, err = b.svc.GetToken(ctx, limited.ID)
		require.ErrorIs(t, err, core.ErrNotFound)
		_, err = b.svc.Authenticate(ctx, secret)
		require.Equal(t, identity.ReasonUnknown, reason(t, err))
		page, err := b.svc.ListTokens(ctx, alice.ID, core.PageArgs{})
		require.NoError(t, err)
		require.Len(t, page.Items, 1)
	})
}

// ---- lists ----

func TestListUsersAndTokensPaginate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		var want []string
		for _, name := range []string{"user-c", "user-a", "ops.2", "user-b", "ops.1", "user-e", "user-d"} {
			b.user(t, name, "password")
		}
		want = []string{"ops.1", "ops.2", "user-a", "user-b", "user-c", "user-d", "user-e"}

		var got []string
		page := core.PageArgs{First: 3}
		for pages := 1; ; pages++ {
			require.LessOrEqual(t, pages, 3)
			p, err := b.svc.ListUsers(ctx, identity.UserFilter{}, page)
			require.NoError(t, err)
			for _, u := range p.Items {
				got = append(got, u.Username)
			}
			if !p.HasNext {
				require.Equal(t, 3, pages)
				break
			}
			page.After = p.Cursors[len(p.Cursors)-1]
		}
		require.Equal(t, want, got)

		p, err := b.svc.ListUsers(ctx, identity.UserFilter{Search: "OPS"}, core.PageArgs{})
		require.NoError(t, err)
		require.Len(t, p.Items, 2)
		p, err = b.svc.ListUsers(ctx, identity.UserFilter{Search: "USER-D"}, core.PageArgs{}) // display name "USER-D"
		require.NoError(t, err)
		require.Len(t, p.Items, 1)
		p, err = b.svc.ListUsers(ctx, identity.UserFilter{Search: "%"}, core.PageArgs{})
		require.NoError(t, err)
		require.Empty(t, p.Items, "LIKE metacharacters match themselves")
		_, err = b.svc.ListUsers(ctx, identity.UserFilter{}, core.PageArgs{First: 501})
		require.ErrorIs(t, err, core.ErrInvalidInput)

		alice, err := b.svc.UserByUsername(ctx, "user-a")
		require.NoError(t, err)
		bob, err := b.svc.UserByUsername(ctx, "user-b")
		require.NoError(t, err)
		for _, name := range []string{"e", "b", "d", "a", "c"} {
			_, _, err := b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: alice.ID, Name: name})
			require.NoError(t, err)
		}
		_, _, err = b.svc.CreateToken(ctx, identity.CreateTokenInput{UserID: bob.ID, Name: "a"})
		require.NoError(t, err)
		got = nil
		page = core.PageArgs{First: 2}
		for {
			p, err := b.svc.ListTokens(ctx, alice.ID, page)
			require.NoError(t, err)
			for _, tok := range p.Items {
				require.Equal(t, alice.ID, tok.UserID)
				got = append(got, tok.Name)
			}
			if !p.HasNext {
				break
			}
			page.After = p.Cursors[len(p.Cursors)-1]
		}
		require.Equal(t, []string{"a", "b", "c", "d", "e"}, got)
		_, err = b.svc.ListTokens(ctx, "bob", core.PageArgs{})
		require.ErrorIs(t, err, core.ErrInvalidInput)
	})
}
