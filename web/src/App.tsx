import { createContext, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { Provider, useMutation, useQuery } from 'urql';
import { newClient } from './client';
import { describeError } from './errors';
import { graphql } from './gql';
import type { ViewerQuery } from './gql/graphql';
import { permissionsIn, type Permissions } from './permissions';
import { visiblePages } from './nav';
import { match, navigate, usePath } from './router';
import { Link, Problems, Row } from './ui';
import { HostsPage } from './pages/Hosts';
import { CredentialsPage } from './pages/Credentials';
import { AdHocPage } from './pages/AdHoc';
import { RunsPage } from './pages/Runs';
import { RunPage } from './pages/Run';
import { JobEditorPage, JobsPage } from './pages/Jobs';
import { ApprovalsPage } from './pages/Approvals';
import { GuardsPage } from './pages/Guards';
import { GroupsPage } from './pages/Groups';
import { ExecutorsPage } from './pages/Executors';
import { TriggersPage } from './pages/Triggers';
import { SchedulesPage } from './pages/Schedules';
import { NotificationsPage } from './pages/Notifications';
import { AuditPage } from './pages/Audit';
import { MembersPage, RolesPage, TokensPage, UsersPage } from './pages/Access';

const ViewerDoc = graphql(`
  query Viewer {
    viewer {
      user {
        id
        username
        displayName
        isAdmin
      }
      roles {
        role
        project {
          id
        }
      }
    }
    roles {
      name
      permissions
    }
    projects(first: 500) {
      edges {
        node {
          id
          name
        }
      }
    }
  }
`);

const LoginMutation = graphql(`
  mutation Login($input: LoginInput!) {
    login(input: $input) {
      user {
        id
        username
      }
    }
  }
`);

const LogoutMutation = graphql(`
  mutation Logout {
    logout {
      ok
    }
  }
`);

/** What every page of a project gets. */
export interface ProjectContext {
  projectId: string;
  perms: Permissions;
  /** The signed-in user. */
  me: { id: string; username: string };
}

const SessionContext = createContext<{ resetClient: () => void }>({ resetClient: () => {} });

export function App() {
  // A new client (a new socket, an empty cache) after signing in or out,
  // or when the session turns out to be gone: the Viewer query then asks
  // for the login page.
  const [{ client, ws }, setClient] = useState(() => newClient(() => resetRef.current()));
  const resetRef = useRef(() => {});
  const resetClient = () => {
    void ws.dispose();
    setClient(newClient(() => resetRef.current()));
  };
  resetRef.current = resetClient;
  return (
    <Provider value={client}>
      <SessionContext.Provider value={{ resetClient }}>
        <Session />
      </SessionContext.Provider>
    </Provider>
  );
}

function Session() {
  const [{ data, error, fetching }] = useQuery({ query: ViewerDoc });
  if (fetching && !data) return <p className="loading">Loading…</p>;
  const problems = describeError(error);
  if (problems.some((p) => p.code === 'UNAUTHENTICATED') || (!data?.viewer && !fetching && problems.length === 0)) {
    return <Login />;
  }
  if (!data) return <Problems problems={problems} />;
  return <Shell viewer={data.viewer} roles={data.roles} projects={data.projects.edges.map((e) => e.node)} />;
}

function Login() {
  const { resetClient } = useContext(SessionContext);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [{ fetching, error }, login] = useMutation(LoginMutation);
  const problems = describeError(error).map((p) =>
    p.code === 'UNAUTHENTICATED' ? { ...p, text: 'Wrong username or password.' } : p,
  );
  return (
    <main className="login">
      <h1>jobgraph</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const r = await login({ input: { username, password } });
          if (r.data?.login) resetClient();
        }}
      >
        <Row label="Username">
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </Row>
        <Row label="Password">
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </Row>
        <Problems problems={problems} />
        <button type="submit" disabled={fetching}>
          Sign in
        </button>
      </form>
    </main>
  );
}

type Viewer = ViewerQuery['viewer'];

function Shell({ viewer, roles, projects }: { viewer: Viewer; roles: { name: string; permissions: readonly string[] }[]; projects: { id: string; name: string }[] }) {
  const { resetClient } = useContext(SessionContext);
  const [, logout] = useMutation(LogoutMutation);
  const path = usePath();
  const m = match('/p/:project/:page', path) ?? match('/p/:project/:page/:id', path);
  const projectId = m?.project;
  const page = m?.page;

  useEffect(() => {
    if (!projectId && projects.length > 0) navigate(`/p/${projects[0].id}/hosts`, true);
  }, [projectId, projects]);

  const perms = useMemo(() => permissionsIn(viewer, roles, projectId), [viewer, roles, projectId]);

  let body;
  if (!projectId) {
    body = projects.length === 0 ? <p>You have no project yet. An administrator can create one, or grant you a role in one.</p> : null;
  } else {
    const ctx: ProjectContext = { projectId, perms, me: viewer.user };
    switch (page) {
      case 'hosts':
        body = <HostsPage {...ctx} />;
        break;
      case 'credentials':
        body = <CredentialsPage {...ctx} />;
        break;
      case 'jobs':
        body = m?.id ? <JobEditorPage {...ctx} jobId={m.id} key={m.id} /> : <JobsPage {...ctx} />;
        break;
      case 'approvals':
        body = <ApprovalsPage {...ctx} />;
        break;
      case 'guards':
        body = <GuardsPage {...ctx} />;
        break;
      case 'groups':
        body = <GroupsPage {...ctx} />;
        break;
      case 'executors':
        body = <ExecutorsPage {...ctx} />;
        break;
      case 'notifications':
        body = <NotificationsPage {...ctx} />;
        break;
      case 'schedules':
        body = <SchedulesPage {...ctx} />;
        break;
      case 'triggers':
        body = <TriggersPage {...ctx} />;
        break;
      case 'audit':
        body = <AuditPage {...ctx} />;
        break;
      case 'members':
        body = <MembersPage {...ctx} />;
        break;
      case 'tokens':
        body = <TokensPage {...ctx} />;
        break;
      case 'users':
        body = <UsersPage {...ctx} />;
        break;
      case 'roles':
        body = <RolesPage {...ctx} />;
        break;
      case 'adhoc':
        body = <AdHocPage {...ctx} />;
        break;
      case 'runs':
        body = m?.id ? <RunPage {...ctx} runId={m.id} key={m.id} /> : <RunsPage {...ctx} />;
        break;
      default:
        body = <p>There is no such page.</p>;
    }
  }

  return (
    <div className="shell">
      <header>
        <strong className="brand">jobgraph</strong>
        <label className="switcher">
          <span>Project</span>
          <select
            data-testid="project-switcher"
            value={projectId ?? ''}
            onChange={(e) => navigate(`/p/${e.target.value}/${page && page !== 'runs' ? page : 'runs'}`)}
          >
            {!projectId && <option value="">—</option>}
            {projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <nav>
          {projectId &&
            visiblePages(perms).map((p) => (
              <Link key={p.path} to={`/p/${projectId}/${p.path}`} className={[page === p.path ? 'active' : '', p.group ?? ''].join(' ').trim()}>
                {p.title}
              </Link>
            ))}
        </nav>
        <span className="who" data-testid="who">
          {viewer.user.displayName || viewer.user.username}
        </span>
        <button
          className="link"
          onClick={async () => {
            await logout({});
            navigate('/', true);
            resetClient();
          }}
        >
          Sign out
        </button>
      </header>
      <main>{body}</main>
    </div>
  );
}
