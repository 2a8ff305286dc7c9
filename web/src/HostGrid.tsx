// The hosts of a run as a grid of coloured cells. Only the rows in view are
// in the DOM (with 1,000 hosts, a few hundred cells), and the grid re-renders
// at most once per animation frame, when the GridStore says it changed.
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { statusColor, visibleRows, type GridStore } from './grid';

const CELL = 26; // px, with the gap
const HEIGHT = 260;

export function HostGrid({ store, selected, onSelect, stepRunId }: { store: GridStore; selected?: string; onSelect: (taskId: string) => void; stepRunId?: string }) {
  useSyncExternalStore(store.subscribe, store.getVersion);
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [width, setWidth] = useState(800);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  const all = store.list();
  const cells = stepRunId ? all.filter((c) => c.stepRunId === stepRunId) : all;
  const columns = Math.max(1, Math.floor((width - 4) / CELL));
  const { rows, first, last } = visibleRows(cells.length, columns, CELL, scrollTop, HEIGHT);
  const shown = cells.slice(first * columns, last * columns);
  return (
    <div
      ref={ref}
      className="host-grid"
      data-testid="host-grid"
      style={{ height: Math.min(HEIGHT, rows * CELL + 4) }}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
    >
      <div style={{ height: rows * CELL, position: 'relative' }}>
        {shown.map((c, i) => {
          const n = first * columns + i;
          return (
            <button
              key={c.id}
              className={c.id === selected ? 'cell selected' : 'cell'}
              style={{ top: Math.floor(n / columns) * CELL, left: (n % columns) * CELL, background: statusColor[c.status] }}
              title={`${c.hostName}: ${c.status.toLowerCase()}${c.attempt > 1 ? ` (attempt ${c.attempt})` : ''}`}
              aria-label={c.hostName}
              data-host={c.hostName}
              data-status={c.status}
              onClick={() => onSelect(c.id)}
            />
          );
        })}
      </div>
    </div>
  );
}
