// Package rbac decides who may do what in which project, with casbin's RBAC
// with domains: the domain is the project.
//
// # Model
//
// A request is (subject, domain, permission): "user:usr_…", a project ID
// (or "*" for system permissions), and a Permission such as "host:write".
// Policies grant permissions to roles in every domain ("p, role:viewer, *,
// host:read"); groupings give a user a role in one project ("g, user:usr_…,
// role:viewer, prj_…") or, for the system admin, everywhere ("g, user:usr_…,
// role:admin, *"), and the admin role holds every permission ("p,
// role:admin, *, *").
//
// Built-in roles (see Roles): admin (system-wide, everything), and per
// project owner (every project permission), operator (read everything; runs
// jobs once the engine exists) and viewer (read only). Custom roles are named
// sets of project permissions, stored as policies.
//
// An API token may narrow its user's rights further: to one project and/or
// to one role's permissions. A token can never exceed its user.
//
// # Storage and replicas
//
// Rules live in the casbin_rule table of the main database, read through a
// casbin adapter over the store. Every change goes through this package in
// the caller's transaction, together with a bump of a policy version; the
// in-memory enforcer reloads once that transaction commits, and every
// replica polls the version (Start) and reloads when it moves, so a change
// made on one replica holds on all within the poll interval.
//
// # Not found versus forbidden
//
// A caller who may not read a project is told that objects in it do not
// exist (core.ErrNotFound), so IDs do not reveal other projects' contents. A
// caller who may read the project but lacks the permission is told
// core.ErrForbidden.
package rbac
