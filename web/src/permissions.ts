// What the caller may do in a project. The API has no "my permissions here"
// field; it tells who the caller is (viewer: isAdmin and the roles held per
// project) and what each role allows (roles). The console joins the two to
// hide or disable what a role may not do; the API still checks every call.

export interface ViewerRoles {
  user: { isAdmin: boolean };
  roles: ReadonlyArray<{ role: string; project?: { id: string } | null }>;
}

export interface RoleDef {
  name: string;
  permissions: readonly string[];
}

/** The permissions the viewer holds in projectId. An admin holds them all. */
export function permissionsIn(viewer: ViewerRoles | undefined, roles: readonly RoleDef[] | undefined, projectId: string | undefined): Permissions {
  if (!viewer) return new Permissions(false, new Set());
  if (viewer.user.isAdmin) return new Permissions(true, new Set());
  const byName = new Map((roles ?? []).map((r) => [r.name, r.permissions]));
  const held = new Set<string>();
  for (const a of viewer.roles) {
    if (!a.project || a.project.id !== projectId) continue;
    for (const p of byName.get(a.role) ?? []) held.add(p);
  }
  return new Permissions(false, held);
}

/** A set of permissions, asked with can("JOB_RUN"). */
export class Permissions {
  constructor(
    readonly all: boolean,
    private readonly held: ReadonlySet<string>,
  ) {}

  can(permission: string): boolean {
    return this.all || this.held.has(permission);
  }
}
