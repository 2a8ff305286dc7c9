package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/rbac"
)

// Project is the resolver for the project field.
func (r *apiTokenResolver) Project(ctx context.Context, obj *model.ApiToken) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// TotalCount is the resolver for the totalCount field.
func (r *apiTokenConnectionResolver) TotalCount(ctx context.Context, obj *model.ApiTokenConnection) (int, error) {
	return obj.Count(ctx)
}

// TotalCount is the resolver for the totalCount field.
func (r *auditEventConnectionResolver) TotalCount(ctx context.Context, obj *model.AuditEventConnection) (int, error) {
	return obj.Count(ctx)
}

// Login is the resolver for the login field.
func (r *mutationResolver) Login(ctx context.Context, input model.LoginInput) (*model.LoginPayload, error) {
	c := callerFrom(ctx)
	u, ses, secret, err := r.identity.Login(ctx, identity.LoginInput{
		Username: input.Username, Password: input.Password, ClientAddr: c.clientAddr, UserAgent: c.userAgent,
	})
	if err != nil {
		return nil, err
	}
	c.cookies.setSession(secret, ses.ExpiresAt)
	return &model.LoginPayload{User: toModelUser(u), ExpiresAt: ses.ExpiresAt}, nil
}

// Logout is the resolver for the logout field.
func (r *mutationResolver) Logout(ctx context.Context) (*model.LogoutPayload, error) {
	c := callerFrom(ctx)
	if ses := c.principal.Session; ses != nil {
		if err := r.identity.Logout(ctx, ses.ID); err != nil {
			return nil, err
		}
	}
	c.cookies.clearSession()
	return &model.LogoutPayload{Ok: true}, nil
}

// CreateUser is the resolver for the createUser field.
func (r *mutationResolver) CreateUser(ctx context.Context, input model.CreateUserInput) (*model.CreateUserPayload, error) {
	u, err := r.identity.CreateUser(ctx, identity.CreateUserInput{Username: input.Username, DisplayName: deref(input.DisplayName), Password: input.Password})
	if err != nil {
		return nil, err
	}
	return &model.CreateUserPayload{User: toModelUser(u)}, nil
}

// UpdateUser is the resolver for the updateUser field.
func (r *mutationResolver) UpdateUser(ctx context.Context, input model.UpdateUserInput) (*model.UpdateUserPayload, error) {
	if input.Disabled != nil {
		if err := r.identity.SetDisabled(ctx, input.ID, *input.Disabled); err != nil {
			return nil, err
		}
	}
	if input.Password != nil {
		if err := r.identity.SetPassword(ctx, input.ID, *input.Password); err != nil {
			return nil, err
		}
	}
	u, err := r.identity.GetUser(ctx, input.ID)
	if err != nil {
		return nil, err
	}
	return &model.UpdateUserPayload{User: toModelUser(u)}, nil
}

// ChangePassword is the resolver for the changePassword field.
func (r *mutationResolver) ChangePassword(ctx context.Context, input model.ChangePasswordInput) (*model.ChangePasswordPayload, error) {
	c := callerFrom(ctx)
	if err := r.identity.ChangePassword(ctx, c.principal.User.ID, input.CurrentPassword, input.NewPassword, c.clientAddr); err != nil {
		return nil, err
	}
	c.cookies.clearSession() // every session of the user has ended
	return &model.ChangePasswordPayload{Ok: true}, nil
}

// GrantRole is the resolver for the grantRole field.
func (r *mutationResolver) GrantRole(ctx context.Context, input model.RoleGrantInput) (*model.RoleGrantPayload, error) {
	if _, err := r.identity.GetUser(ctx, input.UserID); err != nil {
		return nil, err
	}
	if err := r.authz.Assign(ctx, input.UserID, input.ProjectID, input.Role); err != nil {
		return nil, err
	}
	return &model.RoleGrantPayload{Assignment: &model.RoleAssignment{Role: input.Role, UserID: input.UserID, ProjectID: input.ProjectID}}, nil
}

