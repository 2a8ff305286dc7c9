// Errors from the API in plain words. The API puts one of a fixed set of
// codes in extensions.code (see schema/schema.graphqls) and, for bad input,
// the input field at fault in extensions.field; the console shows the
// message next to that field when the form has one.

/** What the console needs of an error: urql's CombinedError has this shape. */
export interface ApiErrorLike {
  message?: string;
  networkError?: { message: string } | Error;
  graphQLErrors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }>;
  response?: { status?: number };
}

/** An error as the console shows it. */
export interface Problem {
  /** The sentence to show. */
  text: string;
  /** extensions.code, or NETWORK when the API could not be reached. */
  code: string;
  /** The input field at fault (extensions.field), if any. */
  field?: string;
  /** The text without the field's name, to show next to that field. */
  detail: string;
  /** The command guard rule that refused a run (extensions.rule), if one did. */
  rule?: string;
}

const lead: Record<string, string> = {
  BAD_USER_INPUT: 'Check the input',
  NOT_FOUND: 'Not found: it may have been deleted, or you may not have access to it',
  CONFLICT: 'This conflicts with what exists',
  UNAUTHENTICATED: 'You are not signed in, or your session has ended: sign in again',
  FORBIDDEN: 'Your role does not allow this',
  INTERNAL: 'The server failed; quote this to your administrator',
  NETWORK: 'The server could not be reached; check your connection and try again',
};

/** The API's message, without gqlgen's "input: " path prefix. */
function cleanMessage(msg: string): string {
  return msg.replace(/^input: [\w.[\]]+ /, '').trim();
}

/** Describes one GraphQL error in plain words. */
export function describeGraphQLError(e: { message: string; extensions?: Record<string, unknown> }): Problem {
  const code = typeof e.extensions?.code === 'string' ? e.extensions.code : 'INTERNAL';
  const field = typeof e.extensions?.field === 'string' ? e.extensions.field : undefined;
  let msg = cleanMessage(e.message);
  if (field && msg.startsWith(`${field}: `)) msg = msg.slice(field.length + 2);
  let text: string;
  switch (code) {
    case 'BAD_USER_INPUT':
    case 'CONFLICT':
      // The API's own words say what is wrong with which field.
      text = field ? `${fieldLabel(field)}: ${msg}` : msg ? `${lead[code]}: ${msg}` : lead[code];
      break;
    case 'INTERNAL': {
      const ref = typeof e.extensions?.ref === 'string' ? ` (ref ${e.extensions.ref})` : '';
      text = `${lead.INTERNAL}${ref}.`;
      break;
    }
    case 'FORBIDDEN': {
      const rule = typeof e.extensions?.rule === 'string' ? e.extensions.rule : undefined;
      if (rule) {
        // A command guard rule refused the run: say which, and where it matched.
        const step = typeof e.extensions?.step === 'string' ? e.extensions.step : undefined;
        const where = [step && `step ${step}`, field].filter(Boolean).join(', ');
        text = `Blocked by the command guard rule “${rule}”${where ? ` (it matched ${where})` : ''}.`;
        return { text, code, field, detail: text, rule };
      }
      text = `${lead.FORBIDDEN}.`;
      break;
    }
    default:
      text = `${lead[code] ?? msg}.`;
  }
  return { text, code, field, detail: field && (code === 'BAD_USER_INPUT' || code === 'CONFLICT') ? msg : text };
}

const plain = (text: string, code: string): Problem => ({ text, code, detail: text });

/** Describes what an operation returned as errors; [] when nothing failed. */
export function describeError(err: ApiErrorLike | null | undefined): Problem[] {
  if (!err) return [];
  if (err.graphQLErrors && err.graphQLErrors.length > 0) {
    return err.graphQLErrors.map(describeGraphQLError);
  }
  if (err.networkError) {
    if (err.response?.status === 401) return [plain(`${lead.UNAUTHENTICATED}.`, 'UNAUTHENTICATED')];
    return [plain(`${lead.NETWORK}.`, 'NETWORK')];
  }
  return [plain(err.message ? cleanMessage(err.message) : lead.INTERNAL, 'INTERNAL')];
}

/** "defaultCredentialId" -> "Default credential", "labels[0].key" -> "Labels 1 key". */
export function fieldLabel(field: string): string {
  const words = field
    .replace(/\[(\d+)\]/g, (_, n: string) => ` ${Number(n) + 1} `)
    .replace(/\bId\b|Id$/g, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/[._]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Splits problems into those about a field (by its last path segment) and the rest. */
export function byField(problems: Problem[]): { fields: Record<string, Problem>; general: Problem[] } {
  const fields: Record<string, Problem> = {};
  const general: Problem[] = [];
  for (const p of problems) {
    if (p.field) {
      fields[p.field] = p;
      const last = p.field.split('.').pop()!;
      fields[last] ??= p;
    } else {
      general.push(p);
    }
  }
  return { fields, general };
}
