import { useMemo, useState } from 'react';
import { useClient, useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError, type Problem } from '../errors';
import { graphql } from '../gql';
import { conditions, dagOf, emptyJob, fromYaml, newParam, newStep, nextStepName, paramTypes, removeStep, renameStep, strategyKeys, toDocument, toYaml, type EditorState, type StepState } from '../jobeditor';
import { navigate } from '../router';
import { SchemaForm } from '../SchemaForm';
import { fieldsOf, valuesOf, type Field, type JSONSchema } from '../schemaform';
import { StepDag } from '../StepDag';
import { Link, Problems, Row, time } from '../ui';
import { Picker } from '../Picker';
import { lineDiff } from '../diff';
import { LaunchDialog } from './Launch';

const JobsDoc = graphql(`
  query Jobs($projectId: ID!, $search: String) {
    jobs(projectId: $projectId, first: 200, filter: { search: $search }) {
      totalCount
      edges {
        node {
          id
          name
          description
          version
          updatedAt
        }
      }
    }
  }
`);

const JobDoc = graphql(`
  query Job($id: ID!, $version: Int) {
    job(id: $id) {
      id
      name
      description
      version
      updatedAt
      yaml(version: $version)
      parameters {
        name
        type
        required
        description
        choices
      }
      versions(first: 50) {
        edges {
          node {
            version
            createdAt
            createdBy
          }
        }
      }
    }
  }
`);

const ImportJobDoc = graphql(`
  mutation ImportJob($input: ImportJobInput!) {
    importJob(input: $input) {
      job {
        id
        version
      }
    }
  }
`);

const UpdateJobDoc = graphql(`
  mutation UpdateJob($input: UpdateJobInput!) {
    updateJob(input: $input) {
      job {
        id
        version
      }
    }
  }
`);

const DeleteJobDoc = graphql(`
  mutation DeleteJob($input: DeleteJobInput!) {
    deleteJob(input: $input) {
      deletedId
    }
  }
`);

const EditorDataDoc = graphql(`
  query EditorData {
    executors {
      name
      actions {
        name
        description
        paramsSchema
        secretParams
      }
    }
  }
`);

