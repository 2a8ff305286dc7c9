// The state of a run's host grid: one cell per task, updated from the
// runUpdates subscription. Updates can arrive thousands at a time (a step on
// 1,000 hosts starting at once), so the store applies them to a map at once
// but tells the view at most once per animation frame: the view re-renders
// once per frame, whatever the number of updates.

export type TaskStatus =
  | 'PENDING'
  | 'QUEUED'
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'CANCELED'
  | 'TIMED_OUT'
  | 'ERROR'
  | 'LOST';

/** One task as the grid shows it. */
export interface Cell {
  id: string;
  stepRunId: string;
  hostId: string;
  hostName: string;
  status: TaskStatus;
  attempt: number;
}

/** Schedules a callback before the next repaint; injectable for tests. */
export type FrameScheduler = (cb: () => void) => void;

const browserFrame: FrameScheduler = (cb) =>
  typeof requestAnimationFrame === 'function' ? void requestAnimationFrame(() => cb()) : void setTimeout(cb, 16);

/** Colours by task status, shared by the grid and its legend. */
export const statusColor: Record<TaskStatus, string> = {
  PENDING: '#d0d4da',
  QUEUED: '#a9b8cc',
  RUNNING: '#3b82f6',
  SUCCEEDED: '#22a06b',
  FAILED: '#d93025',
  CANCELED: '#8a8f98',
  TIMED_OUT: '#e8710a',
  ERROR: '#a50e0e',
  LOST: '#6f4e37',
};

export const finalStatuses: ReadonlySet<TaskStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT', 'ERROR', 'LOST']);

/**
 * GridStore holds the cells of one run, in a stable order (first seen
 * first), and notifies subscribers once per frame after changes.
 */
export class GridStore {
  private cells = new Map<string, Cell>();
  private order: Cell[] = [];
  private orderDirty = false;
  private listeners = new Set<() => void>();
  private pending = false;
  private version = 0;
  private readonly frame: FrameScheduler;

  constructor(frame: FrameScheduler = browserFrame) {
    this.frame = frame;
  }

  /** Applies changes; an older attempt never overwrites a newer one. */
  apply(changes: Iterable<Cell>): void {
    let changed = false;
    for (const c of changes) {
      const old = this.cells.get(c.id);
      if (old) {
        if (c.attempt < old.attempt || (old.status === c.status && old.attempt === c.attempt)) continue;
        this.cells.set(c.id, { ...old, status: c.status, attempt: c.attempt });
        this.orderDirty = true;
      } else {
        const cell = { ...c };
        this.cells.set(c.id, cell);
        this.order.push(cell);
      }
      changed = true;
    }
    if (changed) this.changed();
  }

  /** Replaces every cell (a fresh read of the run's tasks). */
  reset(cells: Iterable<Cell>): void {
    this.cells.clear();
    this.order = [];
    for (const c of cells) {
      const cell = { ...c };
      this.cells.set(c.id, cell);
      this.order.push(cell);
    }
    this.changed();
  }

  private changed(): void {
    this.version++;
    if (this.pending) return;
    this.pending = true;
    this.frame(() => {
      this.pending = false;
      for (const l of this.listeners) l();
    });
  }

  /** Subscribes to changes (called at most once per frame); returns the unsubscriber. */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** A number that changes whenever the cells do (for useSyncExternalStore). */
  getVersion = (): number => this.version;

  /** The cells in a stable order. */
  list(): readonly Cell[] {
    if (this.orderDirty) {
      this.order = this.order.map((c) => this.cells.get(c.id)!);
      this.orderDirty = false;
    }
    return this.order;
  }

  get(id: string): Cell | undefined {
    return this.cells.get(id);
  }

  /** Counts by status. */
  counts(): Partial<Record<TaskStatus, number>> {
    const out: Partial<Record<TaskStatus, number>> = {};
    for (const c of this.cells.values()) out[c.status] = (out[c.status] ?? 0) + 1;
    return out;
  }

  get size(): number {
    return this.cells.size;
  }
}

/** The rows of a grid of `count` cells, `columns` wide, that a viewport shows. */
export function visibleRows(count: number, columns: number, rowHeight: number, scrollTop: number, viewHeight: number, overscan = 2) {
  const rows = Math.ceil(count / Math.max(1, columns));
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(rows, Math.ceil((scrollTop + viewHeight) / rowHeight) + overscan);
  return { rows, first, last };
}
