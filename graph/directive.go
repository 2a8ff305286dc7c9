package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
	"github.com/jobgraph/jobgraph/rbac"
)

// This file is the authorization layer: the three directives every root
// field declares one of (schema/access.graphqls). Resolvers never decide
// access themselves.

func (r *Resolver) directives() generated.DirectiveRoot {
	return generated.DirectiveRoot{
		Public:        r.public,
		Authenticated: r.authenticated,
		HasPermission: r.hasPermission,
		Readable:      r.readable,
	}
}

// readPermission is the permission that reads an object of each kind.
var readPermission = map[core.Kind]rbac.Permission{
	core.KindProject:    rbac.ProjectRead,
	core.KindHost:       rbac.HostRead,
	core.KindHostGroup:  rbac.HostGroupRead,
	core.KindCredential: rbac.CredentialRead,
	core.KindJob:        rbac.JobRead,
}

func (r *Resolver) readable(ctx context.Context, obj any, next graphql.Resolver, object string) (any, error) {
	c := callerFrom(ctx)
	if err := c.authenticated(); err != nil {
		return nil, r.deny(ctx, err)
	}
	id, err := argString(ctx, object)
	if err != nil {
		return nil, err
	}
	perm, ok := readPermission[core.KindOf(id)]
	if !ok {
		return nil, core.Invalid(lastSegment(object), "%q is not the ID of an object that node() returns", id)
	}
	if err := core.CheckID(lastSegment(object), core.KindOf(id), id); err != nil {
		return nil, err
	}
	if err := r.authz.CheckObject(ctx, c.subject(), id, perm); err != nil {
		return nil, r.deny(ctx, err)
	}
	return next(ctx)
}

func (r *Resolver) public(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	// Credentials that were sent must be valid even here: a client with a
	// broken token learns so at once instead of acting anonymously.
	if err := callerFrom(ctx).authErr; err != nil {
		return nil, r.deny(ctx, err)
	}
	return next(ctx)
}

func (r *Resolver) authenticated(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	if err := callerFrom(ctx).authenticated(); err != nil {
		return nil, r.deny(ctx, err)
	}
	return next(ctx)
}

func (r *Resolver) hasPermission(ctx context.Context, obj any, next graphql.Resolver, permission model.Permission, project *string, object *string) (any, error) {
	c := callerFrom(ctx)
	if err := c.authenticated(); err != nil {
		return nil, r.deny(ctx, err)
	}
	perm, ok := permissionFromModel[permission]
	if !ok {
		return nil, fmt.Errorf("directive: unmapped permission %s", permission)
	}
	var err error
	switch {
	case project != nil:
		var id string
		if id, err = argString(ctx, *project); err == nil {
			if err = core.CheckID(lastSegment(*project), core.KindProject, id); err == nil {
				err = r.authz.Check(ctx, c.subject(), id, perm)
			}
		}
	case object != nil:
		var id string
		if id, err = argString(ctx, *object); err == nil {
			if err = core.CheckID(lastSegment(*object), core.KindOf(id), id); err == nil {
				err = r.authz.CheckObject(ctx, c.subject(), id, perm)
			}
		}
	case obj != nil:
		scoped, ok := obj.(model.ProjectScoped)
		if !ok {
			return nil, fmt.Errorf("directive: %T has no project scope", obj)
		}
		pid := scoped.ProjectScope()
		switch {
		case pid == "":
			return next(ctx) // tied to no project: nothing to guard (the field is null)
		case r.authz.Allowed(c.subject(), pid, perm):
			// The parent was loaded, so its project exists: no query. This
			// runs once per row of a list, so it must stay in memory.
			return next(ctx)
		}
		err = r.authz.Check(ctx, c.subject(), pid, perm)
	default:
		err = r.authz.Check(ctx, c.subject(), "", perm)
	}
	if err != nil {
		if errors.Is(err, core.ErrInvalidInput) {
			return nil, err // the request is malformed, not refused
		}
		return nil, r.deny(ctx, err)
	}
	return next(ctx)
}

// deniedError marks an error as an authorization refusal, for the audit
// trail; it shows as the error it wraps.
type deniedError struct{ err error }

func (e *deniedError) Error() string { return e.err.Error() }
func (e *deniedError) Unwrap() error { return e.err }

// deny records a refusal of a query (mutations are recorded by the audit
// middleware, with the rest of their outcome) and marks the error.
func (r *Resolver) deny(ctx context.Context, err error) error {
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Object != "Mutation" {
		r.recordDenied(ctx, fc.Field.Name, err)
	}
	return &deniedError{err}
}

// argString reads a string argument of the current field by a dotted path
// ("input.projectId"), from the arguments as the client sent them.
func argString(ctx context.Context, path string) (string, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return "", fmt.Errorf("directive: no field context")
	}
	var vars map[string]any
	if oc := graphql.GetOperationContext(ctx); oc != nil {
		vars = oc.Variables
	}
	var cur any = fc.Field.ArgumentMap(vars)
	for _, seg := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", fmt.Errorf("directive: argument path %q does not resolve", path)
		}
		cur = m[seg]
	}
	s, ok := cur.(string)
	if !ok {
		return "", core.Invalid(lastSegment(path), "required")
	}
	return s, nil
}

func lastSegment(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

var permissionFromModel = map[model.Permission]rbac.Permission{
	model.PermissionProjectRead:       rbac.ProjectRead,
	model.PermissionProjectUpdate:     rbac.ProjectUpdate,
	model.PermissionProjectDelete:     rbac.ProjectDelete,
	model.PermissionHostRead:          rbac.HostRead,
	model.PermissionHostWrite:         rbac.HostWrite,
	model.PermissionHostgroupRead:     rbac.HostGroupRead,
	model.PermissionHostgroupWrite:    rbac.HostGroupWrite,
	model.PermissionCredentialRead:    rbac.CredentialRead,
	model.PermissionCredentialWrite:   rbac.CredentialWrite,
	model.PermissionMemberRead:        rbac.MemberRead,
	model.PermissionMemberManage:      rbac.MemberManage,
	model.PermissionAuditRead:         rbac.ProjectAuditRead,
	model.PermissionJobRead:           rbac.JobRead,
	model.PermissionJobWrite:          rbac.JobWrite,
	model.PermissionJobRun:            rbac.JobRun,
	model.PermissionApprovalRead:      rbac.ApprovalRead,
	model.PermissionApprovalDecide:    rbac.ApprovalDecide,
	model.PermissionProjectCreate:     rbac.ProjectCreate,
	model.PermissionUserManage:        rbac.UserManage,
	model.PermissionRoleManage:        rbac.RoleManage,
	model.PermissionSystemAuditRead:   rbac.SystemAuditRead,
	model.PermissionGuardRead:         rbac.GuardRead,
	model.PermissionGuardWrite:        rbac.GuardWrite,
	model.PermissionScheduleRead:      rbac.ScheduleRead,
	model.PermissionScheduleWrite:     rbac.ScheduleWrite,
	model.PermissionNotificationRead:  rbac.NotificationRead,
	model.PermissionNotificationWrite: rbac.NotificationWrite,
}

var permissionToModel = reverse(permissionFromModel)
