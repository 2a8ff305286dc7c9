import { describe, expect, it } from 'vitest';
import { lineDiff } from './diff';

const show = (a: string, b: string) => lineDiff(a, b).map((l) => `${l.op}${l.text}`);

describe('a line diff', () => {
  it('marks a changed line as removed then added, the rest kept', () => {
    expect(show('name: a\ntimeout: 1m\nsteps: []\n', 'name: a\ntimeout: 5m\nsteps: []\n')).toEqual([' name: a', '-timeout: 1m', '+timeout: 5m', ' steps: []']);
  });
  it('finds insertions and deletions in the middle', () => {
    expect(show('a\nb\nc\nd', 'a\nc\nx\nd')).toEqual([' a', '-b', ' c', '+x', ' d']);
  });
  it('handles empty sides and equal texts', () => {
    expect(show('', 'a\nb')).toEqual(['+a', '+b']);
    expect(show('a', '')).toEqual(['-a']);
    expect(lineDiff('a\nb', 'a\nb').every((l) => l.op === ' ')).toBe(true);
  });
  it('keeps every line of both, in order', () => {
    const a = Array.from({ length: 300 }, (_, i) => `line ${i}`).join('\n');
    const b = a.replace('line 10\n', '').replace('line 200', 'line 200 changed') + '\nline new';
    const d = lineDiff(a, b);
    expect(d.filter((l) => l.op !== '+').map((l) => l.text)).toEqual(a.split('\n'));
    expect(d.filter((l) => l.op !== '-').map((l) => l.text)).toEqual(b.split('\n'));
    expect(d.filter((l) => l.op !== ' ')).toHaveLength(4);
  });
});
