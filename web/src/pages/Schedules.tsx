import { useDeferredValue, useEffect, useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import type { ScheduleMissed, ScheduleOverlap } from '../gql/graphql';
import { launchParams, paramValues } from '../jobeditor';
import { defaultsOf, ParamInputs, type ParamValues } from './Launch';
import { formProblems, Link, Problems, Row, Status, time } from '../ui';

const SchedulesDoc = graphql(`
  query Schedules($projectId: ID!) {
    schedules(projectId: $projectId) {
      id
      name
      jobId
      job {
        id
        name
      }
      expression
      timeZone
      params
      priority
      jitterSeconds
      overlap
      missed
      enabled
      nextFireAt
      lastFireAt
      lastError
      lastRun {
        id
        status
      }
    }
    jobs(projectId: $projectId, first: 200) {
      edges {
        node {
          id
          name
        }
      }
    }
  }
`);

const ScheduleJobDoc = graphql(`
  query ScheduleJob($id: ID!) {
    job(id: $id) {
      id
      yaml
      parameters {
        name
        type
        required
        description
        choices
      }
    }
  }
`);

const FiresDoc = graphql(`
  query ScheduleFires($id: ID!) {
    schedule(id: $id) {
      id
      fires(last: 20) {
        at
        firedAt
        outcome
        runId
        error
      }
    }
  }
`);

const CronPreviewDoc = graphql(`
  query CronPreview($expression: String!, $timeZone: String) {
    cronPreview(expression: $expression, timeZone: $timeZone, count: 5)
  }
`);

const CreateScheduleDoc = graphql(`
  mutation CreateSchedule($input: CreateScheduleInput!) {
    createSchedule(input: $input) {
      schedule {
        id
      }
    }
  }
`);

const UpdateScheduleDoc = graphql(`
  mutation UpdateSchedule($input: UpdateScheduleInput!) {
    updateSchedule(input: $input) {
      schedule {
        id
        name
        expression
        timeZone
        params
        overlap
        missed
        enabled
        nextFireAt
      }
    }
  }
`);

const SetScheduleEnabledDoc = graphql(`
  mutation SetScheduleEnabled($input: SetScheduleEnabledInput!) {
    setScheduleEnabled(input: $input) {
      schedule {
        id
        enabled
        nextFireAt
      }
    }
  }
`);

const DeleteScheduleDoc = graphql(`
  mutation DeleteSchedule($input: DeleteScheduleInput!) {
    deleteSchedule(input: $input) {
      deletedId
    }
  }
`);

type Draft = { id?: string; name: string; jobId: string; expression: string; timeZone: string; params: ParamValues; extra: Record<string, unknown>; paramsLoaded?: boolean; storedParams?: Record<string, unknown>; jitterSeconds: string; overlap: ScheduleOverlap; missed: ScheduleMissed };
const blank = (): Draft => ({ name: '', jobId: '', expression: '0 3 * * *', timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone ?? '', params: {}, extra: {}, paramsLoaded: true, jitterSeconds: '', overlap: 'SKIP', missed: 'SKIP' });

export function SchedulesPage({ projectId, perms }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['Schedule'] }), []);
  const [{ data, error }] = useQuery({ query: SchedulesDoc, variables: { projectId }, context });
  const [draft, setDraft] = useState<Draft>();
  const [open, setOpen] = useState<string>();
  const [{ data: fires }] = useQuery({ query: FiresDoc, variables: { id: open ?? '' }, pause: !open, requestPolicy: 'network-only' });
  const expression = useDeferredValue(draft?.expression.trim() ?? '');
  const timeZone = useDeferredValue(draft?.timeZone.trim() ?? '');
  const [{ data: preview, error: previewError }] = useQuery({ query: CronPreviewDoc, variables: { expression, timeZone: timeZone || undefined }, pause: !expression });
  const [local, setLocal] = useState<Record<string, string>>({});
  const [{ error: createError, fetching: creating }, create] = useMutation(CreateScheduleDoc);
  const [{ error: updateError, fetching: updating }, update] = useMutation(UpdateScheduleDoc);
  const [{ error: enableError }, setEnabled] = useMutation(SetScheduleEnabledDoc);
  const [{ error: deleteError }, del] = useMutation(DeleteScheduleDoc);
  const canWrite = perms.can('SCHEDULE_WRITE') && perms.can('JOB_RUN');
  const { at, rest: problems } = formProblems(draft?.id ? updateError : createError, local, ['name', 'jobId', 'expression', 'timeZone', 'params', 'jitterSeconds', 'overlap', 'missed']);
  const rest = [];
  for (const p of problems) {
    const m = p.field?.match(/^(?:input\.)?params\.(.+)$/);
    if (m) at[`params.${m[1]}`] = p.detail;
    else rest.push(p);
  }
  const previewProblem = describeError(previewError)[0];
  const jobs = data?.jobs.edges.map((e) => e.node) ?? [];
  const [{ data: jobData }] = useQuery({ query: ScheduleJobDoc, variables: { id: draft?.jobId ?? '' }, pause: !draft?.jobId });
  const job = jobData?.job?.id === draft?.jobId ? jobData?.job : undefined;
  const defaults = useMemo(() => defaultsOf(job?.yaml), [job?.yaml]);
  // A schedule being edited shows its stored parameters once its job's are known.
  useEffect(() => {
    if (job && draft && !draft.paramsLoaded) {
      const { values, extra } = paramValues(job.parameters, draft.storedParams);
      setDraft({ ...draft, params: values, extra, paramsLoaded: true });
    }
  }, [job, draft]);
  // A parameter's problem from the API is on params.<name>: shown at its input.
  const paramErrors: Record<string, string> = {};
  for (const [k, v] of Object.entries(at)) if (k.startsWith('params.')) paramErrors[k.slice('params.'.length)] = v;
  return (
    <section>
      <h1>Schedules</h1>
      <Problems problems={describeError(error ?? enableError ?? deleteError)} />
      <table className="list" data-testid="schedules">
        <thead>
          <tr>
            <th>Enabled</th>
            <th>Name</th>
            <th>Job</th>
            <th>When</th>
            <th>Next</th>
            <th>Last</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.schedules.map((s) => (
            <tr key={s.id} data-schedule={s.name}>
              <td>
                <input type="checkbox" checked={s.enabled} disabled={!canWrite} onChange={(e) => setEnabled({ input: { id: s.id, enabled: e.target.checked } })} />
              </td>
              <td>{s.name}</td>
              <td>{s.job ? <Link to={`/p/${projectId}/jobs/${s.job.id}`}>{s.job.name}</Link> : '(deleted)'}</td>
              <td>
                <code>{s.expression}</code> <small className="hint">{s.timeZone || 'UTC'}</small>
                <br />
                <small className="hint">
                  overlap {s.overlap.toLowerCase()}, missed {s.missed.toLowerCase().replace('_', ' ')}
                  {s.jitterSeconds ? `, jitter ≤ ${s.jitterSeconds}s` : ''}
                </small>
              </td>
              <td>{time(s.nextFireAt) || '—'}</td>
              <td>
                {time(s.lastFireAt)}
                {s.lastRun && (
                  <>
                    {' '}
                    <Link to={`/p/${projectId}/runs/${s.lastRun.id}`}>
                      <Status status={s.lastRun.status} />
                    </Link>
                  </>
                )}
                {s.lastError && <small className="field-error"> {s.lastError}</small>}
              </td>
              <td>
                <button className="small secondary" onClick={() => setOpen(open === s.id ? undefined : s.id)}>
                  Fires
                </button>
                {canWrite && (
                  <>
                    <button
                      className="small"
                      onClick={() =>
                        setDraft({ id: s.id, name: s.name, jobId: s.jobId, expression: s.expression, timeZone: s.timeZone, params: {}, extra: {}, storedParams: (s.params ?? {}) as Record<string, unknown>, jitterSeconds: String(s.jitterSeconds || ''), overlap: s.overlap, missed: s.missed })
                      }
                    >
                      Edit
                    </button>
                    <button className="small danger" onClick={() => window.confirm(`Delete the schedule ${s.name}?`) && del({ input: { id: s.id } })}>
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open && fires?.schedule && (
        <div className="card" data-testid="schedule-fires">
          <h2>Recent fires</h2>
          {fires.schedule.fires.length === 0 && <p className="hint">It has not fired yet.</p>}
          <ul>
            {fires.schedule.fires.map((f, i) => (
              <li key={i}>
                {time(f.at)}: {f.outcome.toLowerCase().replace('_', ' ')}
                {f.runId && (
                  <>
                    {' '}
                    <Link to={`/p/${projectId}/runs/${f.runId}`}>run</Link>
                  </>
                )}
                {f.error && <span className="field-error"> {f.error}</span>}
              </li>
            ))}
          </ul>
        </div>
      )}
      {canWrite && !draft && (
        <button data-testid="new-schedule" onClick={() => setDraft(blank())}>
          New schedule
        </button>
      )}
      {draft && (
        <form
          className="card"
          data-testid="schedule-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const { doc, errors } = launchParams(job?.parameters ?? [], draft.params);
            setLocal(Object.fromEntries(Object.entries(errors).map(([k, v]) => [`params.${k}`, v])));
            if (Object.keys(errors).length) return;
            const params = { ...draft.extra, ...doc };
            const jitter = draft.jitterSeconds.trim() ? Number(draft.jitterSeconds) : undefined;
            const common = { name: draft.name, expression: draft.expression, timeZone: draft.timeZone, params, jitterSeconds: jitter, overlap: draft.overlap, missed: draft.missed };
            const r = draft.id ? await update({ input: { id: draft.id, ...common } }) : await create({ input: { projectId, jobId: draft.jobId, ...common } });
            if (r.data) setDraft(undefined);
          }}
        >
          <h2>{draft.id ? `Edit ${draft.name}` : 'New schedule'}</h2>
          <div className="grid2">
            <Row label="Name" error={at.name}>
              <input name="schedule-name" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
            </Row>
            <Row label="Job" error={at.jobId}>
              <select name="schedule-job" value={draft.jobId} disabled={!!draft.id} onChange={(e) => setDraft({ ...draft, jobId: e.target.value, params: {}, extra: {}, paramsLoaded: true })}>
                <option value="">choose…</option>
                {jobs.map((j) => (
                  <option key={j.id} value={j.id}>
                    {j.name}
                  </option>
                ))}
              </select>
            </Row>
            <Row label="Cron expression" hint="minute hour day month weekday (seconds first if six fields), or @daily, @every 10m" error={at.expression ?? (expression && previewProblem?.detail)}>
              <input className="mono" name="schedule-expression" value={draft.expression} onChange={(e) => setDraft({ ...draft, expression: e.target.value })} />
            </Row>
            <Row label="Time zone" hint="IANA, e.g. Europe/Berlin; empty for UTC" error={at.timeZone}>
              <input name="schedule-tz" value={draft.timeZone} onChange={(e) => setDraft({ ...draft, timeZone: e.target.value })} />
            </Row>
          </div>
          {preview && !previewError && (
            <p className="hint" data-testid="cron-preview">
              Next fires: {preview.cronPreview.map((t) => time(t)).join(' · ')}
            </p>
          )}
          <div className="grid4">
            <Row label="While the last run still runs" error={at.overlap}>
              <select name="schedule-overlap" value={draft.overlap} onChange={(e) => setDraft({ ...draft, overlap: e.target.value as ScheduleOverlap })}>
                <option value="SKIP">skip the fire</option>
                <option value="QUEUE">wait, then run once</option>
                <option value="ALLOW">run another</option>
              </select>
            </Row>
            <Row label="Fires missed while down" error={at.missed}>
              <select name="schedule-missed" value={draft.missed} onChange={(e) => setDraft({ ...draft, missed: e.target.value as ScheduleMissed })}>
                <option value="SKIP">skip them</option>
                <option value="RUN_ONCE">run once for all</option>
              </select>
            </Row>
            <Row label="Jitter (seconds)" error={at.jitterSeconds}>
              <input name="schedule-jitter" value={draft.jitterSeconds} onChange={(e) => setDraft({ ...draft, jitterSeconds: e.target.value })} />
            </Row>
          </div>
          <fieldset className="targets" data-testid="schedule-params">
            <legend>Parameters</legend>
            {at.params && <p className="field-error">{at.params}</p>}
            {!draft.jobId && <p className="hint">Pick a job to set its parameters.</p>}
            {job && draft.paramsLoaded && (
              <ParamInputs projectId={projectId} parameters={job.parameters} defaults={defaults} values={draft.params} onChange={(params) => setDraft({ ...draft, params })} errors={paramErrors} prefix="schedule-param" />
            )}
            {Object.keys(draft.extra).length > 0 && (
              <p className="hint">
                Kept as stored, though the job no longer declares them: {Object.keys(draft.extra).join(', ')}{' '}
                <button type="button" className="link" onClick={() => setDraft({ ...draft, extra: {} })}>
                  drop them
                </button>
              </p>
            )}
          </fieldset>
          <Problems problems={rest} />
          <div className="toolbar">
            <button type="submit" disabled={creating || updating}>
              {draft.id ? 'Save' : 'Create schedule'}
            </button>
            <button type="button" className="secondary" onClick={() => setDraft(undefined)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
