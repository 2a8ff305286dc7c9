import { useMemo, useState } from 'react';
import { useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import { SchemaForm } from '../SchemaForm';
import { buildParams, fieldsOf, type FormValues, type JSONSchema } from '../schemaform';
import { Problems } from '../ui';

const ExecutorListDoc = graphql(`
  query ExecutorList {
    executors {
      name
      builtIn
      health
      version
      description
      lastError
      restarts
      inFlight
      actions {
        name
        description
        paramsSchema
        secretParams
      }
    }
  }
`);

const healthColor: Record<string, string> = { READY: '#1f9d55', NOT_STARTED: '#8a94a6', STARTING: '#2f5fa8', STOPPED: '#8a94a6', CRASHED: '#c98a00', FAILED: '#b3261e' };

export function ExecutorsPage(_: ProjectContext) {
  const [{ data, error }, refetch] = useQuery({ query: ExecutorListDoc, requestPolicy: 'cache-and-network' });
  return (
    <section>
      <h1>Executors</h1>
      <p className="hint">The plugins that run tasks, with their actions. Each action’s form is drawn from its parameters’ JSON Schema, as in a job step or an ad-hoc command.</p>
      <button className="secondary" onClick={() => refetch({ requestPolicy: 'network-only' })}>
        Refresh
      </button>
      <Problems problems={describeError(error)} />
      <div data-testid="executors">
        {data?.executors.map((x) => (
          <div className="card" key={x.name} data-executor={x.name}>
            <div className="toolbar">
              <strong>{x.name}</strong>
              <span className="status" style={{ background: healthColor[x.health] ?? '#888' }}>
                {x.health.toLowerCase().replace('_', ' ')}
              </span>
              <small className="hint">
                {x.builtIn ? 'built-in' : 'plugin'}
                {x.version && `, version ${x.version}`}, {x.inFlight} tasks running, {x.restarts} restarts
              </small>
            </div>
            {x.description && <p>{x.description}</p>}
            {x.lastError && <p className="problems">Last error: {x.lastError}</p>}
            {x.actions ? x.actions.map((a) => <ActionForm key={a.name} action={a} />) : <p className="problems">Its actions are unknown: it could not start.</p>}
          </div>
        ))}
      </div>
    </section>
  );
}

function ActionForm({ action }: { action: { name: string; description: string; paramsSchema: Record<string, unknown>; secretParams: readonly string[] } }) {
  const fields = useMemo(() => fieldsOf(action.paramsSchema as JSONSchema, action.secretParams), [action]);
  const [values, setValues] = useState<FormValues>({});
  const [shown, setShown] = useState<string>();
  const [errors, setErrors] = useState<Record<string, string>>({});
  return (
    <details className="action" data-action={action.name}>
      <summary>
        <strong>{action.name}</strong> <span className="hint">{action.description}</span>
      </summary>
      <SchemaForm fields={fields} values={values} errors={errors} onChange={setValues} />
      <button
        className="secondary"
        onClick={() => {
          const b = buildParams(fields, values);
          setErrors(b.errors);
          setShown(Object.keys(b.errors).length ? undefined : JSON.stringify(b.params, null, 2));
        }}
      >
        Show the params
      </button>
      {shown && <pre className="mono yaml">{shown}</pre>}
    </details>
  );
}
