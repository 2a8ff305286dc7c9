import { describe, expect, it } from 'vitest';
import { toLines } from './LogPane';

describe('toLines', () => {
  it('joins a line split across chunks and keeps each stream', () => {
    const lines = toLines([
      { seq: 1, stream: 'STDOUT', data: 'hel' },
      { seq: 2, stream: 'STDOUT', data: 'lo\nwor' },
      { seq: 3, stream: 'STDOUT', data: 'ld\n' },
      { seq: 4, stream: 'STDERR', data: 'oops\n' },
    ]);
    expect(lines).toEqual([
      { text: 'hello', stream: 'STDOUT' },
      { text: 'world', stream: 'STDOUT' },
      { text: 'oops', stream: 'STDERR' },
    ]);
  });
});
