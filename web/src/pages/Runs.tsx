import { useEffect, useRef, useState } from 'react';
import { useQuery, useSubscription } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import type { RunStatus } from '../gql/graphql';
import { Link, Problems, Status, time } from '../ui';

const RunsDoc = graphql(`
  query Runs($projectId: ID!, $filter: RunFilter) {
    runs(projectId: $projectId, first: 100, filter: $filter) {
      edges {
        node {
          id
          name
          status
          triggerKind
          triggeredBy
          createdAt
          finishedAt
        }
      }
    }
  }
`);

const ProjectRunsDoc = graphql(`
  subscription ProjectRuns($projectId: ID!) {
    projectRuns(projectId: $projectId) {
      kind
      run {
        id
        status
      }
    }
  }
`);

const statuses: RunStatus[] = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT'];

export function RunsPage({ projectId }: ProjectContext) {
  const [status, setStatus] = useState('');
  const [trigger, setTrigger] = useState('');
  const filter = { status: status ? [status as RunStatus] : undefined, triggerKind: trigger || undefined };
  const [{ data, error }, reread] = useQuery({ query: RunsDoc, variables: { projectId, filter }, requestPolicy: 'cache-and-network' });
  // The project's runs as they are queued, start and end: read the list
  // again, at most once a second.
  const [events] = useSubscription({ query: ProjectRunsDoc, variables: { projectId } }, (n: number | undefined) => (n ?? 0) + 1);
  const last = useRef(0);
  useEffect(() => {
    if (!events.data) return;
    const wait = Math.max(0, last.current + 1000 - Date.now());
    const timer = setTimeout(() => {
      last.current = Date.now();
      reread({ requestPolicy: 'network-only' });
    }, wait);
    return () => clearTimeout(timer);
  }, [events.data, reread]);
  return (
    <section>
      <h1>Runs</h1>
      <div className="filters">
        <label className="row">
          <span className="label">Status</span>
          <select name="status" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">any</option>
            {statuses.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label className="row">
          <span className="label">Trigger</span>
          <select name="trigger" value={trigger} onChange={(e) => setTrigger(e.target.value)}>
            <option value="">any</option>
            {['manual', 'schedule', 'webhook', 'retry'].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </div>
      <Problems problems={describeError(error)} />
      <table data-testid="runs">
        <thead>
          <tr>
            <th>Run</th>
            <th>Status</th>
            <th>Trigger</th>
            <th>Created</th>
            <th>Finished</th>
          </tr>
        </thead>
        <tbody>
          {data?.runs.edges.map(({ node: r }) => (
            <tr key={r.id}>
              <td>
                <Link to={`/p/${projectId}/runs/${r.id}`}>{r.name}</Link> <span className="hint mono">{r.id}</span>
              </td>
              <td>
                <Status status={r.status} />
              </td>
              <td>
                {r.triggerKind} by {r.triggeredBy}
              </td>
              <td>{time(r.createdAt)}</td>
              <td>{time(r.finishedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
