// Users, project members, roles and API tokens. Users and roles are the
// system admin's (USER_MANAGE, ROLE_MANAGE); members are the project's
// (MEMBER_READ, MEMBER_MANAGE); everyone manages their own tokens.
import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import type { Permission } from '../gql/graphql';
import { formProblems, Problems, Row, time } from '../ui';

const UsersDoc = graphql(`
  query Users($search: String) {
    users(first: 200, filter: { search: $search }) {
      totalCount
      edges {
        node {
          id
          username
          displayName
          disabled
          isAdmin
          createdAt
          lastLoginAt
        }
      }
    }
  }
`);

const CreateUserDoc = graphql(`
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) {
      user {
        id
      }
    }
  }
`);

const UpdateUserDoc = graphql(`
  mutation UpdateUser($input: UpdateUserInput!) {
    updateUser(input: $input) {
      user {
        id
        disabled
      }
    }
  }
`);

const GrantAdminDoc = graphql(`
  mutation GrantAdmin($input: AdminInput!) {
    grantAdmin(input: $input) {
      user {
        id
        isAdmin
      }
    }
  }
`);

const RevokeAdminDoc = graphql(`
  mutation RevokeAdmin($input: AdminInput!) {
    revokeAdmin(input: $input) {
      user {
        id
        isAdmin
      }
    }
  }
`);

const MembersDoc = graphql(`
  query Members($projectId: ID!) {
    project(id: $projectId) {
      id
      name
      members {
        role
        user {
          id
          username
          displayName
        }
      }
    }
    roles {
      name
    }
    users(first: 500) {
      edges {
        node {
          id
          username
        }
      }
    }
  }
`);

const GrantRoleDoc = graphql(`
  mutation GrantRole($input: RoleGrantInput!) {
    grantRole(input: $input) {
      assignment {
        role
      }
    }
  }
`);

const RevokeRoleDoc = graphql(`
  mutation RevokeRole($input: RoleGrantInput!) {
    revokeRole(input: $input) {
      assignment {
        role
      }
    }
  }
`);

const RolesDoc = graphql(`
  query RoleList {
    roles {
      name
      description
      builtIn
      permissions
    }
  }
`);

const DefineRoleDoc = graphql(`
  mutation DefineRole($input: DefineRoleInput!) {
    defineRole(input: $input) {
      role {
        name
        permissions
      }
    }
  }
`);

const DeleteRoleDoc = graphql(`
  mutation DeleteRole($input: DeleteRoleInput!) {
    deleteRole(input: $input) {
      name
    }
  }
`);

const TokensDoc = graphql(`
  query Tokens {
    apiTokens(first: 200) {
      edges {
        node {
          id
          name
          role
          project {
            id
            name
          }
          expiresAt
          createdAt
          lastUsedAt
          revokedAt
        }
      }
    }
  }
`);

const CreateTokenDoc = graphql(`
  mutation CreateApiToken($input: CreateApiTokenInput!) {
    createApiToken(input: $input) {
      secret
      token {
        id
        name
      }
    }
  }
`);

const RevokeTokenDoc = graphql(`
  mutation RevokeApiToken($input: RevokeApiTokenInput!) {
    revokeApiToken(input: $input) {
      token {
        id
        revokedAt
      }
    }
  }
`);

