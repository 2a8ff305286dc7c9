import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import type { EmailInput, SlackInput, WebhookInput, NotificationChannelKind, NotificationDeliveryStatus, NotificationEvent, SmtpTls } from '../gql/graphql';
import { formProblems, Problems, Row, time } from '../ui';

const ChannelsDoc = graphql(`
  query NotificationChannels($projectId: ID!) {
    notificationChannels(projectId: $projectId, first: 100) {
      edges {
        node {
          id
          name
          kind
          events
          enabled
          webhook {
            url
            headerNames
            hasSecret
          }
          slack {
            host
          }
          email {
            host
            port
            from
            to
            username
            tls
            hasPassword
          }
        }
      }
    }
  }
`);

const DeliveriesDoc = graphql(`
  query NotificationDeliveries($projectId: ID!, $status: NotificationDeliveryStatus) {
    notificationDeliveries(projectId: $projectId, status: $status, first: 50) {
      edges {
        node {
          id
          channelId
          runId
          event
          status
          attempts
          nextAttemptAt
          lastError
          createdAt
          sentAt
        }
      }
    }
  }
`);

const CreateChannelDoc = graphql(`
  mutation CreateNotificationChannel($input: CreateNotificationChannelInput!) {
    createNotificationChannel(input: $input) {
      channel {
        id
      }
    }
  }
`);

const UpdateChannelDoc = graphql(`
  mutation UpdateNotificationChannel($input: UpdateNotificationChannelInput!) {
    updateNotificationChannel(input: $input) {
      channel {
        id
        enabled
        events
      }
    }
  }
`);

const DeleteChannelDoc = graphql(`
  mutation DeleteNotificationChannel($input: DeleteNotificationChannelInput!) {
    deleteNotificationChannel(input: $input) {
      deletedId
    }
  }
`);

const TestChannelDoc = graphql(`
  mutation TestNotificationChannel($input: TestNotificationChannelInput!) {
    testNotificationChannel(input: $input) {
      ok
      error
      channel {
        id
      }
    }
  }
`);

const events: NotificationEvent[] = ['RUN_SUCCEEDED', 'RUN_FAILED', 'RUN_CANCELED', 'APPROVAL_REQUESTED'];
const eventWords: Record<NotificationEvent, string> = { RUN_SUCCEEDED: 'run succeeded', RUN_FAILED: 'run failed', RUN_CANCELED: 'run canceled', APPROVAL_REQUESTED: 'approval requested' };

export type Draft = {
  id?: string;
  name: string;
  kind: NotificationChannelKind;
  events: NotificationEvent[];
  url: string;
  secret: string;
  headers: string;
  host: string;
  port: string;
  from: string;
  to: string;
  username: string;
  password: string;
  tls: SmtpTls;
  enabled?: boolean;
};
export const blank: Draft = { name: '', kind: 'WEBHOOK', events: ['RUN_FAILED', 'APPROVAL_REQUESTED'], url: '', secret: '', headers: '', host: '', port: '587', from: '', to: '', username: '', password: '', tls: 'STARTTLS' };

/** The create input for a draft; headers are "Name: value" lines. */
export function channelInput(projectId: string, d: Draft) {
  return { projectId, name: d.name, events: d.events, ...channelSettings(d) };
}

/**
 * The update input for a draft of an existing channel. Secrets are
 * write-only: a secret field left empty (the signing secret, the headers,
 * the Slack URL, the SMTP password) is sent as absent, and the API keeps the
 * stored one.
 */
export function channelUpdate(id: string, d: Draft) {
  return { id, name: d.name, events: d.events, enabled: d.enabled, ...channelSettings(d) };
}

/** A channel as the API shows it (no secrets), as a draft to edit. */
export function draftOf(c: {
  id: string;
  name: string;
  kind: NotificationChannelKind;
  events: NotificationEvent[];
  enabled: boolean;
  webhook?: { url: string } | null;
  email?: { host: string; port: number; from: string; to: string[]; username?: string | null; tls: SmtpTls } | null;
}): Draft {
  const e = c.email;
  return {
    ...blank,
    id: c.id,
    name: c.name,
    kind: c.kind,
    events: [...c.events],
    enabled: c.enabled,
    url: c.webhook?.url ?? '',
    ...(e ? { host: e.host, port: String(e.port), from: e.from, to: e.to.join(', '), username: e.username ?? '', tls: e.tls } : {}),
  };
}

function channelSettings(d: Draft): { webhook?: WebhookInput; slack?: SlackInput; email?: EmailInput } {
  const base = {};
  switch (d.kind) {
    case 'SLACK':
      return { ...base, slack: { url: d.url || undefined } };
    case 'EMAIL':
      return {
        ...base,
        email: {
          host: d.host,
          port: Number(d.port),
          from: d.from,
          to: d.to.split(/[,\s]+/).filter(Boolean),
          username: d.username || undefined,
          password: d.password || undefined,
          tls: d.tls,
        },
      };
    default: {
      const headers = d.headers
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => ({ name: l.slice(0, l.indexOf(':')).trim(), value: l.slice(l.indexOf(':') + 1).trim() }));
      return { ...base, webhook: { url: d.url, secret: d.secret || undefined, headers: headers.length ? headers : undefined } };
    }
  }
}

