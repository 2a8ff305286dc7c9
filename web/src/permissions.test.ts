import { describe, expect, it } from 'vitest';
import { permissionsIn } from './permissions';
import { passwordProblems } from './pages/Access';

const roles = [
  { name: 'viewer', permissions: ['PROJECT_READ', 'JOB_READ', 'HOST_READ'] },
  { name: 'operator', permissions: ['PROJECT_READ', 'JOB_READ', 'HOST_READ', 'JOB_RUN'] },
];

describe('permissionsIn', () => {
  it('gives a viewer no JOB_RUN, and only in its own project', () => {
    const viewer = { user: { isAdmin: false }, roles: [{ role: 'viewer', project: { id: 'prj_a' } }, { role: 'operator', project: { id: 'prj_b' } }] };
    expect(permissionsIn(viewer, roles, 'prj_a').can('JOB_RUN')).toBe(false);
    expect(permissionsIn(viewer, roles, 'prj_a').can('JOB_READ')).toBe(true);
    expect(permissionsIn(viewer, roles, 'prj_b').can('JOB_RUN')).toBe(true);
    expect(permissionsIn(viewer, roles, 'prj_c').can('JOB_READ')).toBe(false);
  });

  it('gives an admin everything and a stranger nothing', () => {
    expect(permissionsIn({ user: { isAdmin: true }, roles: [] }, [], 'prj_x').can('CREDENTIAL_WRITE')).toBe(true);
    expect(permissionsIn(undefined, roles, 'prj_a').can('PROJECT_READ')).toBe(false);
  });
});

describe('a new password, before the API sees it', () => {
  it('must be typed, twice the same', () => {
    expect(passwordProblems('', '')).toEqual({ password: 'type the new password' });
    expect(passwordProblems('abc', 'abd')).toEqual({ confirm: 'the two passwords differ' });
    expect(passwordProblems('long enough', 'long enough')).toEqual({});
  });
});