export function JobsPage({ projectId, perms }: ProjectContext) {
  const [search, setSearch] = useState('');
  const context = useMemo(() => ({ additionalTypenames: ['Job'] }), []);
  const [{ data, error }] = useQuery({ query: JobsDoc, variables: { projectId, search: search || undefined }, context });
  const [launching, setLaunching] = useState<string>();
  const [yaml, setYaml] = useState('');
  const [showImport, setShowImport] = useState(false);
  const [{ error: importError, fetching }, importJob] = useMutation(ImportJobDoc);
  const canWrite = perms.can('JOB_WRITE');
  const canRun = perms.can('JOB_RUN');
  return (
    <section>
      <h1>Jobs</h1>
      <div className="toolbar">
        <input placeholder="search by name" value={search} onChange={(e) => setSearch(e.target.value)} />
        {canWrite && (
          <>
            <button data-testid="new-job" onClick={() => navigate(`/p/${projectId}/jobs/new`)}>
              New job
            </button>
            <button className="secondary" onClick={() => setShowImport(!showImport)}>
              Import YAML
            </button>
          </>
        )}
      </div>
      {showImport && (
        <form
          className="card"
          onSubmit={async (e) => {
            e.preventDefault();
            const r = await importJob({ input: { projectId, yaml } });
            if (r.data) navigate(`/p/${projectId}/jobs/${r.data.importJob.job.id}`);
          }}
        >
          <Row label="Job document (YAML)" hint="apiVersion: jobgraph/v1, kind: Job; a job of that name gets a new version">
            <textarea className="mono" rows={12} value={yaml} onChange={(e) => setYaml(e.target.value)} data-testid="import-yaml" />
          </Row>
          <Problems problems={describeError(importError)} />
          <button type="submit" disabled={fetching || !yaml.trim()}>
            Import
          </button>
        </form>
      )}
      <Problems problems={describeError(error)} />
      <table className="list" data-testid="jobs">
        <thead>
          <tr>
            <th>Name</th>
            <th>Description</th>
            <th>Version</th>
            <th>Changed</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.jobs.edges.map(({ node: j }) => (
            <tr key={j.id} data-job={j.name}>
              <td>
                <Link to={`/p/${projectId}/jobs/${j.id}`}>{j.name}</Link>
              </td>
              <td>{j.description}</td>
              <td>v{j.version}</td>
              <td>{time(j.updatedAt)}</td>
              <td>
                {canRun && (
                  <button className="small" data-testid="launch-job" onClick={() => setLaunching(j.id)}>
                    Launch…
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && data.jobs.edges.length === 0 && <p className="hint">No job yet{canWrite ? ': create one, or import a YAML document.' : '.'}</p>}
      {launching && <LaunchDialog projectId={projectId} jobId={launching} onClose={() => setLaunching(undefined)} />}
    </section>
  );
}

// The document fields the editor shows a problem next to; the API's
// problems on other fields (ifVersion, outputs, pool…) are listed below it.
const shownFields =
  /^(name|description|timeout|parameters\[\d+\]\.(name|type|default|choices)|steps\[\d+\]\.(name|needs|condition|executor|action|params(\..+)?|targets(\.(hosts|groups|selector|param))?|timeout|retries|retryBackoff|strategy\.\w+|approval\.(role|count|timeout|message)))$/;

/** What the API said is wrong, by document field ("steps[1].needs"), and the rest. */
export function splitProblems(problems: Problem[]): { at: Record<string, string>; rest: Problem[] } {
  const at: Record<string, string> = {};
  const rest: Problem[] = [];
  for (const p of problems) {
    const f = p.field?.replace(/^input\./, '');
    if (f && shownFields.test(f)) at[f] = p.detail;
    else rest.push(p);
  }
  return { at, rest };
}

export function JobEditorPage({ jobId, ...ctx }: ProjectContext & { jobId: string }) {
  const isNew = jobId === 'new';
  const [{ data, error, fetching }, reload] = useQuery({ query: JobDoc, variables: { id: jobId }, pause: isNew, requestPolicy: 'network-only' });
  if (isNew) return <Editor {...ctx} initial={emptyJob()} />;
  if (fetching && !data) return <p className="loading">Loading…</p>;
  if (!data?.job) return <Problems problems={describeError(error)} />;
  return <Editor key={data.job.version} {...ctx} job={data.job} initial={fromYaml(data.job.yaml)} onSaved={() => reload()} />;
}

type LoadedJob = NonNullable<import('../gql/graphql').JobQuery['job']>;

function Editor({ projectId, perms, job, initial, onSaved }: ProjectContext & { job?: LoadedJob; initial: EditorState; onSaved?: () => void }) {
  const [state, setState] = useState(initial);
  const [tab, setTab] = useState<'form' | 'yaml' | 'versions'>('form');
  const [yamlText, setYamlText] = useState<string>();
  const [yamlError, setYamlError] = useState<string>();
  const [local, setLocal] = useState<Record<string, string>>({});
  const [launching, setLaunching] = useState(false);
  const [{ data: ed }] = useQuery({ query: EditorDataDoc });
  const [{ error: importError, fetching: importing }, importJob] = useMutation(ImportJobDoc);
  const [{ error: updateError, fetching: updating }, updateJob] = useMutation(UpdateJobDoc);
  const [{ error: deleteError }, deleteJob] = useMutation(DeleteJobDoc);
  const canWrite = perms.can('JOB_WRITE');
  const canRun = perms.can('JOB_RUN');

  const fieldsFor = useMemo(() => {
    const cache = new Map<string, Field[]>();
    return (executor: string, action: string): Field[] | undefined => {
      const key = `${executor}/${action}`;
      if (!cache.has(key)) {
        const a = ed?.executors.find((x) => x.name === executor)?.actions?.find((x) => x.name === action);
        if (!a) return undefined;
        cache.set(key, fieldsOf(a.paramsSchema as JSONSchema, a.secretParams));
      }
      return cache.get(key);
    };
  }, [ed]);

  const { at: apiAt, rest } = splitProblems(describeError(importError ?? updateError ?? deleteError));
  const at = { ...apiAt, ...local };
  const setStep = (i: number, patch: Partial<StepState>) => setState({ ...state, steps: state.steps.map((s, j) => (j === i ? { ...s, ...patch } : s)) });

  const save = async () => {
    let current = state;
    if (tab === 'yaml' && yamlText !== undefined) {
      try {
        current = fromYaml(yamlText);
      } catch (e) {
        setYamlError(String((e as Error).message));
        return;
      }
    }
    const { doc, errors } = toDocument(current, fieldsFor);
    setLocal(errors);
    if (Object.keys(errors).length) {
      setTab('form');
      return;
    }
    const yaml = toYaml(doc);
    if (!job) {
      const r = await importJob({ input: { projectId, yaml } });
      if (r.data) navigate(`/p/${projectId}/jobs/${r.data.importJob.job.id}`, true);
    } else {
      const r = await updateJob({ input: { id: job.id, yaml, ifVersion: job.version } });
      if (r.data) onSaved?.();
    }
  };

  const stepNames = state.steps.map((s) => s.name);
  const hostsParams = state.parameters.filter((p) => p.type === 'hosts').map((p) => p.name);

  return (
    <section data-testid="job-editor">
      <h1>
        {job ? (
          <>
            Job {job.name} <small className="hint">v{job.version}</small>
          </>
        ) : (
          'New job'
        )}
      </h1>
      <div className="toolbar">
        <Link to={`/p/${projectId}/jobs`}>← Jobs</Link>
        <span className="tabs">
          {(['form', 'yaml', ...(job ? ['versions'] : [])] as const).map((t) => (
            <button
              key={t}
              className={tab === t ? 'tab active' : 'tab'}
              data-testid={`tab-${t}`}
              onClick={() => {
                if (t === 'yaml') setYamlText(toYaml(toDocument(state, fieldsFor).doc));
                if (tab === 'yaml' && t !== 'yaml' && yamlText !== undefined) {
                  try {
                    setState(fromYaml(yamlText));
                    setYamlError(undefined);
                  } catch (e) {
                    setYamlError(String((e as Error).message));
                    return;
                  }
                }
                setTab(t as typeof tab);
              }}
            >
              {t === 'form' ? 'Editor' : t === 'yaml' ? 'YAML' : 'Versions'}
            </button>
          ))}
        </span>
        {job && canRun && (
          <button data-testid="launch-job" onClick={() => setLaunching(true)}>
            Launch…
          </button>
        )}
      </div>
      <div className="editor-dag">
        <h2>Steps</h2>
        <StepDag steps={dagOf(state.steps)} />
      </div>
      {tab === 'yaml' && (
        <div className="card">
          <Row label="The job as YAML" hint="Edit it here, or copy it to keep the job in a repository." error={yamlError}>
            <textarea className="mono" rows={24} value={yamlText ?? ''} onChange={(e) => setYamlText(e.target.value)} data-testid="job-yaml" />
          </Row>
        </div>
      )}
      {tab === 'versions' && job && <Versions job={job} canWrite={canWrite} onRestored={onSaved} />}
      {tab === 'form' && (
        <fieldset className="card" disabled={!canWrite}>
          <div className="grid2">
            <Row label="Name" error={at.name}>
              <input name="job-name" value={state.name} onChange={(e) => setState({ ...state, name: e.target.value })} />
            </Row>
            <Row label="Run timeout" hint="e.g. 1h; empty for none" error={at.timeout}>
              <input name="job-timeout" value={state.timeout} onChange={(e) => setState({ ...state, timeout: e.target.value })} />
            </Row>
          </div>
          <Row label="Description" error={at.description}>
            <input name="job-description" value={state.description} onChange={(e) => setState({ ...state, description: e.target.value })} />
          </Row>
          <h2>Parameters</h2>
          {state.parameters.map((p, i) => {
            const f = `parameters[${i}]`;
            const setP = (patch: Partial<typeof p>) => setState({ ...state, parameters: state.parameters.map((x, j) => (j === i ? { ...x, ...patch } : x)) });
            return (
              <div className="param-row grid4" key={i} data-param-index={i}>
                <Row label="Name" error={at[`${f}.name`]}>
                  <input name={`param-name-${i}`} value={p.name} onChange={(e) => setP({ name: e.target.value })} />
                </Row>
                <Row label="Type" error={at[`${f}.type`]}>
                  <select name={`param-type-${i}`} value={p.type} onChange={(e) => setP({ type: e.target.value })}>
                    {paramTypes.map((t) => (
                      <option key={t}>{t}</option>
                    ))}
                  </select>
                </Row>
                <Row label="Default" error={at[`${f}.default`]} hint={p.type === 'hosts' ? 'host IDs, comma separated' : p.type === 'secret' ? 'a secret has no default' : undefined}>
                  <input name={`param-default-${i}`} value={p.default} disabled={p.type === 'secret'} onChange={(e) => setP({ default: e.target.value })} />
                </Row>
                {p.type === 'choice' ? (
                  <Row label="Choices" hint="comma separated" error={at[`${f}.choices`]}>
                    <input name={`param-choices-${i}`} value={p.choices} onChange={(e) => setP({ choices: e.target.value })} />
                  </Row>
                ) : (
                  <Row label="Description">
                    <input name={`param-description-${i}`} value={p.description} onChange={(e) => setP({ description: e.target.value })} />
                  </Row>
                )}
                <label className="pick">
                  <input type="checkbox" checked={p.required} onChange={(e) => setP({ required: e.target.checked })} /> required
                </label>
                <button className="link" onClick={() => setState({ ...state, parameters: state.parameters.filter((_, j) => j !== i) })}>
                  remove
                </button>
              </div>
            );
          })}
          <button className="secondary" data-testid="add-param" onClick={() => setState({ ...state, parameters: [...state.parameters, newParam()] })}>
            Add parameter
          </button>
          <h2>Steps</h2>
          {state.steps.map((s, i) => (
            <StepEditor
              key={i}
              index={i}
              step={s}
              at={at}
              others={stepNames.filter((_, j) => j !== i)}
              executors={ed?.executors ?? []}
              fields={fieldsFor(s.executor, s.action)}
              projectId={projectId}
              hostsParams={hostsParams}
              onChange={(patch) => setStep(i, patch)}
              onRename={(name) => setState({ ...state, steps: renameStep(state.steps, i, name) })}
              onRemove={() => setState({ ...state, steps: removeStep(state.steps, i) })}
            />
          ))}
          <button
            className="secondary"
            data-testid="add-step"
            onClick={() => setState({ ...state, steps: [...state.steps, newStep(nextStepName(state.steps))] })}
          >
            Add step
          </button>
        </fieldset>
      )}
      <Problems problems={Object.keys(local).length ? [...rest, { text: 'Some fields need attention (marked above).', code: 'BAD_USER_INPUT', detail: '' }] : rest} testId="job-problems" />
      {canWrite && (
        <div className="toolbar">
          <button data-testid="save-job" disabled={importing || updating} onClick={save}>
            {job ? 'Save' : 'Create job'}
          </button>
          {job && (
            <button
              className="danger"
              onClick={async () => {
                if (!window.confirm(`Delete the job ${job.name} and its versions?`)) return;
                const r = await deleteJob({ input: { id: job.id } });
                if (r.data) navigate(`/p/${projectId}/jobs`);
              }}
            >
              Delete job
            </button>
          )}
        </div>
      )}
      {launching && job && <LaunchDialog projectId={projectId} jobId={job.id} onClose={() => setLaunching(false)} />}
    </section>
  );
}

type Executors = NonNullable<import('../gql/graphql').EditorDataQuery['executors']>;

function StepEditor(props: {
  index: number;
  step: StepState;
  at: Record<string, string>;
  others: string[];
  executors: Executors;
  fields?: Field[];
  projectId: string;
  hostsParams: string[];
  onChange: (patch: Partial<StepState>) => void;
  onRename: (name: string) => void;
  onRemove: () => void;
}) {
  const { index: i, step: s, at, onChange } = props;
  const f = `steps[${i}]`;
  const exec = props.executors.find((e) => e.name === s.executor);
  const values = s.values ?? (props.fields ? valuesOf(props.fields, s.params) : {});
  const paramErrors: Record<string, string> = {};
  for (const [k, v] of Object.entries(at)) if (k.startsWith(`${f}.params.`)) paramErrors[k.slice(`${f}.params.`.length)] = v;
  return (
    <fieldset className="step card" data-step-index={i}>
      <legend>
        Step {i + 1}: {s.name}
      </legend>
      <div className="grid4">
        <Row label="Name" error={at[`${f}.name`]}>
          <input name={`step-name-${i}`} value={s.name} onChange={(e) => props.onRename(e.target.value)} />
        </Row>
        <Row label="Kind">
          <select name={`step-kind-${i}`} value={s.kind} onChange={(e) => onChange({ kind: e.target.value as StepState['kind'] })}>
            <option value="action">runs an action</option>
            <option value="approval">waits for approval</option>
          </select>
        </Row>
        <Row label="Condition" error={at[`${f}.condition`]}>
          <select name={`step-condition-${i}`} value={s.condition} onChange={(e) => onChange({ condition: e.target.value })}>
            {conditions.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </Row>
        <button className="link" onClick={props.onRemove}>
          remove step
        </button>
      </div>
      <Row label="Needs" error={at[`${f}.needs`]} hint={props.others.length ? 'the steps that must end first' : 'the first step needs nothing'}>
        <span className="host-picks" data-testid={`step-needs-${i}`}>
          {props.others.map((o) => (
            <label key={o} className="pick">
              <input
                type="checkbox"
                value={o}
                checked={s.needs.includes(o)}
                onChange={(e) => onChange({ needs: e.target.checked ? [...s.needs, o] : s.needs.filter((x) => x !== o) })}
              />
              {o}
            </label>
          ))}
        </span>
      </Row>
      {s.kind === 'approval' ? (
        <div className="grid4">
          <Row label="Approver role" error={at[`${f}.approval.role`]}>
            <input name={`approval-role-${i}`} value={s.approval.role} onChange={(e) => onChange({ approval: { ...s.approval, role: e.target.value } })} />
          </Row>
          <Row label="Approvals needed" error={at[`${f}.approval.count`]}>
            <input name={`approval-count-${i}`} value={s.approval.count} onChange={(e) => onChange({ approval: { ...s.approval, count: e.target.value } })} />
          </Row>
          <Row label="Timeout" hint="e.g. 24h; empty for the default" error={at[`${f}.approval.timeout`]}>
            <input name={`approval-timeout-${i}`} value={s.approval.timeout} onChange={(e) => onChange({ approval: { ...s.approval, timeout: e.target.value } })} />
          </Row>
          <Row label="Message to approvers" error={at[`${f}.approval.message`]}>
            <input name={`approval-message-${i}`} value={s.approval.message} onChange={(e) => onChange({ approval: { ...s.approval, message: e.target.value } })} />
          </Row>
        </div>
      ) : (
        <>
          <div className="grid2">
            <Row label="Executor" error={at[`${f}.executor`]}>
              <select name={`step-executor-${i}`} value={s.executor} onChange={(e) => onChange({ executor: e.target.value, action: '', params: {}, values: undefined })}>
                <option value="">choose…</option>
                {props.executors.map((x) => (
                  <option key={x.name}>{x.name}</option>
                ))}
              </select>
            </Row>
            <Row label="Action" error={at[`${f}.action`]} hint={exec?.actions?.find((a) => a.name === s.action)?.description}>
              <select name={`step-action-${i}`} value={s.action} onChange={(e) => onChange({ action: e.target.value, params: {}, values: undefined })}>
                <option value="">choose…</option>
                {exec?.actions?.map((a) => (
                  <option key={a.name}>{a.name}</option>
                ))}
              </select>
            </Row>
          </div>
          {at[`${f}.params`] && <p className="field-error">{at[`${f}.params`]}</p>}
          {props.fields && (
            <div data-testid={`step-params-${i}`}>
              <SchemaForm fields={props.fields} values={values} errors={paramErrors} onChange={(v) => onChange({ values: v })} />
            </div>
          )}
          <fieldset className="targets">
            <legend>Targets</legend>
            {at[`${f}.targets`] && <p className="field-error">{at[`${f}.targets`]}</p>}
            <div className={at[`${f}.targets.hosts`] ? 'row bad' : 'row'}>
              <span className="label">Hosts</span>
              <Picker projectId={props.projectId} kind="hosts" value={s.hosts} onChange={(hosts) => onChange({ hosts })} testId={`step-hosts-${i}`} />
              {at[`${f}.targets.hosts`] && <small className="field-error">{at[`${f}.targets.hosts`]}</small>}
            </div>
            <div className={at[`${f}.targets.groups`] ? 'row bad' : 'row'}>
              <span className="label">Groups</span>
              <Picker projectId={props.projectId} kind="groups" value={s.groups} onChange={(groups) => onChange({ groups })} testId={`step-groups-${i}`} />
              {at[`${f}.targets.groups`] && <small className="field-error">{at[`${f}.targets.groups`]}</small>}
            </div>
            <div className="grid2">
              <Row label="Label selector" error={at[`${f}.targets.selector`]}>
                <input name={`step-selector-${i}`} value={s.selector} placeholder="tier=web" onChange={(e) => onChange({ selector: e.target.value })} />
              </Row>
              <Row label="Hosts parameter" error={at[`${f}.targets.param`]} hint="the hosts a parameter of type hosts names at launch">
                <select value={s.hostsParam} onChange={(e) => onChange({ hostsParam: e.target.value })}>
                  <option value="">none</option>
                  {props.hostsParams.map((p) => (
                    <option key={p}>{p}</option>
                  ))}
                </select>
              </Row>
            </div>
          </fieldset>
          <details className="strategy">
            <summary>Strategy, timeout and retries</summary>
            <div className="grid4">
              {strategyKeys.map((k) => (
                <Row key={k} label={k.replace(/([A-Z])/g, ' $1').toLowerCase()} error={at[`${f}.strategy.${k}`]}>
                  <input name={`step-${k}-${i}`} value={s.strategy[k]} onChange={(e) => onChange({ strategy: { ...s.strategy, [k]: e.target.value } })} />
                </Row>
              ))}
              <label className="pick">
                <input type="checkbox" checked={s.continueOnError} onChange={(e) => onChange({ continueOnError: e.target.checked })} /> continue on error
              </label>
              <Row label="Timeout per task" hint="e.g. 5m" error={at[`${f}.timeout`]}>
                <input name={`step-timeout-${i}`} value={s.timeout} onChange={(e) => onChange({ timeout: e.target.value })} />
              </Row>
              <Row label="Retries" error={at[`${f}.retries`]}>
                <input name={`step-retries-${i}`} value={s.retries} onChange={(e) => onChange({ retries: e.target.value })} />
              </Row>
              <Row label="Retry backoff" hint="e.g. 10s" error={at[`${f}.retryBackoff`]}>
                <input name={`step-backoff-${i}`} value={s.retryBackoff} onChange={(e) => onChange({ retryBackoff: e.target.value })} />
              </Row>
            </div>
          </details>
        </>
      )}
    </fieldset>
  );
}

/**
 * A job's versions: each one's YAML, a line diff between any two, and
 * "restore": the old version's YAML saved as a new version (history is
 * never rewritten).
 */
function Versions({ job, canWrite, onRestored }: { job: LoadedJob; canWrite: boolean; onRestored?: () => void }) {
  const latest = job.version;
  const [version, setVersion] = useState<number>();
  const [from, setFrom] = useState<number>(Math.max(1, latest - 1));
  const [to, setTo] = useState<number>(latest);
  const [{ data }] = useQuery({ query: JobDoc, variables: { id: job.id, version }, pause: version === undefined });
  const [{ data: a }] = useQuery({ query: JobDoc, variables: { id: job.id, version: from } });
  const [{ data: b }] = useQuery({ query: JobDoc, variables: { id: job.id, version: to } });
  const [{ error: restoreError, fetching: restoring }, updateJob] = useMutation(UpdateJobDoc);
  const diff = useMemo(() => (a?.job && b?.job ? lineDiff(a.job.yaml, b.job.yaml) : undefined), [a, b]);
  const versions = job.versions.edges.map((e) => e.node.version);
  const client = useClient();
  const queryYaml = async (v: number) => (await client.query(JobDoc, { id: job.id, version: v }).toPromise()).data?.job?.yaml;
  const restore = async (v: number) => {
    const r = await queryYaml(v);
    if (r === undefined || !window.confirm(`Save v${v} of ${job.name} as a new version (v${latest + 1})?`)) return;
    const res = await updateJob({ input: { id: job.id, yaml: r, ifVersion: latest } });
    if (res.data) onRestored?.();
  };
  return (
    <div className="card" data-testid="job-versions">
      <table className="list">
        <thead>
          <tr>
            <th>Version</th>
            <th>Saved</th>
            <th>By</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {job.versions.edges.map(({ node: v }) => (
            <tr key={v.version} data-version={v.version}>
              <td>v{v.version}</td>
              <td>{time(v.createdAt)}</td>
              <td>{v.createdBy}</td>
              <td>
                <button className="small" onClick={() => setVersion(v.version)}>
                  show YAML
                </button>
                {canWrite && v.version !== latest && (
                  <button className="small secondary" data-testid={`restore-v${v.version}`} disabled={restoring} onClick={() => restore(v.version)}>
                    restore this version
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Problems problems={describeError(restoreError)} testId="restore-problems" />
      {versions.length > 1 && (
        <>
          <h3>
            Changes from{' '}
            <select name="diff-from" value={from} onChange={(e) => setFrom(Number(e.target.value))}>
              {versions.map((v) => (
                <option key={v} value={v}>
                  v{v}
                </option>
              ))}
            </select>{' '}
            to{' '}
            <select name="diff-to" value={to} onChange={(e) => setTo(Number(e.target.value))}>
              {versions.map((v) => (
                <option key={v} value={v}>
                  v{v}
                </option>
              ))}
            </select>
          </h3>
          {diff && (
            <pre className="mono yaml diff" data-testid="version-diff">
              {diff.map((l, i) => (
                <div key={i} className={l.op === '+' ? 'add' : l.op === '-' ? 'del' : undefined} data-op={l.op}>
                  {l.op} {l.text}
                </div>
              ))}
            </pre>
          )}
          {diff && diff.every((l) => l.op === ' ') && <p className="hint">The two versions are the same.</p>}
        </>
      )}
      {version !== undefined && data?.job && (
        <>
          <h3>v{version}</h3>
          <pre className="mono yaml">{data.job.yaml}</pre>
        </>
      )}
    </div>
  );
}
