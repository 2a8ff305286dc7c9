import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { approvalReason, decidable } from '../approvals';
import { describeError } from '../errors';
import { graphql } from '../gql';
import type { ApprovalFieldsFragment } from '../gql/graphql';
import { Link, Problems, Status, time } from '../ui';

export const ApprovalFields = graphql(`
  fragment ApprovalFields on Approval {
    id
    run {
      id
      name
      status
    }
    step
    role
    required
    status
    message
    reason
    requestedBy
    deadline
    createdAt
    decidedAt
    canDecide
    votes {
      userId
      user {
        username
        displayName
      }
      decision
      comment
      at
    }
  }
`);

const ApprovalsDoc = graphql(`
  query Approvals($projectId: ID!, $status: [ApprovalStatus!]) {
    approvals(projectId: $projectId, status: $status, first: 100) {
      edges {
        node {
          ...ApprovalFields
        }
      }
    }
  }
`);

const ApproveDoc = graphql(`
  mutation Approve($input: DecideApprovalInput!) {
    approve(input: $input) {
      approval {
        ...ApprovalFields
      }
    }
  }
`);

const RejectDoc = graphql(`
  mutation Reject($input: DecideApprovalInput!) {
    reject(input: $input) {
      approval {
        ...ApprovalFields
      }
    }
  }
`);

const statuses = ['PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'CANCELED'] as const;

export function ApprovalsPage(ctx: ProjectContext) {
  const [status, setStatus] = useState<string>('PENDING');
  const context = useMemo(() => ({ additionalTypenames: ['Approval'] }), []);
  const [{ data, error }, refetch] = useQuery({
    query: ApprovalsDoc,
    variables: { projectId: ctx.projectId, status: status ? [status as (typeof statuses)[number]] : undefined },
    context,
    requestPolicy: 'cache-and-network',
  });
  const list = data?.approvals.edges.map((e) => e.node) ?? [];
  return (
    <section>
      <h1>Approvals</h1>
      <div className="toolbar">
        <select value={status} onChange={(e) => setStatus(e.target.value)} data-testid="approval-status">
          <option value="">all</option>
          {statuses.map((s) => (
            <option key={s} value={s}>
              {s.toLowerCase()}
            </option>
          ))}
        </select>
        <button className="secondary" onClick={() => refetch({ requestPolicy: 'network-only' })}>
          Refresh
        </button>
      </div>
      <Problems problems={describeError(error)} />
      <div data-testid="approvals">
        {list.map((a) => (
          <ApprovalCard key={a.id} approval={a} {...ctx} />
        ))}
      </div>
      {data && list.length === 0 && <p className="hint">{status === 'PENDING' ? 'Nothing waits for an approval.' : 'No approval.'}</p>}
    </section>
  );
}

/** One approval with its votes and, when the caller may vote, approve/reject with a comment. */
export function ApprovalCard({ approval: a, projectId, perms, me }: ProjectContext & { approval: ApprovalFieldsFragment }) {
  const [comment, setComment] = useState('');
  const [{ error: approveError, fetching: approving }, approve] = useMutation(ApproveDoc);
  const [{ error: rejectError, fetching: rejecting }, reject] = useMutation(RejectDoc);
  const d = decidable(a, perms.can('APPROVAL_DECIDE'), me);
  return (
    <div className="card approval" data-testid="approval" data-approval={a.id} data-status={a.status}>
      <div className="toolbar">
        <Status status={a.status} />
        <strong>{approvalReason(a)}</strong>
        {a.run && (
          <Link to={`/p/${projectId}/runs/${a.run.id}`}>
            run {a.run.name} <Status status={a.run.status} />
          </Link>
        )}
      </div>
      {a.message && <p className="message">{a.message}</p>}
      <p className="hint">
        Needs {a.required} approval{a.required > 1 ? 's' : ''} by the role <strong data-testid="approval-role">{a.role}</strong>; requested by {a.requestedBy} at {time(a.createdAt)}; expires{' '}
        {time(a.deadline)}.
      </p>
      {a.votes.length > 0 && (
        <ul className="votes" data-testid="votes">
          {a.votes.map((v, i) => (
            <li key={i}>
              {v.decision === 'APPROVE' ? '✓' : '✗'} {v.user?.displayName || v.user?.username || v.userId} {v.decision.toLowerCase()}d at {time(v.at)}
              {v.comment && <>: “{v.comment}”</>}
            </li>
          ))}
        </ul>
      )}
      {d.buttons ? (
        <div className="decide">
          <input placeholder="comment (optional)" value={comment} onChange={(e) => setComment(e.target.value)} name="approval-comment" />
          <button data-testid="approve" disabled={approving || rejecting} onClick={() => approve({ input: { id: a.id, comment: comment || undefined } })}>
            Approve
          </button>
          <button className="danger" data-testid="reject" disabled={approving || rejecting} onClick={() => reject({ input: { id: a.id, comment: comment || undefined } })}>
            Reject
          </button>
        </div>
      ) : (
        a.status === 'PENDING' && (
          <p className="hint" data-testid="no-decide">
            {d.why}
          </p>
        )
      )}
      <Problems problems={describeError(approveError ?? rejectError)} />
    </div>
  );
}
