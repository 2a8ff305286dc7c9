import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import { Problems, Row, formProblems, time } from '../ui';

const CredentialsDoc = graphql(`
  query Credentials($projectId: ID!) {
    credentials(projectId: $projectId, first: 500) {
      totalCount
      edges {
        node {
          id
          name
          kind
          username
          description
          fingerprint
          secretUpdatedAt
        }
      }
    }
  }
`);

const CreateCredentialDoc = graphql(`
  mutation CreateCredential($input: CreateCredentialInput!) {
    createCredential(input: $input) {
      credential {
        id
        name
      }
    }
  }
`);

const kinds = ['SSH_KEY', 'PASSWORD', 'TOKEN', 'DATABASE_DSN'] as const;
const credentialFields = ['name', 'kind', 'username', 'description', 'secret', 'passphrase'];

export function CredentialsPage({ projectId, perms }: ProjectContext) {
  // An empty list names no Credential, so say which type refreshes it.
  const context = useMemo(() => ({ additionalTypenames: ['Credential'] }), []);
  const [{ data, error }] = useQuery({ query: CredentialsDoc, variables: { projectId }, requestPolicy: 'cache-and-network', context });
  return (
    <section>
      <h1>Credentials</h1>
      <p className="hint">Secrets are write-only: no one can read them back, here or through the API.</p>
      {perms.can('CREDENTIAL_WRITE') && <NewCredential projectId={projectId} />}
      <Problems problems={describeError(error)} />
      <table data-testid="credentials">
        <thead>
          <tr>
            <th>Name</th>
            <th>Kind</th>
            <th>Username</th>
            <th>Fingerprint</th>
            <th>Secret set</th>
          </tr>
        </thead>
        <tbody>
          {data?.credentials.edges.map(({ node: c }) => (
            <tr key={c.id}>
              <td title={c.description}>{c.name}</td>
              <td>{c.kind.toLowerCase().replace('_', ' ')}</td>
              <td>{c.username ?? ''}</td>
              <td className="mono">{c.fingerprint ?? ''}</td>
              <td>{time(c.secretUpdatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function NewCredential({ projectId }: { projectId: string }) {
  const empty = { name: '', kind: 'SSH_KEY' as (typeof kinds)[number], username: '', description: '', secret: '', passphrase: '' };
  const [form, setForm] = useState(empty);
  const [created, setCreated] = useState('');
  const [{ error, fetching }, create] = useMutation(CreateCredentialDoc);
  const { at, rest } = formProblems(error, {}, credentialFields);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <form
      className="card"
      data-testid="new-credential"
      autoComplete="off"
      onSubmit={async (e) => {
        e.preventDefault();
        const r = await create({
          input: {
            projectId,
            name: form.name,
            kind: form.kind,
            username: form.username || undefined,
            description: form.description || undefined,
            secret: form.secret,
            passphrase: form.kind === 'SSH_KEY' && form.passphrase ? form.passphrase : undefined,
          },
        });
        if (r.data) {
          setCreated(r.data.createCredential.credential.name);
          setForm(empty); // the secret leaves the page once sent
        } else {
          setForm({ ...form, secret: '', passphrase: '' });
        }
      }}
    >
      <h2>New credential</h2>
      <div className="grid2">
        <Row label="Name" error={at.name}>
          <input name="name" value={form.name} onChange={set('name')} />
        </Row>
        <Row label="Kind" error={at.kind}>
          <select name="kind" value={form.kind} onChange={set('kind')}>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {k.toLowerCase().replace('_', ' ')}
              </option>
            ))}
          </select>
        </Row>
        <Row label="Username" error={at.username}>
          <input name="username" value={form.username} onChange={set('username')} />
        </Row>
        <Row label="Description" error={at.description}>
          <input name="description" value={form.description} onChange={set('description')} />
        </Row>
      </div>
      <Row label={form.kind === 'SSH_KEY' ? 'Private key' : 'Secret'} error={at.secret} hint="write-only: it is sealed and never shown again">
        {form.kind === 'SSH_KEY' ? (
          <textarea name="secret" rows={5} className="mono" value={form.secret} onChange={set('secret')} spellCheck={false} />
        ) : (
          <input name="secret" type="password" autoComplete="new-password" value={form.secret} onChange={set('secret')} />
        )}
      </Row>
      {form.kind === 'SSH_KEY' && (
        <Row label="Passphrase" error={at.passphrase} hint="only if the key is encrypted">
          <input name="passphrase" type="password" autoComplete="new-password" value={form.passphrase} onChange={set('passphrase')} />
        </Row>
      )}
      <Problems problems={rest} />
      {created && !error && <p className="ok">Credential {created} created.</p>}
      <button type="submit" disabled={fetching}>
        Create credential
      </button>
    </form>
  );
}
