// Small pieces shared by the pages: error display, links, status badges.
import type { ReactNode } from 'react';
import { describeError, type ApiErrorLike, type Problem } from './errors';
import { navigate } from './router';
import { statusColor, type TaskStatus } from './grid';

/** Problems in plain words, shown where the action that failed is. */
export function Problems({ problems, testId }: { problems: Problem[]; testId?: string }) {
  if (problems.length === 0) return null;
  return (
    <div className="problems" role="alert" data-testid={testId ?? 'problems'}>
      {problems.map((p, i) => (
        <p key={i} data-code={p.code}>
          {p.text}
        </p>
      ))}
    </div>
  );
}

/** Splits the problems of an operation into those about known form fields and the rest. */
export function formProblems(err: ApiErrorLike | null | undefined, local: Record<string, string>, fields: readonly string[]) {
  const api = describeError(err);
  const at: Record<string, string> = { ...local };
  const rest: Problem[] = [];
  for (const p of api) {
    const name = p.field && (fields.includes(p.field) ? p.field : fields.find((f) => p.field!.endsWith(`.${f}`) || p.field!.startsWith(`${f}[`)));
    if (name) at[name] = p.detail;
    else rest.push(p);
  }
  return { at, rest };
}

/** A form row: a label, the control, and what is wrong with it. */
export function Row({ label, error, hint, children }: { label: string; error?: string; hint?: string; children: ReactNode }) {
  return (
    <label className={error ? 'row bad' : 'row'}>
      <span className="label">{label}</span>
      {children}
      {hint && !error && <small className="hint">{hint}</small>}
      {error && (
        <small className="field-error" role="alert">
          {error}
        </small>
      )}
    </label>
  );
}

/** A link that navigates without reloading the page. */
export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  return (
    <a
      href={to}
      className={className}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

const runColors: Record<string, string> = {
  QUEUED: statusColor.QUEUED,
  RUNNING: statusColor.RUNNING,
  SUCCEEDED: statusColor.SUCCEEDED,
  FAILED: statusColor.FAILED,
  CANCELED: statusColor.CANCELED,
  TIMED_OUT: statusColor.TIMED_OUT,
  PENDING: statusColor.PENDING,
  SKIPPED: statusColor.CANCELED,
};

/** A status as a coloured badge. */
export function Status({ status, testId }: { status: string; testId?: string }) {
  const color = runColors[status] ?? statusColor[status as TaskStatus] ?? '#888';
  return (
    <span className="status" style={{ background: color }} data-testid={testId} data-status={status}>
      {status.replace('_', ' ').toLowerCase()}
    </span>
  );
}

export function time(t?: string | null): string {
  return t ? new Date(t).toLocaleString() : '';
}
