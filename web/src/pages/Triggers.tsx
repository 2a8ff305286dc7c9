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
        enabled
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

export function TriggersPage({ projectId, perms }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['WebhookTrigger'] }), []);
  const [{ data, error }] = useQuery({ query: TriggersDoc, variables: { projectId }, context });
  const [form, setForm] = useState({ name: '', jobId: '', params: '', requireTimestamp: false });
  const [secret, setSecret] = useState<{ name: string; url: string; secret: string }>();
  const [localError, setLocalError] = useState<string>();
  const [{ error: createError, fetching }, create] = useMutation(CreateTriggerDoc);
  const [{ error: rotateError }, rotate] = useMutation(RotateDoc);
  const [{ error: updateError }, update] = useMutation(UpdateTriggerDoc);
  const [{ error: deleteError }, del] = useMutation(DeleteTriggerDoc);
  const canWrite = perms.can('SCHEDULE_WRITE');
  const { at, rest } = formProblems(createError, localError ? { params: localError } : {}, ['name', 'jobId', 'params', 'secret']);
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
              <td>{t.params.map((p) => `${p.name} ← ${p.path ?? JSON.stringify(p.value)}`).join('; ')}</td>
              <td>{time(t.lastDeliveryAt) || 'never'}</td>
              <td>
                {canWrite && (
                  <>
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
          data-testid="new-trigger"
          onSubmit={async (e) => {
            e.preventDefault();
            const p = parseTriggerParams(form.params);
            setLocalError(p.error);
            if (p.error) return;
            const r = await create({ input: { projectId, jobId: form.jobId, name: form.name, params: p.params, requireTimestamp: form.requireTimestamp } });
            if (r.data) {
              const c = r.data.createTrigger;
              setSecret({ name: c.trigger.name, url: c.trigger.url, secret: c.secret });
              setForm({ name: '', jobId: '', params: '', requireTimestamp: false });
            }
          }}
        >
          <h2>New trigger</h2>
          <div className="grid2">
            <Row label="Name" error={at.name}>
              <input name="trigger-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            </Row>
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
          </div>
          <Row label="Parameters from the payload" hint="one per line: version=$.release.tag_name, or env:=&quot;prod&quot; for a constant" error={at.params}>
            <textarea className="mono" rows={3} name="trigger-params" value={form.params} onChange={(e) => setForm({ ...form, params: e.target.value })} />
          </Row>
          <label className="pick">
            <input type="checkbox" checked={form.requireTimestamp} onChange={(e) => setForm({ ...form, requireTimestamp: e.target.checked })} /> accept only timestamped signatures (X-Jobgraph-Signature)
          </label>
          <Problems problems={rest} />
          <button type="submit" disabled={fetching || !form.name || !form.jobId}>
            Create trigger
          </button>
        </form>
      )}
    </section>
  );
}
