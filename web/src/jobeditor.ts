// The job editor's state and its conversion to and from the job document
// (apiVersion jobgraph/v1, kind Job) that importJob and updateJob take as
// YAML. The API has no structured job input: the document is the contract,
// so the editor reads a job's YAML into form state and writes the form back
// as YAML. Fields the form does not show (outputs, pool, onLost,
// concurrency) ride along unchanged.
import { parse, stringify } from 'yaml';
import { buildParams, type Field, type FormValues } from './schemaform';

export const paramTypes = ['string', 'number', 'boolean', 'choice', 'secret', 'hosts'] as const;
export const conditions = ['on_success', 'on_failure', 'always'] as const;
export const strategyKeys = ['maxParallel', 'batchSize', 'batchPercent', 'failureThreshold', 'failurePercent'] as const;

export interface ParamState {
  name: string;
  type: string;
  required: boolean;
  description: string;
  /** As typed; hosts: IDs separated by commas or new lines. */
  default: string;
  /** Separated by commas. */
  choices: string;
}

export interface StepState {
  name: string;
  /** An action step runs an executor's action; an approval step waits for people. */
  kind: 'action' | 'approval';
  executor: string;
  action: string;
  /** The params as loaded; used until the form is edited. */
  params: Record<string, unknown>;
  /** What was typed in the action's form, once edited (then params are rebuilt from it). */
  values?: FormValues;
  needs: string[];
  condition: string;
  hosts: string[];
  groups: string[];
  selector: string;
  /** The name of a hosts parameter whose value adds targets. */
  hostsParam: string;
  strategy: Record<(typeof strategyKeys)[number], string>;
  continueOnError: boolean;
  timeout: string;
  retries: string;
  retryBackoff: string;
  approval: { role: string; count: string; timeout: string; message: string };
  /** Document keys the form does not edit, kept as they were. */
  extra: Record<string, unknown>;
}

export interface EditorState {
  name: string;
  description: string;
  timeout: string;
  parameters: ParamState[];
  steps: StepState[];
  extra: Record<string, unknown>;
}

export function newStep(name: string, needs: string[] = []): StepState {
  return {
    name,
    kind: 'action',
    executor: '',
    action: '',
    params: {},
    needs,
    condition: 'on_success',
    hosts: [],
    groups: [],
    selector: '',
    hostsParam: '',
    strategy: { maxParallel: '', batchSize: '', batchPercent: '', failureThreshold: '', failurePercent: '' },
    continueOnError: false,
    timeout: '',
    retries: '',
    retryBackoff: '',
    approval: { role: 'owner', count: '1', timeout: '', message: '' },
    extra: {},
  };
}

export function newParam(): ParamState {
  return { name: '', type: 'string', required: false, description: '', default: '', choices: '' };
}

export function emptyJob(): EditorState {
  return { name: '', description: '', timeout: '', parameters: [], steps: [newStep('step1')], extra: {} };
}

type Doc = Record<string, unknown>;
const str = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : String(v));
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);
const obj = (v: unknown): Doc => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Doc) : {});
function without(d: Doc, keys: readonly string[]): Doc {
  const out: Doc = {};
  for (const [k, v] of Object.entries(d)) if (!keys.includes(k)) out[k] = v;
  return out;
}

const stepKeys = ['name', 'executor', 'action', 'approval', 'needs', 'condition', 'targets', 'params', 'timeout', 'retries', 'retryBackoff', 'strategy'];

/** Reads a job document (YAML) into editor state. Throws on YAML that does not parse. */
export function fromYaml(text: string): EditorState {
  const doc = obj(parse(text));
  const state: EditorState = {
    name: str(doc.name),
    description: str(doc.description),
    timeout: str(doc.timeout),
    parameters: (Array.isArray(doc.parameters) ? doc.parameters : []).map((p: unknown) => {
      const d = obj(p);
      const def = d.default;
      return {
        name: str(d.name),
        type: str(d.type) || 'string',
        required: d.required === true,
        description: str(d.description),
        default: Array.isArray(def) ? def.map(str).join(', ') : str(def),
        choices: list(d.choices).join(', '),
      };
    }),
    steps: (Array.isArray(doc.steps) ? doc.steps : []).map((s: unknown) => {
      const d = obj(s);
      const t = obj(d.targets);
      const st = obj(d.strategy);
      const a = d.approval ? obj(d.approval) : undefined;
      const step = newStep(str(d.name), list(d.needs));
      return {
        ...step,
        kind: a ? 'approval' : 'action',
        executor: str(d.executor),
        action: str(d.action),
        params: obj(d.params),
        condition: str(d.condition) || 'on_success',
        hosts: list(t.hosts),
        groups: list(t.groups),
        selector: str(t.selector),
        hostsParam: str(t.param),
        strategy: {
          maxParallel: str(st.maxParallel),
          batchSize: str(st.batchSize),
          batchPercent: str(st.batchPercent),
          failureThreshold: str(st.failureThreshold),
          failurePercent: str(st.failurePercent),
        },
        continueOnError: st.continueOnError === true,
        timeout: str(d.timeout),
        retries: str(d.retries),
        retryBackoff: str(d.retryBackoff),
        approval: a ? { role: str(a.role), count: str(a.count) || '1', timeout: str(a.timeout), message: str(a.message) } : step.approval,
        extra: without(d, stepKeys),
      } satisfies StepState;
    }),
    extra: without(doc, ['apiVersion', 'kind', 'name', 'description', 'timeout', 'parameters', 'steps']),
  };
  return state;
}

