import { type ReactNode, useDeferredValue, useEffect, useMemo, useState } from 'react';
import { useClient, useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError } from '../errors';
import { graphql } from '../gql';
import { fetchAll, pageOf } from '../paging';
import { Picker } from '../Picker';
import { formProblems, Problems, Row } from '../ui';

const GroupsDoc = graphql(`
  query HostGroups($projectId: ID!, $after: String, $search: String) {
    hostGroups(projectId: $projectId, first: 100, after: $after, filter: { search: $search }) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
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

const GroupMembersDoc = graphql(`
  query GroupMembers($id: ID!, $after: String) {
    hostGroup(id: $id) {
      id
      members(first: 500, after: $after) {
        pageInfo {
          hasNextPage
          endCursor
        }
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
  const [search, setSearch] = useState('');
  const q = useDeferredValue(search.trim());
  // The list pages through the groups: each "more" adds the next page's cursor.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  useEffect(() => setCursors([null]), [q, projectId]);
  const [draft, setDraft] = useState<Draft>();
  const [editing, setEditing] = useState<string>();
  const [listError, setListError] = useState<unknown>();
  const client = useClient();
  const [{ error: createError, fetching: creating }, create] = useMutation(CreateGroupDoc);
  const [{ error: updateError, fetching: updating }, update] = useMutation(UpdateGroupDoc);
  const [{ error: deleteError }, del] = useMutation(DeleteGroupDoc);
  const canWrite = perms.can('HOSTGROUP_WRITE');
  const selector = useDeferredValue(draft?.kind === 'SELECTOR' ? draft.selector.trim() : '');
  const [{ data: preview, error: previewError }] = useQuery({ query: PreviewDoc, variables: { projectId, selector }, pause: !selector });
  const { at, rest } = formProblems(draft?.id ? updateError : createError, {}, ['name', 'description', 'hostIds', 'selector']);
  const previewProblem = describeError(previewError)[0];
  // Editing a static group starts from all its members, read page by page.
  useEffect(() => {
    if (!editing) return;
    let live = true;
    fetchAll(async (after) => {
      const r = await client.query(GroupMembersDoc, { id: editing, after }, { requestPolicy: 'network-only' }).toPromise();
      if (r.error) throw r.error;
      const m = r.data?.hostGroup?.members;
      return m ? pageOf(m) : { nodes: [], endCursor: null, hasNextPage: false };
    }).then(
      (nodes) => live && setDraft((d) => (d && d.id === editing && !d.membersLoaded ? { ...d, hostIds: nodes.map((n) => n.id), membersLoaded: true } : d)),
      (e) => live && setListError(e),
    );
    return () => {
      live = false;
    };
  }, [client, editing]);
  const d = draft;
  return (
    <section>
      <h1>Host groups</h1>
      <Problems problems={describeError((listError as never) ?? deleteError)} />
      <input name="group-search" data-testid="group-search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="find groups by name" />
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
          {cursors.map((after, i) => (
            <GroupsPage_
              key={`${q}:${after}`}
              projectId={projectId}
              search={q}
              after={after}
              last={i === cursors.length - 1}
              onMore={(c) => setCursors([...cursors, c])}
              onError={setListError}
              row={(g) => (
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
          )}
            />
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
            <div className={at.hostIds ? 'row bad' : 'row'}>
              <span className="label">Hosts</span>
              {d.id && !d.membersLoaded ? (
                <small className="hint">reading the members…</small>
              ) : (
                <Picker projectId={projectId} kind="hosts" value={d.hostIds} onChange={(hostIds) => setDraft({ ...d, hostIds })} testId="group-hosts" />
              )}
              {at.hostIds && <small className="field-error">{at.hostIds}</small>}
            </div>
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

type GroupRow = NonNullable<import('../gql/graphql').HostGroupsQuery['hostGroups']>['edges'][number]['node'];

/**
 * One page of the groups list (100 rows): the list is these pages one after
 * the other, the last one offering the next.
 */
function GroupsPage_({
  projectId,
  search,
  after,
  last,
  onMore,
  onError,
  row,
}: {
  projectId: string;
  search: string;
  after: string | null;
  last: boolean;
  onMore: (cursor: string) => void;
  onError: (e: unknown) => void;
  row: (g: GroupRow) => ReactNode;
}) {
  const context = useMemo(() => ({ additionalTypenames: ['HostGroup', 'Host'] }), []);
  const [{ data, error }] = useQuery({ query: GroupsDoc, variables: { projectId, after, search: search || undefined }, context });
  useEffect(() => {
    if (error) onError(error);
  }, [error, onError]);
  const c = data?.hostGroups;
  return (
    <>
      {c?.edges.map(({ node }) => row(node))}
      {last && c?.pageInfo.hasNextPage && c.pageInfo.endCursor && (
        <tr>
          <td colSpan={5}>
            <button className="small secondary" data-testid="groups-more" onClick={() => onMore(c.pageInfo.endCursor!)}>
              more groups ({c.totalCount} in all)
            </button>
          </td>
        </tr>
      )}
    </>
  );
}
