package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// CreateTokenInput is what a new personal API token is made of.
type CreateTokenInput struct {
	UserID string
	// Name tells the user's tokens apart ("ci-deploy"); unique per user.
	Name string
	// ProjectID, if set, limits the token to that project.
	ProjectID string
	// Role, if set, limits the token to that role's permissions; it is
	// checked by Options.RoleValidator.
	Role string
	// ExpiresAt, if set, must be in the future. Nil: the token never expires.
	ExpiresAt *time.Time
	// Within is the token the request creating this one came with, if any.
	// A token can only make tokens as narrow as itself: the same project
	// and role limits (filled in when left empty) and no later expiry.
	Within *Token
}

// CreateToken validates in and stores a new API token for an enabled user.
// It returns the token and its secret, which is shown only this once: only
// a hash of it is kept.
func (s *Service) CreateToken(ctx context.Context, in CreateTokenInput) (Token, string, error) {
	if err := core.CheckID("userId", core.KindUser, in.UserID); err != nil {
		return Token{}, "", err
	}
	now := s.now()
	t := Token{
		ID:        core.NewID(core.KindToken),
		UserID:    in.UserID,
		Name:      strings.TrimSpace(in.Name),
		ProjectID: in.ProjectID,
		Role:      in.Role,
		CreatedAt: now,
	}
	if err := core.CheckName("name", t.Name, MaxTokenNameLen); err != nil {
		return Token{}, "", err
	}
	if err := narrow(&t, &in); err != nil {
		return Token{}, "", err
	}
	if t.ProjectID != "" {
		if err := core.CheckID("projectId", core.KindProject, t.ProjectID); err != nil {
			return Token{}, "", err
		}
	}
	if err := s.checkRole(t.Role); err != nil {
		return Token{}, "", err
	}
	if in.ExpiresAt != nil {
		exp := in.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !exp.After(now) {
			return Token{}, "", core.Invalid("expiresAt", "must be in the future")
		}
		t.ExpiresAt = &exp
	}
	secret, hash, err := newSecret(TokenSecretPrefix)
	if err != nil {
		return Token{}, "", err
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		u, err := s.store.GetUser(ctx, t.UserID)
		if err != nil {
			return err
		}
		if u.Disabled {
			return core.Invalid("userId", "user %q is disabled", u.Username)
		}
		if t.ProjectID != "" {
			if err := s.store.ProjectExists(ctx, t.ProjectID); err != nil {
				if errors.Is(err, core.ErrNotFound) {
					return core.Invalid("projectId", "no project %q", t.ProjectID)
				}
				return err
			}
		}
		return s.store.CreateToken(ctx, t, hash)
	})
	if err != nil {
		return Token{}, "", err
	}
	return t, secret, nil
}

// narrow applies the limits of the token that creates t, so that a token
// can never mint a broader one.
func narrow(t *Token, in *CreateTokenInput) error {
	parent := in.Within
	if parent == nil {
		return nil
	}
	if parent.UserID != in.UserID {
		return core.Invalid("userId", "a token can only create tokens for its own user")
	}
	switch {
	case parent.ProjectID == "":
	case t.ProjectID == "":
		t.ProjectID = parent.ProjectID
	case t.ProjectID != parent.ProjectID:
		return core.Invalid("projectId", "this token is limited to project %s and cannot create a token for another", parent.ProjectID)
	}
	switch {
	case parent.Role == "":
	case t.Role == "":
		t.Role = parent.Role
	case t.Role != parent.Role:
		return core.Invalid("role", "this token is limited to role %q and cannot create a token with another", parent.Role)
	}
	if parent.ExpiresAt != nil && (in.ExpiresAt == nil || in.ExpiresAt.After(*parent.ExpiresAt)) {
		exp := *parent.ExpiresAt
		in.ExpiresAt = &exp
	}
	return nil
}

func (s *Service) checkRole(role string) error {
	if role == "" {
		return nil
	}
	if err := core.CheckText("role", role, MaxRoleLen); err != nil {
		return err
	}
	if s.roleValidator == nil {
		return nil
	}
	if err := s.roleValidator(role); err != nil {
		if errors.Is(err, core.ErrInvalidInput) {
			return err
		}
		return core.Invalid("role", "%s", err.Error())
	}
	return nil
}

// RevokeToken revokes an API token for good. Revoking a revoked token is
// not an error and keeps the first revocation time.
func (s *Service) RevokeToken(ctx context.Context, tokenID string) error {
	if err := core.CheckID("id", core.KindToken, tokenID); err != nil {
		return err
	}
	return s.store.RevokeToken(ctx, tokenID, s.now())
}

// GetToken returns one API token (never its secret).
func (s *Service) GetToken(ctx context.Context, id string) (Token, error) {
	if err := core.CheckID("id", core.KindToken, id); err != nil {
		return Token{}, err
	}
	return s.store.GetToken(ctx, id)
}

// ListTokens returns one page of a user's API tokens, revoked ones
// included, ordered by name.
func (s *Service) ListTokens(ctx context.Context, userID string, page core.PageArgs) (core.Page[Token], error) {
	if err := core.CheckID("userId", core.KindUser, userID); err != nil {
		return core.Page[Token]{}, err
	}
	if err := page.Validate(); err != nil {
		return core.Page[Token]{}, err
	}
	return s.store.ListTokens(ctx, userID, page)
}
