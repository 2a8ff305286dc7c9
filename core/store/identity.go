package store

import (
	"context"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/identity"
)

// Users, sessions and API tokens. Passwords are stored only as argon2id
// hashes and secrets only as SHA-256 hashes; the hash columns are read only
// by the methods that authenticate, never by listings.

type userRow struct {
	ID           string `gorm:"primaryKey"`
	Username     string
	DisplayName  string
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt    time.Time `gorm:"autoUpdateTime:false"`
	LastLoginAt  *time.Time
}

func (userRow) TableName() string { return "users" }

// userColumns are the columns that describe a user, without the password hash.
var userColumns = []string{"id", "username", "display_name", "disabled", "created_at", "updated_at", "last_login_at"}

func userFromCore(u identity.User, passwordHash string) userRow {
	return userRow{
		ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, PasswordHash: passwordHash, Disabled: u.Disabled,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastLoginAt: u.LastLoginAt,
	}
}

func (r userRow) toCore() identity.User {
	return identity.User{
		ID: r.ID, Username: r.Username, DisplayName: r.DisplayName, Disabled: r.Disabled,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), LastLoginAt: utcPtr(r.LastLoginAt),
	}
}

type sessionRow struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	SecretHash string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	ExpiresAt  time.Time
	LastSeenAt time.Time
	ClientAddr string
	UserAgent  string
}

func (sessionRow) TableName() string { return "sessions" }

func sessionFromCore(s identity.Session, secretHash string) sessionRow {
	return sessionRow{
		ID: s.ID, UserID: s.UserID, SecretHash: secretHash, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt,
		LastSeenAt: s.LastSeenAt, ClientAddr: s.ClientAddr, UserAgent: s.UserAgent,
	}
}

func (r sessionRow) toCore() identity.Session {
	return identity.Session{
		ID: r.ID, UserID: r.UserID, CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		LastSeenAt: r.LastSeenAt.UTC(), ClientAddr: r.ClientAddr, UserAgent: r.UserAgent,
	}
}

type tokenRow struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	Name       string
	SecretHash string
	ProjectID  *string
	Role       string
	ExpiresAt  *time.Time
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

func (tokenRow) TableName() string { return "api_tokens" }

// tokenColumns are the columns that describe a token, without the secret hash.
var tokenColumns = []string{"id", "user_id", "name", "project_id", "role", "expires_at", "created_at", "last_used_at", "revoked_at"}

func tokenFromCore(t identity.Token, secretHash string) tokenRow {
	r := tokenRow{
		ID: t.ID, UserID: t.UserID, Name: t.Name, SecretHash: secretHash, Role: t.Role,
		ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt,
	}
	if t.ProjectID != "" {
		r.ProjectID = &t.ProjectID
	}
	return r
}

func (r tokenRow) toCore() identity.Token {
	t := identity.Token{
		ID: r.ID, UserID: r.UserID, Name: r.Name, Role: r.Role, ExpiresAt: utcPtr(r.ExpiresAt),
		CreatedAt: r.CreatedAt.UTC(), LastUsedAt: utcPtr(r.LastUsedAt), RevokedAt: utcPtr(r.RevokedAt),
	}
	if r.ProjectID != nil {
		t.ProjectID = *r.ProjectID
	}
	return t
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// ---- users ----

// CreateUser implements identity.UserStore.
func (s *Store) CreateUser(ctx context.Context, u identity.User, passwordHash string) error {
	row := userFromCore(u, passwordHash)
	err := s.conn(ctx).Create(&row).Error
	if isDuplicate(err) {
		return core.Conflict("username", "a user named %q already exists", u.Username)
	}
	return err
}

// GetUser implements identity.UserStore.
func (s *Store) GetUser(ctx context.Context, id string) (identity.User, error) {
	var row userRow
	err := take(s.conn(ctx).Select(userColumns).Where("id = ?", id), &row, "user", id)
	return row.toCore(), err
}

// UserByUsername implements identity.UserStore.
func (s *Store) UserByUsername(ctx context.Context, username string) (identity.User, string, error) {
	var row userRow
	err := take(s.conn(ctx).Where("username = ?", username), &row, "user", username)
	if err != nil {
		return identity.User{}, "", err
	}
	return row.toCore(), row.PasswordHash, nil
}

// UsersByID implements identity.UserStore.
func (s *Store) UsersByID(ctx context.Context, ids []string) (map[string]identity.User, error) {
	out := make(map[string]identity.User, len(ids))
	for _, chunk := range chunks(ids, 1000) {
		var rows []userRow
		if err := s.conn(ctx).Select(userColumns).Where("id IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.ID] = r.toCore()
		}
	}
	return out, nil
}

// ListUsers implements identity.UserStore.
func (s *Store) ListUsers(ctx context.Context, f identity.UserFilter, page core.PageArgs) (core.Page[identity.User], error) {
	q := s.conn(ctx).Model(&userRow{}).Select(userColumns)
	if f.Search != "" {
		pat := likeSubstring(f.Search)
		q = q.Where("(LOWER(users.username) LIKE ? ESCAPE '!' OR LOWER(users.display_name) LIKE ? ESCAPE '!')", pat, pat)
	}
	var rows []userRow
	if err := keyset(q, "users", "username", page).Find(&rows).Error; err != nil {
		return core.Page[identity.User]{}, err
	}
	return toPage(rows, page, userRow.toCore, func(r userRow) (string, string) { return r.Username, r.ID }), nil
}

// CountUsers implements identity.UserStore.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int64
	err := s.conn(ctx).Model(&userRow{}).Count(&n).Error
	return int(n), err
}

