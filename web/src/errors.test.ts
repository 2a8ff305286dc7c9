import { describe, expect, it } from 'vitest';
import { byField, describeError, describeGraphQLError, fieldLabel } from './errors';

describe('describeError', () => {
  it('puts a bad input next to its field, in the API words', () => {
    const [p] = describeError({ graphQLErrors: [{ message: 'input: createHost must not be empty', extensions: { code: 'BAD_USER_INPUT', field: 'address' } }] });
    expect(p).toEqual({ code: 'BAD_USER_INPUT', field: 'address', text: 'Address: must not be empty', detail: 'must not be empty' });
  });

  it('says a forbidden action is the role, not the user', () => {
    const [p] = describeError({ graphQLErrors: [{ message: 'forbidden: job:run', extensions: { code: 'FORBIDDEN' } }] });
    expect(p.text).toBe('Your role does not allow this.');
    expect(p.text).not.toContain('job:run');
  });

  it('gives an internal error only its reference', () => {
    const [p] = describeError({ graphQLErrors: [{ message: 'internal error (ref abc123)', extensions: { code: 'INTERNAL', ref: 'abc123' } }] });
    expect(p.text).toBe('The server failed; quote this to your administrator (ref abc123).');
  });

  it('maps every code of the API to its own sentence', () => {
    const codes = ['BAD_USER_INPUT', 'NOT_FOUND', 'CONFLICT', 'UNAUTHENTICATED', 'FORBIDDEN', 'INTERNAL'];
    const texts = codes.map((code) => describeError({ graphQLErrors: [{ message: '', extensions: { code } }] })[0].text);
    expect(new Set(texts).size).toBe(codes.length);
    for (const t of texts) expect(t).toMatch(/^[A-Z].*\.?$/);
  });

  it('tells a network failure from an API error', () => {
    expect(describeError({ message: '[Network] Failed to fetch', networkError: new Error('Failed to fetch') })[0].code).toBe('NETWORK');
    expect(describeError({ networkError: new Error('x'), response: { status: 401 } })[0].code).toBe('UNAUTHENTICATED');
    expect(describeError(null)).toEqual([]);
  });

  it('does not repeat the field the message already names', () => {
    const [p] = describeError({ graphQLErrors: [{ message: 'filter.selector: invalid selector "a in (" at position 5', extensions: { code: 'BAD_USER_INPUT', field: 'filter.selector' } }] });
    expect(p.detail).toBe('invalid selector "a in (" at position 5');
    expect(p.text).toBe('Filter selector: invalid selector "a in (" at position 5');
  });

  it('describes a conflict with its field', () => {
    const [p] = describeError({ graphQLErrors: [{ message: 'a host named web-1 exists', extensions: { code: 'CONFLICT', field: 'name' } }] });
    expect(p.text).toBe('Name: a host named web-1 exists');
  });
});

describe('fieldLabel and byField', () => {
  it('reads field paths as words', () => {
    expect(fieldLabel('defaultCredentialId')).toBe('Default credential');
    expect(fieldLabel('labels[0].key')).toBe('Labels 1 key');
    expect(fieldLabel('params.host_key_policy')).toBe('Params host key policy');
  });

  it('splits field problems from general ones', () => {
    const { fields, general } = byField(describeError({
      graphQLErrors: [
        { message: 'bad', extensions: { code: 'BAD_USER_INPUT', field: 'params.command' } },
        { message: 'nope', extensions: { code: 'FORBIDDEN' } },
      ],
    }));
    expect(Object.keys(fields).sort()).toEqual(['command', 'params.command']);
    expect(general).toHaveLength(1);
  });
});

describe('a run refused by a command guard rule', () => {
  it('names the rule and where it matched', () => {
    const p = describeGraphQLError({
      message: 'command guard rule "rm-rf-root" blocks the run: step "adhoc" params.command matches',
      extensions: { code: 'FORBIDDEN', rule: 'rm-rf-root', ruleId: 'gdr_1', step: 'adhoc', field: 'params.command' },
    });
    expect(p).toMatchObject({ code: 'FORBIDDEN', rule: 'rm-rf-root', text: 'Blocked by the command guard rule “rm-rf-root” (it matched step adhoc, params.command).' });
  });
});
