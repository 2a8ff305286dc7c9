// The project's pages in the menu, each shown to those whose role may read
// it (need), or to the system admin only (admin). The API refuses the rest
// anyway; the menu only spares people pages that would say "not allowed".
import type { Permissions } from './permissions';

export interface PageEntry {
  path: string;
  title: string;
  need?: string;
  admin?: boolean;
  /** Access pages are drawn apart. */
  group?: 'access';
}

export const pages: PageEntry[] = [
  { path: 'jobs', title: 'Jobs', need: 'JOB_READ' },
  { path: 'runs', title: 'Runs', need: 'JOB_READ' },
  { path: 'approvals', title: 'Approvals', need: 'APPROVAL_READ' },
  { path: 'adhoc', title: 'Ad-hoc command' },
  { path: 'hosts', title: 'Hosts', need: 'HOST_READ' },
  { path: 'groups', title: 'Host groups', need: 'HOSTGROUP_READ' },
  { path: 'credentials', title: 'Credentials', need: 'CREDENTIAL_READ' },
  { path: 'executors', title: 'Executors' },
  { path: 'schedules', title: 'Schedules', need: 'SCHEDULE_READ' },
  { path: 'triggers', title: 'Webhooks', need: 'SCHEDULE_READ' },
  { path: 'guards', title: 'Guard rules', need: 'GUARD_READ' },
  { path: 'notifications', title: 'Notifications', need: 'NOTIFICATION_READ' },
  { path: 'audit', title: 'Audit log', need: 'AUDIT_READ', group: 'access' },
  { path: 'members', title: 'Members', need: 'MEMBER_READ', group: 'access' },
  { path: 'tokens', title: 'API tokens', group: 'access' },
  { path: 'users', title: 'Users', admin: true, group: 'access' },
  { path: 'roles', title: 'Roles', group: 'access' },
];

export function visiblePages(perms: Pick<Permissions, 'all' | 'can'>): PageEntry[] {
  return pages.filter((p) => (p.admin ? perms.all : !p.need || perms.can(p.need)));
}
