import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import { navigate } from '../router';
import { SchemaForm } from '../SchemaForm';
import { buildParams, fieldsOf, type FormValues, type JSONSchema } from '../schemaform';
import { Problems, Row } from '../ui';
import { Picker } from '../Picker';
import { GuardExplained } from './Guards';

const ExecutorsDoc = graphql(`
  query Executors {
    executors {
      name
      health
      description
      lastError
      actions {
        name
        description
        paramsSchema
        secretParams
      }
    }
  }
`);

const AdHocRunDoc = graphql(`
  mutation AdHocRun($input: AdHocRunInput!) {
    adHocRun(input: $input) {
      run {
        id
      }
    }
  }
`);

export function AdHocPage({ projectId, perms }: ProjectContext) {
  const [{ data: ex, error: exError }] = useQuery({ query: ExecutorsDoc });
  const [executor, setExecutor] = useState('');
  const [action, setAction] = useState('');
  const [values, setValues] = useState<FormValues>({});
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const [hosts, setHosts] = useState<string[]>([]);
  const [selector, setSelector] = useState('');
  const [{ error, fetching }, launch] = useMutation(AdHocRunDoc);

  const executors = ex?.executors ?? [];
  const exec = executors.find((e) => e.name === executor);
  const act = exec?.actions?.find((a) => a.name === action);
  const fields = useMemo(() => (act ? fieldsOf(act.paramsSchema as JSONSchema, act.secretParams) : []), [act]);

  // The API names a parameter's field as "params" or "params.<name>".
  const apiProblems = describeError(error);
  const paramErrors = { ...localErrors };
  const rest = [];
  for (const p of apiProblems) {
    const name = p.field?.replace(/^(input\.)?params\.?/, '');
    const atField = p.field && p.field !== name && name && fields.some((f) => f.path === name);
    // A guard rule's refusal marks the field it matched, and is explained next to the launch button.
    if (atField) paramErrors[name] = p.rule ? `matched the command guard rule “${p.rule}”` : p.detail;
    if (!atField || p.rule) rest.push(p);
  }
  const canRun = perms.can('JOB_RUN');

  return (
    <section>
      <h1>Ad-hoc command</h1>
      <p className="hint">Run one executor action on hosts now, without a job.</p>
      <Problems problems={describeError(exError)} />
      <form
        className="card"
        data-testid="adhoc"
        onSubmit={async (e) => {
          e.preventDefault();
          const { params, errors } = buildParams(fields, values);
          setLocalErrors(errors);
          if (Object.keys(errors).length > 0 || !act) return;
          const r = await launch({
            input: { projectId, executor, action, params, targets: { hosts: hosts.length ? hosts : undefined, selector: selector || undefined } },
          });
          if (r.data) navigate(`/p/${projectId}/runs/${r.data.adHocRun.run.id}`);
        }}
      >
        <div className="grid2">
          <Row label="Executor">
            <select
              name="executor"
              value={executor}
              onChange={(e) => {
                setExecutor(e.target.value);
                setAction('');
                setValues({});
              }}
            >
              <option value="">choose…</option>
              {executors.map((x) => (
                <option key={x.name} value={x.name}>
                  {x.name}
                </option>
              ))}
            </select>
          </Row>
          <Row label="Action" hint={act?.description}>
            <select
              name="action"
              value={action}
              disabled={!exec}
              onChange={(e) => {
                setAction(e.target.value);
                setValues({});
                setLocalErrors({});
              }}
            >
              <option value="">choose…</option>
              {exec?.actions?.map((a) => (
                <option key={a.name} value={a.name}>
                  {a.name}
                </option>
              ))}
            </select>
          </Row>
        </div>
        {exec && !exec.actions && <p className="problems">{exec.name} could not start: {exec.lastError ?? 'no reason given'}</p>}
        {act && <SchemaForm fields={fields} values={values} errors={paramErrors} onChange={setValues} />}
        <fieldset className="targets">
          <legend>Targets</legend>
          <div className="row">
            <span className="label">Hosts</span>
            <Picker projectId={projectId} kind="hosts" value={hosts} onChange={setHosts} testId="target-hosts" />
          </div>
          <Row label="and/or a label selector">
            <input name="target-selector" value={selector} onChange={(e) => setSelector(e.target.value)} placeholder="tier=web" />
          </Row>
        </fieldset>
        <Problems problems={rest.filter((p) => !p.rule)} />
        <GuardExplained projectId={projectId} problems={rest} />
        {canRun ? (
          <button type="submit" data-testid="launch" disabled={fetching || !act || (hosts.length === 0 && !selector)}>
            Run now
          </button>
        ) : (
          <p className="hint" data-testid="no-launch">
            Your role in this project does not allow running commands.
          </p>
        )}
      </form>
    </section>
  );
}
