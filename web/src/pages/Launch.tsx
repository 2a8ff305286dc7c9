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

const LaunchJobDoc = graphql(`
  query LaunchJob($id: ID!, $projectId: ID!) {
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
    hosts(projectId: $projectId, first: 500) {
      edges {
        node {
          id
          name
        }
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
function defaultsOf(yaml: string | undefined): Record<string, unknown> {
  if (!yaml) return {};
  try {
    const doc = parse(yaml) as { parameters?: { name: string; default?: unknown }[] };
    return Object.fromEntries((doc.parameters ?? []).filter((p) => p.default !== undefined).map((p) => [p.name, p.default]));
  } catch {
    return {};
  }
}

export function LaunchDialog({ projectId, jobId, onClose }: { projectId: string; jobId: string; onClose: () => void }) {
  const [{ data, error }] = useQuery({ query: LaunchJobDoc, variables: { id: jobId, projectId } });
  const [values, setValues] = useState<Record<string, string | boolean | string[]>>({});
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
  const set = (name: string, v: string | boolean | string[]) => setValues({ ...values, [name]: v });
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
        {job?.parameters.length === 0 && <p className="hint">This job has no parameters.</p>}
        {job?.parameters.map((p) => {
          const d = defaults[p.name];
          const hint = [p.description, d !== undefined && p.type !== 'hosts' ? `default: ${String(d)}` : ''].filter(Boolean).join(' — ') || undefined;
          const label = `${p.name}${p.required ? ' *' : ''}`;
          const v = values[p.name];
          let control;
          switch (p.type) {
            case 'boolean':
              control = <input type="checkbox" name={`launch-${p.name}`} checked={typeof v === 'boolean' ? v : d === true} onChange={(e) => set(p.name, e.target.checked)} />;
              break;
            case 'choice':
              control = (
                <select name={`launch-${p.name}`} value={typeof v === 'string' ? v : ''} onChange={(e) => set(p.name, e.target.value)}>
                  <option value="">{d !== undefined ? `default (${String(d)})` : 'choose…'}</option>
                  {p.choices.map((c) => (
                    <option key={c}>{c}</option>
                  ))}
                </select>
              );
              break;
            case 'secret':
              control = <input type="password" autoComplete="new-password" name={`launch-${p.name}`} value={typeof v === 'string' ? v : ''} onChange={(e) => set(p.name, e.target.value)} />;
              break;
            case 'hosts': {
              const picked = Array.isArray(v) ? v : [];
              control = (
                <span className="host-picks">
                  {data?.hosts.edges.slice(0, 100).map(({ node: h }) => (
                    <label key={h.id} className="pick">
                      <input type="checkbox" checked={picked.includes(h.id)} onChange={(e) => set(p.name, e.target.checked ? [...picked, h.id] : picked.filter((x) => x !== h.id))} />
                      {h.name}
                    </label>
                  ))}
                </span>
              );
              break;
            }
            case 'number':
              control = <input inputMode="decimal" name={`launch-${p.name}`} value={typeof v === 'string' ? v : ''} placeholder={d !== undefined ? String(d) : ''} onChange={(e) => set(p.name, e.target.value)} />;
              break;
            default:
              control = <input name={`launch-${p.name}`} value={typeof v === 'string' ? v : ''} placeholder={d !== undefined ? String(d) : ''} onChange={(e) => set(p.name, e.target.value)} />;
          }
          return (
            <Row key={p.name} label={label} hint={hint} error={at[p.name]}>
              {control}
            </Row>
          );
        })}
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
