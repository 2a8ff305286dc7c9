import { describe, expect, it } from 'vitest';
import { layout } from './dag';

describe('layout', () => {
  it('puts each step after the longest chain of what it needs', () => {
    const { placed, edges, columns, rows } = layout([
      { name: 'prepare', needs: [] },
      { name: 'lint', needs: [] },
      { name: 'deploy', needs: ['prepare'] },
      { name: 'verify', needs: ['deploy', 'lint'] },
    ]);
    expect(placed).toEqual([
      { name: 'prepare', column: 0, row: 0 },
      { name: 'lint', column: 0, row: 1 },
      { name: 'deploy', column: 1, row: 0 },
      { name: 'verify', column: 2, row: 0 },
    ]);
    expect(edges).toEqual([
      ['prepare', 'deploy'],
      ['deploy', 'verify'],
      ['lint', 'verify'],
    ]);
    expect([columns, rows]).toEqual([3, 2]);
  });

  it('survives unknown needs and cycles', () => {
    const { placed } = layout([
      { name: 'a', needs: ['b', 'ghost'] },
      { name: 'b', needs: ['a'] },
    ]);
    expect(placed.map((p) => p.name)).toEqual(['a', 'b']);
  });
});
