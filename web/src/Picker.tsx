// Pickers of hosts and host groups that page through the API: a search as
// you type (the API's filter.search), a page of 50 at a time with "more",
// and the picked ones always in view, named even when they are not in the
// pages read (one small query each, cached). A project of 10,000 hosts or
// 500 groups reads only what is shown.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useClient, useQuery } from 'urql';
import { describeError } from './errors';
import { graphql } from './gql';
import { pageOf, PagedSearch, pickerRows, type FetchPage, type PagedState, emptyPaged } from './paging';

/** How many items a picker reads at a time. */
export const pickerPageSize = 50;

const PickHostsDoc = graphql(`
  query PickHosts($projectId: ID!, $first: Int!, $after: String, $search: String) {
    hosts(projectId: $projectId, first: $first, after: $after, filter: { search: $search }) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          name
          address
        }
      }
    }
  }
`);

const PickGroupsDoc = graphql(`
  query PickGroups($projectId: ID!, $first: Int!, $after: String, $search: String) {
    hostGroups(projectId: $projectId, first: $first, after: $after, filter: { search: $search }) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          name
        }
      }
    }
  }
`);

const HostNameDoc = graphql(`
  query HostName($id: ID!) {
    host(id: $id) {
      id
      name
    }
  }
`);

const GroupNameDoc = graphql(`
  query GroupName($id: ID!) {
    hostGroup(id: $id) {
      id
      name
    }
  }
`);

type Item = { id: string; name: string; address?: string };

/** A search paged through the API, restarted (after a short pause in typing) when the search changes. */
export function usePagedSearch<T extends { id: string }>(fetchPage: FetchPage<T>, search: string, debounceMs = 200): [PagedState<T>, () => void] {
  const [state, setState] = useState<PagedState<T>>(emptyPaged());
  const paged = useMemo(() => new PagedSearch(fetchPage, setState), [fetchPage]);
  useEffect(() => {
    const t = setTimeout(() => void paged.search(search.trim()), paged.state.items.length || paged.state.loading ? debounceMs : 0);
    return () => clearTimeout(t);
  }, [paged, search, debounceMs]);
  return [state, useCallback(() => void paged.more(), [paged])];
}

/** Pages of a project's hosts (kind "hosts") or groups (kind "groups") matching a search. */
export function useFetchPage(projectId: string, kind: 'hosts' | 'groups'): FetchPage<Item> {
  const client = useClient();
  return useCallback(
    async (search: string, after: string | null) => {
      const vars = { projectId, first: pickerPageSize, after, search: search || undefined };
      if (kind === 'hosts') {
        const r = await client.query(PickHostsDoc, vars, { requestPolicy: 'network-only' }).toPromise();
        if (r.error || !r.data) throw r.error ?? new Error('no data');
        return pageOf(r.data.hosts);
      }
      const r = await client.query(PickGroupsDoc, vars, { requestPolicy: 'network-only' }).toPromise();
      if (r.error || !r.data) throw r.error ?? new Error('no data');
      return pageOf(r.data.hostGroups);
    },
    [client, projectId, kind],
  );
}

function PickedName({ id, kind, known }: { id: string; kind: 'hosts' | 'groups'; known?: string }) {
  const [{ data: h }] = useQuery({ query: HostNameDoc, variables: { id }, pause: !!known || kind !== 'hosts' });
  const [{ data: g }] = useQuery({ query: GroupNameDoc, variables: { id }, pause: !!known || kind !== 'groups' });
  return <>{known ?? h?.host?.name ?? g?.hostGroup?.name ?? id}</>;
}

/**
 * Picks hosts or host groups of a project: value is the picked IDs.
 * testId names the picker for the browser tests (its search input is
 * `${testId}-search`, its "more" button `${testId}-more`).
 */
export function Picker({
  projectId,
  kind,
  value,
  onChange,
  testId,
}: {
  projectId: string;
  kind: 'hosts' | 'groups';
  value: readonly string[];
  onChange: (ids: string[]) => void;
  testId?: string;
}) {
  const [search, setSearch] = useState('');
  const fetchPage = useFetchPage(projectId, kind);
  const [state, more] = usePagedSearch(fetchPage, search);
  // Names of everything seen, so that picked items keep theirs when the search moves on.
  const names = useRef(new Map<string, string>());
  for (const x of state.items) names.current.set(x.id, x.name);
  const rows = pickerRows(value, state.items, names.current);
  const id = testId ?? `pick-${kind}`;
  const noun = kind === 'hosts' ? 'hosts' : 'groups';
  const problem = state.error ? describeError(state.error as never)[0] : undefined;
  return (
    <div className="picker" data-testid={id}>
      <input
        name={`${id}-search`}
        data-testid={`${id}-search`}
        value={search}
        onChange={(e) => setSearch(e.target.value)}
        placeholder={kind === 'hosts' ? 'find hosts by name or address' : 'find groups by name'}
      />
      <small className="hint" data-testid={`${id}-count`}>
        {value.length} picked
        {state.total !== undefined && ` · ${state.total} ${noun} ${state.search ? 'match' : 'in all'}`}
        {state.loading && ' · reading…'}
      </small>
      {problem && <small className="field-error">{problem.text}</small>}
      <div className="host-picks">
        {rows.picked.map((p) => (
          <label key={p.id} className="pick picked">
            <input type="checkbox" checked onChange={() => onChange(value.filter((x) => x !== p.id))} />
            <PickedName id={p.id} kind={kind} known={p.name} />
          </label>
        ))}
        {rows.hiddenPicked > 0 && <span className="hint">and {rows.hiddenPicked} more picked</span>}
        {rows.others.map((x) => (
          <label key={x.id} className="pick" data-pick={x.name}>
            <input type="checkbox" checked={false} onChange={() => onChange([...value, x.id])} />
            {x.name}
          </label>
        ))}
      </div>
      {state.hasMore && (
        <button type="button" className="small secondary" data-testid={`${id}-more`} disabled={state.loading} onClick={more}>
          more ({state.items.length} of {state.total ?? '?'} shown)
        </button>
      )}
    </div>
  );
}
