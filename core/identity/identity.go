package identity

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// Limits on identity fields.
const (
	MaxUsernameLen    = 64
	MinPasswordLen    = 8    // bytes
	MaxPasswordLen    = 1024 // bytes
	MaxDisplayNameLen = 255  // bytes
	MaxTokenNameLen   = 63
	MaxRoleLen        = 64
	// MaxClientAddrLen and MaxUserAgentLen bound what a session records of
	// its client; longer values are cut, not refused.
	MaxClientAddrLen = 255
	MaxUserAgentLen  = 512
)

// Session lifetimes and write coalescing.
const (
	// DefaultSessionTTL is the session lifetime a zero Options.SessionTTL
	// stands for.
	DefaultSessionTTL = 12 * time.Hour
	// MinSessionTTL is the shortest session lifetime Options accept: a
	// session must outlive a few UsageWriteIntervals to slide at all.
	MinSessionTTL = 5 * time.Minute
	// UsageWriteInterval is how stale a stored last-seen or last-used time
	// must be before Authenticate writes a new one (see the package doc).
	UsageWriteInterval = time.Minute
)

// User is a local account.
type User struct {
	ID string
	// Username is the login name: lower case, unique.
	Username    string
	DisplayName string
	// Disabled users cannot log in, and their sessions and tokens are
	// rejected.
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// LastLoginAt is the time of the last successful Login, nil if none.
	LastLoginAt *time.Time
}

// Session is a console login. Its secret is not part of it: only a hash is
// stored, and the secret is returned once, by Login.
type Session struct {
	ID        string
	UserID    string
	CreatedAt time.Time
	// ExpiresAt moves forward while the session is in use (see
	// Service.Authenticate).
	ExpiresAt time.Time
	// LastSeenAt is when the session was last used, to within
	// UsageWriteInterval.
	LastSeenAt time.Time
	// ClientAddr and UserAgent describe the client that logged in.
	ClientAddr string
	UserAgent  string
}

// Token is a personal API token. Its secret is not part of it: only a hash
// is stored, and the secret is returned once, by CreateToken.
type Token struct {
	ID     string
	UserID string
	// Name is unique among the user's tokens.
	Name string
	// ProjectID limits the token to one project; "" means not limited.
	ProjectID string
	// Role limits the token to one role's permissions (as rbac names it);
	// "" means not limited: the token acts with all of its user's rights.
	Role string
	// ExpiresAt is nil for a token that does not expire.
	ExpiresAt *time.Time
	CreatedAt time.Time
	// LastUsedAt is when the token was last used, to within
	// UsageWriteInterval; nil if never.
	LastUsedAt *time.Time
	// RevokedAt is set once the token is revoked; it never works again.
	RevokedAt *time.Time
}

// Principal is who is calling: a user, and the one credential the request
// proved it with. Exactly one of Session and Token is set.
type Principal struct {
	User    User
	Session *Session
	Token   *Token
}

// Actor names the principal in audit records: "user:<id>".
func (p Principal) Actor() string { return "user:" + p.User.ID }

// UserFilter narrows a user list.
type UserFilter struct {
	// Search matches a substring of the username or display name,
	// case-insensitively.
	Search string
}

// Store is what the identity service needs from storage.
type Store interface {
	core.Transactor
	// ProjectExists returns a *core.NotFoundError if there is no such project.
	ProjectExists(ctx context.Context, id string) error
	UserStore
	SessionStore
	TokenStore
}

// UserStore keeps users and their password hashes.
type UserStore interface {
	// CreateUser stores u with its password hash; a taken username is a
	// *core.ConflictError on "username".
	CreateUser(ctx context.Context, u User, passwordHash string) error
	GetUser(ctx context.Context, id string) (User, error)
	// UserByUsername returns the user with that (folded) username and its
	// password hash.
	UserByUsername(ctx context.Context, username string) (User, string, error)
	// UsersByID returns those of ids that exist, keyed by ID.
	UsersByID(ctx context.Context, ids []string) (map[string]User, error)
	// ListUsers orders by username, then ID.
	ListUsers(ctx context.Context, f UserFilter, page core.PageArgs) (core.Page[User], error)
	CountUsers(ctx context.Context) (int, error)
	SetPasswordHash(ctx context.Context, id, passwordHash string, at time.Time) error
	SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error
	SetLastLogin(ctx context.Context, id string, at time.Time) error
}

