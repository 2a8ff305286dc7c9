import { describe, expect, it } from 'vitest';
import { buildParams, fieldsOf, type JSONSchema } from './schemaform';

// Shaped like the ssh executor's "command" action, but the form knows
// nothing of ssh: any schema of these types works.
const schema: JSONSchema = {
  type: 'object',
  properties: {
    pty: { type: 'boolean', default: false },
    command: { type: 'string', minLength: 1 },
    host_key_policy: { type: 'string', enum: ['strict', 'accept-new'], default: 'strict' },
    env: { type: 'object', additionalProperties: { type: 'string' } },
    timeout: { type: 'integer' },
    tags: { type: 'array', items: { type: 'string' } },
    extra: { type: 'array', items: { type: 'object' } },
    token: { type: 'string' },
    sudo: { type: 'object', properties: { enabled: { type: 'boolean', default: false }, user: { type: 'string', default: 'root' } } },
    jump: { type: 'object', properties: { address: { type: 'string' }, port: { type: 'integer' } }, required: ['address'] },
  },
  required: ['command'],
};

describe('fieldsOf', () => {
  it('derives a control per property, required first, secrets hidden', () => {
    const fields = fieldsOf(schema, ['token']);
    expect(fields.map((f) => [f.path, f.kind])).toEqual([
      ['command', 'text'],
      ['pty', 'boolean'],
      ['host_key_policy', 'enum'],
      ['env', 'map'],
      ['timeout', 'integer'],
      ['tags', 'list'],
      ['extra', 'json'],
      ['token', 'secret'],
      ['sudo', 'object'],
      ['jump', 'object'],
    ]);
    expect(fields[0].required).toBe(true);
    expect(fields[2].options).toEqual(['strict', 'accept-new']);
    expect(fields[8].children?.map((c) => c.path)).toEqual(['sudo.enabled', 'sudo.user']);
    expect(fields[2].label).toBe('Host key policy');
  });
});

describe('buildParams', () => {
  const fields = fieldsOf(schema, ['token']);

  it('sends what was typed, and leaves defaults to the plugin', () => {
    const { params, errors } = buildParams(fields, {
      command: 'echo hi',
      pty: false,
      host_key_policy: 'accept-new',
      env: 'A=1\nB=x=y\n',
      timeout: '30',
      tags: 'a\n\n b \n',
      extra: '[{"k": 1}]',
      'sudo.user': '',
    });
    expect(errors).toEqual({});
    expect(params).toEqual({ command: 'echo hi', host_key_policy: 'accept-new', env: { A: '1', B: 'x=y' }, timeout: 30, tags: ['a', 'b'], extra: [{ k: 1 }] });
  });

  it('reports each field at fault', () => {
    const { errors } = buildParams(fields, { timeout: '1.5', env: 'novalue', extra: '{', 'sudo.enabled': true });
    expect(errors).toEqual({ command: 'required', timeout: 'must be a whole number', env: 'line 1: write NAME=value', extra: 'must be JSON' });
  });

  it('asks for the required fields of an optional object only once it is used', () => {
    expect(buildParams(fields, { command: 'x' }).errors).toEqual({});
    expect(buildParams(fields, { command: 'x', 'jump.port': '2222' }).errors).toEqual({ 'jump.address': 'required' });
    expect(buildParams(fields, { command: 'x', 'jump.address': 'bastion' }).params).toEqual({ command: 'x', jump: { address: 'bastion' } });
  });

  it('nests objects and leaves an untouched one out', () => {
    expect(buildParams(fields, { command: 'x', 'sudo.enabled': true }).params).toEqual({ command: 'x', sudo: { enabled: true } });
    expect(buildParams(fields, { command: 'x', 'sudo.enabled': false }).params).toEqual({ command: 'x' });
  });
});
