// The launch dialog: a job's parameters as typed inputs (a secret masked),
// their defaults shown, then runJob and the live run page.
import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { parse } from 'yaml';
import { describeError } from '../errors';
import { graphql } from '../gql';
import { launchParams } from '../jobeditor';
import { navigate } from '../router';
import { Problems, Row } from '../ui';
import { GuardExplained } from './Guards';
import { Picker } from '../Picker';

const LaunchJobDoc = graphql(`
  query LaunchJob($id: ID!) {
    job(id: $id) {
      id
      name
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

const RunJobDoc = graphql(`
  mutation RunJob($input: RunJobInput!) {
    runJob(input: $input) {
      run {
        id
      }
    }
  }
`);

/** The defaults a job document gives its parameters, by name. */
export function defaultsOf(yaml: string | undefined): Record<string, unknown> {
  if (!yaml) return {};
  try {
    const doc = parse(yaml) as { parameters?: { name: string; default?: unknown }[] };
    return Object.fromEntries((doc.parameters ?? []).filter((p) => p.default !== undefined).map((p) => [p.name, p.default]));
  } catch {
    return {};
  }
}

export function LaunchDialog({ projectId, jobId, onClose }: { projectId: string; jobId: string; onClose: () => void }) {
  const [{ data, error }] = useQuery({ query: LaunchJobDoc, variables: { id: jobId } });
  const [values, setValues] = useState<ParamValues>({});
  const [local, setLocal] = useState<Record<string, string>>({});
  const [{ error: runError, fetching }, runJob] = useMutation(RunJobDoc);
  const job = data?.job;
  const defaults = useMemo(() => defaultsOf(job?.yaml), [job?.yaml]);
  const problems = describeError(runError);
  const at: Record<string, string> = { ...local };
  const rest = [];
  for (const p of problems) {
    // A parameter's problem is on field params.<name> (or parameters.<name> for a guard rule).
    const name = p.field?.replace(/^(input\.)?(params|parameters)\./, '');
    if (name && name !== p.field && job?.parameters.some((x) => x.name === name) && !p.rule) at[name] = p.detail;
    else rest.push(p);
  }
  return (
    <div className="modal" role="dialog" aria-label="Launch job" data-testid="launch-dialog">
      <form
        className="card"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!job) return;
          const { doc, errors } = launchParams(job.parameters, values);
          setLocal(errors);
          if (Object.keys(errors).length) return;
          const r = await runJob({ input: { jobId, params: doc } });
          if (r.data) navigate(`/p/${projectId}/runs/${r.data.runJob.run.id}`);
        }}
      >
        <h2>Launch {job?.name}</h2>
        <Problems problems={describeError(error)} />
        {job && <ParamInputs projectId={projectId} parameters={job.parameters} defaults={defaults} values={values} onChange={setValues} errors={at} />}
        <div className="toolbar">
          <button type="submit" data-testid="launch-run" disabled={fetching || !job}>
            Launch
          </button>
          <button type="button" className="secondary" onClick={onClose}>
            Cancel
          </button>
        </div>
        <Problems problems={rest.filter((p) => !p.rule)} testId="launch-problems" />
        <GuardExplained projectId={projectId} problems={rest} />
      </form>
    </div>
  );
}

/** A job's parameter as the API describes it. */
export type JobParameter = { name: string; type: string; required: boolean; description?: string | null; choices: string[] };

/** What the inputs hold: text, a checkbox, or picked host IDs. */
export type ParamValues = Record<string, string | boolean | string[]>;

/**
 * A job's parameters as typed inputs (a secret masked, a choice a select,
 * hosts a picker paging through the project's hosts), their defaults shown:
 * the launch dialog's and the schedule form's. launchParams (jobeditor.ts)
 * turns the values into the API's document.
 */
export function ParamInputs({
  projectId,
  parameters,
  defaults,
  values,
  onChange,
  errors,
  prefix = 'launch',
}: {
  projectId: string;
  parameters: readonly JobParameter[];
  defaults: Record<string, unknown>;
  values: ParamValues;
  onChange: (v: ParamValues) => void;
  errors: Record<string, string>;
  prefix?: string;
}) {
  const set = (name: string, v: string | boolean | string[]) => onChange({ ...values, [name]: v });
  if (parameters.length === 0) return <p className="hint">This job has no parameters.</p>;
  return (
    <>
      {parameters.map((p) => {
        const d = defaults[p.name];
        const hint = [p.description, d !== undefined && p.type !== 'hosts' ? `default: ${String(d)}` : ''].filter(Boolean).join(' — ') || undefined;
        const label = `${p.name}${p.required ? ' *' : ''}`;
        const v = values[p.name];
        const name = `${prefix}-${p.name}`;
        let control;
        switch (p.type) {
          case 'boolean':
            control = <input type="checkbox" name={name} checked={typeof v === 'boolean' ? v : d === true} onChange={(e) => set(p.name, e.target.checked)} />;
            break;
          case 'choice':
            control = (
              <select name={name} value={typeof v === 'string' ? v : ''} onChange={(e) => set(p.name, e.target.value)}>
                <option value="">{d !== undefined ? `default (${String(d)})` : 'choose…'}</option>
                {p.choices.map((c) => (
                  <option key={c}>{c}</option>
                ))}
              </select>
            );
            break;
          case 'secret':
            control = <input type="password" autoComplete="new-password" name={name} value={typeof v === 'string' ? v : ''} onChange={(e) => set(p.name, e.target.value)} />;
            break;
          case 'hosts':
            control = <Picker projectId={projectId} kind="hosts" value={Array.isArray(v) ? v : []} onChange={(ids) => set(p.name, ids)} testId={`${name}-hosts`} />;
            break;
          case 'number':
            control = <input inputMode="decimal" name={name} value={typeof v === 'string' ? v : ''} placeholder={d !== undefined ? String(d) : ''} onChange={(e) => set(p.name, e.target.value)} />;
            break;
          default:
            control = <input name={name} value={typeof v === 'string' ? v : ''} placeholder={d !== undefined ? String(d) : ''} onChange={(e) => set(p.name, e.target.value)} />;
        }
        return p.type === 'hosts' ? (
          <div key={p.name} className={errors[p.name] ? 'row bad' : 'row'}>
            <span className="label">{label}</span>
            {control}
            {hint && !errors[p.name] && <small className="hint">{hint}</small>}
            {errors[p.name] && (
              <small className="field-error" role="alert">
                {errors[p.name]}
              </small>
            )}
          </div>
        ) : (
          <Row key={p.name} label={label} hint={hint} error={errors[p.name]}>
            {control}
          </Row>
        );
      })}
    </>
  );
}
