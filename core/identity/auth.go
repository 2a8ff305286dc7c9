package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jobgraph/jobgraph/core"
)

// LoginInput is one password login attempt.
type LoginInput struct {
	Username string
	Password string
	// ClientAddr is the client's IP address as the server sees it (after
	// trusted proxies); a port, if present, is ignored by the throttle.
	ClientAddr string
	UserAgent  string
}

// Login checks a username and password and, if they match an enabled user,
// starts a session. It returns the user, the session and the session's
// secret, which is shown only this once.
//
// Every failure is an *AuthError saying "invalid username or password",
// whatever went wrong, and takes about as long; too many recent failures
// give a *ThrottledError instead, without the password being checked (see
// the package doc).
func (s *Service) Login(ctx context.Context, in LoginInput) (User, Session, string, error) {
	var (
		ses    Session
		secret string
	)
	u, err := s.throttled(in, func(now time.Time) (User, error) {
		var err error
		var u User
		u, ses, secret, err = s.login(ctx, now, in)
		return u, err
	})
	return u, ses, secret, err
}

// throttled runs a password check under the login throttle: a failure with
// an *AuthError counts against the username and the address, a success
// clears the username's failures, and too many recent failures refuse the
// attempt without running check.
func (s *Service) throttled(in LoginInput, check func(now time.Time) (User, error)) (User, error) {
	now := s.now()
	att, wait := s.throttle.begin(now, in.Username, in.ClientAddr)
	if att == nil {
		// Round up, so that a client that waits as told is let through.
		return User{}, &ThrottledError{RetryAfter: (wait + time.Second - 1).Truncate(time.Second)}
	}
	u, err := check(now)
	var ae *AuthError
	switch {
	case err == nil:
		att.succeed()
	case errors.As(err, &ae):
		// A failure: it stays counted.
	default:
		att.cancel()
	}
	return u, err
}

func (s *Service) login(ctx context.Context, now time.Time, in LoginInput) (User, Session, string, error) {
	u, hash, err := s.verify(ctx, in)
	if err != nil {
		return User{}, Session{}, "", err
	}
	secret, secretHash, err := newSecret(SessionSecretPrefix)
	if err != nil {
		return User{}, Session{}, "", err
	}
	ses := Session{
		ID:         core.NewID(core.KindSession),
		UserID:     u.ID,
		CreatedAt:  now,
		ExpiresAt:  now.Add(s.ttl),
		LastSeenAt: now,
		ClientAddr: clip(in.ClientAddr, MaxClientAddrLen),
		UserAgent:  clip(in.UserAgent, MaxUserAgentLen),
	}
	var rehash string
	if needsRehash(hash, s.hash) {
		// The stored hash was made with older parameters: replace it now,
		// while the password is at hand. Failing to is no reason to refuse
		// the login.
		rehash, _ = HashPassword(in.Password, s.hash)
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateSession(ctx, ses, secretHash); err != nil {
			return err
		}
		if rehash != "" {
			if err := s.store.SetPasswordHash(ctx, u.ID, rehash, now); err != nil {
				return err
			}
		}
		return s.store.SetLastLogin(ctx, u.ID, now)
	})
	if err != nil {
		return User{}, Session{}, "", fmt.Errorf("start session: %w", err)
	}
	u.LastLoginAt = &now
	return u, ses, secret, nil
}

// verify checks a username and password, taking about as long whether or
// not the user exists, and returns the user and its stored hash.
func (s *Service) verify(ctx context.Context, in LoginInput) (User, string, error) {
	username, uerr := normalizeUsername("username", in.Username)
	var (
		u    User
		hash string
		err  error
	)
	if uerr == nil && len(in.Password) <= MaxPasswordLen {
		u, hash, err = s.store.UserByUsername(ctx, username)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return User{}, "", fmt.Errorf("look up user: %w", err)
		}
	}
	if uerr != nil || len(in.Password) > MaxPasswordLen || err != nil {
		// Unknown user, or input no user can have: spend the time a real
		// check would, so that timing does not tell usernames apart.
		dummy, derr := s.dummyHash()
		if derr != nil {
			return User{}, "", derr
		}
		_, _ = VerifyPassword(truncate(in.Password, MaxPasswordLen), dummy)
		if err != nil {
			return User{}, "", loginFailed(ReasonUnknownUser)
		}
		return User{}, "", loginFailed(ReasonInvalidInput)
	}
	ok, err := VerifyPassword(in.Password, hash)
	switch {
	case err != nil:
		return User{}, "", loginFailed(ReasonStoredHash)
	case !ok:
		return User{}, "", loginFailed(ReasonWrongPassword)
	case u.Disabled:
		return User{}, "", loginFailed(ReasonUserDisabled)
	}
	return u, hash, nil
}