// RevokeRole is the resolver for the revokeRole field.
func (r *mutationResolver) RevokeRole(ctx context.Context, input model.RoleGrantInput) (*model.RoleGrantPayload, error) {
	if err := r.authz.Unassign(ctx, input.UserID, input.ProjectID, input.Role); err != nil {
		return nil, err
	}
	return &model.RoleGrantPayload{Assignment: &model.RoleAssignment{Role: input.Role, UserID: input.UserID, ProjectID: input.ProjectID}}, nil
}

// GrantAdmin is the resolver for the grantAdmin field.
func (r *mutationResolver) GrantAdmin(ctx context.Context, input model.AdminInput) (*model.AdminPayload, error) {
	u, err := r.identity.GetUser(ctx, input.UserID)
	if err != nil {
		return nil, err
	}
	if err := r.authz.GrantAdmin(ctx, u.ID); err != nil {
		return nil, err
	}
	return &model.AdminPayload{User: toModelUser(u)}, nil
}

// RevokeAdmin is the resolver for the revokeAdmin field.
func (r *mutationResolver) RevokeAdmin(ctx context.Context, input model.AdminInput) (*model.AdminPayload, error) {
	u, err := r.identity.GetUser(ctx, input.UserID)
	if err != nil {
		return nil, err
	}
	if err := r.authz.RevokeAdmin(ctx, u.ID); err != nil {
		return nil, err
	}
	return &model.AdminPayload{User: toModelUser(u)}, nil
}

// DefineRole is the resolver for the defineRole field.
func (r *mutationResolver) DefineRole(ctx context.Context, input model.DefineRoleInput) (*model.DefineRolePayload, error) {
	perms := make([]rbac.Permission, len(input.Permissions))
	for i, p := range input.Permissions {
		perms[i] = permissionFromModel[p]
	}
	role, err := r.authz.DefineRole(ctx, input.Name, perms)
	if err != nil {
		return nil, err
	}
	return &model.DefineRolePayload{Role: toModelRole(role)}, nil
}

// DeleteRole is the resolver for the deleteRole field.
func (r *mutationResolver) DeleteRole(ctx context.Context, input model.DeleteRoleInput) (*model.DeleteRolePayload, error) {
	if err := r.authz.DeleteRole(ctx, input.Name); err != nil {
		return nil, err
	}
	return &model.DeleteRolePayload{Name: input.Name}, nil
}

// CreateAPIToken is the resolver for the createApiToken field.
func (r *mutationResolver) CreateAPIToken(ctx context.Context, input model.CreateAPITokenInput) (*model.CreateAPITokenPayload, error) {
	p := callerFrom(ctx).principal
	t, secret, err := r.identity.CreateToken(ctx, identity.CreateTokenInput{
		UserID: p.User.ID, Name: input.Name, ProjectID: deref(input.ProjectID), Role: deref(input.Role),
		ExpiresAt: input.ExpiresAt, Within: p.Token,
	})
	if err != nil {
		return nil, err
	}
	return &model.CreateAPITokenPayload{Token: toModelToken(t), Secret: secret}, nil
}

// RevokeAPIToken is the resolver for the revokeApiToken field.
func (r *mutationResolver) RevokeAPIToken(ctx context.Context, input model.RevokeAPITokenInput) (*model.RevokeAPITokenPayload, error) {
	t, err := r.ownToken(ctx, input.ID)
	if err != nil {
		return nil, err
	}
	if err := r.identity.RevokeToken(ctx, t.ID); err != nil {
		return nil, err
	}
	if t, err = r.identity.GetToken(ctx, t.ID); err != nil {
		return nil, err
	}
	return &model.RevokeAPITokenPayload{Token: toModelToken(t)}, nil
}

// Members is the resolver for the members field.
func (r *projectResolver) Members(ctx context.Context, obj *model.Project) ([]*model.RoleAssignment, error) {
	return toModelAssignments(r.authz.Members(obj.ID)), nil
}

// AuditEvents is the resolver for the auditEvents field.
func (r *projectResolver) AuditEvents(ctx context.Context, obj *model.Project, first *int, after *string, filter *model.AuditFilter) (*model.AuditEventConnection, error) {
	f := auditFilterFromModel(filter)
	f.ProjectIDs = []string{obj.ID}
	return r.auditEvents(ctx, f, first, after)
}

