import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dagOf, emptyJob, fromYaml, launchParams, newParam, paramValues, newStep, removeStep, renameStep, toDocument, toYaml } from './jobeditor';
import { layout } from './dag';
import { fieldsOf, valuesOf } from './schemaform';
import { splitProblems } from './pages/Jobs';

const commandFields = fieldsOf({ type: 'object', required: ['command'], properties: { command: { type: 'string' }, env: { type: 'object', additionalProperties: { type: 'string' } } } });

describe('job editor state to the job document', () => {
  it('writes a two-step job whose second step needs the first', () => {
    const s = emptyJob();
    s.name = 'hello';
    s.parameters = [{ ...newParam(), name: 'who', default: 'world' }, { ...newParam(), name: 'n', type: 'number', default: '3' }, { ...newParam(), name: 'env', type: 'choice', choices: 'dev, prod', default: 'dev' }];
    s.steps = [
      { ...newStep('build'), executor: 'local', action: 'command', values: { command: 'echo ${{ params.who }}' }, selector: 'tier=web' },
      { ...newStep('deploy', ['build']), executor: 'local', action: 'command', params: { command: 'echo deploy' }, hosts: ['hst_1'], strategy: { ...newStep('x').strategy, batchPercent: '25' }, retries: '2', timeout: '5m' },
    ];
    const { doc, errors } = toDocument(s, (e, a) => (e === 'local' && a === 'command' ? commandFields : undefined));
    expect(errors).toEqual({});
    expect(doc).toEqual({
      apiVersion: 'jobgraph/v1',
      kind: 'Job',
      name: 'hello',
      parameters: [
        { name: 'who', type: 'string', default: 'world' },
        { name: 'n', type: 'number', default: 3 },
        { name: 'env', type: 'choice', default: 'dev', choices: ['dev', 'prod'] },
      ],
      steps: [
        { name: 'build', executor: 'local', action: 'command', targets: { selector: 'tier=web' }, params: { command: 'echo ${{ params.who }}' } },
        { name: 'deploy', executor: 'local', action: 'command', needs: ['build'], targets: { hosts: ['hst_1'] }, params: { command: 'echo deploy' }, timeout: '5m', retries: 2, strategy: { batchPercent: 25 } },
      ],
    });
    // The YAML reads back as the same document.
    expect(parse(toYaml(doc))).toEqual(doc);
  });

  it('writes an approval step without executor or targets', () => {
    const s = emptyJob();
    s.name = 'gated';
    s.steps = [{ ...newStep('ok'), kind: 'approval', approval: { role: 'operator', count: '2', timeout: '1h', message: 'go?' } }];
    expect(toDocument(s).doc.steps).toEqual([{ name: 'ok', approval: { role: 'operator', count: 2, timeout: '1h', message: 'go?' } }]);
  });

  it('names what is wrong by document field', () => {
    const s = emptyJob();
    s.parameters = [{ ...newParam(), name: 'n', type: 'number', default: 'x' }, { ...newParam(), name: 's', type: 'secret', default: 'p' }];
    s.steps = [{ ...newStep('a'), retries: 'two' }];
    expect(toDocument(s).errors).toEqual({
      name: 'required',
      'parameters[0].default': 'must be a number',
      'parameters[1].default': 'a secret parameter cannot have a default: it would be stored in clear',
      'steps[0].executor': 'required',
      'steps[0].action': 'required',
      'steps[0].targets': 'name at least one of hosts, groups, a selector or a hosts parameter',
      'steps[0].retries': 'must be a whole number',
    });
  });

  it('reads an exported job and writes it back unchanged, keeping fields it does not edit', () => {
    const yaml = `apiVersion: jobgraph/v1
kind: Job
name: deploy
description: Roll out
concurrency: 2
timeout: 1h0m0s
parameters:
  - name: targets
    type: hosts
    default:
      - hst_1
  - name: dry
    type: boolean
    default: false
steps:
  - name: fetch
    executor: shell
    action: exec
    targets:
      selector: tier=web
      param: targets
    params:
      command: fetch
    outputs: [path]
  - name: restart
    executor: shell
    action: exec
    needs: [fetch]
    condition: always
    targets:
      groups: [grp_2]
    strategy:
      failureThreshold: 1
      continueOnError: true
    retryBackoff: 10s
`;
    const state = fromYaml(yaml);
    expect(state.steps[1].needs).toEqual(['fetch']);
    expect(state.steps[0].hostsParam).toBe('targets');
    expect(state.parameters[0].default).toBe('hst_1');
    expect(toDocument(state).doc).toEqual(parse(yaml));
  });
});

