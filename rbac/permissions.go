package rbac

// Permission is one thing a caller may do. Project permissions are granted
// per project through roles; system permissions only through the system
// admin role.
type Permission string

// Project permissions.
const (
	ProjectRead      Permission = "project:read"
	ProjectUpdate    Permission = "project:update"
	ProjectDelete    Permission = "project:delete"
	HostRead         Permission = "host:read"
	HostWrite        Permission = "host:write"
	HostGroupRead    Permission = "hostgroup:read"
	HostGroupWrite   Permission = "hostgroup:write"
	CredentialRead   Permission = "credential:read" // the description only: no permission reveals a secret
	CredentialWrite  Permission = "credential:write"
	MemberRead       Permission = "member:read"
	MemberManage     Permission = "member:manage"
	ProjectAuditRead Permission = "audit:read"
	JobRead          Permission = "job:read"
	JobWrite         Permission = "job:write"
	JobRun           Permission = "job:run"
	// ScheduleRead and ScheduleWrite cover cron schedules and webhook
	// triggers: both start runs of the project's jobs unattended.
	ScheduleRead  Permission = "schedule:read"
	ScheduleWrite Permission = "schedule:write"
	// ApprovalRead lists approvals; deciding one also needs the role the
	// approval names (core/approval).
	ApprovalRead      Permission = "approval:read"
	ApprovalDecide    Permission = "approval:decide"
	GuardRead         Permission = "guard:read"
	GuardWrite        Permission = "guard:write"
	NotificationRead  Permission = "notification:read"
	NotificationWrite Permission = "notification:write"
)

// System permissions: not tied to one project.
const (
	ProjectCreate Permission = "project:create"
	UserManage    Permission = "user:manage"
	RoleManage    Permission = "role:manage"
	// SystemAuditRead reads the whole audit trail, every project's and the
	// events tied to none (logins, user changes).
	SystemAuditRead Permission = "system:audit:read"
)

// PermissionInfo describes a permission.
type PermissionInfo struct {
	Permission  Permission
	System      bool
	Description string
}

var permissions = []PermissionInfo{
	{ProjectRead, false, "see the project"},
	{ProjectUpdate, false, "rename the project or change its description"},
	{ProjectDelete, false, "delete the (empty) project"},
	{HostRead, false, "list and read hosts"},
	{HostWrite, false, "create, change and delete hosts"},
	{HostGroupRead, false, "list and read host groups and preview selectors"},
	{HostGroupWrite, false, "create, change and delete host groups"},
	{CredentialRead, false, "list credentials (never their secrets)"},
	{CredentialWrite, false, "create, change and delete credentials"},
	{MemberRead, false, "list the project's members and their roles"},
	{MemberManage, false, "grant and revoke roles in the project"},
	{ProjectAuditRead, false, "read the project's audit trail"},
	{JobRead, false, "list and read jobs and their versions, export them as YAML"},
	{JobWrite, false, "create, change, import and delete jobs"},
	{JobRun, false, "run jobs and cancel their runs"},
	{ScheduleRead, false, "list and read cron schedules and webhook triggers"},
	{ScheduleWrite, false, "create, change and delete cron schedules and webhook triggers"},
	{ApprovalRead, false, "list approvals and their votes"},
	{ApprovalDecide, false, "approve or reject (with the role the approval asks for)"},
	{GuardRead, false, "read the project's command guard rules"},
	{GuardWrite, false, "create, change and delete command guard rules"},
	{NotificationRead, false, "read the project's notification channels (never their secrets)"},
	{NotificationWrite, false, "create, change, test and delete notification channels"},
	{ProjectCreate, true, "create projects"},
	{UserManage, true, "create, disable and reset users"},
	{RoleManage, true, "define and delete custom roles"},
	{SystemAuditRead, true, "read the whole audit trail"},
}

// Permissions lists every permission, project ones first.
func Permissions() []PermissionInfo { return append([]PermissionInfo(nil), permissions...) }

// Known reports whether p is a permission.
func (p Permission) Known() bool {
	_, ok := info(p)
	return ok
}

// System reports whether p is a system permission.
func (p Permission) System() bool {
	i, _ := info(p)
	return i.System
}

func info(p Permission) (PermissionInfo, bool) {
	for _, i := range permissions {
		if i.Permission == p {
			return i, true
		}
	}
	return PermissionInfo{}, false
}
