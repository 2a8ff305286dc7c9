// Whether the console offers approve/reject on an approval, and if not, why
// (in plain words). The API says whether the caller may vote now
// (canDecide: pending, with the role, not voted yet, not their own run);
// the role's APPROVAL_DECIDE permission hides the buttons for everyone else.

export interface ApprovalLike {
  status: string;
  role: string;
  canDecide: boolean;
  requestedBy: string;
  votes: ReadonlyArray<{ userId: string }>;
}

export type Decidable = { buttons: true } | { buttons: false; why: string };

export function decidable(a: ApprovalLike, mayDecide: boolean, viewer: { id: string; username: string }): Decidable {
  if (a.status !== 'PENDING') return { buttons: false, why: `This approval is ${a.status.toLowerCase()}.` };
  if (!mayDecide) return { buttons: false, why: 'Your role in this project does not allow deciding approvals.' };
  if (a.canDecide) return { buttons: true };
  if (a.votes.some((v) => v.userId === viewer.id)) return { buttons: false, why: 'You have voted on this approval.' };
  if (a.requestedBy === `user:${viewer.id}` || a.requestedBy === viewer.id) return { buttons: false, why: 'You started this run: someone else must approve it.' };
  return { buttons: false, why: `It needs someone holding the role ${a.role}.` };
}

/** "approval step deploy-ok" or "guard rule: …" as one line. */
export function approvalReason(a: { step?: string | null; reason: string }): string {
  if (a.step) return `Approval step ${a.step}${a.reason ? `: ${a.reason}` : ''}`;
  return a.reason ? `Held by a command guard rule: ${a.reason}` : 'Held before it starts';
}
