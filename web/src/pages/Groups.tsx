import { useDeferredValue, useEffect, useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import { formProblems, Problems, Row } from '../ui';

const GroupsDoc = graphql(`
  query HostGroups($projectId: ID!) {
    hostGroups(projectId: $projectId, first: 100) {
      edges {
        node {
          id
          name
          description
          kind
          selector
          members(first: 1) {
            totalCount
          }
        }
      }
    }
  }
`);

const GroupHostsDoc = graphql(`
  query GroupHosts($projectId: ID!) {
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

const GroupMembersDoc = graphql(`
  query GroupMembers($id: ID!) {
    hostGroup(id: $id) {
      id
      members(first: 500) {
        edges {
          node {
            id
          }
        }
      }
    }
  }
`);

const PreviewDoc = graphql(`
  query SelectorPreview($projectId: ID!, $selector: String!) {
    selectorPreview(projectId: $projectId, selector: $selector, first: 20) {
      selector
      hosts {
        totalCount
        edges {
          node {
            id
            name
          }
        }
      }
    }
  }
`);

const CreateGroupDoc = graphql(`
  mutation CreateHostGroup($input: CreateHostGroupInput!) {
    createHostGroup(input: $input) {
      hostGroup {
        id
      }
    }
  }
`);

const UpdateGroupDoc = graphql(`
  mutation UpdateHostGroup($input: UpdateHostGroupInput!) {
    updateHostGroup(input: $input) {
      hostGroup {
        id
        name
        description
        kind
        selector
      }
    }
  }
`);

const DeleteGroupDoc = graphql(`
  mutation DeleteHostGroup($input: DeleteHostGroupInput!) {
    deleteHostGroup(input: $input) {
      deletedId
    }
  }
`);

type Draft = { id?: string; name: string; description: string; kind: 'STATIC' | 'SELECTOR'; hostIds: string[]; selector: string; membersLoaded?: boolean };

export function GroupsPage({ projectId, perms }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['HostGroup', 'Host'] }), []);
  const [{ data, error }] = useQuery({ query: GroupsDoc, variables: { projectId }, context });
  const [draft, setDraft] = useState<Draft>();
  const [editing, setEditing] = useState<string>();
  const [{ data: members }] = useQuery({ query: GroupMembersDoc, variables: { id: editing ?? '' }, pause: !editing });
  const [{ error: createError, fetching: creating }, create] = useMutation(CreateGroupDoc);
  const [{ error: updateError, fetching: updating }, update] = useMutation(UpdateGroupDoc);
  const [{ error: deleteError }, del] = useMutation(DeleteGroupDoc);
  const canWrite = perms.can('HOSTGROUP_WRITE');
  const selector = useDeferredValue(draft?.kind === 'SELECTOR' ? draft.selector.trim() : '');
  const [{ data: preview, error: previewError }] = useQuery({ query: PreviewDoc, variables: { projectId, selector }, pause: !selector });
  const { at, rest } = formProblems(draft?.id ? updateError : createError, {}, ['name', 'description', 'hostIds', 'selector']);
  const previewProblem = describeError(previewError)[0];
  const [{ data: hostData }] = useQuery({ query: GroupHostsDoc, variables: { projectId }, pause: draft?.kind !== 'STATIC' });
  const hosts = hostData?.hosts.edges.map((e) => e.node) ?? [];
  // Editing a group starts from its members, once loaded.
  useEffect(() => {
    const g = members?.hostGroup;
    if (g && draft && draft.id === g.id && !draft.membersLoaded) setDraft({ ...draft, hostIds: g.members?.edges.map((e) => e.node.id) ?? [], membersLoaded: true });
  }, [members, draft]);
  const d = draft;
  return (
    <section>
      <h1>Host groups</h1>
      <Problems problems={describeError(error ?? deleteError)} />
      <table className="list" data-testid="groups">
        <thead>
          <tr>
            <th>Name</th>
            <th>Kind</th>
            <th>Hosts now</th>
            <th>Description</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.hostGroups.edges.map(({ node: g }) => (
            <tr key={g.id} data-group={g.name}>
              <td>{g.name}</td>
              <td>{g.kind === 'SELECTOR' ? <code>{g.selector}</code> : 'static list'}</td>
              <td>{g.members?.totalCount ?? '—'}</td>
              <td>{g.description}</td>
              <td>
                {canWrite && (
                  <>
                    <button
                      className="small"
                      onClick={() => {
                        setEditing(g.id);
                        setDraft({ id: g.id, name: g.name, description: g.description, kind: g.kind, hostIds: [], selector: g.selector ?? '' });
                      }}
                    >
                      Edit
                    </button>
                    <button className="small danger" onClick={() => window.confirm(`Delete the group ${g.name}?`) && del({ input: { id: g.id } })}>
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {canWrite && !draft && (
        <button data-testid="new-group" onClick={() => setDraft({ name: '', description: '', kind: 'SELECTOR', hostIds: [], selector: '' })}>
          New group
        </button>
      )}
      {d && (
        <form
          className="card"
          data-testid="group-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const members = d.kind === 'STATIC' ? { hostIds: d.hostIds } : { selector: d.selector };
            const r = d.id
              ? await update({ input: { id: d.id, name: d.name, description: d.description, ...members } })
              : await create({ input: { projectId, name: d.name, description: d.description || undefined, ...members } });
            if (r.data) {
              setDraft(undefined);
              setEditing(undefined);
            }
          }}
        >
          <h2>{d.id ? `Edit ${d.name}` : 'New group'}</h2>
          <div className="grid2">
            <Row label="Name" error={at.name}>
              <input name="group-name" value={d.name} onChange={(e) => setDraft({ ...d, name: e.target.value })} />
            </Row>
            <Row label="Members">
              <select name="group-kind" value={d.kind} onChange={(e) => setDraft({ ...d, kind: e.target.value as Draft['kind'] })}>
                <option value="SELECTOR">every host matching a label selector</option>
                <option value="STATIC">a static list of hosts</option>
              </select>
            </Row>
          </div>
          <Row label="Description" error={at.description}>
            <input name="group-description" value={d.description} onChange={(e) => setDraft({ ...d, description: e.target.value })} />
          </Row>
          {d.kind === 'SELECTOR' ? (
            <>
              <Row label="Label selector" hint="e.g. tier=web,env in (prod,staging)" error={at.selector ?? (selector && previewProblem ? previewProblem.detail : undefined)}>
                <input className="mono" name="group-selector" value={d.selector} onChange={(e) => setDraft({ ...d, selector: e.target.value })} />
              </Row>
              {selector && preview && !previewError && (
                <p className="hint" data-testid="group-preview">
                  <strong data-testid="group-preview-count">{preview.selectorPreview.hosts.totalCount} hosts</strong> match now
                  {preview.selectorPreview.hosts.totalCount > 0 && `: ${preview.selectorPreview.hosts.edges.map((e) => e.node.name).join(', ')}`}
                  {preview.selectorPreview.hosts.totalCount > 20 && '…'}
                </p>
              )}
            </>
          ) : (
            <Row label="Hosts" hint={`${d.hostIds.length} picked`} error={at.hostIds}>
              <span className="host-picks">
                {hosts.map((h) => (
                  <label key={h.id} className="pick">
                    <input type="checkbox" checked={d.hostIds.includes(h.id)} onChange={(e) => setDraft({ ...d, hostIds: e.target.checked ? [...d.hostIds, h.id] : d.hostIds.filter((x) => x !== h.id) })} />
                    {h.name}
                  </label>
                ))}
              </span>
            </Row>
          )}
          <Problems problems={rest} />
          <div className="toolbar">
            <button type="submit" disabled={creating || updating}>
              {d.id ? 'Save' : 'Create group'}
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setDraft(undefined);
                setEditing(undefined);
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