// SessionStore keeps sessions by the hash of their secret.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session, secretHash string) error
	// SessionBySecretHash returns the session and its stored secret hash.
	SessionBySecretHash(ctx context.Context, secretHash string) (Session, string, error)
	// TouchSession sets last_seen_at and expires_at, unless last_seen_at is
	// already later than staleBefore (another request recorded the use).
	TouchSession(ctx context.Context, id string, lastSeenAt, expiresAt, staleBefore time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID string) error
	// DeleteExpiredSessions deletes the sessions that expired before t and
	// says how many.
	DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error)
}

// TokenStore keeps API tokens by the hash of their secret.
type TokenStore interface {
	// CreateToken stores t with its secret hash; a name the user already
	// uses is a *core.ConflictError on "name".
	CreateToken(ctx context.Context, t Token, secretHash string) error
	GetToken(ctx context.Context, id string) (Token, error)
	// TokenBySecretHash returns the token and its stored secret hash.
	TokenBySecretHash(ctx context.Context, secretHash string) (Token, string, error)
	// ListTokens orders a user's tokens by name, then ID.
	ListTokens(ctx context.Context, userID string, page core.PageArgs) (core.Page[Token], error)
	// RevokeToken sets revoked_at unless it is set already.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken sets last_used_at, unless it is already later than
	// staleBefore.
	TouchToken(ctx context.Context, id string, lastUsedAt, staleBefore time.Time) error
}

// Options configure a Service. Zero values stand for the defaults.
type Options struct {
	// Hash is the argon2id cost of new password hashes (DefaultHashParams).
	// Tests use cheap ones, e.g. {Memory: 1024, Time: 1, Threads: 1}.
	Hash HashParams
	// SessionTTL is how long a session lasts without use (DefaultSessionTTL);
	// at least MinSessionTTL.
	SessionTTL time.Duration
	// Now is the clock (core.Now). Tests inject one to move time.
	Now func() time.Time
	// RoleValidator checks the role a token is limited to; rbac provides
	// it. Nil accepts any role.
	RoleValidator func(role string) error
}

func (o *Options) setDefaults() {
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Now == nil {
		o.Now = core.Now
	}
}

// Validate reports options NewService would refuse. Zero values are valid:
// they stand for the defaults.
func (o Options) Validate() error {
	o.setDefaults()
	if err := o.Hash.Validate(); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if o.SessionTTL < MinSessionTTL {
		return fmt.Errorf("identity: session TTL must be at least %s, got %s", MinSessionTTL, o.SessionTTL)
	}
	return nil
}

// Service manages users, sessions and API tokens, and authenticates
// requests. It is safe for concurrent use. Its login throttle lives in the
// Service, so a process should make one Service and share it.
type Service struct {
	store         Store
	hash          HashParams
	ttl           time.Duration
	now           func() time.Time
	roleValidator func(string) error
	throttle      *throttle
	dummyHash     func() (string, error)
}

// NewService returns a Service over store. Invalid options (see
// Options.Validate) are a programming error and panic: configuration is
// validated before a service is made.
func NewService(store Store, opts Options) *Service {
	if err := opts.Validate(); err != nil {
		panic(err.Error())
	}
	opts.setDefaults()
	clock := opts.Now
	s := &Service{
		store: store,
		hash:  opts.Hash,
		ttl:   opts.SessionTTL,
		// Both databases keep microseconds: a time read back then equals the
		// time written, whatever clock was injected.
		now:           func() time.Time { return clock().UTC().Truncate(time.Microsecond) },
		roleValidator: opts.RoleValidator,
		throttle:      newThrottle(),
	}
	// The dummy hash that an unknown username's password is checked against
	// costs what a real user's check costs, because it is made with the
	// same parameters. It is made on first use, so that a service that never
	// sees a failed login never pays for it.
	s.dummyHash = sync.OnceValues(func() (string, error) {
		return HashPassword("jobgraph-dummy-password", s.hash)
	})
	return s
}
