import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import { formProblems, Problems, Row, time } from '../ui';

const TriggersDoc = graphql(`
  query Triggers($projectId: ID!) {
    triggers(projectId: $projectId, first: 200) {
      edges {
        node {
          id
          name
          url
          enabled
          requireTimestamp
          priority
          lastDeliveryAt
          job {
            id
            name
          }
          params {
            name
            path
            value
          }
        }
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

const CreateTriggerDoc = graphql(`
  mutation CreateTrigger($input: CreateTriggerInput!) {
    createTrigger(input: $input) {
      secret
      trigger {
        id
        name
        url
      }
    }
  }
`);

const RotateDoc = graphql(`
  mutation RotateTriggerSecret($input: RotateTriggerSecretInput!) {
    rotateTriggerSecret(input: $input) {
      secret
      trigger {
        id
        name
        url
      }
    }
  }
`);

const UpdateTriggerDoc = graphql(`
  mutation UpdateTrigger($input: UpdateTriggerInput!) {
    updateTrigger(input: $input) {
      trigger {
        id
        name
        enabled
        requireTimestamp
        priority
        params {
          name
          path
          value
        }
      }
    }
  }
`);

const DeleteTriggerDoc = graphql(`
  mutation DeleteTrigger($input: DeleteTriggerInput!) {
    deleteTrigger(input: $input) {
      deletedId
    }
  }
`);

/**
 * Reads "name=$.path" (a path into the payload) or "name:=<JSON>" (a
 * constant) lines into trigger params.
 */
export function parseTriggerParams(text: string): { params: { name: string; path?: string; value?: unknown }[]; error?: string } {
  const params: { name: string; path?: string; value?: unknown }[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const c = line.indexOf(':=');
    const e = line.indexOf('=');
    if (c > 0 && c < e + 1) {
      try {
        params.push({ name: line.slice(0, c).trim(), value: JSON.parse(line.slice(c + 2)) });
      } catch {
        return { params, error: `line ${i + 1}: the value after := must be JSON` };
      }
    } else if (e > 0) {
      params.push({ name: line.slice(0, e).trim(), path: line.slice(e + 1).trim() });
    } else {
      return { params, error: `line ${i + 1}: write name=$.path or name:=<JSON value>` };
    }
  }
  return { params };
}

/** Writes trigger params as the lines parseTriggerParams reads. */
export function formatTriggerParams(params: readonly { name: string; path?: string | null; value?: unknown }[]): string {
  return params.map((p) => (p.path != null ? `${p.name}=${p.path}` : `${p.name}:=${JSON.stringify(p.value ?? null)}`)).join('\n');
}

type TriggerForm = { id?: string; name: string; jobId: string; jobName?: string; params: string; requireTimestamp: boolean; enabled: boolean; priority: string };
const emptyTrigger: TriggerForm = { name: '', jobId: '', params: '', requireTimestamp: false, enabled: true, priority: '0' };

export function TriggersPage({ projectId, perms }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['WebhookTrigger'] }), []);
  const [{ data, error }] = useQuery({ query: TriggersDoc, variables: { projectId }, context });
  const [form, setForm] = useState<TriggerForm>(emptyTrigger);
  const [secret, setSecret] = useState<{ name: string; url: string; secret: string }>();
  const [localError, setLocalError] = useState<Record<string, string>>({});
  const [{ error: createError, fetching }, create] = useMutation(CreateTriggerDoc);
  const [{ error: rotateError }, rotate] = useMutation(RotateDoc);
  const [{ error: updateError }, update] = useMutation(UpdateTriggerDoc);
  const [{ error: deleteError }, del] = useMutation(DeleteTriggerDoc);
  const canWrite = perms.can('SCHEDULE_WRITE');
  const [{ error: editError, fetching: saving }, save] = useMutation(UpdateTriggerDoc);
  const { at, rest: problems } = formProblems(form.id ? editError : createError, localError, ['name', 'jobId', 'params', 'secret', 'priority', 'requireTimestamp', 'enabled']);
  // A problem with one mapped parameter (params.<name>) is shown at the mapping.
  const rest = problems.filter((p) => {
    const m = p.field?.match(/^(?:input\.)?params\.(.+)$/);
    if (m) at.params = `${m[1]}: ${p.detail}`;
    return !m;
  });
  return (
    <section>
      <h1>Webhook triggers</h1>
      <p className="hint">Other systems start a job by POSTing a signed JSON payload to a trigger’s URL (GitHub’s X-Hub-Signature-256, or X-Jobgraph-Signature with a timestamp).</p>
      {secret && (
        <div className="card secret-once" data-testid="trigger-secret">
          <p>
            The secret of <strong>{secret.name}</strong>, shown this once: copy it now.
          </p>
          <pre className="mono">{secret.secret}</pre>
          <p>
            URL: <code>{secret.url}</code>
          </p>
          <button className="secondary" onClick={() => setSecret(undefined)}>
            I have copied it
          </button>
        </div>
      )}
      <Problems problems={describeError(error ?? rotateError ?? updateError ?? deleteError)} />
      <table className="list" data-testid="triggers">
        <thead>
          <tr>
            <th>Enabled</th>
            <th>Name</th>
            <th>Job</th>
            <th>URL</th>
            <th>Parameters</th>
            <th>Last delivery</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.triggers.edges.map(({ node: t }) => (
            <tr key={t.id} data-trigger={t.name}>
              <td>
                <input type="checkbox" checked={t.enabled} disabled={!canWrite} onChange={(e) => update({ input: { id: t.id, enabled: e.target.checked } })} />
              </td>
              <td>{t.name}</td>
              <td>{t.job?.name ?? '(deleted)'}</td>
              <td>
                <code>{t.url}</code>
              </td>
              <td data-testid="trigger-params">{t.params.map((p) => `${p.name} ← ${p.path ?? JSON.stringify(p.value)}`).join('; ')}</td>
              <td>{time(t.lastDeliveryAt) || 'never'}</td>
              <td>
                {canWrite && (
                  <>
                    <button
                      className="small"
                      data-testid="edit-trigger"
                      onClick={() => {
                        setLocalError({});
                        setForm({
                          id: t.id,
                          name: t.name,
                          jobId: t.job?.id ?? '',
                          jobName: t.job?.name ?? '(deleted)',
                          params: formatTriggerParams(t.params),
                          requireTimestamp: t.requireTimestamp,
                          enabled: t.enabled,
                          priority: String(t.priority),
                        });
                      }}
                    >
                      Edit
                    </button>
                    <button
                      className="small"
                      onClick={async () => {
                        if (!window.confirm(`Replace the secret of ${t.name}? The old one stops working at once.`)) return;
                        const r = await rotate({ input: { id: t.id } });
                        if (r.data) setSecret({ name: t.name, url: t.url, secret: r.data.rotateTriggerSecret.secret });
                      }}
                    >
                      Rotate secret
                    </button>
                    <button className="small danger" onClick={() => window.confirm(`Delete the trigger ${t.name}?`) && del({ input: { id: t.id } })}>
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {canWrite && (
        <form
          className="card"
          data-testid={form.id ? 'edit-trigger-form' : 'new-trigger'}
          onSubmit={async (e) => {
            e.preventDefault();
            const p = parseTriggerParams(form.params);
            const local: Record<string, string> = {};
            if (p.error) local.params = p.error;
            const priority = Number(form.priority.trim() || '0');
            if (!Number.isInteger(priority)) local.priority = 'a whole number (higher runs first)';
            setLocalError(local);
            if (Object.keys(local).length) return;
            const fields = { name: form.name, params: p.params, requireTimestamp: form.requireTimestamp, enabled: form.enabled, priority };
            if (form.id) {
              const r = await save({ input: { id: form.id, ...fields } });
              if (r.data) setForm(emptyTrigger);
              return;
            }
            const r = await create({ input: { projectId, jobId: form.jobId, ...fields } });
            if (r.data) {
              const c = r.data.createTrigger;
              setSecret({ name: c.trigger.name, url: c.trigger.url, secret: c.secret });
              setForm(emptyTrigger);
            }
          }}
        >
          <h2>{form.id ? `Edit trigger ${form.name}` : 'New trigger'}</h2>
          <div className="grid2">
            <Row label="Name" error={at.name}>
              <input name="trigger-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            </Row>
            {form.id ? (
              <Row label="Job" hint="a trigger keeps its job (and its URL): to start another job, create a trigger for it">
                <input name="trigger-job-fixed" value={form.jobName} readOnly />
              </Row>
            ) : (
              <Row label="Job" error={at.jobId}>
                <select name="trigger-job" value={form.jobId} onChange={(e) => setForm({ ...form, jobId: e.target.value })}>
                  <option value="">choose…</option>
                  {data?.jobs.edges.map(({ node: j }) => (
                    <option key={j.id} value={j.id}>
                      {j.name}
                    </option>
                  ))}
                </select>
              </Row>
            )}
          </div>
          <Row label="Parameters from the payload" hint="one per line: version=$.release.tag_name, or env:=&quot;prod&quot; for a constant" error={at.params}>
            <textarea className="mono" rows={3} name="trigger-params" value={form.params} onChange={(e) => setForm({ ...form, params: e.target.value })} />
          </Row>
          <div className="grid2">
            <Row label="Priority" hint="runs it starts queue ahead of lower ones" error={at.priority}>
              <input name="trigger-priority" inputMode="numeric" value={form.priority} onChange={(e) => setForm({ ...form, priority: e.target.value })} />
            </Row>
            <Row label="Enabled" error={at.enabled}>
              <input type="checkbox" name="trigger-enabled" checked={form.enabled} onChange={(e) => setForm({ ...form, enabled: e.target.checked })} />
            </Row>
          </div>
          <label className="pick">
            <input type="checkbox" name="trigger-require-timestamp" checked={form.requireTimestamp} onChange={(e) => setForm({ ...form, requireTimestamp: e.target.checked })} /> accept only timestamped signatures
            (X-Jobgraph-Signature)
          </label>
          {at.requireTimestamp && <p className="field-error">{at.requireTimestamp}</p>}
          <Problems problems={rest} />
          <div className="toolbar">
            <button type="submit" disabled={fetching || saving || !form.name || !form.jobId}>
              {form.id ? 'Save trigger' : 'Create trigger'}
            </button>
            {form.id && (
              <button type="button" className="secondary" onClick={() => setForm(emptyTrigger)}>
                Cancel
              </button>
            )}
          </div>
        </form>
      )}
    </section>
  );
}
