package identity

import (
	"fmt"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// The reasons an AuthError gives, for the audit log. They never reach the
// caller: the error's message is the same whatever the reason.
const (
	ReasonMalformed     = "malformed secret"     // no known prefix, wrong length or not base64
	ReasonUnknown       = "unknown secret"       // no session or token has this secret
	ReasonExpired       = "expired"              // the session or token has expired
	ReasonRevoked       = "revoked"              // the token was revoked
	ReasonUserDisabled  = "user disabled"        // the account is disabled
	ReasonUnknownUser   = "unknown user"         // Login: no user has this username
	ReasonWrongPassword = "wrong password"       // Login: the password does not match
	ReasonInvalidInput  = "invalid login input"  // Login: username or password cannot be valid
	ReasonStoredHash    = "corrupt stored hash"  // Login: the user's stored hash cannot be parsed
	ReasonThrottled     = "too many failures"    // Login: refused by the throttle (see ThrottledError)
	ReasonUserGone      = "user no longer found" // the session's or token's user no longer exists
)

// AuthError rejects a login or a secret. Its message is deliberately
// generic, the same for every reason, so that it tells an attacker nothing
// (which usernames exist, which tokens were once valid). Reason is the real
// cause, to be written to the audit log and never shown to the caller.
type AuthError struct {
	// Reason is one of the Reason constants.
	Reason string
	login  bool
}

func authFailed(reason string) *AuthError { return &AuthError{Reason: reason} }

func loginFailed(reason string) *AuthError { return &AuthError{Reason: reason, login: true} }

func (e *AuthError) Error() string {
	if e.login {
		return "invalid username or password"
	}
	return "invalid or expired credentials"
}

// Is makes errors.Is(err, core.ErrUnauthenticated) true.
func (e *AuthError) Is(target error) bool { return target == core.ErrUnauthenticated }

// ThrottledError refuses a login attempt because too many recent attempts
// for the same username or from the same address failed. The password was
// not checked.
type ThrottledError struct {
	// RetryAfter is how long until an attempt will be considered again,
	// rounded up to the second.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed login attempts; try again in %s", e.RetryAfter)
}

// Is makes errors.Is(err, core.ErrUnauthenticated) true.
func (e *ThrottledError) Is(target error) bool { return target == core.ErrUnauthenticated }
