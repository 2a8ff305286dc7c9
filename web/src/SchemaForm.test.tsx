import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { describe, expect, it } from 'vitest';
import { SchemaForm } from './SchemaForm';
import { fieldsOf } from './schemaform';

describe('SchemaForm', () => {
  it('renders a control per parameter of any schema, secrets as password fields', () => {
    (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
    const fields = fieldsOf(
      {
        type: 'object',
        properties: {
          url: { type: 'string', description: 'Where to send it.' },
          method: { type: 'string', enum: ['GET', 'POST'], default: 'GET' },
          token: { type: 'string' },
          retries: { type: 'integer', default: 3 },
          follow: { type: 'boolean', default: true },
        },
        required: ['url'],
      },
      ['token'],
    );
    const el = document.createElement('div');
    const root = createRoot(el);
    act(() => root.render(<SchemaForm fields={fields} values={{}} errors={{ url: 'required' }} onChange={() => {}} />));
    expect(el.querySelector('[data-param=url] input')).not.toBeNull();
    expect(el.querySelector('[data-param=url] .field-error')?.textContent).toBe('required');
    expect(el.querySelector('[data-param=url] .hint')?.textContent).toBe('Where to send it.');
    expect([...el.querySelectorAll('[data-param=method] option')].map((o) => o.textContent)).toEqual(['default (GET)', 'GET', 'POST']);
    expect(el.querySelector<HTMLInputElement>('[data-param=token] input')?.type).toBe('password');
    expect(el.querySelector<HTMLInputElement>('[data-param=retries] input')?.placeholder).toBe('default: 3');
    expect(el.querySelector<HTMLInputElement>('[data-param=follow] input')?.checked).toBe(true);
    act(() => root.unmount());
  });
});
