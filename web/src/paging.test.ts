import { describe, expect, it } from 'vitest';
import { fetchAll, pageOf, PagedSearch, pickerRows, type Page } from './paging';

type Host = { id: string; name: string };

/** An API of n hosts named host-00001…, paged by cursor (the index after the last one sent), searched by name. */
function fakeAPI(n: number) {
  const hosts: Host[] = Array.from({ length: n }, (_, i) => ({ id: `hst_${i + 1}`, name: `host-${String(i + 1).padStart(5, '0')}` }));
  const calls: { search: string; after: string | null; first: number }[] = [];
  const page = (search: string, after: string | null, first = 50): Page<Host> => {
    calls.push({ search, after, first });
    const match = hosts.filter((h) => h.name.includes(search));
    const from = after ? Number(after) : 0;
    const nodes = match.slice(from, from + first);
    return { nodes, endCursor: nodes.length ? String(from + nodes.length) : null, hasNextPage: from + nodes.length < match.length, totalCount: match.length };
  };
  return { hosts, calls, page };
}

describe('paging through a connection', () => {
  it('flattens a connection', () => {
    expect(pageOf({ edges: [{ node: { id: 'a' } }], pageInfo: { hasNextPage: true, endCursor: 'c1' }, totalCount: 9 })).toEqual({
      nodes: [{ id: 'a' }],
      endCursor: 'c1',
      hasNextPage: true,
      totalCount: 9,
    });
  });

  it('reads all of 10,000 hosts in pages of 500, each asked after the last cursor', async () => {
    const api = fakeAPI(10_000);
    const all = await fetchAll((after) => Promise.resolve(api.page('', after, 500)));
    expect(all).toHaveLength(10_000);
    expect(new Set(all.map((h) => h.id)).size).toBe(10_000);
    expect(api.calls).toHaveLength(20);
    expect(api.calls.map((c) => c.after).slice(0, 3)).toEqual([null, '500', '1000']);
  });

  it('stops at max, and at a page that promises more but brings nothing', async () => {
    const api = fakeAPI(2_000);
    expect(await fetchAll((after) => Promise.resolve(api.page('', after, 500)), 700)).toHaveLength(700);
    let calls = 0;
    const liar = await fetchAll(() => {
      calls++;
      return Promise.resolve({ nodes: [], endCursor: 'x', hasNextPage: true });
    });
    expect(liar).toEqual([]);
    expect(calls).toBe(1);
  });
});

describe('a search paged through the API', () => {
  it('reads the first page, then more on demand, without duplicates, until the end', async () => {
    const api = fakeAPI(120);
    const s = new PagedSearch<Host>((q, after) => Promise.resolve(api.page(q, after)));
    await s.search('');
    expect(s.state.items).toHaveLength(50);
    expect(s.state.total).toBe(120);
    expect(s.state.hasMore).toBe(true);
    await s.more();
    await s.more();
    expect(s.state.items).toHaveLength(120);
    expect(s.state.hasMore).toBe(false);
    expect(new Set(s.state.items.map((h) => h.id)).size).toBe(120);
    await s.more(); // nothing left: no call
    expect(api.calls).toHaveLength(3);
  });

  it('starts over when the search changes, and drops an answer to an older search', async () => {
    const api = fakeAPI(10_000);
    const pending: { q: string; resolve: () => void }[] = [];
    const s = new PagedSearch<Host>(
      (q, after) =>
        new Promise((resolve) => {
          pending.push({ q, resolve: () => resolve(api.page(q, after)) });
        }),
    );
    const slow = s.search('host-0');
    const fast = s.search('host-09999');
    pending[1].resolve();
    await fast;
    pending[0].resolve(); // the first keystroke's answer arrives last
    await slow;
    expect(s.state.search).toBe('host-09999');
    expect(s.state.items.map((h) => h.name)).toEqual(['host-09999']);
    expect(s.state.total).toBe(1);
  });

  it('keeps the items and says what went wrong when a page fails', async () => {
    const api = fakeAPI(100);
    let fail = false;
    const s = new PagedSearch<Host>((q, after) => (fail ? Promise.reject(new Error('complexity')) : Promise.resolve(api.page(q, after))));
    await s.search('');
    fail = true;
    await s.more();
    expect(s.state.items).toHaveLength(50);
    expect(s.state.loading).toBe(false);
    expect((s.state.error as Error).message).toBe('complexity');
  });

  it('does not ask for the next page twice while one is being read', async () => {
    const api = fakeAPI(200);
    const s = new PagedSearch<Host>((q, after) => Promise.resolve(api.page(q, after)));
    await s.search('');
    await Promise.all([s.more(), s.more()]);
    expect(api.calls.map((c) => c.after)).toEqual([null, '50']);
    expect(s.state.items).toHaveLength(100);
  });
});

describe('what a picker shows', () => {
  it('puts the picked first, named when known, capped, then the others of the search', () => {
    const items = [
      { id: 'a', name: 'alpha' },
      { id: 'b', name: 'beta' },
      { id: 'c', name: 'gamma' },
    ];
    const r = pickerRows(['b', 'z', 'y'], items, new Map([['b', 'beta']]), 2);
    expect(r.picked).toEqual([
      { id: 'b', name: 'beta' },
      { id: 'z', name: undefined },
    ]);
    expect(r.hiddenPicked).toBe(1);
    expect(r.others.map((x) => x.id)).toEqual(['a', 'c']);
  });
});
