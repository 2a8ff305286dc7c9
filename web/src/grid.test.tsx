import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridStore, visibleRows, type Cell, type TaskStatus } from './grid';
import { HostGrid } from './HostGrid';

/** A frame scheduler the test runs by hand. */
function manualFrames() {
  const queue: (() => void)[] = [];
  return {
    schedule: (cb: () => void) => void queue.push(cb),
    flush: () => queue.splice(0).forEach((cb) => cb()),
    get pending() {
      return queue.length;
    },
  };
}

const tasks = (n: number, status: TaskStatus, attempt = 1): Cell[] =>
  Array.from({ length: n }, (_, i) => ({ id: `tsk_${i}`, stepRunId: 'stp_1', hostId: `hst_${i}`, hostName: `host-${i}`, status, attempt }));

describe('GridStore', () => {
  it('tells its subscribers once per frame, however many updates came', () => {
    const frames = manualFrames();
    const store = new GridStore(frames.schedule);
    let calls = 0;
    store.subscribe(() => calls++);
    store.reset(tasks(1000, 'PENDING'));
    for (const t of tasks(1000, 'RUNNING')) store.apply([t]);
    expect(frames.pending).toBe(1);
    frames.flush();
    expect(calls).toBe(1);
    expect(store.counts()).toEqual({ RUNNING: 1000 });
    frames.flush();
    expect(calls).toBe(1);
  });

  it('keeps the order, and never lets an older attempt overwrite a newer one', () => {
    const store = new GridStore(() => {});
    store.reset(tasks(3, 'PENDING'));
    store.apply([{ ...tasks(3, 'FAILED', 2)[1] }]);
    store.apply([{ ...tasks(3, 'SUCCEEDED', 1)[1] }]);
    expect(store.list().map((c) => c.status)).toEqual(['PENDING', 'FAILED', 'PENDING']);
    store.apply([{ id: 'tsk_new', stepRunId: 's', hostId: 'h', hostName: 'late', status: 'QUEUED', attempt: 1 }]);
    expect(store.list().map((c) => c.hostName)).toEqual(['host-0', 'host-1', 'host-2', 'late']);
  });

  it('computes the rows in view', () => {
    expect(visibleRows(1000, 30, 26, 0, 260)).toEqual({ rows: 34, first: 0, last: 12 });
    expect(visibleRows(1000, 30, 26, 520, 260)).toEqual({ rows: 34, first: 18, last: 32 });
  });
});

describe('HostGrid with 1,000 hosts', () => {
  const widthDesc = Object.getOwnPropertyDescriptor(HTMLElement.prototype, 'clientWidth');
  beforeAll(() => {
    (globalThis as Record<string, unknown>).IS_REACT_ACT_ENVIRONMENT = true;
    (globalThis as Record<string, unknown>).ResizeObserver ??= class {
      observe() {}
      disconnect() {}
    };
    Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => 800 });
  });
  afterAll(() => {
    if (widthDesc) Object.defineProperty(HTMLElement.prototype, 'clientWidth', widthDesc);
  });

  it('renders only the rows in view, and applies 1,000 task updates in one quick frame', () => {
    const frames = manualFrames();
    const store = new GridStore(frames.schedule);
    store.reset(tasks(1000, 'QUEUED'));
    const el = document.createElement('div');
    document.body.append(el);
    const root = createRoot(el);
    act(() => root.render(<HostGrid store={store} onSelect={() => {}} />));
    act(() => frames.flush());
    const cells = () => el.querySelectorAll('.cell');
    expect(cells().length).toBeGreaterThan(100);
    expect(cells().length).toBeLessThan(500);

    const updates = tasks(1000, 'RUNNING');
    const start = performance.now();
    for (const u of updates) store.apply([u]); // as they arrive, one by one
    const applied = performance.now() - start;
    act(() => frames.flush());
    const ms = performance.now() - start;
    console.log(`1,000 task updates: applied in ${applied.toFixed(1)} ms, rendered in ${ms.toFixed(1)} ms in all (jsdom)`);
    expect(applied).toBeLessThan(100);
    expect([...cells()].every((c) => c.getAttribute('data-status') === 'RUNNING')).toBe(true);
    // A frame is 16 ms in a browser; jsdom (and React's development build)
    // are many times slower than a browser, so this bound only catches a
    // grid that renders every host or re-renders per update. The browser
    // test measures the real thing.
    expect(ms).toBeLessThan(1000);
    act(() => root.unmount());
  });
});
