// A run's steps drawn as their DAG, each box coloured by the step's status.
import { layout } from './dag';
import { Status } from './ui';

const W = 190;
const H = 54;
const GX = 56;
const GY = 14;

export interface DagStep {
  id: string;
  name: string;
  status: string;
  needs: readonly string[];
  counts: { total: number; succeeded: number; failed: number; running: number };
}

export function StepDag({ steps, selected, onSelect }: { steps: readonly DagStep[]; selected?: string; onSelect?: (stepId?: string) => void }) {
  const { placed, edges, columns, rows } = layout(steps);
  const at = new Map(placed.map((p) => [p.name, { x: p.column * (W + GX), y: p.row * (H + GY) }]));
  const width = columns * (W + GX) - GX;
  const height = rows * (H + GY) - GY;
  return (
    <div className="dag" data-testid="steps" style={{ width, height }}>
      <svg width={width} height={height} className="dag-edges">
        {edges.map(([from, to]) => {
          const a = at.get(from)!;
          const b = at.get(to)!;
          const x1 = a.x + W;
          const y1 = a.y + H / 2;
          const x2 = b.x;
          const y2 = b.y + H / 2;
          return <path key={`${from}-${to}`} d={`M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}`} />;
        })}
      </svg>
      {steps.map((s) => {
        const p = at.get(s.name)!;
        return (
          <div
            key={s.id}
            className={s.id === selected ? 'dag-step selected' : 'dag-step'}
            data-status={s.status}
            data-step={s.name}
            style={{ left: p.x, top: p.y, width: W, height: H }}
            title={s.id === selected ? 'showing this step’s hosts: click to show all' : 'click to show only this step’s hosts'}
            onClick={() => onSelect?.(s.id === selected ? undefined : s.id)}
          >
            <div>
              <Status status={s.status} /> <strong>{s.name}</strong>
            </div>
            <small className="hint">
              {s.counts.succeeded}/{s.counts.total} succeeded{s.counts.failed ? `, ${s.counts.failed} failed` : ''}
              {s.counts.running ? `, ${s.counts.running} running` : ''}
            </small>
          </div>
        );
      })}
    </div>
  );
}