/** The result of converting editor state: the document, or what is wrong by document field (e.g. "steps[1].retries"). */
export interface Converted {
  doc: Doc;
  errors: Record<string, string>;
}

function int(text: string, field: string, errors: Record<string, string>): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  if (!Number.isInteger(n)) {
    errors[field] = 'must be a whole number';
    return undefined;
  }
  return n;
}

function splitList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

function paramDefault(p: ParamState, field: string, errors: Record<string, string>): unknown {
  const t = p.default.trim();
  if (t === '') return undefined;
  switch (p.type) {
    case 'number': {
      const n = Number(t);
      if (!Number.isFinite(n)) errors[field] = 'must be a number';
      return n;
    }
    case 'boolean':
      if (t !== 'true' && t !== 'false') errors[field] = 'must be true or false';
      return t === 'true';
    case 'hosts':
      return splitList(t);
    case 'secret':
      errors[field] = 'a secret parameter cannot have a default: it would be stored in clear';
      return undefined;
    default:
      return p.default;
  }
}

/**
 * Converts editor state to a job document. fieldsOf gives the form fields of
 * a step's action (undefined while the executors are loading), to rebuild
 * the params of a step whose form was edited.
 */
export function toDocument(s: EditorState, fieldsOf: (executor: string, action: string) => readonly Field[] | undefined = () => undefined): Converted {
  const errors: Record<string, string> = {};
  const doc: Doc = { apiVersion: 'jobgraph/v1', kind: 'Job', name: s.name.trim() };
  if (!doc.name) errors.name = 'required';
  if (s.description.trim()) doc.description = s.description;
  Object.assign(doc, s.extra);
  if (s.timeout.trim()) doc.timeout = s.timeout.trim();
  if (s.parameters.length) {
    doc.parameters = s.parameters.map((p, i) => {
      const f = `parameters[${i}]`;
      const d: Doc = { name: p.name.trim(), type: p.type };
      if (!d.name) errors[`${f}.name`] = 'required';
      if (p.required) d.required = true;
      const def = paramDefault(p, `${f}.default`, errors);
      if (def !== undefined) d.default = def;
      if (p.type === 'choice') {
        d.choices = splitList(p.choices);
        if (def !== undefined && !(d.choices as string[]).includes(String(def))) errors[`${f}.default`] = `${String(def)} is not one of the choices`;
      }
      if (p.description.trim()) d.description = p.description;
      return d;
    });
  }
  doc.steps = s.steps.map((st, i) => {
    const f = `steps[${i}]`;
    const d: Doc = { name: st.name.trim() };
    if (!d.name) errors[`${f}.name`] = 'required';
    if (st.kind === 'approval') {
      const a: Doc = {};
      if (st.approval.role.trim()) a.role = st.approval.role.trim();
      const count = int(st.approval.count, `${f}.approval.count`, errors);
      if (count !== undefined) a.count = count;
      if (st.approval.timeout.trim()) a.timeout = st.approval.timeout.trim();
      if (st.approval.message.trim()) a.message = st.approval.message;
      d.approval = a;
    } else {
      d.executor = st.executor;
      d.action = st.action;
      if (!st.executor) errors[`${f}.executor`] = 'required';
      if (!st.action) errors[`${f}.action`] = 'required';
    }
    if (st.needs.length) d.needs = [...st.needs];
    if (st.condition && st.condition !== 'on_success') d.condition = st.condition;
    if (st.kind === 'action') {
      const t: Doc = {};
      if (st.hosts.length) t.hosts = [...st.hosts];
      if (st.groups.length) t.groups = [...st.groups];
      if (st.selector.trim()) t.selector = st.selector.trim();
      if (st.hostsParam) t.param = st.hostsParam;
      if (Object.keys(t).length === 0) errors[`${f}.targets`] = 'name at least one of hosts, groups, a selector or a hosts parameter';
      d.targets = t;
      let params = st.params;
      const fields = st.values ? fieldsOf(st.executor, st.action) : undefined;
      if (st.values && fields) {
        const built = buildParams(fields, st.values);
        for (const [k, v] of Object.entries(built.errors)) errors[`${f}.params.${k}`] = v;
        params = built.params;
      }
      if (Object.keys(params).length) d.params = params;
      if (st.timeout.trim()) d.timeout = st.timeout.trim();
      const retries = int(st.retries, `${f}.retries`, errors);
      if (retries) d.retries = retries;
      if (st.retryBackoff.trim()) d.retryBackoff = st.retryBackoff.trim();
      const strategy: Doc = {};
      for (const k of strategyKeys) {
        const v = int(st.strategy[k], `${f}.strategy.${k}`, errors);
        if (v) strategy[k] = v;
      }
      if (st.continueOnError) strategy.continueOnError = true;
      if (Object.keys(strategy).length) d.strategy = strategy;
    }
    Object.assign(d, st.extra);
    return d;
  });
  return { doc, errors };
}

