package rbac

import (
	"slices"
	"strings"

	"github.com/jobgraph/jobgraph/core"
)

// The built-in roles. Admin is granted system-wide; the others per project.
const (
	RoleAdmin    = "admin"
	RoleOwner    = "owner"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// Role is a named set of project permissions. Built-in roles are defined in
// code (so an upgrade can extend them); custom roles are stored.
type Role struct {
	Name        string
	Description string
	BuiltIn     bool
	Permissions []Permission
}

func readPermissions() []Permission {
	return []Permission{ProjectRead, HostRead, HostGroupRead, CredentialRead, MemberRead, JobRead,
		ScheduleRead, ApprovalRead, GuardRead, NotificationRead}
}

// builtInRoles returns the built-in project roles. The admin role is not
// among them: it holds every permission everywhere (the "*" policy).
func builtInRoles() []Role {
	var owner []Permission
	for _, p := range permissions {
		if !p.System {
			owner = append(owner, p.Permission)
		}
	}
	return []Role{
		{Name: RoleOwner, BuiltIn: true, Description: "everything in the project, including its members", Permissions: owner},
		{Name: RoleOperator, BuiltIn: true, Description: "read everything and run jobs", Permissions: append(readPermissions(), JobRun, ApprovalDecide)},
		{Name: RoleViewer, BuiltIn: true, Description: "read only", Permissions: readPermissions()},
	}
}

// checkRoleName validates the name of a custom role.
func checkRoleName(name string) error {
	if err := core.CheckName("name", name, 63); err != nil {
		return err
	}
	if name != strings.ToLower(name) {
		return core.Invalid("name", "role names are lower case")
	}
	if name == RoleAdmin || slices.ContainsFunc(builtInRoles(), func(r Role) bool { return r.Name == name }) {
		return core.Conflict("name", "%q is a built-in role", name)
	}
	return nil
}
