// Lays out a DAG of steps for drawing: each step in the column after the
// last of the steps it needs (its longest path from a root), in the job's
// order within a column. Needs that name no step, and cycles (which the API
// refuses anyway), are ignored rather than looping.

export interface DagNode {
  name: string;
  needs: readonly string[];
}

export interface Placed {
  name: string;
  column: number;
  row: number;
}

export function layout(nodes: readonly DagNode[]): { placed: Placed[]; edges: [string, string][]; columns: number; rows: number } {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const column = new Map<string, number>();
  const visiting = new Set<string>();
  const col = (name: string): number => {
    const known = column.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) return 0;
    visiting.add(name);
    const needs = byName.get(name)?.needs.filter((n) => byName.has(n)) ?? [];
    const c = needs.length ? Math.max(...needs.map(col)) + 1 : 0;
    visiting.delete(name);
    column.set(name, c);
    return c;
  };
  const rowsUsed: number[] = [];
  const placed = nodes.map((n) => {
    const c = col(n.name);
    const row = rowsUsed[c] ?? 0;
    rowsUsed[c] = row + 1;
    return { name: n.name, column: c, row };
  });
  const edges = nodes.flatMap((n) => n.needs.filter((x) => byName.has(x)).map((x): [string, string] => [x, n.name]));
  return { placed, edges, columns: rowsUsed.length, rows: Math.max(0, ...rowsUsed) };
}
