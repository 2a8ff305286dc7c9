import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import type { HostFilter } from '../gql/graphql';
import { Problems, Row, formProblems } from '../ui';

const HostsDoc = graphql(`
  query Hosts($projectId: ID!, $filter: HostFilter, $after: String) {
    hosts(projectId: $projectId, first: 200, after: $after, filter: $filter) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          name
          address
          port
          os
          labels {
            key
            value
          }
          defaultExecutor
          defaultCredential {
            id
            name
          }
        }
      }
    }
  }
`);

const CredentialChoicesDoc = graphql(`
  query CredentialChoices($projectId: ID!) {
    credentials(projectId: $projectId, first: 500) {
      edges {
        node {
          id
          name
          kind
        }
      }
    }
  }
`);

const CreateHostDoc = graphql(`
  mutation CreateHost($input: CreateHostInput!) {
    createHost(input: $input) {
      host {
        id
        name
      }
    }
  }
`);

/** "env=prod, tier=web" -> labels; a piece without "=" is an error. */
export function parseLabels(text: string): { labels: { key: string; value: string }[]; error?: string } {
  const labels: { key: string; value: string }[] = [];
  for (const part of text.split(/[,\n]/)) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq <= 0) return { labels, error: `"${p}" is not key=value` };
    labels.push({ key: p.slice(0, eq).trim(), value: p.slice(eq + 1).trim() });
  }
  return { labels };
}

export function HostsPage({ projectId, perms }: ProjectContext) {
  const [search, setSearch] = useState('');
  const [selector, setSelector] = useState('');
  const filter = { search: search || undefined, selector: selector || undefined };
  // An empty list names no Host, so say which type refreshes it.
  const context = useMemo(() => ({ additionalTypenames: ['Host'] }), []);
  const [{ data, error, fetching }] = useQuery({ query: HostsDoc, variables: { projectId, filter }, requestPolicy: 'cache-and-network', context });
  const hosts = data?.hosts.edges.map((e) => e.node) ?? [];
  // The list pages by 200: each "more" adds a page after the last cursor.
  const [more, setMore] = useState<string[]>([]);
  const filterKey = `${projectId}|${search}|${selector}`;
  const [shownFor, setShownFor] = useState(filterKey);
  if (shownFor !== filterKey) {
    setShownFor(filterKey);
    setMore([]);
  }
  const firstNext = data?.hosts.pageInfo.hasNextPage ? data.hosts.pageInfo.endCursor : undefined;
  const listProblems = describeError(error);
  const selectorProblem = selector ? listProblems.find((p) => p.code === 'BAD_USER_INPUT') : undefined;
  return (
    <section>
      <h1>Hosts</h1>
      {perms.can('HOST_WRITE') && <NewHost projectId={projectId} />}
      <div className="filters">
        <Row label="Search">
          <input name="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="name or address" />
        </Row>
        <Row label="Label selector" error={selectorProblem?.detail} hint="e.g. env=prod, tier in (web,api), !canary — the list previews what it selects">
          <input name="selector" value={selector} onChange={(e) => setSelector(e.target.value)} />
        </Row>
      </div>
      {!selectorProblem && <Problems problems={listProblems} />}
      <p className="count" data-testid="host-count">
        {fetching && !data ? 'Loading…' : `${data?.hosts.totalCount ?? 0} hosts`}
      </p>
      <table data-testid="hosts">
        <thead>
          <tr>
            <th>Name</th>
            <th>Address</th>
            <th>OS</th>
            <th>Labels</th>
            <th>Credential</th>
          </tr>
        </thead>
        <tbody>
          {hosts.map((h) => (
            <HostRow key={h.id} h={h} />
          ))}
          {more.map((after, i) => (
            <HostRows key={after} projectId={projectId} filter={filter} after={after} last={i === more.length - 1} onMore={(c) => setMore([...more, c])} />
          ))}
        </tbody>
      </table>
      {more.length === 0 && firstNext && (
        <button className="secondary" data-testid="hosts-more" onClick={() => setMore([firstNext])}>
          more hosts ({hosts.length} of {data?.hosts.totalCount} shown)
        </button>
      )}
    </section>
  );
}

type HostNode = NonNullable<import('../gql/graphql').HostsQuery['hosts']>['edges'][number]['node'];