describe('editing steps', () => {
  it('renaming or removing a step updates the needs that named it', () => {
    const steps = [newStep('a'), newStep('b', ['a']), newStep('c', ['a', 'b'])];
    expect(renameStep(steps, 0, 'first').map((s) => s.needs)).toEqual([[], ['first'], ['first', 'b']]);
    expect(removeStep(steps, 1).map((s) => [s.name, s.needs])).toEqual([
      ['a', []],
      ['c', ['a']],
    ]);
  });

  it('draws the DAG from the steps as edited', () => {
    const steps = [newStep('build'), newStep('test', ['build']), { ...newStep('ok', ['test']), kind: 'approval' as const }];
    const nodes = dagOf(steps);
    expect(nodes.map((n) => n.status)).toEqual(['DRAFT', 'DRAFT', 'APPROVAL']);
    const { placed, edges } = layout(nodes);
    expect(placed.map((p) => p.column)).toEqual([0, 1, 2]);
    expect(edges).toEqual([
      ['build', 'test'],
      ['test', 'ok'],
    ]);
  });

  it('shows a step’s params in its form and reads them back', () => {
    const params = { command: 'echo hi', env: { A: '1' } };
    const values = valuesOf(commandFields, params);
    expect(values).toEqual({ command: 'echo hi', env: 'A=1' });
  });
});

describe('launch parameters', () => {
  const parameters = [
    { name: 'who', type: 'string', required: true },
    { name: 'n', type: 'number', required: false },
    { name: 'dry', type: 'boolean', required: false },
    { name: 'token', type: 'secret', required: false },
    { name: 'on', type: 'hosts', required: false },
  ];
  it('types the values and leaves empty ones to the defaults', () => {
    expect(launchParams(parameters, { who: 'me', n: '4', dry: true, token: '', on: ['hst_1'] })).toEqual({ doc: { who: 'me', n: 4, dry: true, on: ['hst_1'] }, errors: {} });
  });
  it('says what is missing or wrong', () => {
    expect(launchParams(parameters, { n: 'many' }).errors).toEqual({ who: 'required', n: 'must be a number' });
  });
});

describe('the API’s problems in the editor', () => {
  it('puts those on fields the editor shows next to them, and lists the rest', () => {
    const p = (field: string) => ({ text: `${field} is wrong`, code: 'BAD_USER_INPUT', field, detail: 'wrong' });
    const { at, rest } = splitProblems([p('steps[1].needs'), p('steps[0].params.command'), p('parameters[0].default'), p('ifVersion'), p('steps[0].outputs'), p('yaml')]);
    expect(at).toEqual({ 'steps[1].needs': 'wrong', 'steps[0].params.command': 'wrong', 'parameters[0].default': 'wrong' });
    expect(rest.map((x) => x.field)).toEqual(['ifVersion', 'steps[0].outputs', 'yaml']);
  });
});

describe('a stored parameter document as typed inputs', () => {
  const parameters = [
    { name: 'who', type: 'string', required: true },
    { name: 'count', type: 'number', required: false },
    { name: 'dry', type: 'boolean', required: false },
    { name: 'targets', type: 'hosts', required: false },
  ];
  it('reads each declared parameter back and keeps the undeclared ones aside', () => {
    const { values, extra } = paramValues(parameters, { who: 'ops', count: 3, dry: false, targets: ['hst_1'], gone: 'x' });
    expect(values).toEqual({ who: 'ops', count: '3', dry: false, targets: ['hst_1'] });
    expect(extra).toEqual({ gone: 'x' });
    // And back: the same document.
    expect({ ...extra, ...launchParams(parameters, values).doc }).toEqual({ who: 'ops', count: 3, dry: false, targets: ['hst_1'], gone: 'x' });
  });
  it('starts empty without a document', () => {
    expect(paramValues(parameters, null)).toEqual({ values: {}, extra: {} });
  });
});
