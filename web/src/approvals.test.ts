import { describe, expect, it } from 'vitest';
import { approvalReason, decidable } from './approvals';

const me = { id: 'usr_2', username: 'otto' };
const pending = { status: 'PENDING', role: 'operator', canDecide: true, requestedBy: 'user:usr_1', votes: [] };

describe('approve and reject buttons', () => {
  it('shows them to a user the API lets vote, whose role may decide', () => {
    expect(decidable(pending, true, me)).toEqual({ buttons: true });
  });
  it('hides them from a role without APPROVAL_DECIDE, saying why', () => {
    expect(decidable(pending, false, me)).toEqual({ buttons: false, why: 'Your role in this project does not allow deciding approvals.' });
  });
  it('hides them once decided', () => {
    expect(decidable({ ...pending, status: 'APPROVED', canDecide: false }, true, me)).toEqual({ buttons: false, why: 'This approval is approved.' });
  });
  it('says why the API refuses a vote: voted already, own run, role missing', () => {
    expect(decidable({ ...pending, canDecide: false, votes: [{ userId: 'usr_2' }] }, true, me)).toMatchObject({ why: 'You have voted on this approval.' });
    expect(decidable({ ...pending, canDecide: false, requestedBy: 'user:usr_2' }, true, me)).toMatchObject({ why: 'You started this run: someone else must approve it.' });
    expect(decidable({ ...pending, canDecide: false }, true, me)).toMatchObject({ why: 'It needs someone holding the role operator.' });
  });
  it('says what asked for the approval', () => {
    expect(approvalReason({ step: 'gate', reason: '' })).toBe('Approval step gate');
    expect(approvalReason({ step: null, reason: 'rule shutdown-reboot matched params.command' })).toBe('Held by a command guard rule: rule shutdown-reboot matched params.command');
  });
});
