import { useState } from 'react';
import { useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import type { AuditOutcome } from '../gql/graphql';
import { Problems, Row, time } from '../ui';

const AuditDoc = graphql(`
  query ProjectAudit($projectId: ID!, $filter: AuditFilter, $after: String) {
    project(id: $projectId) {
      id
      auditEvents(first: 100, after: $after, filter: $filter) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            id
            at
            actorId
            actorName
            tokenId
            action
            objectKind
            objectId
            outcome
            reason
            clientAddr
          }
        }
      }
    }
  }
`);

const SystemAuditDoc = graphql(`
  query SystemAudit($filter: AuditFilter, $after: String, $projectId: ID) {
    auditEvents(first: 100, after: $after, filter: $filter, projectId: $projectId) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          at
          actorId
          actorName
          tokenId
          action
          objectKind
          objectId
          projectId
          outcome
          reason
          clientAddr
        }
      }
    }
  }
`);

/** A datetime-local input's value as an RFC 3339 time, or undefined. */
export function localToISO(v: string): string | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * The audit log: the project's, or for a system admin the whole server's
 * (sign-ins, users, roles, projects and every project's events), with the
 * same filters and paging.
 */
export function AuditPage({ projectId, perms }: ProjectContext) {
  const [scope, setScope] = useState<'project' | 'system'>('project');
  const system = scope === 'system' && perms.all;
  const [f, setF] = useState({ action: '', actorId: '', objectId: '', outcome: '', since: '', until: '' });
  const [after, setAfter] = useState<string>();
  const filter = {
    action: f.action.trim() || undefined,
    actorId: f.actorId.trim() || undefined,
    objectId: f.objectId.trim() || undefined,
    outcome: (f.outcome || undefined) as AuditOutcome | undefined,
    since: localToISO(f.since),
    until: localToISO(f.until),
  };
  const [{ data, error, fetching }] = useQuery({ query: AuditDoc, variables: { projectId, filter, after }, requestPolicy: 'cache-and-network', pause: system });
  const [{ data: sys, error: sysError, fetching: sysFetching }] = useQuery({ query: SystemAuditDoc, variables: { filter, after }, requestPolicy: 'cache-and-network', pause: !system });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => {
    setAfter(undefined);
    setF({ ...f, [k]: e.target.value });
  };
  const page = system ? sys?.auditEvents : data?.project?.auditEvents;
  return (
    <section>
      <h1>Audit log</h1>
      {perms.all && (
        <div className="toolbar" data-testid="audit-scope">
          <label className="pick">
            <input type="radio" name="audit-scope" value="project" checked={!system} onChange={() => (setScope('project'), setAfter(undefined))} /> this project
          </label>
          <label className="pick">
            <input type="radio" name="audit-scope" value="system" checked={system} onChange={() => (setScope('system'), setAfter(undefined))} /> the whole server (system admin)
          </label>
        </div>
      )}
      <div className="card grid4" data-testid="audit-filters">
        <Row label="Action" hint="e.g. runJob">
          <input name="audit-action" value={f.action} onChange={set('action')} />
        </Row>
        <Row label="Actor" hint="user:<id>">
          <input name="audit-actor" value={f.actorId} onChange={set('actorId')} />
        </Row>
        <Row label="Object ID">
          <input name="audit-object" value={f.objectId} onChange={set('objectId')} />
        </Row>
        <Row label="Outcome">
          <select name="audit-outcome" value={f.outcome} onChange={set('outcome')}>
            <option value="">any</option>
            <option value="ALLOWED">allowed</option>
            <option value="DENIED">denied</option>
            <option value="FAILED">failed</option>
          </select>
        </Row>
        <Row label="Since">
          <input type="datetime-local" name="audit-since" value={f.since} onChange={set('since')} />
        </Row>
        <Row label="Until">
          <input type="datetime-local" name="audit-until" value={f.until} onChange={set('until')} />
        </Row>
      </div>
      <Problems problems={describeError(system ? sysError : error)} />
      {page && (
        <p className="hint" data-testid="audit-count">
          {page.totalCount} events{system ? ' on the whole server' : ''}
          {(system ? sysFetching : fetching) ? ' (updating…)' : ''}
        </p>
      )}
      <table className="list" data-testid="audit">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>Action</th>
            <th>Object</th>
            {system && <th>Project</th>}
            <th>Outcome</th>
            <th>From</th>
          </tr>
        </thead>
        <tbody>
          {page?.edges.map(({ node: e }) => (
            <tr key={e.id} data-outcome={e.outcome} data-action={e.action}>
              <td>{time(e.at)}</td>
              <td title={e.actorId}>
                {e.actorName || e.actorId || 'anonymous'}
                {e.tokenId && <small className="hint"> (token)</small>}
              </td>
              <td>
                <code>{e.action}</code>
              </td>
              <td>{[e.objectKind, e.objectId].filter(Boolean).join(' ')}</td>
              {system && <td>{'projectId' in e && typeof e.projectId === 'string' ? e.projectId : '—'}</td>}
              <td>
                {e.outcome.toLowerCase()}
                {e.reason && <small className="hint"> — {e.reason}</small>}
              </td>
              <td>{e.clientAddr}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page?.pageInfo.hasNextPage && (
        <button className="secondary" onClick={() => setAfter(page.pageInfo.endCursor ?? undefined)}>
          Older events
        </button>
      )}
      {after && (
        <button className="secondary" onClick={() => setAfter(undefined)}>
          Newest events
        </button>
      )}
    </section>
  );
}