/** The document as YAML, as the API takes it. */
export function toYaml(doc: Doc): string {
  return stringify(doc, { lineWidth: 0 });
}

/** Renames a step, and the needs that named it. */
export function renameStep(steps: readonly StepState[], index: number, name: string): StepState[] {
  const old = steps[index].name;
  return steps.map((s, i) => (i === index ? { ...s, name } : { ...s, needs: s.needs.map((n) => (n === old ? name : n)) }));
}

/** Removes a step, and the needs that named it. */
export function removeStep(steps: readonly StepState[], index: number): StepState[] {
  const old = steps[index].name;
  return steps.filter((_, i) => i !== index).map((s) => ({ ...s, needs: s.needs.filter((n) => n !== old) }));
}

/** A fresh step name: step1, step2… not yet used. */
export function nextStepName(steps: readonly StepState[]): string {
  for (let i = steps.length + 1; ; i++) if (!steps.some((s) => s.name === `step${i}`)) return `step${i}`;
}

/** The steps as DAG nodes for drawing (status DRAFT, no counts). */
export function dagOf(steps: readonly StepState[]) {
  return steps.map((s, i) => ({
    id: `${i}:${s.name}`,
    name: s.name || `(step ${i + 1})`,
    status: s.kind === 'approval' ? 'APPROVAL' : 'DRAFT',
    needs: s.needs,
    counts: { total: 0, succeeded: 0, failed: 0, running: 0 },
  }));
}

/**
 * Reads the values of a launch dialog into run params by the job's
 * parameter types. Empty inputs are left out (the job's defaults apply).
 */
export function launchParams(parameters: readonly { name: string; type: string; required: boolean }[], values: Record<string, string | boolean | string[]>): Converted {
  const errors: Record<string, string> = {};
  const doc: Doc = {};
  for (const p of parameters) {
    const v = values[p.name];
    if (p.type === 'boolean') {
      if (typeof v === 'boolean') doc[p.name] = v;
      continue;
    }
    if (p.type === 'hosts') {
      if (Array.isArray(v) && v.length) doc[p.name] = v;
      else if (p.required) errors[p.name] = 'pick at least one host';
      continue;
    }
    const t = typeof v === 'string' ? v : '';
    if (t.trim() === '') {
      if (p.required) errors[p.name] = 'required';
      continue;
    }
    if (p.type === 'number') {
      const n = Number(t.trim());
      if (!Number.isFinite(n)) errors[p.name] = 'must be a number';
      else doc[p.name] = n;
      continue;
    }
    doc[p.name] = t;
  }
  return { doc, errors };
}

/**
 * The inverse of launchParams: a stored parameter document (a schedule's)
 * as the values of the typed inputs, and what it holds for parameters the
 * job does not declare (kept as they are, so that saving loses nothing).
 */
export function paramValues(
  parameters: readonly { name: string; type: string }[],
  doc: Record<string, unknown> | null | undefined,
): { values: Record<string, string | boolean | string[]>; extra: Record<string, unknown> } {
  const values: Record<string, string | boolean | string[]> = {};
  const extra: Record<string, unknown> = { ...(doc ?? {}) };
  for (const p of parameters) {
    if (!(p.name in extra)) continue;
    const v = extra[p.name];
    delete extra[p.name];
    if (p.type === 'boolean' && typeof v === 'boolean') values[p.name] = v;
    else if (p.type === 'hosts' && Array.isArray(v)) values[p.name] = v.map(String);
    else if (typeof v === 'string' || typeof v === 'number') values[p.name] = String(v);
    else extra[p.name] = v;
  }
  return { values, extra };
}