// Viewer is the resolver for the viewer field.
func (r *queryResolver) Viewer(ctx context.Context) (*model.Viewer, error) {
	p := callerFrom(ctx).principal
	v := &model.Viewer{User: toModelUser(p.User), Roles: toModelAssignments(r.authz.RolesOf(p.User.ID))}
	if p.Token != nil {
		v.Token = toModelToken(*p.Token)
	}
	return v, nil
}

// Users is the resolver for the users field.
func (r *queryResolver) Users(ctx context.Context, first *int, after *string, filter *model.UserFilter) (*model.UserConnection, error) {
	var f identity.UserFilter
	if filter != nil {
		f.Search = deref(filter.Search)
	}
	page, err := r.identity.ListUsers(ctx, f, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toUserConnection(page, countPages(f, r.identity.ListUsers)), nil
}

// Roles is the resolver for the roles field.
func (r *queryResolver) Roles(ctx context.Context) ([]*model.Role, error) {
	roles := r.authz.Roles()
	out := make([]*model.Role, len(roles))
	for i, role := range roles {
		out[i] = toModelRole(role)
	}
	return out, nil
}

// APITokens is the resolver for the apiTokens field.
func (r *queryResolver) APITokens(ctx context.Context, first *int, after *string) (*model.ApiTokenConnection, error) {
	userID := callerFrom(ctx).principal.User.ID
	page, err := r.identity.ListTokens(ctx, userID, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toTokenConnection(page, countPages(userID, r.identity.ListTokens)), nil
}

// AuditEvents is the resolver for the auditEvents field.
func (r *queryResolver) AuditEvents(ctx context.Context, first *int, after *string, filter *model.AuditFilter, projectID *string) (*model.AuditEventConnection, error) {
	f := auditFilterFromModel(filter)
	if projectID != nil {
		f.ProjectIDs = []string{*projectID}
	}
	return r.auditEvents(ctx, f, first, after)
}

// User is the resolver for the user field.
func (r *roleAssignmentResolver) User(ctx context.Context, obj *model.RoleAssignment) (*model.User, error) {
	u, err := r.loadersFor(ctx).user.Load(ctx, obj.UserID)
	if err != nil {
		return nil, err
	}
	return toModelUser(u), nil
}

// Project is the resolver for the project field.
func (r *roleAssignmentResolver) Project(ctx context.Context, obj *model.RoleAssignment) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// IsAdmin is the resolver for the isAdmin field.
func (r *userResolver) IsAdmin(ctx context.Context, obj *model.User) (bool, error) {
	return r.authz.IsAdmin(obj.ID), nil
}

// TotalCount is the resolver for the totalCount field.
func (r *userConnectionResolver) TotalCount(ctx context.Context, obj *model.UserConnection) (int, error) {
	return obj.Count(ctx)
}

// ApiToken returns generated.ApiTokenResolver implementation.
func (r *Resolver) ApiToken() generated.ApiTokenResolver { return &apiTokenResolver{r} }

// ApiTokenConnection returns generated.ApiTokenConnectionResolver implementation.
func (r *Resolver) ApiTokenConnection() generated.ApiTokenConnectionResolver {
	return &apiTokenConnectionResolver{r}
}

// AuditEventConnection returns generated.AuditEventConnectionResolver implementation.
func (r *Resolver) AuditEventConnection() generated.AuditEventConnectionResolver {
	return &auditEventConnectionResolver{r}
}

// RoleAssignment returns generated.RoleAssignmentResolver implementation.
func (r *Resolver) RoleAssignment() generated.RoleAssignmentResolver {
	return &roleAssignmentResolver{r}
}

// User returns generated.UserResolver implementation.
func (r *Resolver) User() generated.UserResolver { return &userResolver{r} }

// UserConnection returns generated.UserConnectionResolver implementation.
func (r *Resolver) UserConnection() generated.UserConnectionResolver {
	return &userConnectionResolver{r}
}

type (
	apiTokenResolver             struct{ *Resolver }
	apiTokenConnectionResolver   struct{ *Resolver }
	auditEventConnectionResolver struct{ *Resolver }
	roleAssignmentResolver       struct{ *Resolver }
	userResolver                 struct{ *Resolver }
	userConnectionResolver       struct{ *Resolver }
)