export function NotificationsPage({ projectId, perms }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['NotificationChannel'] }), []);
  const [{ data, error }] = useQuery({ query: ChannelsDoc, variables: { projectId }, context });
  const [status, setStatus] = useState<NotificationDeliveryStatus | ''>('');
  const [{ data: deliveries }, refetchDeliveries] = useQuery({ query: DeliveriesDoc, variables: { projectId, status: status || undefined }, requestPolicy: 'cache-and-network' });
  const [draft, setDraft] = useState<Draft>();
  const [tested, setTested] = useState<Record<string, string>>({});
  const [{ error: createError, fetching }, create] = useMutation(CreateChannelDoc);
  const [{ error: updateError }, update] = useMutation(UpdateChannelDoc);
  const [{ error: deleteError }, del] = useMutation(DeleteChannelDoc);
  const [{ error: testError }, test] = useMutation(TestChannelDoc);
  const canWrite = perms.can('NOTIFICATION_WRITE');
  const [{ error: editError, fetching: saving }, save] = useMutation(UpdateChannelDoc);
  const { at, rest } = formProblems(draft?.id ? editError : createError, {}, ['name', 'events', 'url', 'secret', 'headers', 'host', 'port', 'from', 'to', 'username', 'password', 'tls']);
  const channels = data?.notificationChannels.edges.map((e) => e.node) ?? [];
  const names = new Map(channels.map((c) => [c.id, c.name]));
  return (
    <section>
      <h1>Notifications</h1>
      <p className="hint">Channels hear of runs that finish or wait for an approval; secrets (signing secrets, headers, the Slack URL, SMTP passwords) are write-only.</p>
      <Problems problems={describeError(error ?? updateError ?? deleteError ?? testError)} />
      <table className="list" data-testid="channels">
        <thead>
          <tr>
            <th>Enabled</th>
            <th>Name</th>
            <th>Where</th>
            <th>Events</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {channels.map((c) => (
            <tr key={c.id} data-channel={c.name}>
              <td>
                <input type="checkbox" checked={c.enabled} disabled={!canWrite} onChange={(e) => update({ input: { id: c.id, enabled: e.target.checked } })} />
              </td>
              <td>{c.name}</td>
              <td>
                {c.kind.toLowerCase()}: {c.webhook && <code>{c.webhook.url}</code>}
                {c.webhook?.hasSecret && <small className="hint"> signed</small>}
                {c.slack && <code>{c.slack.host}</code>}
                {c.email && (
                  <>
                    {c.email.to.join(', ')} <small className="hint">via {c.email.host}:{c.email.port}</small>
                  </>
                )}
              </td>
              <td>{c.events.map((e) => eventWords[e]).join(', ')}</td>
              <td>
                {canWrite && (
                  <>
                    <button className="small" data-testid="edit-channel" onClick={() => setDraft(draftOf(c))}>
                      Edit
                    </button>
                    <button
                      className="small"
                      onClick={async () => {
                        const r = await test({ input: { id: c.id } });
                        const t = r.data?.testNotificationChannel;
                        if (t) setTested({ ...tested, [c.id]: t.ok ? 'the test message was accepted' : `the test failed: ${t.error ?? 'no reason given'}` });
                      }}
                    >
                      Send a test
                    </button>
                    <button className="small danger" onClick={() => window.confirm(`Delete the channel ${c.name}?`) && del({ input: { id: c.id } })}>
                      Delete
                    </button>
                  </>
                )}
                {tested[c.id] && (
                  <small className={tested[c.id].startsWith('the test failed') ? 'field-error' : 'ok'} data-testid="channel-test">
                    {' '}
                    {tested[c.id]}
                  </small>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {canWrite && !draft && (
        <button data-testid="new-channel" onClick={() => setDraft(blank)}>
          New channel
        </button>
      )}
      {draft && (
        <form
          className="card"
          data-testid="channel-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const r = draft.id ? await save({ input: channelUpdate(draft.id, draft) }) : await create({ input: channelInput(projectId, draft) });
            // Secrets leave the page once sent, whatever the answer.
            setDraft(r.data ? undefined : { ...draft, secret: '', password: '', headers: '', url: draft.kind === 'SLACK' ? '' : draft.url });
          }}
        >
          <h2>{draft.id ? `Edit channel ${draft.name}` : 'New channel'}</h2>
          <div className="grid2">
            <Row label="Name" error={at.name}>
              <input name="channel-name" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
            </Row>
            <Row label="Kind">
              <select name="channel-kind" value={draft.kind} disabled={!!draft.id} onChange={(e) => setDraft({ ...draft, kind: e.target.value as NotificationChannelKind })}>
                <option value="WEBHOOK">webhook</option>
                <option value="SLACK">Slack</option>
                <option value="EMAIL">email</option>
              </select>
            </Row>
          </div>
          <Row label="Events" error={at.events}>
            <span className="host-picks">
              {events.map((ev) => (
                <label key={ev} className="pick">
                  <input type="checkbox" checked={draft.events.includes(ev)} onChange={(e) => setDraft({ ...draft, events: e.target.checked ? [...draft.events, ev] : draft.events.filter((x) => x !== ev) })} />
                  {eventWords[ev]}
                </label>
              ))}
            </span>
          </Row>
          {draft.kind !== 'EMAIL' && (
            <Row
              label={draft.kind === 'SLACK' ? 'Slack incoming webhook URL' : 'URL'}
              error={at.url}
              hint={draft.id && draft.kind === 'SLACK' ? 'write-only: leave empty to keep the stored one' : undefined}
            >
              <input name="channel-url" type={draft.kind === 'SLACK' ? 'password' : 'text'} value={draft.url} onChange={(e) => setDraft({ ...draft, url: e.target.value })} />
            </Row>
          )}
          {draft.kind === 'WEBHOOK' && (
            <div className="grid2">
              <Row label="Signing secret (optional)" error={at.secret} hint={draft.id ? 'write-only: leave empty to keep the stored one' : undefined}>
                <input name="channel-secret" type="password" autoComplete="new-password" value={draft.secret} onChange={(e) => setDraft({ ...draft, secret: e.target.value })} />
              </Row>
              <Row
                label="Headers (optional)"
                hint={draft.id ? 'write-only: leave empty to keep the stored ones, or write them all anew' : 'Name: value, one per line; values are secret'}
                error={at.headers}
              >
                <textarea name="channel-headers" rows={2} className="mono" value={draft.headers} onChange={(e) => setDraft({ ...draft, headers: e.target.value })} />
              </Row>
            </div>
          )}
          {draft.kind === 'EMAIL' && (
            <div className="grid4">
              <Row label="SMTP host" error={at.host}>
                <input name="channel-host" value={draft.host} onChange={(e) => setDraft({ ...draft, host: e.target.value })} />
              </Row>
              <Row label="Port" error={at.port}>
                <input name="channel-port" value={draft.port} onChange={(e) => setDraft({ ...draft, port: e.target.value })} />
              </Row>
              <Row label="TLS" error={at.tls}>
                <select name="channel-tls" value={draft.tls} onChange={(e) => setDraft({ ...draft, tls: e.target.value as SmtpTls })}>
                  <option value="STARTTLS">STARTTLS</option>
                  <option value="TLS">TLS</option>
                  <option value="NONE">none</option>
                </select>
              </Row>
              <Row label="From" error={at.from}>
                <input name="channel-from" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
              </Row>
              <Row label="To" hint="comma separated" error={at.to}>
                <input name="channel-to" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
              </Row>
              <Row label="Username" error={at.username}>
                <input name="channel-username" value={draft.username} onChange={(e) => setDraft({ ...draft, username: e.target.value })} />
              </Row>
              <Row label="Password" error={at.password} hint={draft.id ? 'write-only: leave empty to keep the stored one' : undefined}>
                <input name="channel-password" type="password" autoComplete="new-password" value={draft.password} onChange={(e) => setDraft({ ...draft, password: e.target.value })} />
              </Row>
            </div>
          )}
          <Problems problems={rest} />
          <div className="toolbar">
            <button type="submit" disabled={fetching || saving || !draft.name}>
              {draft.id ? 'Save channel' : 'Create channel'}
            </button>
            <button type="button" className="secondary" onClick={() => setDraft(undefined)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <h2>Deliveries</h2>
      <div className="toolbar">
        <select value={status} onChange={(e) => setStatus(e.target.value as NotificationDeliveryStatus | '')} name="delivery-status">
          <option value="">any status</option>
          <option value="PENDING">pending</option>
          <option value="SENDING">sending</option>
          <option value="SENT">sent</option>
          <option value="FAILED">failed</option>
        </select>
        <button className="secondary" onClick={() => refetchDeliveries({ requestPolicy: 'network-only' })}>
          Refresh
        </button>
      </div>
      <table className="list" data-testid="deliveries">
        <thead>
          <tr>
            <th>When</th>
            <th>Channel</th>
            <th>Event</th>
            <th>Status</th>
            <th>Attempts</th>
            <th>Last error</th>
          </tr>
        </thead>
        <tbody>
          {deliveries?.notificationDeliveries.edges.map(({ node: d }) => (
            <tr key={d.id}>
              <td>{time(d.createdAt)}</td>
              <td>{names.get(d.channelId) ?? d.channelId}</td>
              <td>{eventWords[d.event]}</td>
              <td>
                {d.status.toLowerCase()}
                {d.status === 'PENDING' && d.nextAttemptAt && <small className="hint"> next {time(d.nextAttemptAt)}</small>}
                {d.sentAt && <small className="hint"> {time(d.sentAt)}</small>}
              </td>
              <td>{d.attempts}</td>
              <td>{d.lastError}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