// Logout ends a session. Ending one that has already ended is not an error.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	if err := core.CheckID("id", core.KindSession, sessionID); err != nil {
		return err
	}
	err := s.store.DeleteSession(ctx, sessionID)
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	return err
}

// PruneSessions deletes the sessions that have expired and says how many.
// Authenticate deletes an expired session it is shown; this catches the
// ones nobody comes back with. Run it now and then.
func (s *Service) PruneSessions(ctx context.Context) (int, error) {
	return s.store.DeleteExpiredSessions(ctx, s.now())
}

// Authenticate turns a session or token secret into the Principal it
// belongs to. Pass the secret alone, without a scheme such as "Bearer ".
//
// An unknown, expired or revoked secret, or one whose user is disabled, is
// an *AuthError saying only "invalid or expired credentials". A malformed
// secret is rejected before any query.
//
// It records the use (Session.LastSeenAt, Token.LastUsedAt) and slides the
// session's expiry once more than half of its lifetime has passed, but
// writes at most once per UsageWriteInterval per session or token.
func (s *Service) Authenticate(ctx context.Context, secret string) (Principal, error) {
	switch secretPrefix(secret) {
	case SessionSecretPrefix:
		return s.authSession(ctx, hashSecret(secret))
	case TokenSecretPrefix:
		return s.authToken(ctx, hashSecret(secret))
	}
	return Principal{}, authFailed(ReasonMalformed)
}

func (s *Service) authSession(ctx context.Context, hash string) (Principal, error) {
	ses, stored, err := s.store.SessionBySecretHash(ctx, hash)
	if errors.Is(err, core.ErrNotFound) {
		return Principal{}, authFailed(ReasonUnknown)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up session: %w", err)
	}
	// The lookup matched on the hash already; comparing again in constant
	// time means no property of the database's index comparison (collation,
	// padding, early exit) is relied upon.
	if subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1 {
		return Principal{}, authFailed(ReasonUnknown)
	}
	now := s.now()
	if !now.Before(ses.ExpiresAt) {
		// Expired for good: nobody may use it again, so drop it now.
		if err := s.store.DeleteSession(ctx, ses.ID); err != nil && !errors.Is(err, core.ErrNotFound) {
			return Principal{}, fmt.Errorf("delete expired session: %w", err)
		}
		return Principal{}, authFailed(ReasonExpired)
	}
	u, err := s.principalUser(ctx, ses.UserID)
	if err != nil {
		return Principal{}, err
	}
	if now.Sub(ses.LastSeenAt) >= UsageWriteInterval {
		expires := ses.ExpiresAt
		if ses.ExpiresAt.Sub(now) < s.ttl/2 {
			expires = now.Add(s.ttl)
		}
		if err := s.store.TouchSession(ctx, ses.ID, now, expires, now.Add(-UsageWriteInterval)); err != nil {
			return Principal{}, fmt.Errorf("record session use: %w", err)
		}
		ses.LastSeenAt, ses.ExpiresAt = now, expires
	}
	return Principal{User: u, Session: &ses}, nil
}

func (s *Service) authToken(ctx context.Context, hash string) (Principal, error) {
	tok, stored, err := s.store.TokenBySecretHash(ctx, hash)
	if errors.Is(err, core.ErrNotFound) {
		return Principal{}, authFailed(ReasonUnknown)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up API token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1 {
		return Principal{}, authFailed(ReasonUnknown)
	}
	now := s.now()
	switch {
	case tok.RevokedAt != nil:
		return Principal{}, authFailed(ReasonRevoked)
	case tok.ExpiresAt != nil && !now.Before(*tok.ExpiresAt):
		return Principal{}, authFailed(ReasonExpired)
	}
	u, err := s.principalUser(ctx, tok.UserID)
	if err != nil {
		return Principal{}, err
	}
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) >= UsageWriteInterval {
		if err := s.store.TouchToken(ctx, tok.ID, now, now.Add(-UsageWriteInterval)); err != nil {
			return Principal{}, fmt.Errorf("record API token use: %w", err)
		}
		tok.LastUsedAt = &now
	}
	return Principal{User: u, Token: &tok}, nil
}

// principalUser loads the user a credential belongs to, refusing a disabled
// one.
func (s *Service) principalUser(ctx context.Context, id string) (User, error) {
	u, err := s.store.GetUser(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return User{}, authFailed(ReasonUserGone)
	}
	if err != nil {
		return User{}, fmt.Errorf("load user: %w", err)
	}
	if u.Disabled {
		return User{}, authFailed(ReasonUserDisabled)
	}
	return u, nil
}

// clip makes s valid UTF-8 of at most n bytes, cutting on a rune boundary:
// client-supplied descriptions are recorded, not validated.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