// updateUser sets columns of one user, or reports it missing.
func (s *Store) updateUser(ctx context.Context, id string, cols map[string]any) error {
	res := s.conn(ctx).Model(&userRow{}).Where("id = ?", id).Updates(cols)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return core.NotFound("user", id)
	}
	return nil
}

// SetPasswordHash implements identity.UserStore.
func (s *Store) SetPasswordHash(ctx context.Context, id, passwordHash string, at time.Time) error {
	return s.updateUser(ctx, id, map[string]any{"password_hash": passwordHash, "updated_at": at})
}

// SetUserDisabled implements identity.UserStore.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	return s.updateUser(ctx, id, map[string]any{"disabled": disabled, "updated_at": at})
}

// SetLastLogin implements identity.UserStore.
func (s *Store) SetLastLogin(ctx context.Context, id string, at time.Time) error {
	return s.updateUser(ctx, id, map[string]any{"last_login_at": at})
}

// ---- sessions ----

// CreateSession implements identity.SessionStore.
func (s *Store) CreateSession(ctx context.Context, ses identity.Session, secretHash string) error {
	row := sessionFromCore(ses, secretHash)
	return s.conn(ctx).Create(&row).Error
}

// SessionBySecretHash implements identity.SessionStore.
func (s *Store) SessionBySecretHash(ctx context.Context, secretHash string) (identity.Session, string, error) {
	var row sessionRow
	err := take(s.conn(ctx).Where("secret_hash = ?", secretHash), &row, "session", "")
	if err != nil {
		return identity.Session{}, "", err
	}
	return row.toCore(), row.SecretHash, nil
}

// TouchSession implements identity.SessionStore.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeenAt, expiresAt, staleBefore time.Time) error {
	return s.conn(ctx).Model(&sessionRow{}).
		Where("id = ? AND last_seen_at <= ?", id, staleBefore).
		Updates(map[string]any{"last_seen_at": lastSeenAt, "expires_at": expiresAt}).Error
}

// DeleteSession implements identity.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	res := s.conn(ctx).Delete(&sessionRow{ID: id})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return core.NotFound("session", id)
	}
	return nil
}

// DeleteUserSessions implements identity.SessionStore.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	return s.conn(ctx).Where("user_id = ?", userID).Delete(&sessionRow{}).Error
}

// DeleteExpiredSessions implements identity.SessionStore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	res := s.conn(ctx).Where("expires_at <= ?", t).Delete(&sessionRow{})
	return int(res.RowsAffected), res.Error
}

// ---- API tokens ----

// CreateToken implements identity.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t identity.Token, secretHash string) error {
	row := tokenFromCore(t, secretHash)
	err := s.conn(ctx).Create(&row).Error
	if isDuplicate(err) {
		return core.Conflict("name", "you already have an API token named %q", t.Name)
	}
	return err
}

// GetToken implements identity.TokenStore.
func (s *Store) GetToken(ctx context.Context, id string) (identity.Token, error) {
	var row tokenRow
	err := take(s.conn(ctx).Select(tokenColumns).Where("id = ?", id), &row, "API token", id)
	return row.toCore(), err
}

// TokenBySecretHash implements identity.TokenStore.
func (s *Store) TokenBySecretHash(ctx context.Context, secretHash string) (identity.Token, string, error) {
	var row tokenRow
	err := take(s.conn(ctx).Where("secret_hash = ?", secretHash), &row, "API token", "")
	if err != nil {
		return identity.Token{}, "", err
	}
	return row.toCore(), row.SecretHash, nil
}

// ListTokens implements identity.TokenStore.
func (s *Store) ListTokens(ctx context.Context, userID string, page core.PageArgs) (core.Page[identity.Token], error) {
	q := s.conn(ctx).Model(&tokenRow{}).Select(tokenColumns).Where("api_tokens.user_id = ?", userID)
	var rows []tokenRow
	if err := keyset(q, "api_tokens", "name", page).Find(&rows).Error; err != nil {
		return core.Page[identity.Token]{}, err
	}
	return toPage(rows, page, tokenRow.toCore, func(r tokenRow) (string, string) { return r.Name, r.ID }), nil
}

// RevokeToken implements identity.TokenStore. A token revoked already keeps
// its first revocation time.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res := s.conn(ctx).Model(&tokenRow{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", at)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected > 0 {
		return nil
	}
	var n int64
	if err := s.conn(ctx).Model(&tokenRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return core.NotFound("API token", id)
	}
	return nil
}

// TouchToken implements identity.TokenStore.
func (s *Store) TouchToken(ctx context.Context, id string, lastUsedAt, staleBefore time.Time) error {
	return s.conn(ctx).Model(&tokenRow{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", id, staleBefore).
		Update("last_used_at", lastUsedAt).Error
}

var _ identity.Store = (*Store)(nil)
