// A form for any executor action, derived from the JSON Schema of its
// parameters: the console knows nothing about ssh, http or sql. fieldsOf
// turns a schema into a list of fields; buildParams turns what was typed
// back into the params object, checking what a form can check (required,
// numbers, JSON); the API checks the rest against the same schema.

export type JSONSchema = {
  type?: string | string[];
  description?: string;
  title?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JSONSchema>;
  required?: string[];
  additionalProperties?: boolean | JSONSchema;
  items?: JSONSchema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  format?: string;
  writeOnly?: boolean;
};

export type FieldKind =
  | 'text' // a string
  | 'secret' // a string never shown
  | 'enum' // one of a list
  | 'number'
  | 'integer'
  | 'boolean'
  | 'object' // nested fields
  | 'map' // string values by name: KEY=value lines
  | 'list' // strings or numbers: one per line
  | 'json'; // anything else, as JSON text

export interface Field {
  /** The dotted path in the params object, e.g. "sudo.user". */
  path: string;
  name: string;
  label: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  default?: unknown;
  options?: string[];
  itemType?: string;
  children?: Field[];
}

/** The values a form holds, by field path: text as typed, booleans as booleans. */
export type FormValues = Record<string, string | boolean>;

function typeOf(s: JSONSchema): string | undefined {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== 'null');
  return s.type ?? (s.properties ? 'object' : undefined);
}

function label(name: string, s: JSONSchema): string {
  if (s.title) return s.title;
  const words = name.replace(/[_-]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The fields of an object schema, in the schema's order, required ones first. */
export function fieldsOf(schema: JSONSchema, secretParams: readonly string[] = [], prefix = ''): Field[] {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(props).map(([name, s]): Field => {
    const path = prefix ? `${prefix}.${name}` : name;
    const base = { path, name, label: label(name, s), required: required.has(name), description: s.description, default: s.default };
    const t = typeOf(s);
    if (s.enum && s.enum.every((v) => typeof v === 'string')) {
      return { ...base, kind: 'enum', options: s.enum as string[] };
    }
    switch (t) {
      case 'string':
        return { ...base, kind: secretParams.includes(path) || s.writeOnly || s.format === 'password' ? 'secret' : 'text' };
      case 'integer':
      case 'number':
        return { ...base, kind: t };
      case 'boolean':
        return { ...base, kind: 'boolean' };
      case 'object':
        if (s.properties) return { ...base, kind: 'object', children: fieldsOf(s, secretParams, path) };
        if (typeof s.additionalProperties === 'object' && typeOf(s.additionalProperties) === 'string') {
          return { ...base, kind: 'map' };
        }
        return { ...base, kind: 'json' };
      case 'array': {
        const it = s.items ? typeOf(s.items) : undefined;
        if (it === 'string' || it === 'integer' || it === 'number') return { ...base, kind: 'list', itemType: it };
        return { ...base, kind: 'json' };
      }
      default:
        return { ...base, kind: 'json' };
    }
  });
  return [...fields.filter((f) => f.required), ...fields.filter((f) => !f.required)];
}

/** The result of reading a form: the params, or what is wrong, by field path. */
export interface Built {
  params: Record<string, unknown>;
  errors: Record<string, string>;
}

/**
 * Reads the values typed into the fields into a params object. Empty text is
 * left out (the plugin's default applies), as is a checkbox left at its
 * default; an optional object with nothing set is left out whole.
 */
export function buildParams(fields: readonly Field[], values: FormValues): Built {
  const errors: Record<string, string> = {};
  const params = buildObject(fields, values, errors);
  return { params, errors };
}

function buildObject(fields: readonly Field[], values: FormValues, errors: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = readField(f, values, errors);
    if (v !== undefined) out[f.name] = v;
  }
  return out;
}

const isMissing = (e: string) => e === 'required';

function readField(f: Field, values: FormValues, errors: Record<string, string>): unknown {
  const raw = values[f.path];
  if (f.kind === 'object') {
    // An optional object left empty is left out, required children and all.
    const subErrors: Record<string, string> = {};
    const sub = buildObject(f.children ?? [], values, subErrors);
    const touched = Object.keys(sub).length > 0 || Object.keys(subErrors).some((k) => !isMissing(subErrors[k]));
    if (touched || f.required) Object.assign(errors, subErrors);
    if (Object.keys(sub).length > 0) return sub;
    if (f.required && Object.keys(subErrors).length === 0) errors[f.path] = 'required';
    return undefined;
  }
  if (f.kind === 'boolean') {
    if (typeof raw !== 'boolean') return f.required ? Boolean(f.default) : undefined;
    return raw === Boolean(f.default) && !f.required ? undefined : raw;
  }
  const text = typeof raw === 'string' ? raw : '';
  if (text.trim() === '') {
    if (f.required) errors[f.path] = 'required';
    return undefined;
  }
  switch (f.kind) {
    case 'integer':
    case 'number': {
      const n = Number(text.trim());
      if (!Number.isFinite(n) || (f.kind === 'integer' && !Number.isInteger(n))) {
        errors[f.path] = f.kind === 'integer' ? 'must be a whole number' : 'must be a number';
        return undefined;
      }
      return n;
    }
    case 'map': {
      const m: Record<string, string> = {};
      for (const [i, line] of text.split('\n').entries()) {
        if (line.trim() === '') continue;
        const eq = line.indexOf('=');
        if (eq <= 0) {
          errors[f.path] = `line ${i + 1}: write NAME=value`;
          return undefined;
        }
        m[line.slice(0, eq).trim()] = line.slice(eq + 1);
      }
      return m;
    }
    case 'list': {
      const items = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      if (f.itemType === 'string') return items;
      const nums = items.map(Number);
      if (nums.some((n) => !Number.isFinite(n))) {
        errors[f.path] = 'one number per line';
        return undefined;
      }
      return nums;
    }
    case 'json':
      try {
        return JSON.parse(text);
      } catch {
        errors[f.path] = 'must be JSON';
        return undefined;
      }
    default:
      return text;
  }
}

/**
 * The reverse of buildParams: the form values that show a params object
 * (to edit a job's step). Values that are not of the field's kind (a
 * template such as "${{ params.n }}" in a number field) are shown as text.
 */
export function valuesOf(fields: readonly Field[], params: Record<string, unknown>): FormValues {
  const out: FormValues = {};
  const walk = (fs: readonly Field[], obj: Record<string, unknown>) => {
    for (const f of fs) {
      const v = obj[f.name];
      if (v === undefined || v === null) continue;
      if (f.kind === 'object') {
        if (typeof v === 'object' && !Array.isArray(v)) walk(f.children ?? [], v as Record<string, unknown>);
        continue;
      }
      if (f.kind === 'boolean' && typeof v === 'boolean') out[f.path] = v;
      else if (f.kind === 'map' && typeof v === 'object' && !Array.isArray(v))
        out[f.path] = Object.entries(v as Record<string, unknown>)
          .map(([k, x]) => `${k}=${String(x)}`)
          .join('\n');
      else if (f.kind === 'list' && Array.isArray(v)) out[f.path] = v.map(String).join('\n');
      else if (f.kind === 'json' || typeof v === 'object') out[f.path] = JSON.stringify(v);
      else out[f.path] = String(v);
    }
  };
  walk(fields, params);
  return out;
}
