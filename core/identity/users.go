package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// normalizeUsername checks a username as given and returns it folded to
// lower case. Only ASCII letters are accepted before folding, so that no
// Unicode case mapping (the Kelvin sign folds to "k") can make two different
// inputs one username.
func normalizeUsername(field, u string) (string, error) {
	u = strings.TrimSpace(u)
	if u == "" {
		return "", core.Invalid(field, "must not be empty")
	}
	if len(u) > MaxUsernameLen {
		return "", core.Invalid(field, "must be at most %d characters", MaxUsernameLen)
	}
	b := []byte(u)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return "", core.Invalid(field, "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit")
		}
	}
	return string(b), nil
}

// checkPassword validates a new password. The message never quotes it.
func checkPassword(field, p string) error {
	if len(p) < MinPasswordLen || len(p) > MaxPasswordLen {
		return core.Invalid(field, "must be between %d and %d bytes long", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// CreateUserInput is what a new user is made of.
type CreateUserInput struct {
	// Username is folded to lower case.
	Username    string
	DisplayName string
	Password    string
}

// CreateUser validates in, hashes the password and stores a new user.
func (s *Service) CreateUser(ctx context.Context, in CreateUserInput) (User, error) {
	username, err := normalizeUsername("username", in.Username)
	if err != nil {
		return User{}, err
	}
	display := strings.TrimSpace(in.DisplayName)
	if err := core.CheckText("displayName", display, MaxDisplayNameLen); err != nil {
		return User{}, err
	}
	if err := checkPassword("password", in.Password); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(in.Password, s.hash)
	if err != nil {
		return User{}, err
	}
	now := s.now()
	u := User{
		ID:          core.NewID(core.KindUser),
		Username:    username,
		DisplayName: display,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if err := s.store.CreateUser(ctx, u, hash); err != nil {
		return User{}, err
	}
	return u, nil
}

// GetUser returns one user.
func (s *Service) GetUser(ctx context.Context, id string) (User, error) {
	if err := core.CheckID("id", core.KindUser, id); err != nil {
		return User{}, err
	}
	return s.store.GetUser(ctx, id)
}

// UserByUsername returns the user with that username (in any case).
func (s *Service) UserByUsername(ctx context.Context, username string) (User, error) {
	name, err := normalizeUsername("username", username)
	if err != nil {
		return User{}, err
	}
	u, _, err := s.store.UserByUsername(ctx, name)
	return u, err
}

// UsersByID returns those of ids that exist, keyed by ID.
func (s *Service) UsersByID(ctx context.Context, ids []string) (map[string]User, error) {
	return s.store.UsersByID(ctx, ids)
}

// ListUsers returns one page of users, ordered by username.
func (s *Service) ListUsers(ctx context.Context, f UserFilter, page core.PageArgs) (core.Page[User], error) {
	if err := page.Validate(); err != nil {
		return core.Page[User]{}, err
	}
	return s.store.ListUsers(ctx, f, page)
}

// CountUsers counts every user. A server with none still needs its first
// administrator to be created.
func (s *Service) CountUsers(ctx context.Context) (int, error) {
	return s.store.CountUsers(ctx)
}

// SetPassword replaces a user's password and ends all of the user's
// sessions, so that whoever knew the old password is signed out. API tokens
// are left alone: they are credentials of their own, revoked one by one.
func (s *Service) SetPassword(ctx context.Context, userID, password string) error {
	if err := core.CheckID("id", core.KindUser, userID); err != nil {
		return err
	}
	if err := checkPassword("password", password); err != nil {
		return err
	}
	// Hash before the transaction: argon2 is slow and must not hold it open.
	hash, err := HashPassword(password, s.hash)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.SetPasswordHash(ctx, userID, hash, s.now()); err != nil {
			return err
		}
		return s.store.DeleteUserSessions(ctx, userID)
	})
}

// ChangePassword sets a new password for a user who proves the current one.
// The check runs under the login throttle, so it cannot be used to guess
// passwords; a wrong current password is an invalid input on
// currentPassword (the caller is already authenticated).
func (s *Service) ChangePassword(ctx context.Context, userID, current, next, clientAddr string) error {
	u, err := s.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if err := checkPassword("newPassword", next); err != nil {
		return err
	}
	_, err = s.throttled(LoginInput{Username: u.Username, ClientAddr: clientAddr}, func(time.Time) (User, error) {
		u, _, err := s.verify(ctx, LoginInput{Username: u.Username, Password: current})
		return u, err
	})
	var throttled *ThrottledError
	switch {
	case errors.As(err, &throttled):
		return err
	case errors.Is(err, core.ErrUnauthenticated):
		return core.Invalid("currentPassword", "the current password is wrong")
	case err != nil:
		return err
	}
	return s.SetPassword(ctx, userID, next)
}

// SetDisabled disables or re-enables a user. Disabling ends the user's
// sessions; the user's API tokens are kept but rejected by Authenticate for
// as long as the user is disabled.
func (s *Service) SetDisabled(ctx context.Context, userID string, disabled bool) error {
	if err := core.CheckID("id", core.KindUser, userID); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.SetUserDisabled(ctx, userID, disabled, s.now()); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		return s.store.DeleteUserSessions(ctx, userID)
	})
}
