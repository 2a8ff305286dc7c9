import { describe, expect, it } from 'vitest';
import { parseTriggerParams } from './pages/Triggers';

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
