// Paging through the API's connections (cursor pagination, forward only).
// The console never asks for a whole inventory at once: a picker asks for a
// page of what matches its search and more on demand, and what must be read
// whole (a static group's members) is read page by page. A query for one
// page stays well under the API's complexity limit, whatever the inventory.

/** One page of a connection, flattened. */
export type Page<T> = { nodes: T[]; endCursor: string | null; hasNextPage: boolean; totalCount?: number };

/** What a connection's answer looks like (edges, pageInfo, totalCount). */
export type Connection<T> = {
  edges: { node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
  totalCount?: number;
};

/** Flattens a connection into a page. */
export function pageOf<T>(c: Connection<T>): Page<T> {
  return { nodes: c.edges.map((e) => e.node), endCursor: c.pageInfo.endCursor ?? null, hasNextPage: c.pageInfo.hasNextPage, totalCount: c.totalCount };
}

/** The state of a search paged through: the items so far, and how to get more. */
export type PagedState<T> = {
  search: string;
  items: T[];
  cursor: string | null;
  hasMore: boolean;
  total?: number;
  loading: boolean;
  error?: unknown;
};

export function emptyPaged<T>(search = ''): PagedState<T> {
  return { search, items: [], cursor: null, hasMore: false, loading: false };
}

/** Appends a page to the items so far, keeping each ID once. */
export function appendPage<T extends { id: string }>(prev: PagedState<T>, page: Page<T>): PagedState<T> {
  const seen = new Set(prev.items.map((x) => x.id));
  const items = [...prev.items, ...page.nodes.filter((x) => !seen.has(x.id))];
  return { ...prev, items, cursor: page.endCursor, hasMore: page.hasNextPage && page.nodes.length > 0, total: page.totalCount ?? prev.total, loading: false, error: undefined };
}

/** Fetches one page of what matches search, after the cursor given (null: the first page). */
export type FetchPage<T> = (search: string, after: string | null) => Promise<Page<T>>;

/**
 * A search paged through the API: search() starts over (the first page of
 * what matches), more() appends the next page. An answer that arrives after
 * the search changed is dropped, so a slow first keystroke never overwrites
 * the last one's result.
 */
export class PagedSearch<T extends { id: string }> {
  state: PagedState<T> = emptyPaged();
  private generation = 0;

  constructor(
    private readonly fetchPage: FetchPage<T>,
    private readonly onChange: (s: PagedState<T>) => void = () => {},
  ) {}

  /** Starts over with the first page of what matches q. */
  search(q: string): Promise<void> {
    this.generation++;
    this.set({ ...emptyPaged<T>(q), loading: true });
    return this.load(null);
  }

  /** Appends the next page, if there is one and none is being read. */
  more(): Promise<void> {
    if (!this.state.hasMore || this.state.loading) return Promise.resolve();
    this.set({ ...this.state, loading: true });
    return this.load(this.state.cursor);
  }

  private async load(after: string | null) {
    const gen = this.generation;
    try {
      const page = await this.fetchPage(this.state.search, after);
      if (gen === this.generation) this.set(appendPage(this.state, page));
    } catch (error) {
      if (gen === this.generation) this.set({ ...this.state, loading: false, error });
    }
  }

  private set(s: PagedState<T>) {
    this.state = s;
    this.onChange(s);
  }
}

/**
 * Reads every page of a connection, in order, up to max items; a page that
 * says there is more but brings nothing ends the loop (no endless paging).
 */
export async function fetchAll<T>(fetchPage: (after: string | null) => Promise<Page<T>>, max = 100_000): Promise<T[]> {
  const all: T[] = [];
  let after: string | null = null;
  for (;;) {
    const page: Page<T> = await fetchPage(after);
    all.push(...page.nodes);
    if (!page.hasNextPage || page.nodes.length === 0 || !page.endCursor || all.length >= max) return all.slice(0, max);
    after = page.endCursor;
  }
}

/**
 * What a picker shows: the picked items first (as many as cap allows, named
 * when their name is known), then the items of the search not picked.
 */
export function pickerRows<T extends { id: string; name: string }>(
  picked: readonly string[],
  items: readonly T[],
  names: ReadonlyMap<string, string>,
  cap = 100,
): { picked: { id: string; name?: string }[]; hiddenPicked: number; others: T[] } {
  const set = new Set(picked);
  return {
    picked: picked.slice(0, cap).map((id) => ({ id, name: names.get(id) })),
    hiddenPicked: Math.max(0, picked.length - cap),
    others: items.filter((x) => !set.has(x.id)),
  };
}
