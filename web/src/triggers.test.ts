import { describe, expect, it } from 'vitest';
import { channelUpdate, draftOf } from './pages/Notifications';
import { formatTriggerParams, parseTriggerParams } from './pages/Triggers';

describe('a webhook trigger’s parameter lines', () => {
  it('reads payload paths and constant JSON values', () => {
    expect(parseTriggerParams('version=$.release.tag_name\n\nenv:="prod"\ncount:=3')).toEqual({
      params: [
        { name: 'version', path: '$.release.tag_name' },
        { name: 'env', value: 'prod' },
        { name: 'count', value: 3 },
      ],
    });
  });
  it('says which line is wrong', () => {
    expect(parseTriggerParams('a=$.x\nnonsense').error).toBe('line 2: write name=$.path or name:=<JSON value>');
    expect(parseTriggerParams('a:=not json').error).toBe('line 1: the value after := must be JSON');
  });
});

describe('editing a webhook trigger', () => {
  it('writes its params as the lines it reads back', () => {
    const params = [
      { name: 'version', path: '$.release.tag_name' },
      { name: 'env', value: 'prod' },
      { name: 'count', value: 3 },
    ];
    const text = formatTriggerParams(params);
    expect(text).toBe('version=$.release.tag_name\nenv:="prod"\ncount:=3');
    expect(parseTriggerParams(text).params).toEqual(params);
  });
});

describe('editing a notification channel', () => {
  it('sends an empty secret as absent, so the stored one is kept', () => {
    const d = draftOf({ id: 'chn_1', name: 'ops', kind: 'WEBHOOK', events: ['RUN_FAILED'], enabled: true, webhook: { url: 'https://example.com/hook' } });
    expect(d.secret).toBe('');
    const u = channelUpdate('chn_1', { ...d, events: ['RUN_FAILED', 'RUN_SUCCEEDED'] });
    expect(u).toEqual({ id: 'chn_1', name: 'ops', events: ['RUN_FAILED', 'RUN_SUCCEEDED'], enabled: true, webhook: { url: 'https://example.com/hook', secret: undefined, headers: undefined } });
    expect(channelUpdate('chn_1', { ...d, secret: 's3cret' }).webhook?.secret).toBe('s3cret');
  });
  it('keeps a Slack URL and an SMTP password unless one is typed', () => {
    const slack = draftOf({ id: 'chn_2', name: 's', kind: 'SLACK', events: ['RUN_FAILED'], enabled: false });
    expect(channelUpdate('chn_2', slack).slack).toEqual({ url: undefined });
    const mail = draftOf({
      id: 'chn_3',
      name: 'm',
      kind: 'EMAIL',
      events: ['APPROVAL_REQUESTED'],
      enabled: true,
      email: { host: 'smtp.example.com', port: 587, from: 'jobs@example.com', to: ['a@example.com', 'b@example.com'], username: 'jobs', tls: 'STARTTLS' },
    });
    expect(channelUpdate('chn_3', mail).email).toEqual({
      host: 'smtp.example.com',
      port: 587,
      from: 'jobs@example.com',
      to: ['a@example.com', 'b@example.com'],
      username: 'jobs',
      password: undefined,
      tls: 'STARTTLS',
    });
  });
});
