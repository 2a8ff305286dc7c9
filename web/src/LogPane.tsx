// A task's log, tailed live over the taskLog subscription: what is stored
// first, then chunks as they are stored. Search keeps the matching lines;
// the download link fetches the whole stored log as a file.
import { useMemo, useRef, useState } from 'react';
import { useSubscription } from 'urql';
import { describeError } from './errors';
import { graphql } from './gql';
import { Problems } from './ui';

const TaskLogDoc = graphql(`
  subscription TaskLog($taskId: ID!, $afterSeq: Int) {
    taskLog(taskId: $taskId, afterSeq: $afterSeq) {
      chunks {
        seq
        stream
        data
      }
      resyncAfterSeq
      taskStatus
    }
  }
`);

export interface Chunk {
  seq: number;
  stream: string;
  data: string;
}

export interface Line {
  text: string;
  stream: string;
}

/** Joins chunks into lines: a chunk may end mid-line, and the next one go on. */
export function toLines(chunks: readonly Chunk[]): Line[] {
  const lines: Line[] = [];
  let open = false;
  for (const c of chunks) {
    const parts = c.data.split('\n');
    parts.forEach((p, i) => {
      const last = i === parts.length - 1;
      if (last && p === '') {
        open = false;
        return;
      }
      if (i === 0 && open && lines.length > 0) lines[lines.length - 1].text += p;
      else lines.push({ text: p, stream: c.stream });
      open = last;
    });
  }
  return lines;
}

interface LogState {
  chunks: Chunk[];
  lastSeq: number;
  resync?: number;
  status?: string;
}

export function LogPane({ runId, taskId, hostName }: { runId: string; taskId: string; hostName: string }) {
  const [from, setFrom] = useState(0);
  const [search, setSearch] = useState('');
  // The log so far lives here, not in urql's state, so that subscribing
  // again after a resync continues it rather than starting over.
  const acc = useRef<LogState>({ chunks: [], lastSeq: 0 });
  const [state] = useSubscription({ query: TaskLogDoc, variables: { taskId, afterSeq: from } }, (_prev: LogState | undefined, data): LogState => {
    const s = acc.current;
    const fresh = data.taskLog.chunks.filter((c) => c.seq > s.lastSeq);
    acc.current = {
      chunks: fresh.length ? [...s.chunks, ...fresh] : s.chunks,
      lastSeq: fresh.length ? fresh[fresh.length - 1].seq : s.lastSeq,
      resync: data.taskLog.resyncAfterSeq ?? undefined,
      status: data.taskLog.taskStatus ?? s.status,
    };
    return acc.current;
  });
  const log = state.data;
  // A subscriber that fell behind is told where to start again.
  if (log?.resync !== undefined && log.resync !== from) setFrom(log.resync);
  const lines = useMemo(() => toLines(log?.chunks ?? []), [log?.chunks]);
  const q = search.toLowerCase();
  const shown = q ? lines.filter((l) => l.text.toLowerCase().includes(q)) : lines;
  return (
    <div className="log-pane" data-testid="log-pane">
      <div className="log-bar">
        <strong>{hostName}</strong>
        <span className="hint">{log?.status ? `ended ${log.status.toLowerCase()}` : 'live'}</span>
        <input name="log-search" placeholder="search the log" value={search} onChange={(e) => setSearch(e.target.value)} />
        {q && (
          <span className="hint" data-testid="log-matches">
            {shown.length} of {lines.length} lines
          </span>
        )}
        <a href={`/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(taskId)}/log`} download data-testid="log-download">
          Download
        </a>
      </div>
      <Problems problems={describeError(state.error)} />
      <pre className="log" data-testid="log">
        {shown.map((l, i) => (
          <div key={i} className={l.stream === 'STDERR' ? 'stderr' : l.stream === 'SYSTEM' ? 'system' : ''}>
            {q ? highlight(l.text, q) : l.text}
          </div>
        ))}
      </pre>
    </div>
  );
}

function highlight(text: string, q: string) {
  const i = text.toLowerCase().indexOf(q);
  if (i < 0) return text;
  return (
    <>
      {text.slice(0, i)}
      <mark>{text.slice(i, i + q.length)}</mark>
      {text.slice(i + q.length)}
    </>
  );
}
