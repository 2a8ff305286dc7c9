import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { useClient, useMutation, useQuery, useSubscription } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import { GridStore, finalStatuses, statusColor, type Cell, type TaskStatus } from '../grid';
import { HostGrid } from '../HostGrid';
import { LogPane } from '../LogPane';
import { navigate } from '../router';
import { StepDag } from '../StepDag';
import { Link, Problems, Status, time } from '../ui';
import { ApprovalCard } from './Approvals';

const RunApprovalsDoc = graphql(`
  query RunApprovals($id: ID!) {
    run(id: $id) {
      id
      approvals {
        ...ApprovalFields
      }
    }
  }
`);

/** The run's approvals (pending first), re-read whenever the run or a step changes status. */
function RunApprovals(props: ProjectContext & { runId: string; version: string }) {
  const [{ data }, refetch] = useQuery({ query: RunApprovalsDoc, variables: { id: props.runId }, requestPolicy: 'network-only' });
  useEffect(() => {
    refetch({ requestPolicy: 'network-only' });
  }, [props.version, refetch]);
  const list = [...(data?.run?.approvals ?? [])].sort((a, b) => Number(b.status === 'PENDING') - Number(a.status === 'PENDING'));
  if (list.length === 0) return null;
  return (
    <div className="run-approvals" data-testid="run-approvals">
      {list.map((a) => (
        <ApprovalCard key={a.id} approval={a} {...props} />
      ))}
    </div>
  );
}

const RunDoc = graphql(`
  query Run($id: ID!) {
    run(id: $id) {
      id
      name
      status
      triggerKind
      triggeredBy
      retryOf
      jobId
      createdAt
      startedAt
      finishedAt
      steps {
        id
        name
        index
        status
        counts {
          total
          succeeded
          failed
          running
        }
      }
    }
  }
`);

const JobStepsDoc = graphql(`
  query JobSteps($id: ID!) {
    job(id: $id) {
      id
      steps {
        name
        needs
      }
    }
  }
`);

const RunTasksDoc = graphql(`
  query RunTasks($id: ID!, $after: String) {
    run(id: $id) {
      id
      tasks(first: 500, after: $after) {
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            id
            stepRunId
            hostId
            hostName
            status
            attempt
          }
        }
      }
    }
  }
`);

const RunUpdatesDoc = graphql(`
  subscription RunUpdates($runId: ID!) {
    runUpdates(runId: $runId) {
      kind
      run {
        id
        status
      }
      steps {
        id
        name
        index
        status
        counts {
          total
          succeeded
          failed
          running
        }
      }
      task {
        id
        stepRunId
        hostId
        hostName
        status
        attempt
      }
    }
  }
`);

const CancelDoc = graphql(`
  mutation CancelRun($input: CancelRunInput!) {
    cancelRun(input: $input) {
      run {
        id
        status
      }
    }
  }
`);

const RetryDoc = graphql(`
  mutation RetryRun($input: RetryRunInput!) {
    retryRun(input: $input) {
      run {
        id
      }
    }
  }
`);

type Step = { id: string; name: string; index: number; status: string; counts: { total: number; succeeded: number; failed: number; running: number } };

const finalRun = new Set(['SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT']);