function HostRow({ h }: { h: HostNode }) {
  return (
    <tr>
      <td>{h.name}</td>
      <td>
        {h.address}
        {h.port ? `:${h.port}` : ''}
      </td>
      <td>{h.os.toLowerCase()}</td>
      <td>
        {h.labels.map((l) => (
          <span className="label-chip" key={l.key}>
            {l.key}={l.value}
          </span>
        ))}
      </td>
      <td>{h.defaultCredential?.name ?? ''}</td>
    </tr>
  );
}

/** A further page of the hosts list, the last one offering the next. */
function HostRows({ projectId, filter, after, last, onMore }: { projectId: string; filter: HostFilter; after: string; last: boolean; onMore: (cursor: string) => void }) {
  const [{ data }] = useQuery({ query: HostsDoc, variables: { projectId, filter, after } });
  const c = data?.hosts;
  return (
    <>
      {c?.edges.map(({ node }) => (
        <HostRow key={node.id} h={node} />
      ))}
      {last && c?.pageInfo.hasNextPage && c.pageInfo.endCursor && (
        <tr>
          <td colSpan={5}>
            <button className="small secondary" data-testid="hosts-more" onClick={() => onMore(c.pageInfo.endCursor!)}>
              more hosts ({c.totalCount} in all)
            </button>
          </td>
        </tr>
      )}
    </>
  );
}

const hostFields = ['name', 'address', 'port', 'labels', 'defaultCredentialId', 'os'];

function NewHost({ projectId }: { projectId: string }) {
  const [form, setForm] = useState({ name: '', address: '', port: '', labels: '', credential: '', os: 'LINUX' });
  const [local, setLocal] = useState<Record<string, string>>({});
  const [created, setCreated] = useState('');
  const context = useMemo(() => ({ additionalTypenames: ['Credential'] }), []);
  const [{ data: creds }] = useQuery({ query: CredentialChoicesDoc, variables: { projectId }, context });
  const [{ error, fetching }, create] = useMutation(CreateHostDoc);
  const { at, rest } = formProblems(error, local, hostFields);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <form
      className="card"
      data-testid="new-host"
      onSubmit={async (e) => {
        e.preventDefault();
        const problems: Record<string, string> = {};
        const { labels, error: labelError } = parseLabels(form.labels);
        if (labelError) problems.labels = labelError;
        const port = form.port.trim() === '' ? undefined : Number(form.port);
        if (port !== undefined && !Number.isInteger(port)) problems.port = 'must be a whole number';
        setLocal(problems);
        if (Object.keys(problems).length > 0) return;
        const r = await create({
          input: {
            projectId,
            name: form.name,
            address: form.address,
            port,
            os: form.os as 'LINUX',
            labels,
            defaultCredentialId: form.credential || undefined,
          },
        });
        if (r.data) {
          setCreated(r.data.createHost.host.name);
          setForm({ ...form, name: '', address: '' });
        }
      }}
    >
      <h2>New host</h2>
      <div className="grid2">
        <Row label="Name" error={at.name}>
          <input name="name" value={form.name} onChange={set('name')} />
        </Row>
        <Row label="Address" error={at.address}>
          <input name="address" value={form.address} onChange={set('address')} placeholder="DNS name or IP" />
        </Row>
        <Row label="Port" error={at.port} hint="empty for the executor's default">
          <input name="port" value={form.port} onChange={set('port')} inputMode="numeric" />
        </Row>
        <Row label="OS" error={at.os}>
          <select name="os" value={form.os} onChange={set('os')}>
            {['LINUX', 'WINDOWS', 'DARWIN', 'OTHER'].map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </Row>
        <Row label="Labels" error={at.labels} hint="key=value, comma-separated">
          <input name="labels" value={form.labels} onChange={set('labels')} />
        </Row>
        <Row label="Credential" error={at.defaultCredentialId}>
          <select name="credential" value={form.credential} onChange={set('credential')}>
            <option value="">none</option>
            {creds?.credentials.edges.map(({ node: c }) => (
              <option key={c.id} value={c.id}>
                {c.name} ({c.kind.toLowerCase().replace('_', ' ')})
              </option>
            ))}
          </select>
        </Row>
      </div>
      <Problems problems={rest} />
      {created && !error && <p className="ok">Host {created} created.</p>}
      <button type="submit" disabled={fetching}>
        Create host
      </button>
    </form>
  );
}
