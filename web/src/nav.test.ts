import { describe, expect, it } from 'vitest';
import { visiblePages } from './nav';
import { Permissions } from './permissions';

describe('the menu', () => {
  it('shows the system admin every page', () => {
    expect(visiblePages(new Permissions(true, new Set())).map((p) => p.path)).toContain('users');
  });
  it('shows a role only what it may read, and never the users page', () => {
    const operatorLike = new Permissions(false, new Set(['JOB_READ', 'APPROVAL_READ', 'HOST_READ', 'GUARD_READ']));
    expect(visiblePages(operatorLike).map((p) => p.path)).toEqual(['jobs', 'runs', 'approvals', 'adhoc', 'hosts', 'executors', 'guards', 'tokens', 'roles']);
  });
});
