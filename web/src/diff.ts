// A line diff of two texts (a job's YAML at two versions): the longest
// common subsequence of their lines, then the lines removed from the first
// ("-"), added in the second ("+") and kept (" "), in order.

export type DiffLine = { op: ' ' | '-' | '+'; text: string };

/** The lines of b against those of a. */
export function lineDiff(a: string, b: string): DiffLine[] {
  const x = a === '' ? [] : a.replace(/\n$/, '').split('\n');
  const y = b === '' ? [] : b.replace(/\n$/, '').split('\n');
  // Common head and tail first: versions differ in a few lines.
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const n = xs.length;
  const m = ys.length;
  // lcs[i][j]: the LCS length of xs[i:] and ys[j:].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: DiffLine[] = x.slice(0, head).map((text) => ({ op: ' ', text }));
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (xs[i] === ys[j]) {
      out.push({ op: ' ', text: xs[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push({ op: '-', text: xs[i++] });
    else out.push({ op: '+', text: ys[j++] });
  }
  while (i < n) out.push({ op: '-', text: xs[i++] });
  while (j < m) out.push({ op: '+', text: ys[j++] });
  for (const text of x.slice(x.length - tail)) out.push({ op: ' ', text });
  return out;
}