export function RunPage({ projectId, perms, me, runId }: ProjectContext & { runId: string }) {
  const client = useClient();
  const store = useMemo(() => new GridStore(), []);
  const [{ data, error }] = useQuery({ query: RunDoc, variables: { id: runId }, requestPolicy: 'network-only' });
  // The job's DAG (its latest version's; an ad-hoc run has one step).
  const jobId = data?.run?.jobId;
  const [{ data: job }] = useQuery({ query: JobStepsDoc, variables: { id: jobId ?? '' }, pause: !jobId });
  const [live, setLive] = useState<{ status?: string; steps?: Step[] }>({});
  const [selected, setSelected] = useState<string>();
  const [stepFilter, setStepFilter] = useState<string>();
  const [loadError, setLoadError] = useState<unknown>();
  const [snapshots, setSnapshots] = useState(0);

  // Every task of the run, page by page, on start and after each SNAPSHOT
  // (the subscription sends one first and after dropping updates).
  useEffect(() => {
    let stale = false;
    (async () => {
      const all: Cell[] = [];
      let after: string | null | undefined;
      for (;;) {
        const r = await client.query(RunTasksDoc, { id: runId, after }, { requestPolicy: 'network-only' }).toPromise();
        if (stale) return;
        if (r.error || !r.data?.run) {
          setLoadError(r.error);
          return;
        }
        for (const e of r.data.run.tasks.edges) all.push(e.node as Cell);
        if (!r.data.run.tasks.pageInfo.hasNextPage) break;
        after = r.data.run.tasks.pageInfo.endCursor;
      }
      store.reset(all);
    })();
    return () => {
      stale = true;
    };
  }, [client, runId, store, snapshots]);

  const [sub] = useSubscription({ query: RunUpdatesDoc, variables: { runId } }, (_: undefined, u) => {
    const up = u.runUpdates;
    if (up.task) store.apply([up.task as Cell]);
    if (up.kind === 'SNAPSHOT') setSnapshots((n) => n + 1);
    if (up.run || up.steps.length) {
      setLive((l) => ({ status: up.run?.status ?? l.status, steps: up.steps.length ? (up.steps as Step[]) : l.steps }));
    }
    return undefined;
  });

  useSyncExternalStore(store.subscribe, store.getVersion);
  const [{ fetching: canceling, error: cancelError }, cancel] = useMutation(CancelDoc);
  const [{ fetching: retrying, error: retryError }, retry] = useMutation(RetryDoc);

  const run = data?.run;
  if (error || loadError) return <Problems problems={describeError((error ?? loadError) as never)} />;
  if (!run) return <p className="loading">Loading…</p>;
  const status = live.status ?? run.status;
  const steps = live.steps ?? run.steps;
  const needs = new Map((job?.job?.steps ?? []).map((st) => [st.name, st.needs]));
  const counts = store.counts();
  const failedHosts = Object.entries(counts).reduce((n, [s, c]) => (s !== 'SUCCEEDED' && finalStatuses.has(s as TaskStatus) ? n + (c ?? 0) : n), 0);
  const done = finalRun.has(status);
  const canRun = perms.can('JOB_RUN');
  const sel = selected ? store.get(selected) : undefined;

  return (
    <section className="run">
      <h1>
        {run.name} <Status status={status} testId="run-status" />
      </h1>
      <p className="hint">
        {run.triggerKind} by {run.triggeredBy}, {time(run.createdAt)}
        {run.retryOf && (
          <>
            {' '}
            — re-run of <Link to={`/p/${projectId}/runs/${run.retryOf}`}>{run.retryOf}</Link>
          </>
        )}
        {sub.error && ' — live updates lost; reload to see the latest'}
      </p>
      <div className="actions">
        {canRun && !done && (
          <button data-testid="cancel" disabled={canceling} onClick={() => cancel({ input: { id: runId } })}>
            Cancel run
          </button>
        )}
        {canRun && done && failedHosts > 0 && (
          <button
            data-testid="rerun-failed"
            disabled={retrying}
            onClick={async () => {
              const r = await retry({ input: { runId, failedOnly: true } });
              if (r.data) navigate(`/p/${projectId}/runs/${r.data.retryRun.run.id}`);
            }}
          >
            Re-run {failedHosts} failed host{failedHosts === 1 ? '' : 's'}
          </button>
        )}
        <Problems problems={[...describeError(cancelError), ...describeError(retryError)]} />
      </div>
      {perms.can('APPROVAL_READ') && <RunApprovals projectId={projectId} perms={perms} me={me} runId={runId} version={`${status}:${steps.map((st) => st.status).join(',')}`} />}
      <StepDag steps={steps.map((st) => ({ ...st, needs: needs.get(st.name) ?? [] }))} selected={stepFilter} onSelect={setStepFilter} />
      <div className="legend">
        {(Object.keys(statusColor) as TaskStatus[])
          .filter((s) => counts[s])
          .map((s) => (
            <span key={s} data-testid={`count-${s}`}>
              <i style={{ background: statusColor[s] }} /> {s.toLowerCase().replace('_', ' ')} {counts[s]}
            </span>
          ))}
      </div>
      <HostGrid store={store} selected={selected} onSelect={setSelected} stepRunId={stepFilter} />
      {sel ? <LogPane key={sel.id} runId={runId} taskId={sel.id} hostName={sel.hostName} /> : <p className="hint">Pick a host to follow its log.</p>}
    </section>
  );
}