export function UsersPage({ perms }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['User'] }), []);
  const [search, setSearch] = useState('');
  const [{ data, error }] = useQuery({ query: UsersDoc, variables: { search: search || undefined }, context });
  const [form, setForm] = useState({ username: '', displayName: '', password: '' });
  const [{ error: createError, fetching }, create] = useMutation(CreateUserDoc);
  const [{ error: updateError }, update] = useMutation(UpdateUserDoc);
  const [{ error: grantError }, grantAdmin] = useMutation(GrantAdminDoc);
  const [{ error: revokeError }, revokeAdmin] = useMutation(RevokeAdminDoc);
  const { at, rest } = formProblems(createError, {}, ['username', 'displayName', 'password']);
  const [passwordFor, setPasswordFor] = useState<{ id: string; username: string }>();
  const [passwordSet, setPasswordSet] = useState<string>();
  if (!perms.all) return <p className="hint">Only a system administrator manages users.</p>;
  return (
    <section>
      <h1>Users</h1>
      <input placeholder="search" value={search} onChange={(e) => setSearch(e.target.value)} />
      <Problems problems={describeError(error ?? updateError ?? grantError ?? revokeError)} />
      <table className="list" data-testid="users">
        <thead>
          <tr>
            <th>User</th>
            <th>Name</th>
            <th>Admin</th>
            <th>State</th>
            <th>Last sign-in</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.users.edges.map(({ node: u }) => (
            <tr key={u.id} data-user={u.username}>
              <td>{u.username}</td>
              <td>{u.displayName}</td>
              <td>
                <input type="checkbox" checked={u.isAdmin} onChange={(e) => (e.target.checked ? grantAdmin({ input: { userId: u.id } }) : revokeAdmin({ input: { userId: u.id } }))} />
              </td>
              <td>{u.disabled ? 'disabled' : 'active'}</td>
              <td>{time(u.lastLoginAt) || 'never'}</td>
              <td>
                <button className="small" onClick={() => update({ input: { id: u.id, disabled: !u.disabled } })}>
                  {u.disabled ? 'Enable' : 'Disable'}
                </button>
                <button className="small secondary" data-testid="set-password" onClick={() => setPasswordFor({ id: u.id, username: u.username })}>
                  Set password
                </button>
                {passwordSet === u.id && (
                  <small className="ok" data-testid="password-set">
                    {' '}
                    password set; their sessions ended
                  </small>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {passwordFor && (
        <PasswordForm
          user={passwordFor}
          onDone={(ok) => {
            if (ok) setPasswordSet(passwordFor.id);
            setPasswordFor(undefined);
          }}
        />
      )}
      <form
        className="card"
        data-testid="new-user"
        onSubmit={async (e) => {
          e.preventDefault();
          const r = await create({ input: { username: form.username, displayName: form.displayName || undefined, password: form.password } });
          setForm({ ...form, password: '' });
          if (r.data) setForm({ username: '', displayName: '', password: '' });
        }}
      >
        <h2>New user</h2>
        <div className="grid4">
          <Row label="Username" error={at.username}>
            <input name="new-username" value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} />
          </Row>
          <Row label="Display name" error={at.displayName}>
            <input name="new-display-name" value={form.displayName} onChange={(e) => setForm({ ...form, displayName: e.target.value })} />
          </Row>
          <Row label="Password" error={at.password}>
            <input name="new-password" type="password" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} />
          </Row>
          <button type="submit" disabled={fetching || !form.username || !form.password}>
            Create user
          </button>
        </div>
        <Problems problems={rest} />
      </form>
    </section>
  );
}

/** What is wrong with a new password and its confirmation, by field, before asking the API. */
export function passwordProblems(password: string, confirm: string): Record<string, string> {
  const at: Record<string, string> = {};
  if (!password) at.password = 'type the new password';
  if (password !== confirm) at.confirm = 'the two passwords differ';
  return at;
}

/** Sets (or resets) a user's password: twice typed, errors next to the fields. */
function PasswordForm({ user, onDone }: { user: { id: string; username: string }; onDone: (ok: boolean) => void }) {
  const [pw, setPw] = useState({ password: '', confirm: '' });
  const [local, setLocal] = useState<Record<string, string>>({});
  const [{ error, fetching }, update] = useMutation(UpdateUserDoc);
  const { at, rest } = formProblems(error, local, ['password', 'confirm']);
  return (
    <form
      className="card"
      data-testid="password-form"
      onSubmit={async (e) => {
        e.preventDefault();
        const problems = passwordProblems(pw.password, pw.confirm);
        setLocal(problems);
        if (Object.keys(problems).length) return;
        const r = await update({ input: { id: user.id, password: pw.password } });
        setPw({ password: '', confirm: '' });
        if (r.data) onDone(true);
      }}
    >
      <h2>New password for {user.username}</h2>
      <p className="hint">Setting it ends their sessions; their API tokens keep working.</p>
      <div className="grid2">
        <Row label="New password" error={at.password}>
          <input name="set-password" type="password" autoComplete="new-password" value={pw.password} onChange={(e) => setPw({ ...pw, password: e.target.value })} />
        </Row>
        <Row label="Once more" error={at.confirm}>
          <input name="set-password-confirm" type="password" autoComplete="new-password" value={pw.confirm} onChange={(e) => setPw({ ...pw, confirm: e.target.value })} />
        </Row>
      </div>
      <Problems problems={rest} />
      <div className="toolbar">
        <button type="submit" disabled={fetching}>
          Set password
        </button>
        <button type="button" className="secondary" onClick={() => onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function MembersPage({ projectId, perms }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['RoleAssignment'] }), []);
  const [{ data, error }, refetch] = useQuery({ query: MembersDoc, variables: { projectId }, context });
  const [form, setForm] = useState({ userId: '', role: 'viewer' });
  const [{ error: grantError }, grant] = useMutation(GrantRoleDoc);
  const [{ error: revokeError }, revoke] = useMutation(RevokeRoleDoc);
  const canManage = perms.can('MEMBER_MANAGE');
  const again = () => refetch({ requestPolicy: 'network-only' });
  return (
    <section>
      <h1>Members of {data?.project?.name}</h1>
      <Problems problems={describeError(error ?? grantError ?? revokeError)} />
      <table className="list" data-testid="members">
        <thead>
          <tr>
            <th>User</th>
            <th>Role</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.project?.members?.map((m) => (
            <tr key={`${m.user.id}/${m.role}`}>
              <td>{m.user.displayName || m.user.username}</td>
              <td>{m.role}</td>
              <td>
                {canManage && (
                  <button className="small danger" onClick={async () => (await revoke({ input: { projectId, userId: m.user.id, role: m.role } })).data && again()}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {canManage && (
        <form
          className="card toolbar"
          onSubmit={async (e) => {
            e.preventDefault();
            if ((await grant({ input: { projectId, ...form } })).data) again();
          }}
        >
          <select value={form.userId} onChange={(e) => setForm({ ...form, userId: e.target.value })} name="member-user">
            <option value="">user…</option>
            {data?.users.edges.map(({ node: u }) => (
              <option key={u.id} value={u.id}>
                {u.username}
              </option>
            ))}
          </select>
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })} name="member-role">
            {data?.roles.map((r) => (
              <option key={r.name}>{r.name}</option>
            ))}
          </select>
          <button type="submit" disabled={!form.userId}>
            Grant role
          </button>
        </form>
      )}
    </section>
  );
}

// Every project permission, for the custom role form (the schema's Permission enum).
const projectPermissions: Permission[] = [
  'PROJECT_READ', 'PROJECT_UPDATE', 'PROJECT_DELETE', 'HOST_READ', 'HOST_WRITE', 'HOSTGROUP_READ', 'HOSTGROUP_WRITE', 'CREDENTIAL_READ', 'CREDENTIAL_WRITE',
  'MEMBER_READ', 'MEMBER_MANAGE', 'AUDIT_READ', 'JOB_READ', 'JOB_WRITE', 'JOB_RUN', 'APPROVAL_READ', 'APPROVAL_DECIDE', 'GUARD_READ', 'GUARD_WRITE', 'SCHEDULE_READ', 'SCHEDULE_WRITE', 'NOTIFICATION_READ', 'NOTIFICATION_WRITE',
];

export function RolesPage({ perms }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['Role'] }), []);
  const [{ data, error }, refetch] = useQuery({ query: RolesDoc, context });
  const [form, setForm] = useState<{ name: string; permissions: Permission[] }>({ name: '', permissions: [] });
  const [{ error: defineError }, define] = useMutation(DefineRoleDoc);
  const [{ error: deleteError }, del] = useMutation(DeleteRoleDoc);
  const { at, rest } = formProblems(defineError, {}, ['name', 'permissions']);
  return (
    <section>
      <h1>Roles</h1>
      <Problems problems={describeError(error ?? deleteError)} />
      <table className="list" data-testid="roles">
        <thead>
          <tr>
            <th>Role</th>
            <th>Permissions</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.roles.map((r) => (
            <tr key={r.name}>
              <td>
                {r.name} {r.builtIn && <small className="hint">built-in</small>}
                <br />
                <small className="hint">{r.description}</small>
              </td>
              <td>
                <small>{r.permissions.join(', ').toLowerCase()}</small>
              </td>
              <td>
                {perms.all && !r.builtIn && (
                  <>
                    <button className="small" onClick={() => setForm({ name: r.name, permissions: [...r.permissions] })}>
                      Edit
                    </button>
                    <button className="small danger" onClick={async () => window.confirm(`Delete the role ${r.name}?`) && (await del({ input: { name: r.name } })).data && refetch({ requestPolicy: 'network-only' })}>
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {perms.all && (
        <form
          className="card"
          onSubmit={async (e) => {
            e.preventDefault();
            if ((await define({ input: form })).data) setForm({ name: '', permissions: [] });
          }}
        >
          <h2>Define a custom role</h2>
          <Row label="Name" hint="lower-case; defining an existing custom role replaces its permissions" error={at.name}>
            <input name="role-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
          </Row>
          <div className="host-picks">
            {projectPermissions.map((p) => (
              <label key={p} className="pick">
                <input type="checkbox" checked={form.permissions.includes(p)} onChange={(e) => setForm({ ...form, permissions: e.target.checked ? [...form.permissions, p] : form.permissions.filter((x) => x !== p) })} />
                {p.toLowerCase()}
              </label>
            ))}
          </div>
          {at.permissions && <p className="field-error">{at.permissions}</p>}
          <Problems problems={rest} />
          <button type="submit" disabled={!form.name}>
            Save role
          </button>
        </form>
      )}
    </section>
  );
}

export function TokensPage({ projectId }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['ApiToken'] }), []);
  const [{ data, error }] = useQuery({ query: TokensDoc, context });
  const [{ data: roles }] = useQuery({ query: RolesDoc });
  const [form, setForm] = useState({ name: '', thisProject: true, role: '', expires: '' });
  const [secret, setSecret] = useState<{ name: string; secret: string }>();
  const [{ error: createError, fetching }, create] = useMutation(CreateTokenDoc);
  const [{ error: revokeError }, revoke] = useMutation(RevokeTokenDoc);
  const { at, rest } = formProblems(createError, {}, ['name', 'projectId', 'role', 'expiresAt']);
  return (
    <section>
      <h1>API tokens</h1>
      <p className="hint">Your personal tokens, for the CLI and automation: send one as Authorization: Bearer &lt;token&gt;. A token never exceeds your own rights.</p>
      {secret && (
        <div className="card secret-once" data-testid="token-secret">
          <p>
            The token <strong>{secret.name}</strong>, shown this once: copy it now.
          </p>
          <pre className="mono">{secret.secret}</pre>
          <button className="secondary" onClick={() => setSecret(undefined)}>
            I have copied it
          </button>
        </div>
      )}
      <Problems problems={describeError(error ?? revokeError)} />
      <table className="list" data-testid="tokens">
        <thead>
          <tr>
            <th>Name</th>
            <th>Limited to</th>
            <th>Created</th>
            <th>Last used</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.apiTokens.edges.map(({ node: t }) => (
            <tr key={t.id} data-token={t.name}>
              <td>{t.name}</td>
              <td>{[t.project?.name && `project ${t.project.name}`, t.role && `role ${t.role}`].filter(Boolean).join(', ') || 'your rights'}</td>
              <td>{time(t.createdAt)}</td>
              <td>{time(t.lastUsedAt) || 'never'}</td>
              <td>{time(t.expiresAt) || 'never'}</td>
              <td>
                {t.revokedAt ? (
                  `revoked ${time(t.revokedAt)}`
                ) : (
                  <button className="small danger" onClick={() => window.confirm(`Revoke ${t.name}?`) && revoke({ input: { id: t.id } })}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        className="card"
        data-testid="new-token"
        onSubmit={async (e) => {
          e.preventDefault();
          const expiresAt = form.expires ? new Date(form.expires).toISOString() : undefined;
          const r = await create({ input: { name: form.name, projectId: form.thisProject ? projectId : undefined, role: form.role || undefined, expiresAt } });
          if (r.data) {
            setSecret({ name: r.data.createApiToken.token.name, secret: r.data.createApiToken.secret });
            setForm({ name: '', thisProject: true, role: '', expires: '' });
          }
        }}
      >
        <h2>New token</h2>
        <div className="grid4">
          <Row label="Name" error={at.name}>
            <input name="token-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
          </Row>
          <Row label="Only a role’s permissions" error={at.role}>
            <select name="token-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
              <option value="">all of yours</option>
              {roles?.roles.map((r) => (
                <option key={r.name}>{r.name}</option>
              ))}
            </select>
          </Row>
          <Row label="Expires" error={at.expiresAt}>
            <input type="datetime-local" name="token-expires" value={form.expires} onChange={(e) => setForm({ ...form, expires: e.target.value })} />
          </Row>
          <label className="pick">
            <input type="checkbox" checked={form.thisProject} onChange={(e) => setForm({ ...form, thisProject: e.target.checked })} /> only this project
          </label>
        </div>
        <Problems problems={rest} />
        <button type="submit" disabled={fetching || !form.name}>
          Create token
        </button>
      </form>
    </section>
  );
}
