// Renders the fields of an executor action's JSON Schema (see schemaform.ts).
import type { Field, FormValues } from './schemaform';

interface Props {
  fields: readonly Field[];
  values: FormValues;
  errors: Record<string, string>;
  onChange: (values: FormValues) => void;
}

export function SchemaForm(props: Props) {
  return (
    <div className="schema-form" data-testid="params-form">
      {props.fields.map((f) => (
        <FieldView key={f.path} field={f} {...props} />
      ))}
    </div>
  );
}

function FieldView({ field: f, values, errors, onChange }: Props & { field: Field }) {
  const set = (v: string | boolean) => onChange({ ...values, [f.path]: v });
  const text = typeof values[f.path] === 'string' ? (values[f.path] as string) : '';
  const err = errors[f.path];
  const id = `param-${f.path}`;
  if (f.kind === 'object') {
    return (
      <fieldset className="nested" data-param={f.path}>
        <legend>
          {f.label}
          {f.required && ' *'}
        </legend>
        {f.description && <small className="hint">{f.description}</small>}
        {f.children?.map((c) => (
          <FieldView key={c.path} field={c} values={values} errors={errors} onChange={onChange} fields={[]} />
        ))}
        {err && <small className="field-error">{err}</small>}
      </fieldset>
    );
  }
  let control;
  const placeholder = f.default !== undefined && typeof f.default !== 'object' ? `default: ${String(f.default)}` : undefined;
  switch (f.kind) {
    case 'boolean': {
      const checked = typeof values[f.path] === 'boolean' ? (values[f.path] as boolean) : Boolean(f.default);
      control = <input id={id} name={f.path} type="checkbox" checked={checked} onChange={(e) => set(e.target.checked)} />;
      break;
    }
    case 'enum':
      control = (
        <select id={id} name={f.path} value={text} onChange={(e) => set(e.target.value)}>
          <option value="">{f.default !== undefined ? `default (${String(f.default)})` : '—'}</option>
          {f.options?.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      );
      break;
    case 'number':
    case 'integer':
      control = <input id={id} name={f.path} inputMode="decimal" value={text} placeholder={placeholder} onChange={(e) => set(e.target.value)} />;
      break;
    case 'secret':
      control = <input id={id} name={f.path} type="password" autoComplete="new-password" value={text} onChange={(e) => set(e.target.value)} />;
      break;
    case 'map':
    case 'list':
    case 'json':
      control = (
        <textarea
          id={id}
          name={f.path}
          rows={3}
          className="mono"
          value={text}
          placeholder={f.kind === 'map' ? 'NAME=value, one per line' : f.kind === 'list' ? 'one per line' : 'JSON'}
          onChange={(e) => set(e.target.value)}
        />
      );
      break;
    default:
      control = <input id={id} name={f.path} value={text} placeholder={placeholder} onChange={(e) => set(e.target.value)} className="mono" />;
  }
  return (
    <label className={err ? 'row bad' : 'row'} data-param={f.path}>
      <span className="label">
        {f.label}
        {f.required && ' *'}
      </span>
      {control}
      {f.description && <small className="hint">{f.description}</small>}
      {err && (
        <small className="field-error" role="alert">
          {err}
        </small>
      )}
    </label>
  );
}
