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

/** A datetime-local input's value as an RFC 3339 time, or undefined. */
export function localToISO(v: string): string | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function AuditPage({ projectId }: ProjectContext) {
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
  const [{ data, error, fetching }] = useQuery({ query: AuditDoc, variables: { projectId, filter, after }, requestPolicy: 'cache-and-network' });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => {
    setAfter(undefined);
    setF({ ...f, [k]: e.target.value });
  };
  const page = data?.project?.auditEvents;
  return (
    <section>
      <h1>Audit log</h1>
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
      <Problems problems={describeError(error)} />
      {page && <p className="hint">{page.totalCount} events{fetching ? ' (updating…)' : ''}</p>}
      <table className="list" data-testid="audit">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>Action</th>
            <th>Object</th>
            <th>Outcome</th>
            <th>From</th>
          </tr>
        </thead>
        <tbody>
          {page?.edges.map(({ node: e }) => (
            <tr key={e.id} data-outcome={e.outcome}>
              <td>{time(e.at)}</td>
              <td title={e.actorId}>
                {e.actorName || e.actorId || 'anonymous'}
                {e.tokenId && <small className="hint"> (token)</small>}
              </td>
              <td>
                <code>{e.action}</code>
              </td>
              <td>{[e.objectKind, e.objectId].filter(Boolean).join(' ')}</td>
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
