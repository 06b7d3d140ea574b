// Redacts named fields of client events' `data`.
//
// Params: { fields: ['card', 'password'] }. In every `client_event` whose `data` is a JSON
// object, each field with one of these names, at any depth, is replaced by "[redacted]".
// Other events, and client events without such fields, pass unchanged.

import { defineFilter } from 'switchyard-filter';

export const REDACTED = '[redacted]';

interface Params {
  fields: string[];
}

function init(params: Params): Params {
  const unknown = Object.keys(params).filter((key) => key !== 'fields');
  if (unknown.length > 0) throw new Error(`invalid params: unknown field \`${unknown[0]}\``);
  if (!Array.isArray(params.fields) || !params.fields.every((f) => typeof f === 'string')) {
    throw new Error('invalid params: `fields` must be a list of names');
  }
  if (params.fields.length === 0) throw new Error('`fields` is empty: nothing to redact');
  return params;
}

/** Redacts in place; true if anything was redacted. */
function redact(value: unknown, fields: string[]): boolean {
  if (Array.isArray(value)) {
    return value.reduce((changed: boolean, item) => redact(item, fields) || changed, false);
  }
  if (value === null || typeof value !== 'object') return false;
  const object = value as Record<string, unknown>;
  let changed = false;
  for (const [key, inner] of Object.entries(object)) {
    if (fields.includes(key)) {
      changed ||= inner !== REDACTED;
      object[key] = REDACTED;
    } else {
      changed = redact(inner, fields) || changed;
    }
  }
  return changed;
}

export default defineFilter<Params, Params>({
  init,
  decide(ctx, event, params) {
    if (event.name !== 'client_event') return 'keep';
    const data = event.dataJson();
    if (!redact(data, params.fields)) return 'keep';
    return { replace: { ...event.json(), data: JSON.stringify(data) } };
  },
});
